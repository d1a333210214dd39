// KlosetFs: requests that change something. They are served by the ingest
// tree for its inodes; everywhere else the mount is read-only (kReadOnly,
// EROFS at the edge).
#include <algorithm>

#include "fs/ingest.h"
#include "fs/kloset_fs_internal.h"

namespace kloset::fs {

namespace {
Status ReadOnly() { return Status::ReadOnly("snapshots are read-only; write into ingest/"); }
}  // namespace

Status KlosetFs::EnableIngest(const IngestOptions& opts) {
  // StartWritable may have taken the lock already.
  Status s =
      ingest_lock_ ? Status::OK() : StoreLock::Acquire(repo_, LockKind::kShared, &ingest_lock_);
  if (s.code() == Code::kBusy) return s;
  if (!s.ok()) {
    return Status(s.code(), "cannot write to " + repo_->remote()->Describe() + " (" + s.message() +
                                "); mount with --read-only to browse it");
  }
  IngestOptions o = opts;
  if (!o.list_snapshots) {
    // The listing Start() just loaded: a store of many snapshots is not read twice.
    o.list_snapshots = [this](std::vector<Snapshot>* out) {
      auto layout = CurrentLayout();
      if (!layout) return ListSnapshots(repo_, out);
      for (const auto& [name, snap] : layout->snapshots) out->push_back(*snap);
      // Names sort by the second only: order as ListSnapshots does, so two
      // commits within one second still give the newer one as the base.
      std::sort(out->begin(), out->end(), [](const Snapshot& a, const Snapshot& b) {
        return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
      });
      return Status::OK();
    };
  }
  s = IngestTree::Open(
      repo_, pool_.get(), o, [this] { Refresh(true).ok(); }, &ingest_);
  if (!s.ok()) ingest_lock_.reset();
  return s;
}

#define KLOSET_INGEST(ino, call)                              \
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->call; \
  return ReadOnly()

Status KlosetFs::Create(uint64_t parent, const std::string& name, uint32_t mode, int flags,
                        uint32_t uid, uint32_t gid, Entry* e, uint64_t* fh) {
  KLOSET_INGEST(parent, Create(parent, name, mode, flags, uid, gid, e, fh));
}
Status KlosetFs::Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev,
                       uint32_t uid, uint32_t gid, Entry* e) {
  KLOSET_INGEST(parent, Mknod(parent, name, mode, rdev, uid, gid, e));
}
Status KlosetFs::Symlink(const std::string& target, uint64_t parent, const std::string& name,
                         uint32_t uid, uint32_t gid, Entry* e) {
  KLOSET_INGEST(parent, Symlink(target, parent, name, uid, gid, e));
}
Status KlosetFs::Link(uint64_t ino, uint64_t parent, const std::string& name, Entry* e) {
  if (ingest_ && IngestTree::Owns(ino) != IngestTree::Owns(parent))
    return Status::CrossDevice("links cannot join ingest/ and a snapshot");
  KLOSET_INGEST(parent, Link(ino, parent, name, e));
}
Status KlosetFs::Unlink(uint64_t parent, const std::string& name) {
  KLOSET_INGEST(parent, Unlink(parent, name));
}
Status KlosetFs::Rmdir(uint64_t parent, const std::string& name) {
  KLOSET_INGEST(parent, Rmdir(parent, name));
}
Status KlosetFs::Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                        const std::string& newname, unsigned flags) {
  if (ingest_ && IngestTree::Owns(parent) && IngestTree::Owns(newparent))
    return ingest_->Rename(parent, name, newparent, newname, flags);
  return ReadOnly();
}
Status KlosetFs::SetAttr(uint64_t ino, const struct stat& in, int to_set, uint64_t fh,
                         struct stat* out, double* timeout) {
  KLOSET_INGEST(ino, SetAttr(ino, in, to_set, fh, out, timeout));
}
Status KlosetFs::Write(uint64_t fh, uint64_t offset, std::string_view data) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return ingest_->Write(fh, offset, data);
  return ReadOnly();
}
Status KlosetFs::Flush(uint64_t fh) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return ingest_->Flush(fh);
  return Status::OK();
}
Status KlosetFs::Fsync(uint64_t fh) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return ingest_->Fsync(fh);
  return Status::OK();
}
Status KlosetFs::FsyncDir(uint64_t ino) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->SyncAll();
  return Status::OK();
}
Status KlosetFs::SetXattr(uint64_t ino, const std::string& name, std::string_view value,
                          int flags) {
  KLOSET_INGEST(ino, SetXattr(ino, name, value, flags));
}
Status KlosetFs::RemoveXattr(uint64_t ino, const std::string& name) {
  KLOSET_INGEST(ino, RemoveXattr(ino, name));
}

#undef KLOSET_INGEST

}  // namespace kloset::fs
