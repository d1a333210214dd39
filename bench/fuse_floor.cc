// fuse_floor: a FUSE file system that keeps names and attributes in memory
// and throws file contents away. Copying a tree into it costs the kernel's
// request round trips and nothing else, so bench/ingest_bench.sh times
// `cp -a` into it as the floor under any FUSE file system's copy (klosetfs's
// ingest/ included): the part of the copy that no daemon can make faster.
//
//   fuse_floor MOUNTPOINT      (foreground; unmount with fusermount3 -u)
//
// Same request shape as klosetfs: the low-level API, multi-threaded,
// 1 s entry and attribute timeouts, negative entries cached, xattrs
// refused with ENOTSUP like a file system without them (klosetfs answers
// security.capability with ENODATA after the same round trip).
#define FUSE_USE_VERSION 34  // as fs/fuse_ops.h
#include <fuse3/fuse_lowlevel.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

struct Inode {
  struct stat st {};
  std::map<std::string, fuse_ino_t> children;  // directories
  std::string target;                          // symlinks
  uint64_t nlookup = 0;
};

std::mutex mu;
std::unordered_map<fuse_ino_t, Inode> inodes;
fuse_ino_t next_ino = 2;

void Now(struct timespec* ts) { clock_gettime(CLOCK_REALTIME, ts); }

void Reply(fuse_req_t req, fuse_ino_t ino, Inode& n) {
  fuse_entry_param e{};
  e.ino = ino;
  e.attr = n.st;
  e.attr_timeout = e.entry_timeout = 1.0;
  n.nlookup++;
  fuse_reply_entry(req, &e);
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::lock_guard<std::mutex> l(mu);
  auto& dir = inodes[parent];
  auto it = dir.children.find(name);
  if (it == dir.children.end()) {
    fuse_entry_param e{};
    e.entry_timeout = 1.0;  // a cached negative entry
    fuse_reply_entry(req, &e);
    return;
  }
  Reply(req, it->second, inodes[it->second]);
}

void Forget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  std::lock_guard<std::mutex> l(mu);
  auto it = inodes.find(ino);
  if (it == inodes.end()) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_attr(req, &it->second.st, 1.0);
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  std::lock_guard<std::mutex> l(mu);
  struct stat& st = inodes[ino].st;
  if (to_set & FUSE_SET_ATTR_MODE) st.st_mode = (st.st_mode & S_IFMT) | (attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) st.st_uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) st.st_gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) st.st_size = attr->st_size;
  if (to_set & FUSE_SET_ATTR_MTIME) st.st_mtim = attr->st_mtim;
  if (to_set & FUSE_SET_ATTR_ATIME) st.st_atim = attr->st_atim;
  fuse_reply_attr(req, &st, 1.0);
}

fuse_ino_t Make(fuse_ino_t parent, const char* name, mode_t mode, Inode** out) {
  const fuse_ino_t ino = next_ino++;
  Inode& n = inodes[ino];
  n.st.st_ino = ino;
  n.st.st_mode = mode;
  n.st.st_nlink = S_ISDIR(mode) ? 2 : 1;
  n.st.st_blksize = 4096;
  Now(&n.st.st_mtim);
  n.st.st_ctim = n.st.st_atim = n.st.st_mtim;
  inodes[parent].children[name] = ino;
  *out = &n;
  return ino;
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  std::lock_guard<std::mutex> l(mu);
  Inode* n;
  const fuse_ino_t ino = Make(parent, name, mode, &n);
  Reply(req, ino, *n);
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Mknod(req, parent, name, S_IFDIR | mode, 0);
}

void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  std::lock_guard<std::mutex> l(mu);
  Inode* n;
  const fuse_ino_t ino = Make(parent, name, S_IFLNK | 0777, &n);
  n->target = target;
  n->st.st_size = static_cast<off_t>(n->target.size());
  Reply(req, ino, *n);
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
  std::lock_guard<std::mutex> l(mu);
  inodes[parent].children[name] = ino;
  Inode& n = inodes[ino];
  n.st.st_nlink++;
  Reply(req, ino, n);
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  std::lock_guard<std::mutex> l(mu);
  fuse_reply_readlink(req, inodes[ino].target.c_str());
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  std::lock_guard<std::mutex> l(mu);
  Inode* n;
  const fuse_ino_t ino = Make(parent, name, S_IFREG | (mode & 07777), &n);
  fuse_entry_param e{};
  e.ino = ino;
  e.attr = n->st;
  e.attr_timeout = e.entry_timeout = 1.0;
  n->nlookup++;
  fuse_reply_create(req, &e, fi);
}

void Open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { fuse_reply_open(req, fi); }

void Write(fuse_req_t req, fuse_ino_t ino, const char*, size_t size, off_t off, fuse_file_info*) {
  std::lock_guard<std::mutex> l(mu);
  struct stat& st = inodes[ino].st;
  if (off + static_cast<off_t>(size) > st.st_size) st.st_size = off + static_cast<off_t>(size);
  fuse_reply_write(req, size);
}

void Ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void GetXattr(fuse_req_t req, fuse_ino_t, const char*, size_t) { fuse_reply_err(req, ENODATA); }

void SetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, ENOTSUP);
}

void ReadDir(fuse_req_t req, fuse_ino_t, size_t, off_t, fuse_file_info*) {
  fuse_reply_buf(req, nullptr, 0);  // copies into it do not list
}

void Init(void*, fuse_conn_info* conn) {
  conn->max_write = 1 << 20;  // as klosetfs asks
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuse_floor MOUNTPOINT\n");
    return 2;
  }
  Inode& root = inodes[FUSE_ROOT_ID];
  root.st.st_ino = FUSE_ROOT_ID;
  root.st.st_mode = S_IFDIR | 0755;
  root.st.st_nlink = 2;
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.mknod = Mknod;
  ops.mkdir = Mkdir;
  ops.symlink = Symlink;
  ops.link = Link;
  ops.readlink = ReadLink;
  ops.create = Create;
  ops.open = Open;
  ops.write = Write;
  ops.flush = Ok;
  ops.release = Ok;
  ops.fsync = [](fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); };
  ops.getxattr = GetXattr;
  ops.setxattr = SetXattr;
  ops.readdir = ReadDir;
  char prog[] = "fuse_floor";
  char* fargv[] = {prog};
  fuse_args args = FUSE_ARGS_INIT(1, fargv);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) {
    std::fprintf(stderr, "fuse_floor: cannot mount on %s\n", argv[1]);
    return 1;
  }
  fuse_loop_config cfg{};
  cfg.max_idle_threads = 16;
  const int rc = fuse_session_loop_mt(se, &cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}
