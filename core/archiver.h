// The archiver: walks source paths with lstat/readdir, builds the snapshot's
// tree (DirectoryWriter per directory, FileWriter per file) and saves the
// snapshot. Unchanged files (same size, mtime, ctime, inode as in the parent
// snapshot) reuse the parent's chunk list without being read.
//
// Tree layout (docs/FORMAT.md, "Snapshots"): the snapshot's tree is "/" and
// holds every source path under its full absolute name (backing up
// /home/a/docs gives home/a/docs/...), with the directories above a source
// path stored with their real metadata but only the entries leading to
// source paths. Source paths are made
// absolute with symlinks resolved in their parents but not in the last
// component (a source symlink is stored as a symlink). The walk does cross
// into other mounted filesystems. Entries are never followed through
// symlinks.
//
// Hardlinks: non-directories with nlink > 1 get a hardlink_id per (st_dev,
// st_ino) within the snapshot; the content is read once and every link
// carries the same chunk list.
//
// Errors: an entry that cannot be read (open/readdir/xattr errors) is stored
// with Node::error set and no content (size 0, no chunks; directories empty)
// and listed in Snapshot::skipped; the walk goes on. An entry that vanishes
// between readdir and lstat is left out silently. A file that changes while
// read (size/mtime/ctime differ before and after, or differ from the lstat)
// is stored as read and listed in `changed`. A store error (remote failure,
// no space) or cancellation (Progress::cancel) aborts the backup with no
// snapshot written.
//
// Thread safety: Backup and ArchiveTree may run concurrently with each other
// and with any read of the store; one call uses one thread to walk and read
// plus a pool of opts.threads workers for small files and for hashing,
// compression and encryption.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/repository.h"
#include "core/snapshot.h"

namespace kloset {

struct BackupOptions {
  std::vector<std::string> paths;     // made absolute and normalized by Backup
                                      // (NormalizeSourcePaths, core/fs_scan.h)
  std::vector<std::string> tags;
  std::vector<std::string> excludes;  // fnmatch globs (no flags: '*' matches '/')
                                      // matched against the full path and the
                                      // base name of every entry below a source path
  std::string host;                   // default: gethostname()
  std::string message;
  bool use_parent = true;             // find the latest snapshot with the same host+paths
  int threads = 0;                    // 0 = hardware concurrency
  bool count_totals = true;           // pre-scan in a background thread to fill
                                      // Progress::files_total / bytes_total

  // Test-only hooks (null in production).
  // Called (from any thread) before a regular file or a directory below a
  // source path is opened; a nonzero return is an errno the open then fails
  // with.
  std::function<int(const std::string& path)> test_open_hook;
  // Called (from any thread) after a file's content was read, before the
  // second fstat.
  std::function<void(const std::string& path)> test_after_read_hook;
};

// Counters of one walk. Files are regular files; files_read were opened and
// read (bytes_read counts data bytes, not holes); files_reused took their
// chunk list from the parent snapshot or from an earlier hardlink.
struct ArchiveStats {
  uint64_t files_read = 0, bytes_read = 0, files_reused = 0;
  uint64_t tree_blobs_added = 0, data_blobs_added = 0;
};

struct BackupResult {
  Snapshot snapshot;                  // as saved (id set)
  std::vector<SkippedEntry> changed;  // files that changed while being read
  ArchiveStats stats;
};

Status Backup(Repository* repo, const BackupOptions& opts, Progress* progress,
              BackupResult* result);

// The layer below Backup, usable over any BlobStore (tests use a
// MemoryBlobStore): walks opts.paths into a tree in `store` and returns its
// root. `parent_tree` (may be null) is the tree of the parent snapshot.
// Nothing is flushed; no snapshot is written. opts.host, tags, message and
// use_parent are ignored. `progress` may be null.
struct ArchiveResult {
  Hash tree{};
  std::vector<std::string> paths;     // normalized source paths
  SnapshotSummary summary;            // duration_s not set
  std::vector<SkippedEntry> skipped, changed;  // sorted by path
  ArchiveStats stats;
};
Status ArchiveTree(BlobStore* store, const ChunkerParams& chunker, const GearTable& gear,
                   const Hash* parent_tree, const BackupOptions& opts, Progress* progress,
                   ArchiveResult* result);

}  // namespace kloset
