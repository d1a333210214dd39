// Argument checks shared by the backends, so every backend rejects the same
// names with the same message.
#pragma once

#include <string>

#include "remotes/remote.h"

namespace kloset {

// kInvalidArgument unless `name` satisfies IsValidObjectName.
inline Status CheckObjectName(const std::string& name) {
  if (IsValidObjectName(name)) return Status::OK();
  return Status::InvalidArgument("invalid object name '" + name + "'");
}

// A List prefix is "" or the start of some valid name ("packs/", "packs/a").
inline Status CheckListPrefix(const std::string& prefix) {
  if (prefix.empty() || IsValidObjectName(prefix + "x")) return Status::OK();
  return Status::InvalidArgument("invalid list prefix '" + prefix + "'");
}

}  // namespace kloset
