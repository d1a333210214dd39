#include "fs/fuse_ops.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fs/kloset_fs.h"

namespace kloset::fs {

namespace {

KlosetFs* Fs(fuse_req_t req) { return static_cast<KlosetFs*>(fuse_req_userdata(req)); }
void Count(fuse_req_t req, FuseOp op) { Fs(req)->fuse_counters().Add(op); }

// Zero-message opens, on a mount without ingest/ whose kernel supports them:
// the first OPEN is answered ENOSYS and the kernel sends no OPEN, FLUSH or
// RELEASE for files again; READs then come without a handle (fh 0, as no
// handle is ever 0) and KlosetFs::ReadInode serves them. A file read by tar
// then costs one request instead of three. Set once at INIT, before any
// request; one session per process.
std::atomic<bool> g_open_free{false};
// Likewise for directories (OPENDIR answered ENOSYS: no OPENDIR or
// RELEASEDIR again, listings cached by the kernel; KlosetFs::ReadDir says
// how they stay fresh).
std::atomic<bool> g_opendir_free{false};

// The one place a Status becomes an errno at the FUSE edge.
int Errno(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument: return ENOTDIR;
    case Code::kCorrupt: return EIO;
    default: return ToErrno(s);
  }
}

void ToParam(const Entry& e, fuse_entry_param* p) {
  std::memset(p, 0, sizeof *p);
  p->ino = e.ino;
  p->attr = e.attr;
  p->attr_timeout = e.attr_timeout;
  p->entry_timeout = e.entry_timeout;
}

void OpInit(void* userdata, struct fuse_conn_info* conn) {
  const bool read_only = static_cast<KlosetFs*>(userdata)->ingest() == nullptr;
  // The statistics file and the virtual directories, whose contents change,
  // are then kept from going stale in the kernel's caches by a new mtime,
  // which the kernel heeds only with auto_inval_data.
  const bool fresh = read_only && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA);
  g_open_free = fresh && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
  g_opendir_free = fresh && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
  if (fresh) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always plus: one round trip per listing
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->max_write = 1 << 20;  // large writes: fewer requests for the chunker
  conn->max_readahead = 1 << 20;
  conn->max_background = 64;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(req, FuseOp::kLookup);
  Entry e;
  Status s = Fs(req)->Lookup(parent, name, &e);
  // A missing name with a timeout is a negative entry the kernel may cache.
  if (s.IsNotFound() && e.ino == 0 && e.entry_timeout > 0) s = Status::OK();
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  fuse_entry_param p;
  ToParam(e, &p);
  fuse_reply_entry(req, &p);
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  Count(req, FuseOp::kForget);
  Fs(req)->Forget(ino, n);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; i++) {
    Count(req, FuseOp::kForget);
    Fs(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  }
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  Count(req, FuseOp::kGetattr);
  struct stat st;
  double timeout = 0;
  Status s = Fs(req)->GetAttr(ino, &st, &timeout);
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  fuse_reply_attr(req, &st, timeout);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Count(req, FuseOp::kReadlink);
  std::string target;
  Status s = Fs(req)->ReadLink(ino, &target);
  if (!s.ok()) return (void)fuse_reply_err(req, s.IsNotFound() ? ENOENT : EINVAL);
  fuse_reply_readlink(req, target.c_str());
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Count(req, FuseOp::kOpendir);
  if (g_opendir_free) return (void)fuse_reply_err(req, ENOSYS);
  uint64_t fh = 0;
  bool cacheable = false;
  Status s = Fs(req)->OpenDir(ino, &fh, &cacheable);
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  fi->fh = fh;
  // Snapshot directories never change: a warm `find` or `ls` is then served
  // from the kernel's readdir cache without a request.
  fi->cache_readdir = cacheable;
  fi->keep_cache = cacheable;
  fuse_reply_open(req, fi);
}

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi,
               bool plus) {
  // Not zeroed: the kernel asks for up to 128 KiB a call, entries are often
  // a few hundred bytes, and only `used` bytes (padded by libfuse) are sent.
  std::unique_ptr<char[]> buf(new char[size]);
  size_t used = 0, children = 0;
  Status s = Fs(req)->ReadDir(
      ino, fi->fh, static_cast<uint64_t>(off), plus,
      [&](const std::string& name, const Entry& e, uint64_t next) {
        size_t n;
        if (plus) {
          fuse_entry_param p;
          ToParam(e, &p);
          n = fuse_add_direntry_plus(req, buf.get() + used, size - used, name.c_str(), &p,
                                     static_cast<off_t>(next));
        } else {
          n = fuse_add_direntry(req, buf.get() + used, size - used, name.c_str(), &e.attr,
                                static_cast<off_t>(next));
        }
        if (n > size - used) return false;
        used += n;
        if (name != "." && name != "..") children++;
        return true;
      });
  // Entries already added are good; report the error when no real entry
  // was (else "." and ".." alone would make a damaged directory look empty).
  if (!s.ok() && children == 0) return (void)fuse_reply_err(req, Errno(s));
  fuse_reply_buf(req, buf.get(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  Count(req, FuseOp::kReaddir);
  DoReaddir(req, ino, size, off, fi, false);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info* fi) {
  Count(req, FuseOp::kReaddirplus);
  DoReaddir(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  Count(req, FuseOp::kReleasedir);
  Fs(req)->ReleaseDir(fi->fh);
  fuse_reply_err(req, 0);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  Count(req, FuseOp::kOpen);
  // Writes are refused by the kernel on a read-only mount ("ro") before this.
  if (g_open_free) return (void)fuse_reply_err(req, ENOSYS);
  uint64_t fh = 0;
  Status s = Fs(req)->Open(ino, fi->flags, &fh);
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  fi->fh = fh;
  // Snapshot files never change: keep the page cache across opens. Ingest
  // files change, and only through us, so the kernel drops it at open.
  const bool snapshot_file = !(fh & (1ull << 63));
  fi->keep_cache = snapshot_file;
  // A file whose text is made at open bypasses the page cache, so readers
  // get all of it whatever size stat said.
  if (KlosetFs::IsGeneratedFile(ino)) {
    fi->keep_cache = false;
    fi->direct_io = true;
  }
  // Nothing to flush in a snapshot: close(2) then costs no round trip.
  fi->noflush = snapshot_file;
  fuse_reply_open(req, fi);
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info* fi) {
  Count(req, FuseOp::kRead);
  std::string data;
  const uint64_t offset = static_cast<uint64_t>(off);
  Status s = fi->fh == 0 ? Fs(req)->ReadInode(ino, offset, size, &data)
                         : Fs(req)->Read(fi->fh, offset, size, &data);
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  fuse_reply_buf(req, data.data(), data.size());
}

void OpRelease(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  Count(req, FuseOp::kRelease);
  Fs(req)->Release(fi->fh);
  fuse_reply_err(req, 0);
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Count(req, FuseOp::kGetxattr);
  std::string v;
  Status s = Fs(req)->GetXattr(ino, name, &v);
  if (!s.ok()) return (void)fuse_reply_err(req, s.IsNotFound() ? ENODATA : Errno(s));
  if (size == 0) return (void)fuse_reply_xattr(req, v.size());
  if (size < v.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v.data(), v.size());
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Count(req, FuseOp::kListxattr);
  std::vector<std::string> names;
  Status s = Fs(req)->ListXattr(ino, &names);
  if (!s.ok()) return (void)fuse_reply_err(req, Errno(s));
  std::string buf;
  for (auto& n : names) buf.append(n).push_back('\0');
  if (size == 0) return (void)fuse_reply_xattr(req, buf.size());
  if (size < buf.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, buf.data(), buf.size());
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Count(req, FuseOp::kStatfs);
  struct statvfs st;
  Fs(req)->StatFs(&st);
  fuse_reply_statfs(req, &st);
}

// Requests that change something: served by the ingest tree, EROFS
// elsewhere (KlosetFs decides).
int WErrno(const Status& s) {
  if (s.code() == Code::kPermission) return EPERM;
  return ToErrno(s);
}

void ReplyEntry(fuse_req_t req, const Status& s, const Entry& e) {
  if (!s.ok()) return (void)fuse_reply_err(req, WErrno(s));
  fuse_entry_param p;
  ToParam(e, &p);
  fuse_reply_entry(req, &p);
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               struct fuse_file_info* fi) {
  Count(req, FuseOp::kSetattr);
  struct stat out;
  double timeout = 0;
  Status s = Fs(req)->SetAttr(ino, *attr, to_set, fi ? fi->fh : 0, &out, &timeout);
  if (!s.ok()) return (void)fuse_reply_err(req, WErrno(s));
  fuse_reply_attr(req, &out, timeout);
}
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Count(req, FuseOp::kMknod);
  const fuse_ctx* c = fuse_req_ctx(req);
  Entry e;
  Status s = Fs(req)->Mknod(parent, name, mode & ~c->umask, rdev, c->uid, c->gid, &e);
  ReplyEntry(req, s, e);
}
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Count(req, FuseOp::kMkdir);
  const fuse_ctx* c = fuse_req_ctx(req);
  Entry e;
  Status s = Fs(req)->Mknod(parent, name, S_IFDIR | (mode & ~c->umask & 07777), 0, c->uid, c->gid, &e);
  ReplyEntry(req, s, e);
}
void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Count(req, FuseOp::kSymlink);
  const fuse_ctx* c = fuse_req_ctx(req);
  Entry e;
  Status s = Fs(req)->Symlink(target, parent, name, c->uid, c->gid, &e);
  ReplyEntry(req, s, e);
}
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
  Count(req, FuseOp::kLink);
  Entry e;
  Status s = Fs(req)->Link(ino, parent, name, &e);
  ReplyEntry(req, s, e);
}
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(req, FuseOp::kUnlink);
  fuse_reply_err(req, WErrno(Fs(req)->Unlink(parent, name)));
}
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(req, FuseOp::kRmdir);
  fuse_reply_err(req, WErrno(Fs(req)->Rmdir(parent, name)));
}
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned flags) {
  Count(req, FuseOp::kRename);
  fuse_reply_err(req, WErrno(Fs(req)->Rename(parent, name, newparent, newname, flags)));
}
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              struct fuse_file_info* fi) {
  Count(req, FuseOp::kCreate);
  const fuse_ctx* c = fuse_req_ctx(req);
  Entry e;
  uint64_t fh = 0;
  Status s = Fs(req)->Create(parent, name, mode & ~c->umask, fi->flags, c->uid, c->gid, &e, &fh);
  if (!s.ok()) return (void)fuse_reply_err(req, WErrno(s));
  fi->fh = fh;
  fi->keep_cache = 0;
  fuse_entry_param p;
  ToParam(e, &p);
  fuse_reply_create(req, &p, fi);
}
void OpWrite(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
             struct fuse_file_info* fi) {
  Count(req, FuseOp::kWrite);
  Status s = Fs(req)->Write(fi->fh, static_cast<uint64_t>(off), std::string_view(buf, size));
  if (!s.ok()) return (void)fuse_reply_err(req, WErrno(s));
  fuse_reply_write(req, size);
}
void OpFlush(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  Count(req, FuseOp::kFlush);
  // Nothing is ever written on a mount without ingest/: ENOSYS tells the
  // kernel to send no FLUSH again (close(2) then costs no round trip).
  if (!Fs(req)->ingest()) return (void)fuse_reply_err(req, ENOSYS);
  fuse_reply_err(req, WErrno(Fs(req)->Flush(fi->fh)));
}
void OpFsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info* fi) {
  Count(req, FuseOp::kFsync);
  fuse_reply_err(req, WErrno(Fs(req)->Fsync(fi->fh)));
}
void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int, struct fuse_file_info*) {
  Count(req, FuseOp::kFsyncdir);
  fuse_reply_err(req, WErrno(Fs(req)->FsyncDir(ino)));
}
void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Count(req, FuseOp::kSetxattr);
  Status s = Fs(req)->SetXattr(ino, name, std::string_view(value, size), flags);
  if (s.IsNotFound()) return (void)fuse_reply_err(req, ENODATA);  // XATTR_REPLACE of a missing one
  fuse_reply_err(req, WErrno(s));
}
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Count(req, FuseOp::kRemovexattr);
  Status s = Fs(req)->RemoveXattr(ino, name);
  if (s.IsNotFound()) return (void)fuse_reply_err(req, ENODATA);
  fuse_reply_err(req, WErrno(s));
}

struct fuse_lowlevel_ops MakeOps() {
  struct fuse_lowlevel_ops o;
  std::memset(&o, 0, sizeof o);
  o.init = OpInit;
  o.lookup = OpLookup;
  o.forget = OpForget;
  o.forget_multi = OpForgetMulti;
  o.getattr = OpGetattr;
  o.readlink = OpReadlink;
  o.opendir = OpOpendir;
  o.readdir = OpReaddir;
  o.readdirplus = OpReaddirplus;
  o.releasedir = OpReleasedir;
  o.open = OpOpen;
  o.read = OpRead;
  o.release = OpRelease;
  o.getxattr = OpGetxattr;
  o.listxattr = OpListxattr;
  o.statfs = OpStatfs;
  o.setattr = OpSetattr;
  o.mknod = OpMknod;
  o.mkdir = OpMkdir;
  o.unlink = OpUnlink;
  o.rmdir = OpRmdir;
  o.symlink = OpSymlink;
  o.rename = OpRename;
  o.link = OpLink;
  o.create = OpCreate;
  o.write = OpWrite;
  o.flush = OpFlush;
  o.fsync = OpFsync;
  o.fsyncdir = OpFsyncdir;
  o.setxattr = OpSetxattr;
  o.removexattr = OpRemovexattr;
  return o;
}

}  // namespace

const struct fuse_lowlevel_ops* KlosetFuseOps() {
  static const struct fuse_lowlevel_ops ops = MakeOps();
  return &ops;
}

}  // namespace kloset::fs
