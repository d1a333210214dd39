// The restorer: see core/restorer.h.
#include "core/restorer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
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
#include "core/thread_pool.h"
#include "core/tree.h"

namespace kloset {

namespace {

constexpr uint64_t kMaxChunk = 1ull << 30;  // no valid chunker makes larger chunks

// Local errors that will hit every later file too: stop instead of failing
// each one.
bool IsFatalErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EROFS; }

class Restorer {
 public:
  Restorer(BlobStore* store, const RestoreOptions& opts, Progress* progress, ThreadPool* pool)
      : store_(store), opts_(opts), progress_(progress), pool_(pool),
        chown_(geteuid() == 0), max_inflight_(2 * std::max<size_t>(pool->size(), 1)) {}

  Status Run(const Hash& tree, RestoreResult* out);

 private:
  struct DirMeta {
    std::string path;
    Node node;
  };

  Status RestoreDir(const std::string& path, const Node& dir);
  Status RestoreEntry(const std::string& path, const Node& node);
  void SubmitFile(const std::string& path, const Node& node);
  // Writes one file via a temporary name. *fatal tells a stopping error
  // from one that only fails this file.
  Status WriteFile(const std::string& path, const Node& node, bool* fatal);
  Status Links();
  void Fail(const std::string& path, const std::string& why) {
    progress_->errors++;
    std::lock_guard<std::mutex> l(mu_);
    failed_.push_back({path, why});
  }
  void FailAll(const std::string& path, const std::vector<std::string>& problems) {
    for (const std::string& p : problems) Fail(path, p);
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
  const size_t max_inflight_;
  std::atomic<uint64_t> tmp_counter_{0};

  // Walker thread only.
  std::vector<DirMeta> dirs_meta_;                 // pre-order
  std::map<uint64_t, std::string> first_link_;     // hardlink id -> path written
  std::vector<std::pair<std::string, uint64_t>> later_links_;

  std::mutex mu_;
  std::condition_variable slot_cv_;
  size_t inflight_ = 0;
  Status fatal_;
  std::vector<SkippedEntry> failed_;
  std::set<uint64_t> failed_links_;  // hardlink ids whose first link failed

  std::atomic<uint64_t> files_{0}, dirs_{0}, others_{0}, bytes_{0};
  JobGroup jobs_;  // last member: destroyed (waited for) first
};

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

  Status s;
  if (top.type == NodeType::kDir) {
    if (!existed && !top.name.empty()) dirs_meta_.push_back({opts_.target, top});
    s = RestoreDir(opts_.target, top);
  } else {
    s = RestoreEntry(JoinPath(opts_.target, top.name), top);
  }
  jobs_.Wait();
  if (s.ok()) s = CheckCancel();
  if (s.ok()) s = Links();
  if (!s.ok()) return s;
  // Deepest first: reverse pre-order puts every directory after its children.
  for (auto it = dirs_meta_.rbegin(); it != dirs_meta_.rend(); ++it) {
    std::vector<std::string> problems;
    ApplyMetadata(it->path, -1, it->node, chown_, &problems);
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

Status Restorer::RestoreDir(const std::string& path, const Node& dir) {
  Status inner;
  Status s = DirectoryReader(store_, dir.subtree).List("", [&](const Node& n) {
    inner = RestoreEntry(JoinPath(path, n.name), n);
    return inner.ok();
  });
  if (!inner.ok()) return inner;
  if (s.IsCorrupt() || s.IsNotFound()) {  // a damaged directory: restore the rest
    Fail(path, "directory listing: " + s.message());
    return Status::OK();
  }
  return s;
}

Status Restorer::RestoreEntry(const std::string& path, const Node& node) {
  KLOSET_RETURN_IF_ERROR(CheckCancel());
  progress_->SetCurrent(path);
  if (node.type == NodeType::kDir) {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      Status cs = ClearPath(path, opts_.overwrite, /*remove=*/true);
      if (!cs.ok()) {
        Fail(path, cs.message());
        return Status::OK();
      }
    }
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      int err = errno;
      if (IsFatalErrno(err)) return Status::FromErrno(err, "mkdir " + path);
      Fail(path, Status::FromErrno(err, "mkdir").message());
      return Status::OK();
    }
    if (!node.error.empty()) {
      Fail(path, "contents not in the snapshot (skipped at backup: " + node.error + ")");
    }
    dirs_++;
    Node meta = node;  // the listing is not needed for the metadata pass
    meta.chunks.clear();
    dirs_meta_.push_back({path, std::move(meta)});
    return RestoreDir(path, node);
  }
  if (!node.error.empty() && node.type == NodeType::kFile) {
    Fail(path, "not in the snapshot (skipped at backup: " + node.error + ")");
    return Status::OK();
  }
  if (node.hardlink_id != 0 && first_link_.count(node.hardlink_id)) {
    later_links_.push_back({path, node.hardlink_id});
    return Status::OK();
  }
  Status cs = ClearPath(path, opts_.overwrite, /*remove=*/node.type != NodeType::kFile);
  if (!cs.ok()) {
    Fail(path, cs.message());
    return Status::OK();
  }
  if (node.hardlink_id != 0) first_link_[node.hardlink_id] = path;
  if (node.type == NodeType::kFile) {
    SubmitFile(path, node);
    return Status::OK();
  }
  Status s = CreateSpecial(path, node);
  if (!s.ok()) {
    if (node.hardlink_id != 0) {
      std::lock_guard<std::mutex> l(mu_);
      failed_links_.insert(node.hardlink_id);
    }
    if (s.code() == Code::kNoSpace) return s;
    Fail(path, s.message());
    return Status::OK();
  }
  std::vector<std::string> problems;
  ApplyMetadata(path, -1, node, chown_, &problems);
  FailAll(path, problems);
  EntryDone(&others_);
  return Status::OK();
}

void Restorer::SubmitFile(const std::string& path, const Node& node) {
  {
    std::unique_lock<std::mutex> l(mu_);
    slot_cv_.wait(l, [&] { return inflight_ < max_inflight_; });
    inflight_++;
  }
  jobs_.Add();
  pool_->Submit([this, path, node] {
    if (CheckCancel().ok()) {
      bool fatal = false;
      Status s = WriteFile(path, node, &fatal);
      if (s.ok()) {
        EntryDone(&files_);
      } else {
        if (node.hardlink_id != 0) {
          std::lock_guard<std::mutex> l(mu_);
          failed_links_.insert(node.hardlink_id);
        }
        if (fatal) {
          SetFatal(s);
        } else {
          Fail(path, s.message());
        }
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      inflight_--;
    }
    slot_cv_.notify_one();
    jobs_.Done();
  });
}

Status Restorer::WriteFile(const std::string& path, const Node& node, bool* fatal) {
  const std::string dir = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; attempt++) {
    tmp = JoinPath(dir, ".klosetfs-tmp-" + std::to_string(getpid()) + "-" +
                            std::to_string(tmp_counter_++));
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || attempt > 100)) {
      *fatal = IsFatalErrno(errno);
      return Status::FromErrno(errno, "creating a file in " + dir);
    }
  }
  auto local_error = [&](int err, const std::string& what) {
    *fatal = IsFatalErrno(err);
    return Status::FromErrno(err, what);
  };
  Status s;
  FileReader reader(store_, node.chunks);
  std::string buf;
  uint64_t off = 0;
  for (const ChunkRef& c : node.chunks) {
    if (c.is_hole) {
      off += c.size;  // left unwritten: stays a hole
      continue;
    }
    if (progress_->cancel.load()) {
      s = Status::Cancelled("restore cancelled");
      *fatal = true;
      break;
    }
    if (c.size > kMaxChunk) {
      s = Status::Corrupt("chunk of " + std::to_string(c.size) + " bytes");
      break;
    }
    s = reader.ReadAt(off, static_cast<size_t>(c.size), &buf);
    if (!s.ok()) {
      *fatal = !s.IsCorrupt() && !s.IsNotFound();  // damage fails the file only
      break;
    }
    for (size_t done = 0; done < buf.size() && s.ok();) {
      ssize_t n = pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(off + done));
      if (n < 0 && errno != EINTR) s = local_error(errno, "writing " + path);
      if (n == 0) s = Status::IOError("writing " + path + ": no progress");
      if (n > 0) done += static_cast<size_t>(n);
    }
    if (!s.ok()) break;
    off += c.size;
    bytes_ += c.size;
    progress_->bytes_done += c.size;
  }
  if (s.ok() && ftruncate(fd, static_cast<off_t>(off)) != 0) {
    s = local_error(errno, "setting the size of " + path);
  }
  if (s.ok()) {
    std::vector<std::string> problems;
    ApplyMetadata(path, fd, node, chown_, &problems);
    FailAll(path, problems);
  }
  if (close(fd) != 0 && s.ok()) s = local_error(errno, "writing " + path);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = local_error(errno, "rename to " + path);
  if (!s.ok()) unlink(tmp.c_str());
  return s;
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
