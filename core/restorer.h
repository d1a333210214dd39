// The restorer: writes a snapshot (or a subtree of it) into a target folder,
// recreating files (sparse holes as holes), directories, symlinks, hardlinks
// (as hardlinks), fifos, sockets and devices (where permitted), modes,
// owners (when running as root), ns timestamps and xattrs.
//
// Errors: an entry that cannot be restored (damaged data, EPERM for devices)
// is reported in RestoreResult::failed and the restore goes on; damaged data
// never produces a file with wrong bytes (the partial file is removed).
#pragma once

#include <string>
#include <vector>

#include "core/progress.h"
#include "core/repository.h"
#include "core/snapshot.h"

namespace kloset {

struct RestoreOptions {
  std::string path_in_snapshot;  // "" or "/" = everything
  std::string target;            // created if missing
  bool overwrite = true;         // replace existing files
  int threads = 0;
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, others = 0, bytes = 0;
  std::vector<SkippedEntry> failed;
};

Status Restore(Repository* repo, const Snapshot& snap, const RestoreOptions& opts,
               Progress* progress, RestoreResult* result);

}  // namespace kloset
