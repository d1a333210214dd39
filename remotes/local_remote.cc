#include "remotes/local_remote.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <random>
#include <vector>

#include "remotes/name_check.h"

namespace kloset {

namespace {

// Folders deeper than this are not walked: object names are at most three
// levels deep, and the cap stops a symlink loop from recursing forever.
constexpr int kMaxListDepth = 32;

// Temporary files start with this; '~' is not allowed in object names, so a
// temporary file can never be mistaken for (or collide with) an object.
constexpr const char* kTempPrefix = ".tmp~";

std::string RandomSuffix() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (static_cast<uint64_t>(getpid()) << 32));
  static const char kHex[] = "0123456789abcdef";
  uint64_t x = rng();
  std::string s(16, '0');
  for (int i = 0; i < 16; i++) s[i] = kHex[(x >> (4 * i)) & 15];
  return s;
}

// The folder part of a name or prefix: "packs/ab/x" -> "packs/ab", "x" -> "".
std::string DirPart(const std::string& name) {
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

// The absolute folder for a relative one below `root` ("" is the root).
std::string Folder(const std::string& root, const std::string& rel) {
  if (rel.empty()) return root.empty() ? "/" : root;
  return root + "/" + rel;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Makes a rename or unlink in `dir` durable. File systems that cannot fsync
// a folder (EINVAL) give no stronger guarantee, so that is not an error.
Status SyncDir(const std::string& dir) {
  Fd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0) return Status::FromErrno(errno, dir);
  if (fsync(d.fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    return Status::FromErrno(errno, "fsync " + dir);
  }
  return Status::OK();
}

// mkdir -p for an absolute path; each folder made is fsynced into its parent.
Status MakeDirs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::IOError(path + ": exists and is not a folder");
  }
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty() && parent != path) KLOSET_RETURN_IF_ERROR(MakeDirs(parent));
  if (mkdir(path.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::OK();  // made concurrently
    return Status::FromErrno(errno, "mkdir " + path);
  }
  return parent.empty() ? Status::OK() : SyncDir(parent);
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

}  // namespace

Status LocalRemote::Open(const std::string& root, bool create, std::unique_ptr<Remote>* out) {
  if (root.empty()) return Status::InvalidArgument("empty store folder path");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(root, ec);
  if (ec) return Status::FromErrno(ec.value(), "store folder " + root);
  std::string path = abs.lexically_normal().string();
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (create) KLOSET_RETURN_IF_ERROR(MakeDirs(path).Annotate("cannot create store folder"));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status::NotFound("no store at " + path + ": folder does not exist");
    }
    return Status::FromErrno(errno, "store folder " + path);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("store " + path + " is not a folder");
  out->reset(new LocalRemote(path == "/" ? std::string() : path));
  return Status::OK();
}

Status LocalRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                         std::string* out) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  out->clear();
  const std::string path = root_ + "/" + name;
  Fd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) return Status::FromErrno(errno, path);
  struct stat st;
  if (fstat(f.fd, &st) != 0) return Status::FromErrno(errno, path);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(path + ": not an object");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset >= size) return Status::OK();
  uint64_t want = std::min(length, size - offset);
  out->resize(want);
  uint64_t got = 0;
  while (got < want) {
    ssize_t n = pread(f.fd, out->data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::FromErrno(errno, "read " + path);
      out->clear();
      return s;
    }
    if (n == 0) break;  // the file ended early; return what exists
    got += static_cast<uint64_t>(n);
  }
  out->resize(got);
  return Status::OK();
}

Status LocalRemote::Write(const std::string& name, std::string_view data) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string path = root_ + "/" + name;
  const std::string dir = Folder(root_, DirPart(name));
  std::string tmp;
  int fd = -1;
  // Usually the folder exists; make it only when the first open says so.
  for (int attempt = 0; fd < 0 && attempt < 4; attempt++) {
    tmp = dir + "/" + kTempPrefix + RandomSuffix();
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) break;
    if (errno == ENOENT) {
      KLOSET_RETURN_IF_ERROR(MakeDirs(dir));
    } else if (errno == ENOTDIR) {
      return Status::IOError("create " + tmp + ": a parent is a file, not a folder");
    } else if (errno != EEXIST) {
      return Status::FromErrno(errno, "create " + tmp);
    }
  }
  if (fd < 0) return Status::IOError("cannot create a temporary file in " + dir);

  Status s = WriteAll(fd, data, tmp);
  if (s.ok() && fsync(fd) != 0) s = Status::FromErrno(errno, "fsync " + tmp);
  // close() can report a deferred write error (NFS), so it is checked too.
  if (close(fd) != 0 && s.ok()) s = Status::FromErrno(errno, "close " + tmp);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "rename to " + path);
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return SyncDir(dir);
}

Status LocalRemote::List(const std::string& prefix,
                         const std::function<void(const ObjectInfo&)>& fn) {
  KLOSET_RETURN_IF_ERROR(CheckListPrefix(prefix));
  // Walk only the deepest folder the prefix pins down: "packs/ab/" or
  // "packs/a" start in packs/..., "" or "pa" at the root.
  return WalkFolder(DirPart(prefix), prefix, 0, fn);
}

Status LocalRemote::WalkFolder(const std::string& rel_dir, const std::string& prefix,
                               int depth, const std::function<void(const ObjectInfo&)>& fn) {
  const std::string path = Folder(root_, rel_dir);
  DIR* d = opendir(path.c_str());
  if (!d) {
    // A folder that does not exist (yet, or any more) holds no objects.
    if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
    return Status::FromErrno(errno, "list " + path);
  }
  std::vector<std::string> subdirs;
  Status s;
  while (true) {
    errno = 0;
    struct dirent* e = readdir(d);
    if (!e) {
      if (errno != 0) s = Status::FromErrno(errno, "list " + path);
      break;
    }
    std::string entry = e->d_name;
    // Skips ".", "..", temporary files and anything else that no object
    // name could produce.
    if (!IsValidObjectName(entry)) continue;
    std::string rel = rel_dir.empty() ? entry : rel_dir + "/" + entry;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) {
      if (errno == ENOENT) continue;  // deleted while we walk
      s = Status::FromErrno(errno, "stat " + root_ + "/" + rel);
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      std::string as_dir = rel + "/";
      bool relevant = as_dir.starts_with(prefix) || prefix.starts_with(as_dir);
      if (relevant && depth < kMaxListDepth) subdirs.push_back(std::move(rel));
    } else if (S_ISREG(st.st_mode) && rel.starts_with(prefix)) {
      fn(ObjectInfo{rel, static_cast<uint64_t>(st.st_size)});
    }
  }
  closedir(d);
  KLOSET_RETURN_IF_ERROR(s);
  // Recursing after closedir keeps one open folder at a time.
  for (const std::string& sub : subdirs) {
    KLOSET_RETURN_IF_ERROR(WalkFolder(sub, prefix, depth + 1, fn));
  }
  return Status::OK();
}

Status LocalRemote::Delete(const std::string& name) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string path = root_ + "/" + name;
  if (unlink(path.c_str()) != 0) {
    if (errno == EISDIR) return Status::NotFound(path + ": not an object");
    return Status::FromErrno(errno, "delete " + path);
  }
  return SyncDir(Folder(root_, DirPart(name)));
}

Status LocalRemote::Stat(const std::string& name, ObjectInfo* info) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string path = root_ + "/" + name;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, path);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(path + ": not an object");
  info->name = name;
  info->size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

}  // namespace kloset
