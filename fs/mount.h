// Running a mount: checks the mountpoint, daemonizes (returning to the
// caller only once the mount is ready, or with the reason it failed), serves
// FUSE requests on several threads, and unmounts cleanly on SIGTERM, SIGINT,
// SIGHUP or an external `fusermount3 -u` / `umount`.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/repository.h"
#include "fs/ingest.h"
#include "fs/kloset_fs.h"

namespace kloset::fs {

struct MountOptions {
  std::string store;       // for messages and the fsname shown by mount(8)
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;      // libfuse request tracing (implies foreground)
  std::vector<std::string> fuse_options;  // each an -o value: "allow_other", ...
  int max_threads = 16;
  FsOptions fs;
  bool read_only = false;  // no ingest/
  IngestOptions ingest;
};

// Opens the store. Called in the daemon process after fork, so that no
// thread of the store engine is started before the fork.
using RepoOpener = std::function<Status(std::unique_ptr<Repository>*)>;

// Mounts and serves until unmounted. In daemon mode the calling process
// returns as soon as the mount is ready (OK) or failed (the error); the
// daemon child never returns (it exits when unmounted).
Status RunMount(const MountOptions& opts, const RepoOpener& open);

// Checks that `path` can be mounted on: an existing directory that is not a
// stale or live mount already. Messages say what to do.
Status CheckMountpoint(const std::string& path);

// Unmounts `mountpoint` (fusermount3 -u, or umount2 as root). kNotFound if
// nothing is mounted there; kBusy if files are still open.
Status Unmount(const std::string& mountpoint, bool lazy);

// Whether `path` is the root of a mount (per /proc/self/mountinfo).
bool IsMountpoint(const std::string& path);

}  // namespace kloset::fs
