// The restorer: writes a snapshot (or a subtree of it) into a target folder,
// recreating files (sparse holes as holes), directories, symlinks, hardlinks
// (as hardlinks), fifos, sockets and devices (where permitted), modes,
// owners (numeric uid/gid, only when running as root), ns timestamps and
// xattrs.
//
// Layout: a directory in the snapshot (path_in_snapshot "" or "/" is the
// root) has its *contents* written into `target`; its own metadata is
// applied to `target` only when the restore created it. Any other entry is
// written as target/<its name>.
//
// Order: directories are made first (mode 0700 so they can be filled),
// regular files are written on a thread pool, the rest in the walking thread;
// later links of a hardlink group are link()ed to the first once all files
// are written; last, directories get their xattrs, owner, mode and times,
// deepest first, so writing into them no longer changes their mtime.
//
// Files are written to a temporary name in their folder (".klosetfs-tmp-*"),
// given their metadata, then renamed into place: damaged data never leaves
// a file with wrong bytes under the real name. Holes are skipped with
// seeks and the size set with ftruncate, so sparse files stay sparse.
//
// Errors: an entry that cannot be restored (damaged or missing data, EPERM
// for devices, an entry skipped at backup, an existing entry with
// overwrite = false) is reported in RestoreResult::failed and the restore
// goes on; metadata that cannot be set (xattrs on a filesystem without them,
// an owner without root) is reported the same way but the entry stays. The
// restore stops with an error, leaving what it wrote, on a store error other
// than damage (kIOError, kTransient ...), a full target disk, or
// cancellation (Progress::cancel -> kCancelled). kNotFound if
// path_in_snapshot does not exist.
//
// Locking: Restore holds a shared store lock (core/lock.h) while it runs, so
// a prune cannot delete packs it still reads; it returns kBusy, having
// written nothing, while another process holds a fresh exclusive lock. The
// lock is an object written to the store, so the remote must be writable.
// RestoreTree takes no lock.
//
// Thread safety: Restore may run concurrently with other reads of the store.
#pragma once

#include <string>
#include <vector>

#include "core/blob_store.h"
#include "core/progress.h"
#include "core/repository.h"
#include "core/snapshot.h"

namespace kloset {

struct RestoreOptions {
  std::string path_in_snapshot;  // "" or "/" = everything
  std::string target;            // created (with parents) if missing
  bool overwrite = true;         // replace existing non-directories; existing
                                 // directories are always merged into
  int threads = 0;               // 0 = hardware concurrency
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, others = 0, bytes = 0;  // restored entries
  std::vector<SkippedEntry> failed;                     // sorted by path
};

Status Restore(Repository* repo, const Snapshot& snap, const RestoreOptions& opts,
               Progress* progress, RestoreResult* result);

// The layer below Restore, over any BlobStore: restores the tree rooted at
// `tree`. `progress` may be null.
Status RestoreTree(BlobStore* store, const Hash& tree, const RestoreOptions& opts,
                   Progress* progress, RestoreResult* result);

}  // namespace kloset
