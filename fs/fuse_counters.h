// Counts of the requests the kernel sent a mount, by kind: the FUSE edge
// (fs/fuse_ops.cc) counts each request as it arrives, and the statistics
// file shows them, so what a workload costs in round trips can be read off a
// live mount (and tests can assert it).
//
// Thread safety: Add and Read may be called from any thread (relaxed
// atomics: each count is exact, a Read taken while requests arrive is not a
// single instant).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kloset::fs {

enum class FuseOp : int {
  kLookup,
  kForget,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kUnlink,
  kRmdir,
  kSymlink,
  kRename,
  kLink,
  kOpen,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kOpendir,
  kReaddir,
  kReaddirplus,
  kReleasedir,
  kFsyncdir,
  kStatfs,
  kSetxattr,
  kGetxattr,
  kListxattr,
  kRemovexattr,
  kCreate,
  kCount  // not a request
};

class FuseCounters {
 public:
  void Add(FuseOp op) { n_[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed); }
  uint64_t Get(FuseOp op) const {
    return n_[static_cast<size_t>(op)].load(std::memory_order_relaxed);
  }
  // (name, count) for every kind, in FuseOp order; names are the
  // lower-case request names ("lookup", "readdirplus", ...).
  std::vector<std::pair<std::string, uint64_t>> Read() const {
    static constexpr const char* kNames[] = {
        "lookup",   "forget",   "getattr",     "setattr",     "readlink", "mknod",
        "mkdir",    "unlink",   "rmdir",       "symlink",     "rename",   "link",
        "open",     "read",     "write",       "flush",       "release",  "fsync",
        "opendir",  "readdir",  "readdirplus", "releasedir",  "fsyncdir", "statfs",
        "setxattr", "getxattr", "listxattr",   "removexattr", "create"};
    static_assert(std::size(kNames) == static_cast<size_t>(FuseOp::kCount));
    std::vector<std::pair<std::string, uint64_t>> out;
    for (size_t i = 0; i < n_.size(); i++)
      out.emplace_back(kNames[i], n_[i].load(std::memory_order_relaxed));
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(FuseOp::kCount)> n_{};
};

}  // namespace kloset::fs
