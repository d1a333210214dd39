#include "core/object_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <vector>

namespace kloset {

namespace {

// mkdir -p with mode 0700 for every folder it makes.
bool MakeDirs(const std::string& dir) {
  if (dir.empty()) return false;
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return true;
  if (errno != ENOENT) return false;
  size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return false;
  if (!MakeDirs(dir.substr(0, slash))) return false;
  return mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

bool ObjectNameHash(std::string_view name, Hash* h) {
  size_t slash = name.find_last_of('/');
  return FromHex(slash == std::string_view::npos ? name : name.substr(slash + 1), h);
}

ObjectCache::ObjectCache(std::string dir) : dir_(std::move(dir)) {}

std::string ObjectCache::DefaultRoot() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/klosetfs";
  const char* home = std::getenv("HOME");
  if (home && *home == '/') return std::string(home) + "/.cache/klosetfs";
  return "";
}

bool ObjectCache::ReadWhole(const std::string& path, std::string* data) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    data->resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < data->size()) {
      ssize_t n = pread(fd, data->data() + done, data->size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ok = done == data->size();
  }
  close(fd);
  return ok;
}

bool ObjectCache::Get(const std::string& name, std::string* data) {
  Hash want;
  if (!ObjectNameHash(name, &want) || !ReadWhole(PathOf(name), data)) {
    misses_++;
    return false;
  }
  if (PlainHash(*data) != want) {
    corrupt_++;
    misses_++;
    Remove(name);
    data->clear();
    return false;
  }
  hits_++;
  return true;
}

bool ObjectCache::ReadRange(const std::string& name, uint64_t offset, uint64_t length,
                            std::string* out) {
  int fd = open(PathOf(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->resize(length);
  size_t done = 0;
  while (done < length) {
    ssize_t n = pread(fd, out->data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (done != length) {
    out->clear();
    return false;
  }
  return true;
}

bool ObjectCache::Verify(const std::string& name) {
  std::string data;
  return Get(name, &data);
}

bool ObjectCache::Put(const std::string& name, std::string_view data) {
  std::string path = PathOf(name);
  std::string folder = path.substr(0, path.find_last_of('/'));
  uint8_t rnd[8];
  RandomBytes(rnd, sizeof(rnd));
  std::string tmp = path + ".tmp~" + ToHex(rnd, sizeof(rnd));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT && MakeDirs(folder)) {
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) {
    write_failures_++;
    return false;
  }
  bool ok = WriteAll(fd, data);
  ok = (close(fd) == 0) && ok;
  // No fsync: after a crash a torn entry fails verification and is refetched.
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    write_failures_++;
    return false;
  }
  return true;
}

void ObjectCache::Remove(const std::string& name) { unlink(PathOf(name).c_str()); }

size_t ObjectCache::Trim(const std::string& folder, std::chrono::seconds grace,
                         const std::function<bool(const std::string& name)>& keep) {
  const time_t before = time(nullptr) - static_cast<time_t>(grace.count());
  size_t removed = 0;
  // `rel` is relative to dir_; depth 0 is `folder` itself, depth 1 a fan-out folder.
  std::function<void(const std::string&, int)> walk = [&](const std::string& rel, int depth) {
    DIR* d = opendir(PathOf(rel).c_str());
    if (!d) return;
    std::vector<std::string> doomed;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (depth == 0) walk(rel + "/" + name, 1);
        continue;
      }
      if (!S_ISREG(st.st_mode) || st.st_mtime >= before) continue;
      bool temp = name.find(".tmp~") != std::string::npos;
      if (temp || !keep(rel + "/" + name)) doomed.push_back(name);
    }
    for (const std::string& name : doomed) {
      if (unlinkat(dirfd(d), name.c_str(), 0) == 0) removed++;
    }
    closedir(d);
  };
  walk(folder, 0);
  return removed;
}

}  // namespace kloset
