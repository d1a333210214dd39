// IngestTree: MOUNTPOINT/ingest/, the writable part of a mount, in terms of
// inode numbers, struct stat and Status (KlosetFs routes every request for
// an ingest inode here; fs/fuse_ops.cc stays a thin adapter).
//
// It ties together the Draft (the namespace, core/draft.h), one IngestFile
// per open regular file (content, core/ingest_file.h), the journal
// (core/draft_journal.h) and the Repository's pack spool, and makes commits:
// Freeze the draft, Flush the store, save the snapshot, rotate the journal.
//
// Durability: every mutation is journaled with write(2) before the request
// is answered; file content becomes a SetContent record when the file is
// closed, fsynced, or its mtime is set explicitly. A SIGKILL loses nothing
// acknowledged; fsync (file or directory) makes everything so far durable
// against a power cut; the journal's background sync bounds the loss window
// of a power cut to JournalOptions::sync_interval_s otherwise.
//
// Inodes: ingest/ itself is kIngestIno; draft id d > 1 is inode
// kIngestInoBase + d. File handles of ingest files have kIngestFhBit set.
//
// Lock order: release_mu_ (fs/ingest_memory.cc), then commit_mu_, then gate_, then
// files_mu_, then the Draft's lock (taken by Draft calls); an IngestFile's own lock is
// never held while calling the Draft.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/draft.h"
#include "core/draft_journal.h"
#include "core/ingest_file.h"
#include "core/repository.h"
#include "core/thread_pool.h"
#include "fs/kloset_fs.h"
#include "fs/stats_file.h"

namespace kloset::fs {

constexpr uint64_t kIngestIno = 6;
constexpr uint64_t kIngestInoBase = 1ull << 56;
constexpr uint64_t kIngestFhBit = 1ull << 63;

struct IngestOptions {
  std::string base = "latest";  // latest | empty | a snapshot reference
  double commit_idle_s = 60;    // commit after this long without changes; 0 = never
  uint64_t staging_bytes = 4ull << 30;
  std::string host;      // default: gethostname()
  double timeout_s = 1;  // kernel entry/attr cache lifetime for ingest inodes
  JournalOptions journal;
  // Past this many draft nodes in memory, changed directories are written
  // as tree pages ahead of the commit (Draft::Checkpoint), the kernel is
  // asked to drop its entries of clean ones, and those are unloaded
  // (fs/ingest_memory.cc). 0: never (memory grows with the draft).
  uint64_t max_draft_nodes = 100000;
  // The store's snapshots, oldest first, for finding the `latest` base; the
  // mount passes the list it already holds. Unset: read from the store.
  std::function<Status(std::vector<Snapshot>*)> list_snapshots;
};

struct CommitRequest {
  std::vector<std::string> tags;
  std::string message;
};
struct CommitResult {
  bool nothing = false;  // no change since the last commit
  Snapshot snapshot;     // when !nothing
};

class IngestTree {
 public:
  // Recovers the journal in the store's cache dir if one is there (the
  // draft it describes wins over opts.base), else starts a draft over
  // opts.base. `after_commit` is called (without locks) after each commit.
  static Status Open(Repository* repo, ThreadPool* pool, const IngestOptions& opts,
                     std::function<void()> after_commit, std::unique_ptr<IngestTree>* out);
  ~IngestTree();  // stops the idle-commit thread; does not commit (call Shutdown)

  static bool Owns(uint64_t ino) { return ino == kIngestIno || ino >= kIngestInoBase; }
  static bool OwnsFh(uint64_t fh) { return (fh & kIngestFhBit) != 0; }
  // The entry for "ingest" in the mount root.
  Status RootEntry(Entry* e);

  // kNotFound comes with a negative entry (ino 0, entry_timeout set).
  Status Lookup(uint64_t parent, const std::string& name, Entry* e);
  void Forget(uint64_t ino, uint64_t n);
  Status GetAttr(uint64_t ino, struct stat* st, double* timeout);
  Status ReadLink(uint64_t ino, std::string* target);
  Status OpenDir(uint64_t ino, uint64_t* fh);
  Status ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                 const KlosetFs::DirFiller& fill);
  void ReleaseDir(uint64_t fh);

  Status Open(uint64_t ino, int flags, uint64_t* fh);
  Status Create(uint64_t parent, const std::string& name, uint32_t mode, int flags, uint32_t uid,
                uint32_t gid, Entry* e, uint64_t* fh);
  Status Read(uint64_t fh, uint64_t offset, size_t size, std::string* out);
  Status Write(uint64_t fh, uint64_t offset, std::string_view data);
  Status Flush(uint64_t fh);  // close(2): saves the content, reporting its errors
  Status Fsync(uint64_t fh);
  Status Release(uint64_t fh);

  // mode carries the file type (S_IFDIR, S_IFIFO, ...).
  Status Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev, uint32_t uid,
               uint32_t gid, Entry* e);
  Status Symlink(const std::string& target, uint64_t parent, const std::string& name, uint32_t uid,
                 uint32_t gid, Entry* e);
  Status Link(uint64_t ino, uint64_t parent, const std::string& name, Entry* e);
  Status Unlink(uint64_t parent, const std::string& name);
  Status Rmdir(uint64_t parent, const std::string& name);
  Status Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                const std::string& newname, unsigned flags);
  // `to_set` uses FUSE_SET_ATTR_* bits; `fh` is 0 when not given.
  Status SetAttr(uint64_t ino, const struct stat& in, int to_set, uint64_t fh, struct stat* out,
                 double* timeout);
  Status SetXattr(uint64_t ino, const std::string& name, std::string_view value, int flags);
  Status GetXattr(uint64_t ino, const std::string& name, std::string* value);
  Status ListXattr(uint64_t ino, std::vector<std::string>* names);
  Status RemoveXattr(uint64_t ino, const std::string& name);
  // Makes everything acknowledged so far durable (fsync of a directory).
  Status SyncAll();

  Status Commit(const CommitRequest& req, CommitResult* result);
  // Final commit at unmount (logs instead of returning errors it cannot act on).
  Status Shutdown();

  bool Dirty() const;

  // How the tree asks the kernel to drop a cached entry (the mount passes
  // fuse_lowlevel_notify_inval_entry; null: never). Called from the
  // background thread with no lock of the tree held, never from a request.
  using EntryInvalidator = std::function<void(uint64_t parent, const std::string& name)>;
  void SetEntryInvalidator(EntryInvalidator fn);
  // Before the session that fn talks to goes: no call starts after this,
  // and it waits up to wait_s for one in flight. False if one still runs
  // (it may be stuck on a request the stopped session never answers; the
  // session must then not be destroyed).
  bool StopInvalidating(double wait_s);
  // One round of memory release (the background thread runs it every half
  // second; tests call it directly): when the draft holds more than
  // max_draft_nodes nodes, checkpoints it, invalidates the kernel's entries
  // that keep clean directories loaded and unloads what nothing holds; the
  // next round unloads what the kernel forgot meanwhile. Returns the nodes
  // unloaded.
  size_t ReleaseMemory();
  MountStats::Ingest MemoryStats();
  const Snapshot* base() const { return has_base_ ? &base_snap_ : nullptr; }

 private:
  struct OpenFile;
  struct DirHandle;
  IngestTree(Repository* repo, ThreadPool* pool, IngestOptions opts);
  Status Init(std::function<void()> after_commit);
  static uint64_t ToIno(DraftId id) {
    return id == kDraftRootId ? kIngestIno : kIngestInoBase + id;
  }
  static DraftId ToId(uint64_t ino) {
    return ino == kIngestIno ? kDraftRootId : ino - kIngestInoBase;
  }
  void FillEntry(DraftId id, const Node& n, Entry* e);
  void ToStat(DraftId id, const Node& n, struct stat* st);
  std::shared_ptr<OpenFile> FileFor(uint64_t fh);
  // Saves an open file's content into the draft if it changed.
  // SaveContentLocked expects gate_ held (shared or exclusive).
  Status SaveContent(const std::shared_ptr<OpenFile>& f, std::optional<int64_t> mtime_ns);
  Status SaveContentLocked(const std::shared_ptr<OpenFile>& f, std::optional<int64_t> mtime_ns);
  void Touch();
  // Runs one namespace change of the draft with gate_ held shared and, when
  // it succeeds, counts it as activity for the idle commit.
  template <typename F>
  Status Mutate(F&& change) {
    std::shared_lock<std::shared_mutex> g(gate_);
    Status s = change();
    if (s.ok()) Touch();
    return s;
  }
  Status CreateNode(uint64_t parent, const std::string& name, const Node& n, DraftId* id,
                    Node* attr);
  void IdleLoop();
  void IdleCommit();

  Repository* repo_;
  ThreadPool* pool_;
  IngestOptions opts_;
  std::function<void()> after_commit_;
  std::unique_ptr<StagingArea> staging_;
  std::unique_ptr<Draft> draft_;
  std::unique_ptr<DraftJournal> journal_;
  std::string dir_;  // <cache>/ingest
  bool has_base_ = false;
  Snapshot base_snap_;

  std::mutex commit_mu_;
  // Namespace mutations hold it shared; a commit holds it exclusively from
  // Freeze to the journal's rotation.
  std::shared_mutex gate_;
  uint64_t raw_mark_ = 0, stored_mark_ = 0;  // RepoStats at the last commit
  mutable std::mutex files_mu_;
  std::unordered_map<DraftId, std::shared_ptr<OpenFile>> by_id_;  // one per open inode
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> handles_;
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs_;
  uint64_t next_fh_ = 1;

  // Memory release (fs/ingest_memory.cc), used by the background thread.
  // release_mu_ serializes rounds (taken before commit_mu_; no request
  // takes it); invalidate_mu_ is a leaf.
  std::mutex release_mu_;
  bool trim_pending_ = false;  // guarded by release_mu_
  uint64_t release_at_ = 0;    // guarded by release_mu_; 0 = max_draft_nodes
  std::mutex invalidate_mu_;
  std::condition_variable invalidate_cv_;
  std::shared_ptr<EntryInvalidator> invalidate_;  // guarded by invalidate_mu_
  bool invalidate_stopped_ = false;               // guarded by invalidate_mu_
  int invalidating_ = 0;                          // calls in flight; guarded by invalidate_mu_
  std::atomic<uint64_t> checkpoints_{0}, entries_released_{0}, nodes_unloaded_{0};

  std::atomic<int64_t> last_change_ns_{0};
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  bool stopping_ = false;
  std::thread idle_thread_;
};

}  // namespace kloset::fs
