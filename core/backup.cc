// Backup: ArchiveTree plus what makes it a snapshot in a Repository: the
// shared lock, the parent snapshot, the flush and the snapshot object.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>

#include "core/archiver.h"
#include "core/fs_scan.h"
#include "core/lock.h"
#include "core/system_info.h"
#include "core/version.h"

namespace kloset {

namespace {

// The newest snapshot with the same host and the same (normalized) paths.
Status FindParent(Repository* repo, const std::string& host,
                  const std::vector<std::string>& paths, Snapshot* parent, bool* found) {
  *found = false;
  std::vector<Snapshot> all;
  std::vector<std::string> damaged;  // damaged snapshots are simply not parents
  KLOSET_RETURN_IF_ERROR(ListSnapshots(repo, &all, &damaged));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    std::vector<std::string> p = it->paths;
    std::sort(p.begin(), p.end());
    if (it->host == host && p == paths) {
      *parent = std::move(*it);
      *found = true;
      break;
    }
  }
  return Status::OK();
}

}  // namespace

Status Backup(Repository* repo, const BackupOptions& opts, Progress* progress,
              BackupResult* result) {
  const auto start = std::chrono::steady_clock::now();
  Snapshot snap;
  snap.time_ns = NowNs();
  BackupOptions o = opts;
  KLOSET_RETURN_IF_ERROR(NormalizeSourcePaths(opts.paths, &o.paths));
  // Shared: other backups may run, but a prune (exclusive) may not delete
  // packs this backup dedups against until the snapshot is saved.
  std::unique_ptr<StoreLock> lock;
  KLOSET_RETURN_IF_ERROR(StoreLock::Acquire(repo, LockKind::kShared, &lock));
  snap.host = opts.host.empty() ? HostName() : opts.host;
  snap.username = UserNames().User(geteuid());
  snap.tags = opts.tags;
  snap.message = opts.message;
  snap.program_version = KLOSETFS_VERSION;

  Snapshot parent;
  if (opts.use_parent) {
    KLOSET_RETURN_IF_ERROR(FindParent(repo, snap.host, o.paths, &parent, &snap.has_parent));
    if (snap.has_parent) snap.parent = parent.id;
  }

  ArchiveResult ar;
  KLOSET_RETURN_IF_ERROR(ArchiveTree(repo, repo->config().chunker, repo->gear(),
                                     snap.has_parent ? &parent.tree : nullptr, o, progress, &ar));
  if (progress && progress->cancel.load()) return Status::Cancelled("backup cancelled");
  // Packs and their index must be durable before a snapshot names them.
  KLOSET_RETURN_IF_ERROR(repo->Flush());

  snap.paths = ar.paths;
  snap.tree = ar.tree;
  snap.summary = ar.summary;
  snap.skipped = ar.skipped;
  snap.summary.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A lock that could not be refreshed may look stale to a prune by now.
  KLOSET_RETURN_IF_ERROR(lock->Check());
  KLOSET_RETURN_IF_ERROR(SaveSnapshot(repo, &snap));
  (void)lock->Release();
  result->snapshot = std::move(snap);
  result->changed = std::move(ar.changed);
  result->stats = ar.stats;
  return Status::OK();
}

}  // namespace kloset
