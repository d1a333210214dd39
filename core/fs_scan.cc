// Local filesystem metadata into Nodes: see core/fs_scan.h.
#include "core/fs_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>

namespace kloset {

namespace {

// Calls fn(buf, len) with growing buffers while it fails with ERANGE.
template <typename Fn>
int WithBuffer(size_t initial, Fn fn) {
  std::vector<char> buf(initial);
  for (;;) {
    int r = fn(buf.data(), buf.size());
    if (r != ERANGE || buf.size() >= (1u << 24)) return r;
    buf.resize(buf.size() * 4);
  }
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool IsNotSupported(int err) { return err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS; }

}  // namespace

std::string UserNames::User(uid_t uid) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(uid);
  if (it != users_.end()) return it->second;
  std::string name;
  WithBuffer(4096, [&](char* buf, size_t len) {
    struct passwd pw, *res = nullptr;
    int r = getpwuid_r(uid, &pw, buf, len, &res);
    if (r == 0 && res) name = res->pw_name;
    return r;
  });
  return users_[uid] = name;
}

std::string UserNames::Group(gid_t gid) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = groups_.find(gid);
  if (it != groups_.end()) return it->second;
  std::string name;
  WithBuffer(4096, [&](char* buf, size_t len) {
    struct group gr, *res = nullptr;
    int r = getgrgid_r(gid, &gr, buf, len, &res);
    if (r == 0 && res) name = res->gr_name;
    return r;
  });
  return groups_[gid] = name;
}

bool NodeTypeFromMode(mode_t mode, NodeType* type) {
  switch (mode & S_IFMT) {
    case S_IFREG: *type = NodeType::kFile; return true;
    case S_IFDIR: *type = NodeType::kDir; return true;
    case S_IFLNK: *type = NodeType::kSymlink; return true;
    case S_IFIFO: *type = NodeType::kFifo; return true;
    case S_IFSOCK: *type = NodeType::kSocket; return true;
    case S_IFCHR: *type = NodeType::kCharDev; return true;
    case S_IFBLK: *type = NodeType::kBlockDev; return true;
    default: return false;
  }
}

Status ReadXattrs(const std::string& path,
                  std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  std::string list;
  for (;;) {
    ssize_t n = llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (IsNotSupported(errno)) return Status::OK();
      return Status::FromErrno(errno, "llistxattr " + path);
    }
    if (n == 0) return Status::OK();
    list.resize(static_cast<size_t>(n));
    n = llistxattr(path.c_str(), list.data(), list.size());
    if (n >= 0) {
      list.resize(static_cast<size_t>(n));
      break;
    }
    if (errno != ERANGE) return Status::FromErrno(errno, "llistxattr " + path);
    // The list grew between the two calls: ask again.
  }
  for (size_t pos = 0; pos < list.size();) {
    size_t end = list.find('\0', pos);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty()) continue;
    std::string value;
    bool gone = false;
    for (;;) {
      ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (n >= 0) {
        value.resize(static_cast<size_t>(n));
        n = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      }
      if (n >= 0) {
        value.resize(static_cast<size_t>(n));
        break;
      }
      if (errno == ENODATA) {  // removed since the listing
        gone = true;
        break;
      }
      if (errno != ERANGE) return Status::FromErrno(errno, "lgetxattr " + name + " of " + path);
    }
    if (!gone) out->emplace_back(std::move(name), std::move(value));
  }
  std::sort(out->begin(), out->end());
  return Status::OK();
}

Status NodeFromStat(const std::string& path, const struct stat& st, UserNames* names,
                    Node* node) {
  if (!NodeTypeFromMode(st.st_mode, &node->type)) {
    return Status::Unsupported(path + ": unknown file type");
  }
  node->mode = st.st_mode & 07777;
  node->uid = st.st_uid;
  node->gid = st.st_gid;
  node->user = names->User(st.st_uid);
  node->group = names->Group(st.st_gid);
  node->mtime_ns = ToNs(st.st_mtim);
  node->ctime_ns = ToNs(st.st_ctim);
  node->atime_ns = ToNs(st.st_atim);
  const bool sized = node->type == NodeType::kFile || node->type == NodeType::kSymlink;
  node->size = sized ? static_cast<uint64_t>(st.st_size) : 0;
  node->blocks = static_cast<uint64_t>(st.st_blocks);
  const bool dev = node->type == NodeType::kCharDev || node->type == NodeType::kBlockDev;
  node->rdev = dev ? static_cast<uint64_t>(st.st_rdev) : 0;
  node->nlink = static_cast<uint32_t>(st.st_nlink);
  node->inode = static_cast<uint64_t>(st.st_ino);
  if (node->type == NodeType::kSymlink) {
    std::string target(std::max<size_t>(static_cast<size_t>(st.st_size), 255) + 1, '\0');
    for (;;) {
      ssize_t n = readlink(path.c_str(), target.data(), target.size());
      if (n < 0) return Status::FromErrno(errno, "readlink " + path);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);  // changed since lstat: try larger
    }
    node->symlink_target = std::move(target);
    node->size = node->symlink_target.size();
    // readlink updates a symlink's atime (no O_NOATIME for it). Store the
    // atime it leaves, so the next backup sees the same node (relatime
    // keeps it until the link changes or a day passes).
    struct stat again;
    if (lstat(path.c_str(), &again) == 0 && again.st_ino == st.st_ino) {
      node->atime_ns = ToNs(again.st_atim);
    }
  }
  return ReadXattrs(path, &node->xattrs);
}

Status NormalizeSourcePath(const std::string& path, std::string* out) {
  if (path.empty()) return Status::InvalidArgument("empty source path");
  std::string abs = path;
  if (abs[0] != '/') {
    std::unique_ptr<char, decltype(&free)> cwd(getcwd(nullptr, 0), &free);
    if (!cwd) return Status::FromErrno(errno, "getcwd");
    abs = JoinPath(cwd.get(), abs);
  }
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  size_t slash = abs.rfind('/');
  std::string parent = slash == 0 ? "/" : abs.substr(0, slash);
  std::string base = abs.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") {
    parent = abs;
    base.clear();
  }
  std::unique_ptr<char, decltype(&free)> real(realpath(parent.c_str(), nullptr), &free);
  if (!real) return Status::FromErrno(errno, "source path " + path);
  *out = base.empty() ? std::string(real.get()) : JoinPath(real.get(), base);
  return Status::OK();
}

Status NormalizeSourcePaths(const std::vector<std::string>& in, std::vector<std::string>* out) {
  if (in.empty()) return Status::InvalidArgument("no source paths given");
  std::vector<std::string> all;
  for (const std::string& p : in) {
    std::string n;
    KLOSET_RETURN_IF_ERROR(NormalizeSourcePath(p, &n));
    struct stat st;
    if (lstat(n.c_str(), &st) != 0) return Status::FromErrno(errno, "source path " + p);
    all.push_back(std::move(n));
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  auto inside = [](const std::string& p, const std::string& q) {
    return q == "/" ||
           (p.size() > q.size() && p.compare(0, q.size(), q) == 0 && p[q.size()] == '/');
  };
  out->clear();
  for (const std::string& p : all) {
    if (std::none_of(all.begin(), all.end(), [&](const std::string& q) { return inside(p, q); })) {
      out->push_back(p);
    }
  }
  return Status::OK();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool IsExcluded(const std::vector<std::string>& globs, const std::string& path) {
  if (globs.empty()) return false;
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  for (const std::string& g : globs) {
    if (fnmatch(g.c_str(), path.c_str(), 0) == 0) return true;
    if (fnmatch(g.c_str(), base.c_str(), 0) == 0) return true;
  }
  return false;
}

bool CountTree(const std::vector<std::string>& paths, const std::vector<std::string>& excludes,
               const std::atomic<bool>* stop, uint64_t* files, uint64_t* bytes) {
  *files = *bytes = 0;
  auto count = [&](const struct stat& st) {
    if (S_ISDIR(st.st_mode)) return;
    (*files)++;
    if (S_ISREG(st.st_mode)) *bytes += static_cast<uint64_t>(st.st_size);
  };
  std::function<void(const std::string&)> walk = [&](const std::string& dir) {
    // O_NOATIME (where allowed), so counting leaves the atimes the walk stores.
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(dir.c_str(), flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = open(dir.c_str(), flags);
    if (fd < 0) return;
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      return;
    }
    while (struct dirent* e = readdir(d)) {
      if (stop->load()) break;
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string full = JoinPath(dir, name);
      struct stat st;
      if (IsExcluded(excludes, full) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
        continue;
      }
      count(st);
      if (S_ISDIR(st.st_mode)) walk(full);
    }
    closedir(d);
  };
  for (const std::string& p : paths) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) continue;
    count(st);
    if (S_ISDIR(st.st_mode)) walk(p);
  }
  return !stop->load();
}

}  // namespace kloset
