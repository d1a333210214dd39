// StagingArea and StagingFile: see core/staging_area.h.
#include "core/staging_area.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

namespace kloset {
namespace {

constexpr char kLockName[] = ".lock";
constexpr char kAadLabel[] = "klosetfs staging block";  // with its NUL: a fixed-size prefix

// mkdir -p with mode 0700 for every directory it creates.
Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); pos++) {
    if (pos < dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "staging: mkdir " + part);
    }
  }
  return Status::OK();
}

// Removes everything but the lock file. Staging files are flat, but a
// leftover directory is removed too (depth-first).
Status RemoveContents(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::FromErrno(errno, "staging: opendir " + dir);
  Status st;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name == kLockName) continue;
    std::string path = dir + "/" + name;
    struct stat sb;
    if (lstat(path.c_str(), &sb) != 0) continue;  // gone meanwhile
    if (S_ISDIR(sb.st_mode)) {
      st = RemoveContents(path);
      if (st.ok() && rmdir(path.c_str()) != 0)
        st = Status::FromErrno(errno, "staging: rmdir " + path);
    } else if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      st = Status::FromErrno(errno, "staging: delete leftover " + path);
    }
    if (!st.ok()) break;
  }
  closedir(d);
  return st;
}

// For calls whose failure only costs disk space until the file is deleted.
void BestEffort(int) {}

void PutLE64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; i++) out->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

Status StagingArea::Open(const std::string& dir, const Key& key, uint64_t cap_bytes,
                         std::unique_ptr<StagingArea>* out) {
  if (dir.empty()) return Status::InvalidArgument("staging: empty directory name");
  KLOSET_RETURN_IF_ERROR(MakeDirs(dir));
  if (chmod(dir.c_str(), 0700) != 0) return Status::FromErrno(errno, "staging: chmod " + dir);
  std::string lock_path = dir + "/" + kLockName;
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "staging: open " + lock_path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return Status::Busy("staging directory " + dir + " is in use");
    return Status::FromErrno(err, "staging: lock " + lock_path);
  }
  Status st = RemoveContents(dir);
  if (!st.ok()) {
    close(fd);
    return st;
  }
  out->reset(new StagingArea(dir, key, cap_bytes, fd));
  return Status::OK();
}

StagingArea::StagingArea(std::string dir, const Key& key, uint64_t cap, int lock_fd)
    : dir_(std::move(dir)), key_(key), cap_(cap), lock_fd_(lock_fd) {}

StagingArea::~StagingArea() {
  Wipe(key_.data(), key_.size());
  close(lock_fd_);  // drops the flock
}

Status StagingArea::Reserve(uint64_t blocks) {
  if (blocks == 0) return Status::OK();
  const uint64_t want = blocks * kBlockSize;
  uint64_t used = used_.load();
  do {
    if (want > cap_ || used > cap_ - want) {
      return Status::NoSpace("staging area full: " + std::to_string(cap_ >> 20) + " MiB cap (" +
                             std::to_string(cap_) + " bytes) reached in " + dir_);
    }
  } while (!used_.compare_exchange_weak(used, used + want));
  return Status::OK();
}

void StagingArea::Release(uint64_t blocks) { used_.fetch_sub(blocks * kBlockSize); }

Status StagingArea::CreateFile(std::unique_ptr<StagingFile>* out) {
  std::array<uint8_t, 16> token;
  RandomBytes(token.data(), token.size());
  std::string path = dir_ + "/" + ToHex(token.data(), token.size()) + ".stage";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "staging: create " + path);
  out->reset(new StagingFile(fd, std::move(path), key_, token));
  return Status::OK();
}

StagingFile::StagingFile(int fd, std::string path, const Key& key,
                         const std::array<uint8_t, 16>& token)
    : fd_(fd), path_(std::move(path)), key_(key), token_(token) {}

StagingFile::~StagingFile() {
  close(fd_);
  unlink(path_.c_str());
  Wipe(key_.data(), key_.size());
}

std::string StagingFile::Aad(uint64_t index, uint64_t gen) const {
  std::string aad(kAadLabel, sizeof(kAadLabel));
  aad.append(reinterpret_cast<const char*>(token_.data()), token_.size());
  PutLE64(&aad, index);
  PutLE64(&aad, gen);
  return aad;
}

Status StagingFile::Put(uint64_t index, uint64_t gen, std::string_view block, uint32_t* slot) {
  if (block.size() != StagingArea::kBlockSize) {
    return Status::InvalidArgument("staging: block of " + std::to_string(block.size()) + " bytes");
  }
  std::string sealed;
  sealed.reserve(StagingArea::kSlotSize);
  Seal(key_, block, Aad(index, gen), &sealed);
  // The lowest free slot first, so the file stays compact.
  const uint32_t s = free_.empty() ? next_slot_ : *free_.begin();
  const off_t base = static_cast<off_t>(s) * StagingArea::kSlotSize;
  for (size_t done = 0; done < sealed.size();) {
    ssize_t n = pwrite(fd_, sealed.data() + done, sealed.size() - done, base + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A short write to a fresh slot may leave blocks allocated past the
      // end; give them back so a full disk gets its space again.
      int err = n < 0 ? errno : ENOSPC;
      if (s == next_slot_) BestEffort(ftruncate(fd_, base));
      return Status::FromErrno(err, "staging: write " + path_);
    }
    done += static_cast<size_t>(n);
  }
  if (free_.empty()) {
    next_slot_++;
  } else {
    free_.erase(free_.begin());
  }
  *slot = s;
  return Status::OK();
}

Status StagingFile::Get(uint32_t slot, uint64_t index, uint64_t gen, std::string* block) const {
  std::string sealed(StagingArea::kSlotSize, '\0');
  const off_t base = static_cast<off_t>(slot) * StagingArea::kSlotSize;
  for (size_t done = 0; done < sealed.size();) {
    ssize_t n = pread(fd_, sealed.data() + done, sealed.size() - done, base + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "staging: read " + path_);
    if (n == 0) return Status::Corrupt("staging: " + path_ + " is truncated");
    done += static_cast<size_t>(n);
  }
  Status st = Open(key_, sealed, Aad(index, gen), block);
  if (!st.ok()) {
    return Status::Corrupt("staging: block " + std::to_string(index) + " in " + path_ +
                           " does not authenticate");
  }
  return Status::OK();
}

void StagingFile::Free(uint32_t slot) {
  free_.insert(slot);
  if (slot + 1 == next_slot_) {
    // The last slot: shrink the file, dropping the free slots that end it.
    while (!free_.empty() && *free_.rbegin() + 1 == next_slot_) {
      free_.erase(std::prev(free_.end()));
      next_slot_--;
    }
    BestEffort(ftruncate(fd_, static_cast<off_t>(next_slot_) * StagingArea::kSlotSize));
    return;
  }
  // Not every file system can punch holes; the space then stays allocated
  // until the slot is reused or the file deleted.
  BestEffort(fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       static_cast<off_t>(slot) * StagingArea::kSlotSize, StagingArea::kSlotSize));
}

}  // namespace kloset
