// KlosetFs: the read-only view of a store as a file system, in terms of
// inode numbers, struct stat and Status. fs/fuse_ops.cc adapts it to the
// libfuse low-level API one-to-one; everything here is tested without a
// mount (tests/kloset_fs_test.cc).
//
// Inodes. 1 is the root, 2 snapshots/, 3 hosts/, 4 tags/, 5 latest, 6
// ingest/, 7 the statistics file (fs/stats_file.h); those live for the whole
// mount. Every other inode is made by Lookup (or ReadDir
// with plus = true) for a (parent inode, name) pair, reused while the kernel
// holds a reference to it, and dropped when Forget brings its lookup count to
// zero (libfuse's nlookup protocol). Memory is therefore bounded by what the
// kernel caches, not by the size of the store.
//
// Lock order: refresh_mu_, then layout_mu_, then inodes_mu_, then
// handles_mu_; no lock but refresh_mu_ is held while reading from the store.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/lock.h"
#include "core/node.h"
#include "core/repository.h"
#include "core/snapshot.h"
#include "core/thread_pool.h"
#include "fs/chunk_cache.h"
#include "fs/fuse_counters.h"
#include "fs/layout.h"

namespace kloset::fs {

constexpr uint64_t kRootIno = 1, kSnapshotsIno = 2, kHostsIno = 3, kTagsIno = 4, kLatestIno = 5;
constexpr uint64_t kStatsIno = 7;  // MOUNTPOINT/.klosetfs-stats.json

struct FsOptions {
  // A listing of the root, snapshots/, hosts/ or tags/ rereads the snapshot
  // list when it is older than this; snapshots made through this mount
  // appear at once (Refresh(true)).
  double refresh_interval_s = 5;
  size_t cache_bytes = 256u << 20;  // decoded chunks kept in memory
  int readahead_chunks = 4;         // chunks fetched ahead of a sequential reader
  int fetch_threads = 8;            // parallel chunk fetches
  // Opening a file starts fetching the first chunk of each of the next this
  // many files of its directory (name order, as tar, cp -r and rsync read
  // them), up to prefetch_bytes in all; 0 = off.
  int prefetch_files = 16;
  size_t prefetch_bytes = 8u << 20;
  // Kernel cache lifetimes. Snapshot contents never change, so their entries
  // and attributes may be cached for as long as the kernel likes.
  double immutable_timeout_s = 86400;
  double virtual_timeout_s = 1;
  // Name-only listings until something is looked up: see ReadDir.
  bool lean_listings = true;
};

struct Entry {
  uint64_t ino = 0;
  struct stat attr {};
  double entry_timeout = 0;  // how long the kernel may cache the name
  double attr_timeout = 0;   // how long the kernel may cache the attributes
};

class IngestTree;
struct IngestOptions;

// struct stat of a stored or draft node (st_nlink 1 for directories).
void NodeToStat(const Node& node, uint64_t ino, struct stat* st);

class KlosetFs {
 public:
  // `repo` is not owned and must outlive this object. `snapshots_loader`
  // lists snapshots (tests pass their own; default: ListSnapshots(repo)).
  using SnapshotLoader = std::function<Status(std::vector<Snapshot>*)>;
  KlosetFs(Repository* repo, FsOptions opts, SnapshotLoader loader = nullptr);
  ~KlosetFs();

  // Loads the snapshot list; must succeed before the mount is announced.
  Status Start();
  // Rereads the snapshot list if older than the refresh interval (or always
  // when force), and the store's index so new snapshots' blobs are found.
  Status Refresh(bool force);

  // On kNotFound, out->entry_timeout > 0 (with ino 0) lets the kernel cache
  // the name's absence that long.
  Status Lookup(uint64_t parent, const std::string& name, Entry* out);
  void Forget(uint64_t ino, uint64_t nlookup);
  Status GetAttr(uint64_t ino, struct stat* st, double* timeout);
  Status ReadLink(uint64_t ino, std::string* target);

  // *cacheable (optional): the listing never changes (a directory inside a
  // snapshot), so the kernel may keep it across opens (FOPEN_CACHE_DIR).
  Status OpenDir(uint64_t ino, uint64_t* fh, bool* cacheable = nullptr);
  // Calls fill(name, entry, next_offset) for entries from `offset` on until
  // fill returns false (the reply buffer is full). With plus, each entry
  // handed to fill counts as a lookup unless fill returns false. fh 0 (no
  // handle: zero-message opendir on a mount without ingest/) keeps the
  // listing cursor with the inode. The kernel then caches every listing, so
  // the virtual directories (root, snapshots/, hosts/, tags/ and theirs)
  // report as mtime the time the snapshot list last changed, and GetAttr of
  // one rereads the list when older than the refresh interval: a changed
  // mtime makes the kernel drop its cached listing.
  //
  // Lean listings (opts.lean_listings): until the first lookup of a file,
  // symlink or other non-directory inside a snapshot, plus listings of
  // snapshot directories hand the kernel inodes for subdirectories only
  // (Entry::ino 0 for the rest: the kernel then keeps just the name and
  // type). A walk that needs names only (find, locate-style searches) then
  // costs neither the daemon nor the kernel an inode per file. That first
  // lookup means something stats files (tar, cp, ls -l, du): from then on
  // listings are full again, and the listings the kernel cached lean are
  // handed to the invalidator set below, so that their next reader asks
  // again and gets inodes and attributes with the names.
  using DirFiller = std::function<bool(const std::string&, const Entry&, uint64_t)>;
  Status ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus, const DirFiller& fill);
  // Called once, without locks held, with the directories listed lean; it
  // must not block on the kernel (the FUSE edge hands them to a thread).
  using ListingInvalidator = std::function<void(std::vector<uint64_t> dirs)>;
  void SetListingInvalidator(ListingInvalidator f) { listing_invalidator_ = std::move(f); }
  bool lean_listings() const { return lean_.load(); }
  void ReleaseDir(uint64_t fh);

  // kPermission (EROFS at the edge) for any write access.
  Status Open(uint64_t ino, int flags, uint64_t* fh);
  // Files whose text is made at open (the statistics file): their size is
  // known only then, so the FUSE edge opens them with direct_io.
  static bool IsGeneratedFile(uint64_t ino) { return ino == kStatsIno; }
  Status Read(uint64_t fh, uint64_t offset, size_t size, std::string* out);
  // A read without an open handle, as the kernel sends once OPEN has been
  // answered ENOSYS (zero-message opens, used on mounts without ingest/:
  // fs/fuse_ops.cc). Snapshot files keep their chunk table and read-ahead
  // state with the inode. The statistics file makes its text afresh at
  // offset 0 and serves later offsets from that text, so one sequential
  // pass reads one consistent text.
  Status ReadInode(uint64_t ino, uint64_t offset, size_t size, std::string* out);
  void Release(uint64_t fh);

  Status GetXattr(uint64_t ino, const std::string& name, std::string* value);
  Status ListXattr(uint64_t ino, std::vector<std::string>* names);
  void StatFs(struct statvfs* st);

  // --- The writable ingest/ tree (fs/ingest.h) -------------------------------
  // Adds ingest/ to the root. Without it every write is kReadOnly (EROFS).
  Status EnableIngest(const IngestOptions& opts);
  // Start() and EnableIngest() (its errors annotated "ingest/"), with the
  // store lock of ingest/ taken while the snapshot list loads: a round trip
  // fewer before the mount is ready.
  Status StartWritable(const IngestOptions& opts);
  IngestTree* ingest() const { return ingest_.get(); }
  // The control socket path the mount root reports (fs/control.h).
  void set_control_path(const std::string& path) { control_path_ = path; }
  // STORE as the user named it, for the statistics file.
  void set_store_name(const std::string& store) { store_name_ = store; }
  // The statistics file's text as it would be made now (fs/stats_file.h).
  std::string StatsText() const;

  Status Create(uint64_t parent, const std::string& name, uint32_t mode, int flags, uint32_t uid,
                uint32_t gid, Entry* e, uint64_t* fh);
  Status Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev, uint32_t uid,
               uint32_t gid, Entry* e);
  Status Symlink(const std::string& target, uint64_t parent, const std::string& name, uint32_t uid,
                 uint32_t gid, Entry* e);
  Status Link(uint64_t ino, uint64_t parent, const std::string& name, Entry* e);
  Status Unlink(uint64_t parent, const std::string& name);
  Status Rmdir(uint64_t parent, const std::string& name);
  Status Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                const std::string& newname, unsigned flags);
  Status SetAttr(uint64_t ino, const struct stat& in, int to_set, uint64_t fh, struct stat* out,
                 double* timeout);
  Status Write(uint64_t fh, uint64_t offset, std::string_view data);
  Status Flush(uint64_t fh);
  Status Fsync(uint64_t fh);
  Status FsyncDir(uint64_t ino);
  Status SetXattr(uint64_t ino, const std::string& name, std::string_view value, int flags);
  Status RemoveXattr(uint64_t ino, const std::string& name);

  // Requests the kernel sent, counted by the FUSE edge.
  FuseCounters& fuse_counters() { return fuse_counters_; }

  size_t InodeCount() const;
  const ChunkCache& cache() const { return *cache_; }

 private:
  struct Inode;
  struct DirHandle;
  struct FileHandle;
  struct ReadState;
  using InodePtr = std::shared_ptr<Inode>;

  std::shared_ptr<const Layout> CurrentLayout();
  InodePtr Get(uint64_t ino) const;
  // Finds or makes the inode for (parent, name); bumps its lookup count.
  InodePtr Intern(uint64_t parent, const std::string& name, const std::function<InodePtr()>& make);
  static bool IsDirectory(const Inode& n);
  Status Child(const InodePtr& dir, const std::string& name, InodePtr* out);
  Status ListChildren(const InodePtr& dir, DirHandle* h, uint64_t offset,
                      const std::function<bool(const std::string&, const InodePtr&)>& fn);
  void Stat(const Inode& n, struct stat* st) const;
  void FillEntry(const InodePtr& n, Entry* e) const;
  double AttrTimeout(const Inode& n) const;
  // Starts loading the first chunks of the files after `n` in its directory
  // that the kernel knows of (interned inodes), without waiting for them.
  void PrefetchFollowing(const Inode& n);
  // The chunk table of file `n`; kCorrupt if its chunk sizes do not add up
  // to its size.
  Status MakeReadState(const Inode& n, ReadState* rs) const;
  Status ReadChunks(const Inode& n, ReadState* rs, uint64_t offset, size_t size, std::string* out);
  InodePtr MakeEntry(const std::shared_ptr<const Snapshot>& snap, Node node);
  InodePtr MakeLink(const std::string& target);
  InodePtr MakeVirtualDir(int kind, const std::string& key);
  // fs/kloset_fs_stats.cc: the statistics file.
  Status OpenStats(int flags, uint64_t* fh);
  static void ReadText(const std::string& text, uint64_t offset, size_t size, std::string* out);
  Status ReadStatsNoHandle(uint64_t offset, size_t size, std::string* out);

  Repository* repo_;
  FsOptions opts_;
  std::unique_ptr<IngestTree> ingest_;
  // Held while ingest/ exists: it proves at mount time that the store can be
  // written, and it keeps a future prune from deleting packs that only the
  // uncommitted draft references (docs/FORMAT.md, "Locking").
  std::unique_ptr<StoreLock> ingest_lock_;
  std::string control_path_;
  std::string store_name_;
  SnapshotLoader loader_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ChunkCache> cache_;
  FuseCounters fuse_counters_;
  time_t mount_time_;
  // Realtime ns of the last change of the snapshot list (or of the mount):
  // the mtime of the virtual directories and of `latest`.
  std::atomic<int64_t> layout_changed_ns_{0};
  std::chrono::steady_clock::time_point start_time_ = std::chrono::steady_clock::now();

  std::mutex refresh_mu_;  // one refresh at a time; taken before layout_mu_
  std::mutex layout_mu_;
  std::shared_ptr<const Layout> layout_;
  std::chrono::steady_clock::time_point layout_time_;

  // Lean listings: on until the first lookup of a non-directory; the
  // directories listed lean meanwhile and not forgotten since (guarded by
  // inodes_mu_; a set, so that listing a folder again adds nothing).
  std::atomic<bool> lean_{false};
  std::unordered_set<uint64_t> lean_dirs_;
  ListingInvalidator listing_invalidator_;
  void EndLeanListings();

  mutable std::mutex inodes_mu_;
  std::unordered_map<uint64_t, InodePtr> inodes_;
  std::map<std::pair<uint64_t, std::string>, uint64_t> by_name_;
  uint64_t next_ino_ = 16;

  std::mutex stats_mu_;     // the statistics file's text for reads without a handle
  std::string stats_text_;  // guarded by stats_mu_

  mutable std::mutex handles_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs_;
  std::unordered_map<uint64_t, std::shared_ptr<FileHandle>> files_;
  uint64_t next_fh_ = 1;
};

}  // namespace kloset::fs
