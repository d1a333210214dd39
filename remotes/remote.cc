// IsValidObjectName and the OpenRemote factory: the only place that knows how
// a STORE string maps to a backend.
#include "remotes/remote.h"

#include "remotes/local_remote.h"
#include "remotes/memory_remote.h"

namespace kloset {

bool IsValidObjectName(std::string_view name) {
  if (name.empty()) return false;
  size_t seg_start = 0;
  for (size_t i = 0; i <= name.size(); i++) {
    if (i == name.size() || name[i] == '/') {
      std::string_view seg = name.substr(seg_start, i - seg_start);
      // Empty segments cover a leading '/', a trailing '/' and "a//b". "." is
      // refused too so that every object has exactly one spelling (1:1 paths).
      if (seg.empty() || seg == "." || seg == "..") return false;
      seg_start = i + 1;
      continue;
    }
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

constexpr std::string_view kMemoryScheme = "memory:";

// "NAME:" with NAME in [A-Za-z0-9_-]+ is rclone's remote syntax. A path such
// as "./a:b" or "/x:y" has a '.' or '/' before the colon and stays local.
bool LooksLikeRcloneRemote(std::string_view store) {
  size_t colon = store.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; i++) {
    char c = store[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Status OpenRemote(const std::string& store, bool create, std::unique_ptr<Remote>* out) {
  if (store.empty()) return Status::InvalidArgument("empty store location");
  if (store.starts_with(kMemoryScheme)) {
    std::string name = store.substr(kMemoryScheme.size());
    if (name.empty()) return Status::InvalidArgument("memory store needs a name: memory:NAME");
    *out = MemoryRemote::OpenNamed(name);
    return Status::OK();
  }
  if (LooksLikeRcloneRemote(store)) {
    return Status::Unsupported("rclone remotes are not supported yet: " + store +
                               " (use a local folder path; write ./" + store +
                               " for a local folder whose name contains ':')");
  }
  return LocalRemote::Open(store, create, out);
}

}  // namespace kloset
