// The restorer: see core/restorer.h.
#include "core/restorer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/file_io.h"
#include "core/fs_restore.h"
#include "core/fs_scan.h"
#include "core/job_group.h"
#include "core/lock.h"
#include "core/restore_files.h"
#include "core/thread_pool.h"
#include "core/tree.h"

namespace kloset {

namespace {

// A batch is closed at a folder boundary once it holds this much, or
// anywhere at the hard limits. Batches of one folder keep the workers out of
// each other's folders (creating a file locks its folder).
constexpr size_t kBatchFiles = 64, kMaxBatchFiles = 2048;
constexpr uint64_t kBatchBytes = 8 << 20, kMaxBatchBytes = 64 << 20;

// What is known about a folder being filled.
struct DirState {
  bool fresh = false;        // made by this restore: holds only what it put there
  bool owner_known = false;  // entries made in it get euid and new_gid
  bool mode_known = false;   // ... and the mode asked for less the umask (no default ACL)
  gid_t new_gid = 0;
};

class Restorer {
 public:
  Restorer(BlobStore* store, const RestoreOptions& opts, Progress* progress, ThreadPool* pool)
      : store_(store),
        opts_(opts),
        progress_(progress),
        pool_(pool),
        chown_(geteuid() == 0),
        euid_(geteuid()),
        egid_(getegid()),
        max_inflight_(2 * std::max<size_t>(pool->size(), 1)) {
    env_.store = store;
    env_.progress = progress;
    env_.chown = chown_;
    env_.overwrite = opts.overwrite;
    env_.umask = CurrentUmask();
    env_.bytes = &bytes_;
    env_.tmp_counter = &tmp_counter_;
  }

  Status Run(const Hash& tree, RestoreResult* out);

 private:
  struct DirMeta {
    std::string path;
    Node node;
    bool owned;  // already has the node's owner
  };

  DirState TargetState(bool existed);
  Status RestoreDir(const std::string& path, const Node& dir, const DirState& st);
  Status RestoreEntry(const std::string& path, const Node& node, const DirState& parent);
  Status MakeDir(const std::string& path, const Node& node, const DirState& parent);
  Status MakeSpecial(const std::string& path, const Node& node, const DirState& parent,
                     bool absent);
  bool Owned(const Node& node, const DirState& parent) const {
    return parent.owner_known && node.uid == euid_ && node.gid == parent.new_gid;
  }
  void AddFile(FileToRestore file);
  void FlushBatch();
  void RunBatch(const std::vector<FileToRestore>& batch);
  Status Links();
  void Fail(const std::string& path, const std::string& why) {
    progress_->errors++;
    std::lock_guard<std::mutex> l(mu_);
    failed_.push_back({path, why});
  }
  void FailAll(const std::string& path, const std::vector<std::string>& problems) {
    for (const std::string& p : problems) Fail(path, p);
  }
  void FailLink(uint64_t hardlink_id) {
    if (hardlink_id == 0) return;
    std::lock_guard<std::mutex> l(mu_);
    failed_links_.insert(hardlink_id);
  }
  void SetFatal(const Status& s) {
    std::lock_guard<std::mutex> l(mu_);
    if (fatal_.ok()) fatal_ = s;
  }
  Status CheckCancel() {
    if (progress_->cancel.load()) return Status::Cancelled("restore cancelled");
    std::lock_guard<std::mutex> l(mu_);
    return fatal_;
  }
  void EntryDone(std::atomic<uint64_t>* counter) {
    (*counter)++;
    progress_->files_done++;
  }

  BlobStore* store_;
  const RestoreOptions& opts_;
  Progress* progress_;
  ThreadPool* pool_;
  const bool chown_;
  const uid_t euid_;
  const gid_t egid_;
  const size_t max_inflight_;
  FileRestoreEnv env_;
  std::atomic<uint64_t> tmp_counter_{0};

  // Walker thread only.
  std::vector<DirMeta> dirs_meta_;              // pre-order
  std::map<uint64_t, std::string> first_link_;  // hardlink id -> path written
  std::vector<std::pair<std::string, uint64_t>> later_links_;
  std::vector<FileToRestore> batch_;
  uint64_t batch_bytes_ = 0;
  std::string batch_dir_;

  std::mutex mu_;
  std::condition_variable slot_cv_;
  size_t inflight_ = 0;
  Status fatal_;
  std::vector<SkippedEntry> failed_;
  std::set<uint64_t> failed_links_;  // hardlink ids whose first link failed

  std::atomic<uint64_t> files_{0}, dirs_{0}, others_{0}, bytes_{0};
  JobGroup jobs_;  // last member: destroyed (waited for) first
};

DirState Restorer::TargetState(bool existed) {
  DirState st;
  st.fresh = !existed;
  struct stat sb;
  if (stat(opts_.target.c_str(), &sb) == 0) {
    st.owner_known = true;
    st.new_gid = (sb.st_mode & S_ISGID) ? sb.st_gid : egid_;
  }
  // A default ACL, not the umask, decides the mode of new entries.
  ssize_t r = getxattr(opts_.target.c_str(), "system.posix_acl_default", nullptr, 0);
  st.mode_known = r < 0 && (errno == ENODATA || errno == ENOTSUP);
  return st;
}

Status Restorer::Run(const Hash& tree, RestoreResult* out) {
  Node top;
  KLOSET_RETURN_IF_ERROR(LookupPath(store_, tree, opts_.path_in_snapshot, &top));
  if (opts_.target.empty()) return Status::InvalidArgument("no restore target given");
  struct stat st;
  const bool existed = lstat(opts_.target.c_str(), &st) == 0;
  if (existed && !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("restore target " + opts_.target + " is not a directory");
  }
  std::error_code ec;
  std::filesystem::create_directories(opts_.target, ec);
  if (ec) return Status::FromErrno(ec.value(), "creating " + opts_.target);

  const DirState target = TargetState(existed);
  Status s;
  if (top.type == NodeType::kDir) {
    if (!existed && !top.name.empty()) dirs_meta_.push_back({opts_.target, top, false});
    s = RestoreDir(opts_.target, top, target);
  } else {
    s = RestoreEntry(JoinPath(opts_.target, top.name), top, target);
  }
  if (s.ok()) FlushBatch();
  jobs_.Wait();
  if (s.ok()) s = CheckCancel();
  if (s.ok()) s = Links();
  if (!s.ok()) return s;
  // Deepest first: reverse pre-order puts every directory after its children.
  for (auto it = dirs_meta_.rbegin(); it != dirs_meta_.rend(); ++it) {
    std::vector<std::string> problems;
    ApplyMetadata(it->path, -1, it->node, chown_ && !it->owned, /*set_mode=*/true, &problems);
    FailAll(it->path, problems);
  }
  std::sort(failed_.begin(), failed_.end(),
            [](const SkippedEntry& a, const SkippedEntry& b) { return a.path < b.path; });
  out->files = files_;
  out->dirs = dirs_;
  out->others = others_;
  out->bytes = bytes_;
  out->failed = std::move(failed_);
  return Status::OK();
}

Status Restorer::RestoreDir(const std::string& path, const Node& dir, const DirState& st) {
  Status inner;
  Status s = DirectoryReader(store_, dir.subtree).List("", [&](const Node& n) {
    inner = RestoreEntry(JoinPath(path, n.name), n, st);
    return inner.ok();
  });
  if (!inner.ok()) return inner;
  if (s.IsCorrupt() || s.IsNotFound()) {  // a damaged directory: restore the rest
    Fail(path, "directory listing: " + s.message());
    return Status::OK();
  }
  return s;
}

Status Restorer::MakeDir(const std::string& path, const Node& node, const DirState& parent) {
  DirState st = parent;  // what a folder made here inherits
  st.fresh = mkdir(path.c_str(), 0700) == 0;
  int err = st.fresh ? 0 : errno;
  if (err == EEXIST) {
    struct stat sb;
    if (lstat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) {  // merged into
      err = 0;
      st.owner_known = true;
      st.new_gid = (sb.st_mode & S_ISGID) ? sb.st_gid : egid_;
      st.mode_known = false;  // it may have a default ACL
    } else {
      Status cs = ClearPath(path, opts_.overwrite, /*remove=*/true);
      if (!cs.ok()) {
        Fail(path, cs.message());
        return Status::OK();
      }
      st.fresh = mkdir(path.c_str(), 0700) == 0;
      err = st.fresh ? 0 : errno;
    }
  }
  if (err != 0) {
    if (IsFatalRestoreErrno(err)) return Status::FromErrno(err, "mkdir " + path);
    Fail(path, Status::FromErrno(err, "mkdir").message());
    return Status::OK();
  }
  if (!node.error.empty()) {
    Fail(path, "contents not in the snapshot (skipped at backup: " + node.error + ")");
  }
  dirs_++;
  Node meta = node;  // the listing is not needed for the metadata pass
  meta.chunks.clear();
  dirs_meta_.push_back({path, std::move(meta), st.fresh && Owned(node, parent)});
  return RestoreDir(path, node, st);
}

Status Restorer::RestoreEntry(const std::string& path, const Node& node, const DirState& parent) {
  KLOSET_RETURN_IF_ERROR(CheckCancel());
  progress_->SetCurrent(path);
  if (node.type == NodeType::kDir) return MakeDir(path, node, parent);
  if (!node.error.empty() && node.type == NodeType::kFile) {
    Fail(path, "not in the snapshot (skipped at backup: " + node.error + ")");
    return Status::OK();
  }
  if (node.hardlink_id != 0 && first_link_.count(node.hardlink_id)) {
    later_links_.push_back({path, node.hardlink_id});
    return Status::OK();
  }
  // In a folder this restore made, nothing is in the way.
  bool absent = parent.fresh;
  if (!absent) {
    Status cs = ClearPath(path, opts_.overwrite, /*remove=*/node.type != NodeType::kFile, &absent);
    if (!cs.ok()) {
      Fail(path, cs.message());
      return Status::OK();
    }
  }
  if (node.hardlink_id != 0) first_link_[node.hardlink_id] = path;
  if (node.type != NodeType::kFile) return MakeSpecial(path, node, parent, absent);
  FileToRestore f;
  f.path = path;
  f.node = node;
  f.absent = absent;
  f.owner_known = parent.owner_known;
  f.mode_known = parent.mode_known;
  f.new_uid = euid_;
  f.new_gid = parent.new_gid;
  AddFile(std::move(f));
  return Status::OK();
}

Status Restorer::MakeSpecial(const std::string& path, const Node& node, const DirState& parent,
                             bool absent) {
  Status s = CreateSpecial(path, node);
  if (s.code() == Code::kExists && absent) {  // named twice in the snapshot
    s = ClearPath(path, opts_.overwrite, /*remove=*/true);
    if (s.ok()) s = CreateSpecial(path, node);
  }
  if (!s.ok()) {
    FailLink(node.hardlink_id);
    if (s.code() == Code::kNoSpace) return s;
    Fail(path, s.message());
    return Status::OK();
  }
  std::vector<std::string> problems;
  ApplyMetadata(path, -1, node, chown_ && !Owned(node, parent), /*set_mode=*/true, &problems);
  FailAll(path, problems);
  EntryDone(&others_);
  return Status::OK();
}

void Restorer::AddFile(FileToRestore file) {
  const std::string dir = file.path.substr(0, file.path.rfind('/'));
  uint64_t bytes = 0;
  for (const ChunkRef& c : file.node.chunks)
    bytes += c.is_hole ? 0 : std::min(c.size, kMaxBatchBytes);
  if (!batch_.empty() &&
      ((dir != batch_dir_ && (batch_.size() >= kBatchFiles || batch_bytes_ >= kBatchBytes)) ||
       batch_.size() >= kMaxBatchFiles || batch_bytes_ >= kMaxBatchBytes)) {
    FlushBatch();
  }
  batch_.push_back(std::move(file));
  batch_bytes_ += bytes;
  batch_dir_ = dir;
}

void Restorer::FlushBatch() {
  if (batch_.empty()) return;
  auto batch = std::make_shared<std::vector<FileToRestore>>(std::move(batch_));
  batch_.clear();
  batch_bytes_ = 0;
  {
    std::unique_lock<std::mutex> l(mu_);
    slot_cv_.wait(l, [&] { return inflight_ < max_inflight_; });
    inflight_++;
  }
  jobs_.Add();
  pool_->Submit([this, batch] {
    if (CheckCancel().ok()) RunBatch(*batch);
    {
      std::lock_guard<std::mutex> l(mu_);
      inflight_--;
    }
    slot_cv_.notify_one();
    jobs_.Done();
  });
}

void Restorer::RunBatch(const std::vector<FileToRestore>& batch) {
  std::vector<FileOutcome> outcomes;
  Status stop = RestoreFiles(env_, batch, &outcomes);
  for (size_t i = 0; i < outcomes.size(); i++) {
    const FileToRestore& f = batch[i];
    if (outcomes[i].status.ok()) {
      FailAll(f.path, outcomes[i].problems);
      EntryDone(&files_);
    } else {
      FailLink(f.node.hardlink_id);
      Fail(f.path, outcomes[i].status.message());
    }
  }
  if (!stop.ok()) {
    FailLink(batch[outcomes.size()].node.hardlink_id);
    SetFatal(stop);
  }
}

Status Restorer::Links() {
  for (const auto& [path, id] : later_links_) {
    KLOSET_RETURN_IF_ERROR(CheckCancel());
    if (failed_links_.count(id)) {
      Fail(path, "hardlink not made: its first link could not be restored");
      continue;
    }
    Status cs = ClearPath(path, opts_.overwrite, /*remove=*/true);
    if (!cs.ok()) {
      Fail(path, cs.message());
      continue;
    }
    const std::string& first = first_link_[id];
    if (link(first.c_str(), path.c_str()) != 0) {
      Fail(path, Status::FromErrno(errno, "link to " + first).message());
      continue;
    }
    struct stat st;
    bool file = lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    EntryDone(file ? &files_ : &others_);
  }
  return Status::OK();
}

}  // namespace

Status RestoreTree(BlobStore* store, const Hash& tree, const RestoreOptions& opts,
                   Progress* progress, RestoreResult* result) {
  Progress local_progress;
  if (!progress) progress = &local_progress;
  size_t threads = opts.threads > 0 ? static_cast<size_t>(opts.threads)
                                    : std::max(1u, std::thread::hardware_concurrency());
  ThreadPool pool(threads);
  Restorer r(store, opts, progress, &pool);
  return r.Run(tree, result);
}

Status Restore(Repository* repo, const Snapshot& snap, const RestoreOptions& opts,
               Progress* progress, RestoreResult* result) {
  // Shared, as for backup: a prune (exclusive) may not delete the packs this
  // restore reads, and a running prune makes the restore wait (kBusy).
  std::unique_ptr<StoreLock> lock;
  KLOSET_RETURN_IF_ERROR(StoreLock::Acquire(repo, LockKind::kShared, &lock));
  Status s = RestoreTree(repo, snap.tree, opts, progress, result);
  (void)lock->Release();
  return s;
}

}  // namespace kloset
