#include "core/pack_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace kloset {

namespace {

constexpr char kSpoolSuffix[] = ".spool";

// mkdir -p with mode 0700; each folder made is fsynced into its parent so
// the spool folder itself survives a power cut.
Status MakeDirs(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::OK() : Status::IOError(dir + ": not a folder");
  }
  size_t slash = dir.find_last_of('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
  if (parent != dir && parent != "." && parent != "/") KLOSET_RETURN_IF_ERROR(MakeDirs(parent));
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Status::OK();
    return Status::FromErrno(errno, "mkdir " + dir);
  }
  int fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  return Status::OK();
}

bool IsSpoolName(std::string_view name) {
  constexpr size_t kHex = 2 * sizeof(SpoolFileId);
  constexpr size_t kSuffix = sizeof(kSpoolSuffix) - 1;
  return name.size() == kHex + kSuffix && name.substr(kHex) == kSpoolSuffix &&
         name.substr(0, kHex).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// fsync on a folder: file systems that cannot (EINVAL) give no stronger
// guarantee, so that is not an error.
Status SyncFd(int fd, bool data_only, const std::string& what) {
  int r = data_only ? fdatasync(fd) : fsync(fd);
  if (r != 0 && errno != EINVAL && errno != ENOTSUP)
    return Status::FromErrno(errno, "sync " + what);
  return Status::OK();
}

}  // namespace

SpoolFile::~SpoolFile() { close(fd_); }

bool SpoolFile::broken() const {
  std::lock_guard<std::mutex> l(mu_);
  return broken_;
}

Status SpoolFile::Append(std::string_view meta, std::string_view payload) {
  // Caller holds mu_.
  if (broken_) return Status::IOError("spool file " + path_ + " is unusable after a failed write");
  iovec iov[2] = {{const_cast<char*>(meta.data()), meta.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  int idx = 0;
  uint64_t at = size_, left = meta.size() + payload.size();
  Status s;
  while (left > 0) {
    ssize_t n = pwritev(fd_, iov + idx, 2 - idx, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      s = Status::FromErrno(n < 0 ? errno : EIO, "write " + path_);
      break;
    }
    at += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
    for (size_t k = static_cast<size_t>(n); k > 0;) {
      size_t step = std::min(k, iov[idx].iov_len);
      iov[idx].iov_base = static_cast<char*>(iov[idx].iov_base) + step;
      iov[idx].iov_len -= step;
      k -= step;
      if (iov[idx].iov_len == 0 && idx < 1) idx++;
    }
  }
  if (s.ok()) {
    size_ = at;
    return s;
  }
  // Cut the partial record off, or a later record would sit behind a torn
  // one and be lost to recovery.
  if (at != size_ && ftruncate(fd_, static_cast<off_t>(size_)) != 0) broken_ = true;
  return s;
}

Status SpoolFile::AppendBlob(const Hash& id, Compression c, std::string_view sealed,
                             uint32_t raw_size) {
  std::lock_guard<std::mutex> l(mu_);
  std::string meta = EncodeSpoolBlobRecord(*local_key_, header_, size_, type_, id, c,
                                           static_cast<uint32_t>(sealed.size()), raw_size);
  return Append(meta, sealed);
}

Status SpoolFile::AppendEnd(const Hash& pack_id, std::string_view tail) {
  std::lock_guard<std::mutex> l(mu_);
  std::string meta = EncodeSpoolEndRecord(*local_key_, header_, size_, type_, pack_id,
                                          static_cast<uint32_t>(tail.size()));
  return Append(meta, tail);
}

Status SpoolFile::Sync() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (removed_) return Status::OK();  // its pack is indexed
    if (!sync_error_.ok()) return sync_error_;
  }
  Status s = SyncFd(fd_, /*data_only=*/true, path_);
  if (!s.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    sync_error_ = s;
    broken_ = true;  // start a new file: this one may have lost records
  }
  return s;
}

void SpoolFile::Remove() {
  std::lock_guard<std::mutex> l(mu_);
  if (!removed_) (void)unlink(path_.c_str());
  removed_ = true;
}

Status PackSpool::Open(const std::string& dir_arg, const StoreId& store_id, const Key* local_key,
                       std::unique_ptr<PackSpool>* out) {
  // Absolute, so that a daemon's chdir("/") does not move the folder.
  std::error_code ec;
  std::string dir = std::filesystem::absolute(dir_arg, ec).lexically_normal().string();
  if (ec || dir_arg.empty()) return Status::InvalidArgument("spool folder '" + dir_arg + "'");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  KLOSET_RETURN_IF_ERROR(MakeDirs(dir).Annotate("spool folder"));
  const std::string lock_path = dir + "/lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Status::FromErrno(errno, "spool lock " + lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy("spool folder " + dir +
                          " is in use by another process (one mount per store per cache folder)");
    }
    return Status::FromErrno(err, "locking " + lock_path);
  }
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    int err = errno;
    close(lock_fd);
    return Status::FromErrno(err, "spool folder " + dir);
  }
  out->reset(new PackSpool(dir, lock_fd, dir_fd, store_id, local_key));
  return Status::OK();
}

PackSpool::~PackSpool() {
  close(dir_fd_);
  close(lock_fd_);  // releases the flock
}

Status PackSpool::ListFiles(std::vector<std::string>* paths) const {
  paths->clear();
  DIR* d = opendir(dir_.c_str());
  if (!d) return Status::FromErrno(errno, "listing spool folder " + dir_);
  while (dirent* e = readdir(d)) {
    if (IsSpoolName(e->d_name)) paths->push_back(dir_ + "/" + e->d_name);
  }
  closedir(d);
  std::sort(paths->begin(), paths->end());
  return Status::OK();
}

void PackSpool::MarkDirty(const std::shared_ptr<SpoolFile>& f, bool created) {
  std::lock_guard<std::mutex> l(mu_);
  dirty_.insert(f);
  dir_dirty_ |= created;
  appended_++;
}

Status PackSpool::AppendBlob(std::shared_ptr<SpoolFile>* file, BlobType type, const Hash& id,
                             Compression c, std::string_view sealed, uint32_t raw_size) {
  bool created = false;
  if (!*file) {
    SpoolHeader h;
    h.store_id = store_id_;
    h.type = type;
    RandomBytes(h.file_id.data(), h.file_id.size());
    std::string header = EncodeSpoolHeader(h);
    std::string path = dir_ + "/" + ToHex(h.file_id.data(), h.file_id.size()) + kSpoolSuffix;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno(errno, "creating spool file " + path);
    std::shared_ptr<SpoolFile> f(new SpoolFile(fd, path, type, header, local_key_));
    Status s;
    {
      std::lock_guard<std::mutex> l(f->mu_);
      s = f->Append(header, {});
    }
    if (!s.ok()) {
      f->Remove();
      return s;
    }
    *file = std::move(f);
    created = true;
  }
  Status s = (*file)->AppendBlob(id, c, sealed, raw_size);
  // A new file counts as dirty even when its first record failed: its
  // folder entry must be synced before the next record can be relied on.
  if (s.ok() || created) MarkDirty(*file, created);
  return s;
}

void PackSpool::AppendEnd(SpoolFile* file, const Hash& pack_id, std::string_view tail) {
  // Not marked dirty: the record only saves a re-upload, never data.
  (void)file->AppendEnd(pack_id, tail);
}

Status PackSpool::Sync() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (synced_ == appended_ && !dir_dirty_) return Status::OK();
  }
  std::lock_guard<std::mutex> sl(sync_mu_);
  std::unordered_set<std::shared_ptr<SpoolFile>> files;
  bool dir;
  uint64_t target;
  {
    std::lock_guard<std::mutex> l(mu_);
    // A Sync that ran while we waited for sync_mu_ may have covered us.
    if (synced_ == appended_ && !dir_dirty_) return Status::OK();
    files.swap(dirty_);
    dir = dir_dirty_;
    dir_dirty_ = false;
    target = appended_;
  }
  Status first;
  for (const auto& f : files) {
    Status s = f->Sync();
    if (!s.ok() && first.ok()) first = s;
  }
  if (dir) {
    Status s = SyncFd(dir_fd_, /*data_only=*/false, dir_);
    if (!s.ok() && first.ok()) first = s;
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!first.ok()) {
    // Try again next time (a file whose sync failed keeps reporting it).
    dirty_.insert(files.begin(), files.end());
    dir_dirty_ |= dir;
    return first;
  }
  synced_ = target;
  return Status::OK();
}

void PackSpool::Uploaded(const Hash& pack_id, std::shared_ptr<SpoolFile> file) {
  std::lock_guard<std::mutex> l(mu_);
  uploaded_[pack_id] = std::move(file);
}

void PackSpool::Indexed(const std::vector<PackRecord>& packs) {
  std::vector<std::shared_ptr<SpoolFile>> done;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const PackRecord& p : packs) {
      auto it = uploaded_.find(p.pack_id);
      if (it == uploaded_.end()) continue;
      dirty_.erase(it->second);
      done.push_back(std::move(it->second));
      uploaded_.erase(it);
    }
  }
  // Outside mu_: the lock order is SpoolFile::mu_ -> PackSpool::mu_.
  for (const auto& f : done) f->Remove();
}

void PackSpool::RemoveFile(const std::string& path) { (void)unlink(path.c_str()); }

}  // namespace kloset
