// The archiver: walks source paths with lstat/readdir, builds the snapshot's
// tree (DirectoryWriter per directory, FileWriter per file) and saves the
// snapshot. Unchanged files (same size, mtime, ctime, inode as in the parent
// snapshot) reuse the parent's chunk list without being read.
//
// Errors: an unreadable file or directory is recorded (Node::error, and in
// Snapshot::skipped) and the walk goes on; a file that changes while read
// (size/mtime differ before and after) is recorded as skipped-with-warning in
// `changed`. A store error (remote failure, no space) aborts the backup with
// no snapshot written.
#pragma once

#include <string>
#include <vector>

#include "core/progress.h"
#include "core/repository.h"
#include "core/snapshot.h"

namespace kloset {

struct BackupOptions {
  std::vector<std::string> paths;     // made absolute and normalized by Backup
  std::vector<std::string> tags;
  std::vector<std::string> excludes;  // fnmatch globs matched against the
                                      // full path and against the base name
  std::string host;                   // default: gethostname()
  std::string message;
  bool use_parent = true;             // find the latest snapshot with the same host+paths
  int threads = 0;                    // 0 = hardware concurrency
};

struct BackupResult {
  Snapshot snapshot;                  // as saved (id set)
  std::vector<SkippedEntry> changed;  // files that changed while being read
};

Status Backup(Repository* repo, const BackupOptions& opts, Progress* progress,
              BackupResult* result);

}  // namespace kloset
