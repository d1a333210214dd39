// The walk of a backup: ArchiveTree (core/archiver.h). Backup, which wraps it
// with the store lock, the parent lookup and the snapshot, is in core/backup.cc.
#include "core/archiver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/counting_blob_store.h"
#include "core/file_io.h"
#include "core/file_source.h"
#include "core/fs_scan.h"
#include "core/job_group.h"
#include "core/thread_pool.h"
#include "core/tree.h"

namespace kloset {

namespace {

constexpr size_t kBigBuffer = 8 << 20;  // read size for large files
constexpr uint64_t kSmallFile = 1 << 20;  // files up to this size are read on the pool

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool SameContentStat(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_size == b.st_size && ToNs(a.st_mtim) == ToNs(b.st_mtim) &&
         ToNs(a.st_ctim) == ToNs(b.st_ctim);
}

std::string ErrnoText(int err, const std::string& what) {
  return Status::FromErrno(err, what).message();
}

// Opens with O_NOATIME where allowed (owner or CAP_FOWNER), else without.
int OpenNoAtime(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_NOATIME | O_CLOEXEC);
  if (fd < 0 && errno == EPERM) fd = open(path.c_str(), flags | O_CLOEXEC);
  return fd;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

struct Trie {
  std::map<std::string, Trie> children;
  bool source = false;  // a source path: walked in full
};

class Archiver {
 public:
  Archiver(BlobStore* store, const ChunkerParams& params, const GearTable& gear,
           const BackupOptions& opts, Progress* progress, ThreadPool* pool)
      : store_(store), params_(params), gear_(gear), opts_(opts), progress_(progress),
        pool_(pool), max_inflight_(4 * std::max<size_t>(pool->size(), 1)) {}

  Status Run(const std::vector<std::string>& paths, const Hash* parent_tree,
             ArchiveResult* out);

 private:
  struct HardlinkInfo {
    uint64_t id;
    std::vector<ChunkRef> chunks;
    uint64_t size;
    std::string error;
  };

  Status Skeleton(const std::string& path, const Trie& trie, const Node* parent, Node* node);
  Status Dir(const std::string& path, const Node* parent, Node* node);
  // Saves the kept entries as `node`'s directory tree, once the walk of it is done.
  Status WriteDir(std::vector<Node>* nodes, const std::vector<bool>& keep, Node* node);
  Status Entry(const std::string& path, const std::string& name, const Node* parent,
               JobGroup* jobs, Node* node, bool* keep);
  Status File(const std::string& path, const struct stat& st, const Node* parent,
              JobGroup* jobs, Node* node);
  Status Content(const std::string& path, const struct stat& st, ThreadPool* pool, char* buf,
                 size_t len, Node* node);
  bool Reuse(const Node* parent, const struct stat& st, Node* node);
  void SubmitSmall(const std::string& path, const struct stat& st, JobGroup* jobs, Node* node);
  Status EmptyDir(Node* node) {
    return DirectoryWriter(&store_).Finish(&node->subtree, &node->subtree_entries);
  }
  // Progress for a non-directory entry; bytes count regular files only.
  void FileDone(const Node& node) {
    const uint64_t bytes = node.type == NodeType::kFile ? node.size : 0;
    bytes_ += bytes;
    progress_->files_done++;
    progress_->bytes_done += bytes;
  }
  // Records an entry that could not be read; clears its content.
  void Skip(const std::string& path, const std::string& why, Node* node);
  void AddChanged(const std::string& path, const std::string& why) {
    std::lock_guard<std::mutex> l(mu_);
    changed_.push_back({path, why});
  }
  void SetFatal(const Status& s) {
    std::lock_guard<std::mutex> l(mu_);
    if (fatal_.ok()) fatal_ = s;
  }
  Status Fatal() {
    std::lock_guard<std::mutex> l(mu_);
    return fatal_;
  }
  Status CheckCancel() {
    if (progress_->cancel.load()) return Status::Cancelled("backup cancelled");
    return Fatal();
  }

  CountingBlobStore store_;
  const ChunkerParams& params_;
  const GearTable& gear_;
  const BackupOptions& opts_;
  Progress* progress_;
  ThreadPool* pool_;
  const size_t max_inflight_;
  UserNames names_;
  std::unique_ptr<char[]> big_buf_;  // the walker's read buffer
  std::map<std::pair<dev_t, ino_t>, HardlinkInfo> hardlinks_;  // walker thread only

  std::mutex mu_;
  std::condition_variable slot_cv_;
  size_t inflight_ = 0;
  Status fatal_;
  std::vector<SkippedEntry> skipped_, changed_;

  std::atomic<uint64_t> files_{0}, dirs_{0}, others_{0}, bytes_{0};
  std::atomic<uint64_t> files_read_{0}, bytes_read_{0}, files_reused_{0};
};

void Archiver::Skip(const std::string& path, const std::string& why, Node* node) {
  if (node) {
    node->error = why;
    node->chunks.clear();
    node->size = 0;
  }
  progress_->errors++;
  std::lock_guard<std::mutex> l(mu_);
  skipped_.push_back({path, why});
}

Status Archiver::Run(const std::vector<std::string>& paths, const Hash* parent_tree,
                     ArchiveResult* out) {
  Trie root;
  for (const std::string& p : paths) {
    Trie* t = &root;
    for (size_t pos = 1; pos < p.size();) {
      size_t end = std::min(p.find('/', pos), p.size());
      t = &t->children[p.substr(pos, end - pos)];
      pos = end + 1;
    }
    t->source = true;
  }
  Node parent_root, top;
  parent_root.type = top.type = NodeType::kDir;
  if (parent_tree) parent_root.subtree = *parent_tree;
  const Node* parent = parent_tree ? &parent_root : nullptr;
  KLOSET_RETURN_IF_ERROR(root.source ? Dir("/", parent, &top) : Skeleton("/", root, parent, &top));
  KLOSET_RETURN_IF_ERROR(CheckCancel());

  out->tree = top.subtree;
  out->paths = paths;
  auto by_path = [](const SkippedEntry& a, const SkippedEntry& b) { return a.path < b.path; };
  std::sort(skipped_.begin(), skipped_.end(), by_path);
  std::sort(changed_.begin(), changed_.end(), by_path);
  out->skipped = std::move(skipped_);
  out->changed = std::move(changed_);
  SnapshotSummary& s = out->summary;
  s.files = files_;
  s.dirs = dirs_;
  s.others = others_;
  s.bytes = bytes_;
  s.bytes_added = store_.data_bytes_added();
  s.stored_added = store_.stored_added();
  s.skipped = out->skipped.size();
  out->stats.files_read = files_read_;
  out->stats.bytes_read = bytes_read_;
  out->stats.files_reused = files_reused_;
  out->stats.data_blobs_added = store_.data_blobs_added();
  out->stats.tree_blobs_added = store_.tree_blobs_added();
  return Status::OK();
}

// A directory above the source paths: its own metadata, and only the entries
// that lead to source paths.
Status Archiver::Skeleton(const std::string& path, const Trie& trie, const Node* parent,
                          Node* node) {
  std::vector<Node> nodes(trie.children.size());
  std::vector<bool> keep(nodes.size(), true);
  {
    JobGroup jobs;
    size_t i = 0;
    for (const auto& [name, child] : trie.children) {
      KLOSET_RETURN_IF_ERROR(CheckCancel());
      const std::string full = JoinPath(path, name);
      Node pc;
      bool found = false;
      if (parent && parent->type == NodeType::kDir && parent->error.empty()) {
        // A damaged parent tree only costs re-reading: ignore its errors.
        Status ls = DirectoryReader(&store_, parent->subtree).Lookup(name, &pc, &found);
        if (!ls.ok()) found = false;
      }
      const Node* pcp = found ? &pc : nullptr;
      Node& n = nodes[i];
      if (child.source) {
        bool k = true;
        KLOSET_RETURN_IF_ERROR(Entry(full, name, pcp, &jobs, &n, &k));
        keep[i] = k;
      } else {
        struct stat st;
        if (lstat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
          Skip(full, "not a directory any more", nullptr);
          keep[i] = false;
        } else {
          n.name = name;
          Status ms = NodeFromStat(full, st, &names_, &n);
          if (!ms.ok()) Skip(full, ms.message(), nullptr);  // keep walking to the sources
          dirs_++;
          KLOSET_RETURN_IF_ERROR(Skeleton(full, child, pcp, &n));
        }
      }
      i++;
    }
    jobs.Wait();
  }
  return WriteDir(&nodes, keep, node);
}

Status Archiver::WriteDir(std::vector<Node>* nodes, const std::vector<bool>& keep, Node* node) {
  KLOSET_RETURN_IF_ERROR(CheckCancel());
  DirectoryWriter w(&store_);
  for (size_t i = 0; i < nodes->size(); i++) {
    if (keep[i]) KLOSET_RETURN_IF_ERROR(w.Add(std::move((*nodes)[i])));
  }
  return w.Finish(&node->subtree, &node->subtree_entries);
}

Status Archiver::Dir(const std::string& path, const Node* parent, Node* node) {
  std::vector<std::string> names;
  {
    int err = opts_.test_open_hook ? opts_.test_open_hook(path) : 0;
    Fd fd;
    if (err == 0) {
      fd.fd = OpenNoAtime(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (fd.fd < 0) err = errno;
    }
    if (err != 0) {
      Skip(path, ErrnoText(err, "open directory"), node);
      return EmptyDir(node);
    }
    DIR* d = fdopendir(fd.fd);
    if (!d) {
      Skip(path, ErrnoText(errno, "fdopendir"), node);
      return EmptyDir(node);
    }
    fd.fd = -1;  // owned by d now
    for (;;) {
      errno = 0;
      struct dirent* e = readdir(d);
      if (!e) break;
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    err = errno;
    closedir(d);
    if (err != 0) {
      Skip(path, ErrnoText(err, "readdir"), node);
      return EmptyDir(node);
    }
  }
  std::sort(names.begin(), names.end());

  std::vector<Node> old;  // the parent snapshot's entries, sorted by name
  if (parent && parent->type == NodeType::kDir && parent->error.empty()) {
    Status s = DirectoryReader(&store_, parent->subtree).List("", [&](const Node& n) {
      old.push_back(n);
      return true;
    });
    if (!s.ok()) old.clear();  // a damaged parent only costs re-reading
  }

  std::vector<Node> nodes(names.size());
  std::vector<bool> keep(names.size(), true);
  {
    JobGroup jobs;  // declared after nodes: destroyed (waited for) first
    for (size_t i = 0; i < names.size(); i++) {
      KLOSET_RETURN_IF_ERROR(CheckCancel());
      const std::string full = JoinPath(path, names[i]);
      if (IsExcluded(opts_.excludes, full)) {
        keep[i] = false;
        continue;
      }
      auto it = std::lower_bound(old.begin(), old.end(), names[i],
                                 [](const Node& n, const std::string& k) { return n.name < k; });
      const Node* pc = it != old.end() && it->name == names[i] ? &*it : nullptr;
      bool k = true;
      KLOSET_RETURN_IF_ERROR(Entry(full, names[i], pc, &jobs, &nodes[i], &k));
      keep[i] = k;
    }
    jobs.Wait();
  }
  return WriteDir(&nodes, keep, node);
}

Status Archiver::Entry(const std::string& path, const std::string& name, const Node* parent,
                       JobGroup* jobs, Node* node, bool* keep) {
  progress_->SetCurrent(path);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    *keep = false;
    if (errno != ENOENT) Skip(path, ErrnoText(errno, "lstat"), nullptr);  // ENOENT: vanished
    return Status::OK();
  }
  node->name = name;
  Status ms = NodeFromStat(path, st, &names_, node);
  if (ms.code() == Code::kUnsupported) {  // an unknown file type
    *keep = false;
    Skip(path, ms.message(), nullptr);
    return Status::OK();
  }
  if (!ms.ok()) Skip(path, ms.message(), node);
  switch (node->type) {
    case NodeType::kDir:
      dirs_++;
      return ms.ok() ? Dir(path, parent, node) : EmptyDir(node);
    case NodeType::kFile:
      files_++;
      break;
    default:
      others_++;
      break;
  }
  if (!ms.ok() || (node->type != NodeType::kFile && st.st_nlink <= 1)) {
    FileDone(*node);
    return Status::OK();
  }
  if (st.st_nlink <= 1) return File(path, st, parent, jobs, node);

  // A hardlink: the first link seen is read, the others copy its result.
  auto key = std::make_pair(st.st_dev, st.st_ino);
  auto it = hardlinks_.find(key);
  if (it != hardlinks_.end()) {
    const HardlinkInfo& h = it->second;
    node->hardlink_id = h.id;
    if (node->type == NodeType::kFile) {
      node->chunks = h.chunks;
      node->size = h.size;
      node->error = h.error;
      files_reused_++;
    }
    FileDone(*node);
    return Status::OK();
  }
  node->hardlink_id = hardlinks_.size() + 1;
  if (node->type == NodeType::kFile) {
    KLOSET_RETURN_IF_ERROR(File(path, st, parent, /*jobs=*/nullptr, node));
  } else {
    FileDone(*node);
  }
  hardlinks_[key] = HardlinkInfo{node->hardlink_id, node->chunks, node->size, node->error};
  return Status::OK();
}

// Content of a regular file: reused from the parent, read on the pool
// (small files, when `jobs` is given) or read here with the pool hashing.
Status Archiver::File(const std::string& path, const struct stat& st, const Node* parent,
                      JobGroup* jobs, Node* node) {
  if (Reuse(parent, st, node)) {
    files_reused_++;
    FileDone(*node);
    return Status::OK();
  }
  if (jobs && static_cast<uint64_t>(st.st_size) <= kSmallFile) {
    SubmitSmall(path, st, jobs, node);
    return Status::OK();
  }
  if (!big_buf_) big_buf_.reset(new char[kBigBuffer]);
  KLOSET_RETURN_IF_ERROR(Content(path, st, pool_, big_buf_.get(), kBigBuffer, node));
  FileDone(*node);
  return Status::OK();
}

bool Archiver::Reuse(const Node* parent, const struct stat& st, Node* node) {
  if (!parent || parent->type != NodeType::kFile || !parent->error.empty()) return false;
  if (parent->size != static_cast<uint64_t>(st.st_size) || parent->inode != st.st_ino ||
      parent->mtime_ns != ToNs(st.st_mtim) || parent->ctime_ns != ToNs(st.st_ctim)) {
    return false;
  }
  uint64_t sum = 0;
  for (const ChunkRef& c : parent->chunks) {
    sum += c.size;
    // A blob gone from the index (damage, a broken prune) is re-read.
    if (!c.is_hole && !store_.HasBlob(BlobType::kData, c.id)) return false;
  }
  if (sum != parent->size) return false;
  node->chunks = parent->chunks;
  node->size = parent->size;
  return true;
}

void Archiver::SubmitSmall(const std::string& path, const struct stat& st, JobGroup* jobs,
                           Node* node) {
  {
    // Bounded in flight, so large files' chunk work is not queued behind
    // thousands of small files.
    std::unique_lock<std::mutex> l(mu_);
    slot_cv_.wait(l, [&] { return inflight_ < max_inflight_; });
    inflight_++;
  }
  jobs->Add();
  pool_->Submit([this, path, st, jobs, node] {
    if (CheckCancel().ok()) {
      size_t len = std::clamp<size_t>(static_cast<size_t>(st.st_size) + 1, 4096, kSmallFile);
      std::unique_ptr<char[]> buf(new char[len]);
      Status s = Content(path, st, nullptr, buf.get(), len, node);
      if (s.ok()) {
        FileDone(*node);
      } else {
        SetFatal(s);
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      inflight_--;
    }
    slot_cv_.notify_one();
    jobs->Done();  // last: the walker may destroy `jobs` right after
  });
}

Status Archiver::Content(const std::string& path, const struct stat& st, ThreadPool* pool,
                         char* buf, size_t len, Node* node) {
  int err = opts_.test_open_hook ? opts_.test_open_hook(path) : 0;
  Fd fd;
  if (err == 0) {
    // O_NONBLOCK: if a fifo took the file's place since lstat, do not hang.
    fd.fd = OpenNoAtime(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (fd.fd < 0) err = errno;
  }
  if (err != 0) {
    Skip(path, ErrnoText(err, "open"), node);
    return Status::OK();
  }
  struct stat before;
  if (fstat(fd.fd, &before) != 0) {
    Skip(path, ErrnoText(errno, "fstat"), node);
    return Status::OK();
  }
  if (!S_ISREG(before.st_mode)) {
    Skip(path, "replaced by a non-regular file during the backup", node);
    return Status::OK();
  }
  FileWriter w(&store_, params_, &gear_, pool);
  ReadFileResult rr;
  KLOSET_RETURN_IF_ERROR(
      ReadFileInto(fd.fd, before, &w, buf, len, [this] { return CheckCancel(); }, &rr));
  if (rr.err != 0) {
    Skip(path, ErrnoText(rr.err, "read"), node);
    return Status::OK();
  }
  if (opts_.test_after_read_hook) opts_.test_after_read_hook(path);
  struct stat after;
  const bool after_ok = fstat(fd.fd, &after) == 0;
  std::vector<ChunkRef> chunks;
  KLOSET_RETURN_IF_ERROR(w.Finish(&chunks));
  node->chunks = std::move(chunks);
  node->size = w.bytes_written();
  if (!after_ok || !SameContentStat(before, after) || !SameContentStat(st, before) ||
      node->size != static_cast<uint64_t>(st.st_size)) {
    AddChanged(path, "file changed while being read");
  }
  files_read_++;
  bytes_read_ += rr.bytes_read;
  return Status::OK();
}

}  // namespace

Status ArchiveTree(BlobStore* store, const ChunkerParams& chunker, const GearTable& gear,
                   const Hash* parent_tree, const BackupOptions& opts, Progress* progress,
                   ArchiveResult* result) {
  std::vector<std::string> paths;
  KLOSET_RETURN_IF_ERROR(NormalizeSourcePaths(opts.paths, &paths));
  Progress local_progress;
  if (!progress) progress = &local_progress;

  std::atomic<bool> stop{false};
  std::thread prescan;
  if (opts.count_totals) {
    prescan = std::thread([&] {
      uint64_t files = 0, bytes = 0;
      if (CountTree(paths, opts.excludes, &stop, &files, &bytes)) {
        progress->files_total = files;
        progress->bytes_total = bytes;
      }
    });
  }
  size_t threads = opts.threads > 0 ? static_cast<size_t>(opts.threads)
                                    : std::max(1u, std::thread::hardware_concurrency());
  Status s;
  {
    ThreadPool pool(threads);
    Archiver archiver(store, chunker, gear, opts, progress, &pool);
    s = archiver.Run(paths, parent_tree, result);
  }
  stop = true;
  if (prescan.joinable()) prescan.join();
  return s;
}

}  // namespace kloset
