// LocalRemote: a Kloset store in a local folder (or a mounted network share).
//
// Object names map 1:1 onto paths below the root ("packs/ab/<hex>" is the file
// <root>/packs/ab/<hex>). A Write goes to a temporary file in the target
// folder, is fsynced, renamed over the final name and the folder is fsynced,
// so readers see the whole object or nothing and a crash leaves at most a
// stale temporary file. Temporary names (".tmp~...") are not valid object
// names, so List never reports them, stale or in flight.
//
// Thread safety: all methods may be called concurrently, also from several
// processes on the same folder. List calls `fn` while walking the folder,
// without holding any lock.
#pragma once

#include <memory>
#include <string>

#include "remotes/remote.h"

namespace kloset {

class LocalRemote : public Remote {
 public:
  // Opens the store folder `root` (absolute or relative to the current
  // directory; kept as an absolute path so a later chdir does not matter).
  // With `create`, a missing folder and its parents are made; without it a
  // missing folder is kNotFound.
  static Status Open(const std::string& root, bool create, std::unique_ptr<Remote>* out);

  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix,
              const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  // Local disks gain little beyond a handful of parallel writers.
  int MaxParallel() const override { return 8; }
  std::string Describe() const override { return "local folder " + root(); }

  std::string root() const { return root_.empty() ? "/" : root_; }

 private:
  explicit LocalRemote(std::string root) : root_(std::move(root)) {}

  Status WalkFolder(const std::string& rel_dir, const std::string& prefix, int depth,
                    const std::function<void(const ObjectInfo&)>& fn);

  const std::string root_;  // absolute, without trailing '/' ("" for "/")
};

}  // namespace kloset
