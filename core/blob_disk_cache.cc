#include "core/blob_disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "core/system_info.h"

namespace kloset {

namespace {

constexpr int64_t kStaleTempNs = 600'000'000'000;  // temporaries older than 10 minutes

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool IsHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

uint64_t Blocks(uint64_t bytes) {
  return (bytes + BlobDiskCache::kBlockSize - 1) / BlobDiskCache::kBlockSize;
}

// Reads exactly `size` bytes from an open regular file of that size.
bool ReadExact(int fd, uint64_t size, std::string* out) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != size) {
    return false;
  }
  out->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

BlobDiskCache::BlobDiskCache(std::string dir, uint64_t capacity, const Key& name_key)
    : files_(std::move(dir)), capacity_(capacity), name_key_(name_key) {
  Scan();
  std::vector<Name> victims;
  {
    std::lock_guard<std::mutex> l(mu_);
    victims = EvictLocked();
  }
  Unlink(victims);
}

BlobDiskCache::~BlobDiskCache() { Wipe(name_key_.data(), name_key_.size()); }

BlobDiskCache::Name BlobDiskCache::NameOf(const Hash& id) const {
  Hash h = KeyedHash(name_key_, std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  Name n;
  std::memcpy(&n.hi, h.data(), 8);
  std::memcpy(&n.lo, h.data() + 8, 8);
  return n;
}

std::string BlobDiskCache::RelPath(const Name& n) {
  uint8_t b[16];
  std::memcpy(b, &n.hi, 8);
  std::memcpy(b + 8, &n.lo, 8);
  std::string hex = ToHex(b, sizeof(b));
  return hex.substr(0, 2) + "/" + hex;
}

bool BlobDiskCache::ParseRelPath(std::string_view hh, std::string_view file, Name* n) {
  if (hh.size() != 2 || file.size() != 32 || !IsHex(file) || file.substr(0, 2) != hh) return false;
  uint8_t b[16];
  for (size_t i = 0; i < 16; i++) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    b[i] = static_cast<uint8_t>(nib(file[2 * i]) << 4 | nib(file[2 * i + 1]));
  }
  std::memcpy(&n->hi, b, 8);
  std::memcpy(&n->lo, b + 8, 8);
  return true;
}

std::string BlobDiskCache::PathOf(const Hash& id) const { return dir() + "/" + RelPath(NameOf(id)); }

void BlobDiskCache::Scan() {
  struct Found {
    int64_t mtime_ns;
    Name name;
    uint64_t blocks;
  };
  std::vector<Found> found;
  const int64_t stale_before = NowNs() - kStaleTempNs;
  DIR* top = opendir(dir().c_str());
  if (!top) return;
  while (struct dirent* d = readdir(top)) {
    std::string_view hh = d->d_name;
    if (hh.size() != 2 || !IsHex(hh)) continue;
    std::string sub = dir() + "/" + std::string(hh);
    DIR* folder = opendir(sub.c_str());
    if (!folder) continue;
    while (struct dirent* f = readdir(folder)) {
      std::string_view file = f->d_name;
      struct stat st;
      if (fstatat(dirfd(folder), f->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;
      }
      Name n;
      if (ParseRelPath(hh, file, &n)) {
        found.push_back({MtimeNs(st), n, Blocks(static_cast<uint64_t>(st.st_size))});
      } else if (file.find(".tmp~") != std::string_view::npos && MtimeNs(st) < stale_before) {
        unlinkat(dirfd(folder), f->d_name, 0);  // left by a crash mid-write
      }
    }
    closedir(folder);
  }
  closedir(top);
  // Oldest use first: the order of last_use values is the eviction order.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns < b.mtime_ns; });
  std::lock_guard<std::mutex> l(mu_);
  for (const Found& f : found) {
    Meta& m = map_[f.name];
    used_blocks_ = used_blocks_ - m.blocks + f.blocks;
    m.blocks = f.blocks;
    m.last_use = ++clock_;
  }
}

bool BlobDiskCache::Get(const Hash& id, uint64_t size, std::string* sealed) {
  const Name n = NameOf(id);
  const std::string rel = RelPath(n);
  int fd = open((dir() + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = false, wrong_file = false;
  if (fd >= 0) {
    ok = ReadExact(fd, size, sealed);
    wrong_file = !ok;
    if (ok) futimens(fd, nullptr);  // its recency for the next session's scan
    close(fd);
  }
  if (!ok) {
    sealed->clear();
    if (wrong_file) files_.Remove(rel);
    Forget(n);
    misses_++;
    return false;
  }
  std::vector<Name> victims;
  {
    std::lock_guard<std::mutex> l(mu_);
    Meta& m = map_[n];
    if (m.blocks == 0) {  // written by another process since the scan
      m.blocks = Blocks(size);
      used_blocks_ += m.blocks;
      victims = EvictLocked();
    }
    m.last_use = ++clock_;
  }
  Unlink(victims);
  hits_++;
  return true;
}

void BlobDiskCache::Put(const Hash& id, std::string_view sealed) {
  const uint64_t blocks = Blocks(sealed.size());
  if (blocks * kBlockSize > capacity_ / 8) return;  // would flush too much of the rest
  const Name n = NameOf(id);
  if (!files_.Put(RelPath(n), sealed)) return;  // counted by files_
  stored_++;
  std::vector<Name> victims;
  {
    std::lock_guard<std::mutex> l(mu_);
    Meta& m = map_[n];
    used_blocks_ = used_blocks_ - m.blocks + blocks;
    m.blocks = blocks;
    m.last_use = ++clock_;
    victims = EvictLocked();
  }
  Unlink(victims);
}

void BlobDiskCache::Drop(const Hash& id) {
  const Name n = NameOf(id);
  files_.Remove(RelPath(n));
  Forget(n);
  dropped_++;
}

void BlobDiskCache::Forget(const Name& n) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = map_.find(n);
  if (it == map_.end()) return;
  used_blocks_ -= it->second.blocks;
  map_.erase(it);
}

std::vector<BlobDiskCache::Name> BlobDiskCache::EvictLocked() {
  std::vector<Name> victims;
  if (used_blocks_ * kBlockSize <= capacity_) return victims;
  const uint64_t low_blocks = (capacity_ - capacity_ / 16) / kBlockSize;
  std::vector<std::pair<uint64_t, Name>> order;
  order.reserve(map_.size());
  for (const auto& [name, meta] : map_) order.emplace_back(meta.last_use, name);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [last_use, name] : order) {
    if (used_blocks_ <= low_blocks) break;
    auto it = map_.find(name);
    used_blocks_ -= it->second.blocks;
    map_.erase(it);
    victims.push_back(name);
  }
  evicted_ += victims.size();
  return victims;
}

void BlobDiskCache::Unlink(const std::vector<Name>& names) {
  for (const Name& n : names) files_.Remove(RelPath(n));
}

uint64_t BlobDiskCache::used_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return used_blocks_ * kBlockSize;
}

size_t BlobDiskCache::entries() const {
  std::lock_guard<std::mutex> l(mu_);
  return map_.size();
}

BlobDiskCacheStats BlobDiskCache::stats() const {
  BlobDiskCacheStats s;
  s.hits = hits_;
  s.misses = misses_;
  s.stored = stored_;
  s.evicted = evicted_;
  s.dropped = dropped_;
  s.write_failures = files_.write_failures();
  return s;
}

}  // namespace kloset
