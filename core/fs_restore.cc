// Node metadata back onto the filesystem: see core/fs_restore.h.
#include "core/fs_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace kloset {

namespace {

struct timespec FromNs(int64_t ns) {
  struct timespec ts;
  int64_t s = ns / 1000000000, r = ns % 1000000000;
  if (r < 0) {
    s--;
    r += 1000000000;
  }
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>(r);
  return ts;
}

std::string Problem(const char* what, int err) { return std::string(what) + ": " + strerror(err); }

}  // namespace

void ApplyMetadata(const std::string& path, int fd, const Node& node, bool chown, bool set_mode,
                   std::vector<std::string>* problems) {
  const char* p = path.c_str();
  // chown first: it clears setuid/setgid bits and security.capability.
  if (chown) {
    int r = fd >= 0 ? fchown(fd, node.uid, node.gid) : lchown(p, node.uid, node.gid);
    if (r != 0) problems->push_back(Problem("chown", errno));
  }
  for (const auto& [name, value] : node.xattrs) {
    int r = fd >= 0 ? fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                    : lsetxattr(p, name.c_str(), value.data(), value.size(), 0);
    if (r != 0) problems->push_back(Problem(("set xattr " + name).c_str(), errno));
  }
  if (set_mode && node.type != NodeType::kSymlink) {
    int r = fd >= 0 ? fchmod(fd, node.mode & 07777) : chmod(p, node.mode & 07777);
    if (r != 0) problems->push_back(Problem("chmod", errno));
  }
  struct timespec times[2] = {FromNs(node.atime_ns), FromNs(node.mtime_ns)};
  int r = fd >= 0 ? futimens(fd, times) : utimensat(AT_FDCWD, p, times, AT_SYMLINK_NOFOLLOW);
  if (r != 0) problems->push_back(Problem("set times", errno));
}

Status CreateSpecial(const std::string& path, const Node& node) {
  const char* p = path.c_str();
  int r;
  switch (node.type) {
    case NodeType::kSymlink:
      r = symlink(node.symlink_target.c_str(), p);
      break;
    case NodeType::kFifo:
      r = mkfifo(p, 0600);
      break;
    case NodeType::kSocket:
      r = mknod(p, S_IFSOCK | 0600, 0);
      break;
    case NodeType::kCharDev:
      r = mknod(p, S_IFCHR | 0600, static_cast<dev_t>(node.rdev));
      break;
    case NodeType::kBlockDev:
      r = mknod(p, S_IFBLK | 0600, static_cast<dev_t>(node.rdev));
      break;
    default:
      return Status::InvalidArgument(path + ": not a special file");
  }
  if (r != 0) return Status::FromErrno(errno, path);
  return Status::OK();
}

Status ClearPath(const std::string& path, bool overwrite, bool remove, bool* absent) {
  if (absent) *absent = false;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::FromErrno(errno, path);
    if (absent) *absent = true;
    return Status::OK();
  }
  if (S_ISDIR(st.st_mode)) return Status::Exists(path + ": a directory is in the way");
  if (!overwrite) return Status::Exists(path + ": exists (not overwritten)");
  if (remove && unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, path);
  return Status::OK();
}

int CurrentUmask() {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return -1;
  char line[256];
  int mask = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned m;
    if (sscanf(line, "Umask: %o", &m) == 1) {
      mask = static_cast<int>(m & 0777);
      break;
    }
  }
  fclose(f);
  return mask;
}

}  // namespace kloset
