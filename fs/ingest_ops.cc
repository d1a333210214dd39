// IngestTree: namespace, attribute and file operations. Each is a thin
// translation to the Draft (names, metadata) or to the inode's IngestFile
// (bytes); every namespace change holds gate_ shared so a commit can freeze
// the tree between two of them.
#include <fcntl.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/fs_scan.h"
#include "core/system_info.h"
#include "fs/fuse_ops.h"  // FUSE_SET_ATTR_*
#include "fs/ingest.h"
#include "fs/ingest_internal.h"
#include "fs/log.h"

namespace kloset::fs {

namespace {

int64_t TsNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

void IngestTree::ToStat(DraftId id, const Node& n, struct stat* st) {
  NodeToStat(n, ToIno(id), st);
  if (n.type != NodeType::kFile) return;
  // Draft::GetAttr and Lookup without the chunk list fill in blocks.
  if (n.blocks == 0) st->st_blocks = static_cast<blkcnt_t>(DataBlocks(n.chunks));
  std::shared_ptr<OpenFile> f;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = by_id_.find(id);
    if (it != by_id_.end()) f = it->second;
  }
  if (f && f->file->dirty()) {
    st->st_size = static_cast<off_t>(f->file->size());
    st->st_blocks = static_cast<blkcnt_t>((f->file->size() + 511) / 512);
    struct timespec ts;
    const int64_t w = f->write_ns.load();
    ts.tv_sec = w / 1000000000;
    ts.tv_nsec = w % 1000000000;
    st->st_mtim = st->st_ctim = ts;
  }
}

void IngestTree::FillEntry(DraftId id, const Node& n, Entry* e) {
  e->ino = ToIno(id);
  ToStat(id, n, &e->attr);
  e->attr_timeout = e->entry_timeout = opts_.timeout_s;
}

Status IngestTree::RootEntry(Entry* e) {
  Node n;
  KLOSET_RETURN_IF_ERROR(draft_->GetAttr(kDraftRootId, &n, DraftAttr::kNoChunks));
  FillEntry(kDraftRootId, n, e);
  return Status::OK();
}

Status IngestTree::Lookup(uint64_t parent, const std::string& name, Entry* e) {
  DraftId id = 0;
  Node n;
  Status s = draft_->Lookup(ToId(parent), name, &id, &n, DraftAttr::kNoChunks);
  if (s.IsNotFound()) {
    // Names here change only through the kernel, so it may cache their
    // absence: cp's stat before open(O_CREAT) then costs one lookup, not two.
    *e = Entry{};
    e->entry_timeout = opts_.timeout_s;
  }
  KLOSET_RETURN_IF_ERROR(s);
  FillEntry(id, n, e);
  return Status::OK();
}

void IngestTree::Forget(uint64_t ino, uint64_t n) {
  if (ino != kIngestIno) draft_->Forget(ToId(ino), n);
}

Status IngestTree::GetAttr(uint64_t ino, struct stat* st, double* timeout) {
  Node n;
  DraftId id = ToId(ino);
  KLOSET_RETURN_IF_ERROR(draft_->GetAttr(id, &n, DraftAttr::kNoChunks));
  ToStat(id, n, st);
  *timeout = opts_.timeout_s;
  return Status::OK();
}

Status IngestTree::ReadLink(uint64_t ino, std::string* target) {
  return draft_->ReadLink(ToId(ino), target);
}

// --- Directories -------------------------------------------------------------

Status IngestTree::OpenDir(uint64_t ino, uint64_t* fh) {
  Node n;
  KLOSET_RETURN_IF_ERROR(draft_->GetAttr(ToId(ino), &n, DraftAttr::kNoChunks));
  if (n.type != NodeType::kDir) return Status::NotDirectory("not a directory");
  auto h = std::make_shared<DirHandle>();
  h->id = ToId(ino);
  std::lock_guard<std::mutex> l(files_mu_);
  *fh = kIngestFhBit | next_fh_++;
  dirs_[*fh] = std::move(h);
  return Status::OK();
}

void IngestTree::ReleaseDir(uint64_t fh) {
  std::lock_guard<std::mutex> l(files_mu_);
  dirs_.erase(fh);
}

Status IngestTree::ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                           const KlosetFs::DirFiller& fill) {
  std::shared_ptr<DirHandle> h;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return Status::InvalidArgument("bad directory handle");
    h = it->second;
  }
  std::lock_guard<std::mutex> hl(h->mu);
  // Offsets: 1 after ".", 2 after "..", then one per entry. A cursor keeps
  // the last name so concurrent changes never make readdir skip or repeat
  // entries that stayed; a seek elsewhere restarts from the top.
  if (offset == 0 || offset != h->next_offset) {
    h->last_name.clear();
    h->next_offset = 0;
  }
  Entry dot;
  if (h->next_offset < 1) {
    dot.ino = ino;
    dot.attr.st_mode = S_IFDIR;
    dot.attr.st_ino = ino;
    if (!fill(".", dot, 1)) return Status::OK();
    h->next_offset = 1;
  }
  if (h->next_offset < 2) {
    dot.ino = ino;
    if (!fill("..", dot, 2)) return Status::OK();
    h->next_offset = 2;
  }
  // Skip to `offset` when the caller seeked forward (rare).
  for (;;) {
    struct Item {
      std::string name;
      DraftId id;
      Node node;
    };
    std::vector<Item> batch;
    KLOSET_RETURN_IF_ERROR(draft_->List(h->id, h->last_name, plus,
                                        [&](const std::string& name, DraftId id, const Node& node) {
                                          batch.push_back({name, id, node});
                                          return batch.size() < 128;
                                        }));
    if (batch.empty()) return Status::OK();
    for (size_t i = 0; i < batch.size(); i++) {
      Entry e;
      FillEntry(batch[i].id, batch[i].node, &e);
      bool skip = h->next_offset < offset;
      if (!skip && !fill(batch[i].name, e, h->next_offset + 1)) {
        if (plus)
          for (size_t j = i; j < batch.size(); j++) draft_->Forget(batch[j].id, 1);
        return Status::OK();
      }
      if (skip && plus) draft_->Forget(batch[i].id, 1);
      h->next_offset++;
      h->last_name = batch[i].name;
    }
  }
}

// --- Files ------------------------------------------------------------------

std::shared_ptr<IngestTree::OpenFile> IngestTree::FileFor(uint64_t fh) {
  std::lock_guard<std::mutex> l(files_mu_);
  auto it = handles_.find(fh);
  return it == handles_.end() ? nullptr : it->second;
}

Status IngestTree::Open(uint64_t ino, int flags, uint64_t* fh) {
  DraftId id = ToId(ino);
  Node n;
  KLOSET_RETURN_IF_ERROR(draft_->GetAttr(id, &n));
  if (n.type == NodeType::kDir) return Status::IsDirectory("is a directory");
  if (n.type != NodeType::kFile) return Status::InvalidArgument("not a regular file");
  KLOSET_RETURN_IF_ERROR(draft_->Pin(id));
  std::shared_ptr<OpenFile> f;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto& slot = by_id_[id];
    if (!slot) {
      slot = std::make_shared<OpenFile>();
      slot->id = id;
      IngestFileEnv env{repo_, &repo_->config().chunker, &repo_->gear(), pool_, staging_.get()};
      slot->file = std::make_shared<IngestFile>(env, n.chunks, n.size);
      slot->write_ns = n.mtime_ns;
    }
    slot->opens++;
    f = slot;
    *fh = kIngestFhBit | next_fh_++;
    handles_[*fh] = f;
  }
  if ((flags & O_TRUNC) && ((flags & O_ACCMODE) != O_RDONLY)) {
    Status s = f->file->Truncate(0);
    if (!s.ok()) {
      Release(*fh).ok();
      return s;
    }
    f->write_ns = NowNs();
    Touch();
  }
  return Status::OK();
}

Status IngestTree::CreateNode(uint64_t parent, const std::string& name, const Node& n, DraftId* id,
                              Node* attr) {
  return Mutate([&] { return draft_->Create(ToId(parent), name, n, id, attr); });
}

Status IngestTree::Create(uint64_t parent, const std::string& name, uint32_t mode, int flags,
                          uint32_t uid, uint32_t gid, Entry* e, uint64_t* fh) {
  Node n;
  n.type = NodeType::kFile;
  n.mode = mode & 07777;
  n.uid = uid;
  n.gid = gid;
  DraftId id = 0;
  Node attr;
  KLOSET_RETURN_IF_ERROR(CreateNode(parent, name, n, &id, &attr));
  Status s = Open(ToIno(id), flags & ~O_TRUNC, fh);
  if (!s.ok()) {
    draft_->Forget(id, 1);
    return s;
  }
  FillEntry(id, attr, e);
  return Status::OK();
}

Status IngestTree::Read(uint64_t fh, uint64_t offset, size_t size, std::string* out) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  return f->file->Read(offset, size, out);
}

Status IngestTree::Write(uint64_t fh, uint64_t offset, std::string_view data) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  KLOSET_RETURN_IF_ERROR(f->file->Write(offset, data));
  f->write_ns = NowNs();
  Touch();
  return Status::OK();
}

Status IngestTree::SaveContent(const std::shared_ptr<OpenFile>& f,
                               std::optional<int64_t> mtime_ns) {
  std::shared_lock<std::shared_mutex> g(gate_);
  return SaveContentLocked(f, mtime_ns);
}

Status IngestTree::SaveContentLocked(const std::shared_ptr<OpenFile>& f,
                                     std::optional<int64_t> mtime_ns) {
  if (!f->file->dirty()) return Status::OK();
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  int64_t written = f->write_ns.load();
  KLOSET_RETURN_IF_ERROR(f->file->Commit(&chunks, &size));
  Status s = draft_->SetContent(f->id, std::move(chunks), size, mtime_ns ? *mtime_ns : written);
  // A file unlinked while open is gone from the tree: its content is moot.
  if (s.IsNotFound()) return Status::OK();
  return s;
}

Status IngestTree::Flush(uint64_t fh) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  return SaveContent(f, std::nullopt);
}

Status IngestTree::Fsync(uint64_t fh) {
  auto f = FileFor(fh);
  if (!f) return Status::InvalidArgument("bad file handle");
  KLOSET_RETURN_IF_ERROR(SaveContent(f, std::nullopt));
  return journal_->Sync();
}

Status IngestTree::SyncAll() {
  std::vector<std::shared_ptr<OpenFile>> open;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    for (auto& [id, f] : by_id_) open.push_back(f);
  }
  for (auto& f : open) KLOSET_RETURN_IF_ERROR(SaveContent(f, std::nullopt));
  return journal_->Sync();
}

Status IngestTree::Release(uint64_t fh) {
  std::shared_ptr<OpenFile> f;
  bool last = false;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = handles_.find(fh);
    if (it == handles_.end()) return Status::InvalidArgument("bad file handle");
    f = it->second;
    handles_.erase(it);
    last = --f->opens == 0;
  }
  Status s = SaveContent(f, std::nullopt);
  if (!s.ok()) Log(LogLevel::kError, "ingest: saving a closed file failed: " + s.ToString());
  if (last) {
    std::lock_guard<std::mutex> l(files_mu_);
    // Reopened meanwhile: keep the shared record.
    if (f->opens == 0) by_id_.erase(f->id);
  }
  draft_->Unpin(f->id);
  return s;
}

// --- Namespace --------------------------------------------------------------

Status IngestTree::Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev,
                         uint32_t uid, uint32_t gid, Entry* e) {
  Node n;
  // mknod(2) with no type bits makes a regular file.
  if ((mode & S_IFMT) == 0) mode |= S_IFREG;
  if (!NodeTypeFromMode(mode, &n.type) || n.type == NodeType::kSymlink)
    return Status::InvalidArgument("unsupported file type");
  n.mode = mode & 07777;
  n.uid = uid;
  n.gid = gid;
  n.rdev = rdev;
  DraftId id = 0;
  Node attr;
  KLOSET_RETURN_IF_ERROR(CreateNode(parent, name, n, &id, &attr));
  FillEntry(id, attr, e);
  return Status::OK();
}

Status IngestTree::Symlink(const std::string& target, uint64_t parent, const std::string& name,
                           uint32_t uid, uint32_t gid, Entry* e) {
  Node n;
  n.type = NodeType::kSymlink;
  n.mode = 0777;
  n.uid = uid;
  n.gid = gid;
  n.symlink_target = target;
  n.size = target.size();
  DraftId id = 0;
  Node attr;
  KLOSET_RETURN_IF_ERROR(CreateNode(parent, name, n, &id, &attr));
  FillEntry(id, attr, e);
  return Status::OK();
}

Status IngestTree::Link(uint64_t ino, uint64_t parent, const std::string& name, Entry* e) {
  Node attr;
  KLOSET_RETURN_IF_ERROR(
      Mutate([&] { return draft_->Link(ToId(ino), ToId(parent), name, &attr); }));
  FillEntry(ToId(ino), attr, e);
  return Status::OK();
}

Status IngestTree::Unlink(uint64_t parent, const std::string& name) {
  return Mutate([&] { return draft_->Unlink(ToId(parent), name); });
}

Status IngestTree::Rmdir(uint64_t parent, const std::string& name) {
  return Mutate([&] { return draft_->Rmdir(ToId(parent), name); });
}

Status IngestTree::Rename(uint64_t parent, const std::string& name, uint64_t newparent,
                          const std::string& newname, unsigned flags) {
  unsigned f = 0;
  if (flags & RENAME_NOREPLACE) f |= kRenameNoReplace;
  if (flags & RENAME_EXCHANGE) f |= kRenameExchange;
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status::InvalidArgument("rename flags");
  return Mutate([&] { return draft_->Rename(ToId(parent), name, ToId(newparent), newname, f); });
}

Status IngestTree::SetAttr(uint64_t ino, const struct stat& in, int to_set, uint64_t fh,
                           struct stat* out, double* timeout) {
  DraftId id = ToId(ino);
  std::shared_ptr<OpenFile> f = fh ? FileFor(fh) : nullptr;
  if (!f) {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = by_id_.find(id);
    if (it != by_id_.end()) f = it->second;
  }
  int64_t now = NowNs();
  if (to_set & FUSE_SET_ATTR_SIZE) {
    Node n;
    KLOSET_RETURN_IF_ERROR(draft_->GetAttr(id, &n));
    if (n.type == NodeType::kDir) return Status::IsDirectory("is a directory");
    if (n.type != NodeType::kFile) return Status::InvalidArgument("not a regular file");
    uint64_t size = static_cast<uint64_t>(in.st_size);
    if (f) {
      KLOSET_RETURN_IF_ERROR(f->file->Truncate(size));
      f->write_ns = now;
    } else {
      // Not open: truncate a private copy and save it at once.
      IngestFileEnv env{repo_, &repo_->config().chunker, &repo_->gear(), pool_, staging_.get()};
      auto tmp = std::make_shared<OpenFile>();
      tmp->id = id;
      tmp->file = std::make_shared<IngestFile>(env, n.chunks, n.size);
      KLOSET_RETURN_IF_ERROR(tmp->file->Truncate(size));
      tmp->write_ns = now;
      KLOSET_RETURN_IF_ERROR(SaveContent(tmp, std::nullopt));
    }
  }
  DraftAttrChange c;
  if (to_set & FUSE_SET_ATTR_MODE) c.mode = in.st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) c.uid = in.st_uid;
  if (to_set & FUSE_SET_ATTR_GID) c.gid = in.st_gid;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW)
    c.atime_ns = now;
  else if (to_set & FUSE_SET_ATTR_ATIME)
    c.atime_ns = TsNs(in.st_atim);
  if (to_set & FUSE_SET_ATTR_MTIME_NOW)
    c.mtime_ns = now;
  else if (to_set & FUSE_SET_ATTR_MTIME)
    c.mtime_ns = TsNs(in.st_mtim);
  // An explicit mtime (cp -p, rsync, tar) must outlive the content written
  // before it: save that content now, stamped with the requested time.
  if (f && c.mtime_ns) KLOSET_RETURN_IF_ERROR(SaveContent(f, c.mtime_ns));
  Node n;
  if (c.mode || c.uid || c.gid || c.atime_ns || c.mtime_ns) {
    KLOSET_RETURN_IF_ERROR(Mutate([&] { return draft_->SetAttr(id, c, &n); }));
  } else {
    KLOSET_RETURN_IF_ERROR(draft_->GetAttr(id, &n));
  }
  ToStat(id, n, out);
  *timeout = opts_.timeout_s;
  return Status::OK();
}

Status IngestTree::SetXattr(uint64_t ino, const std::string& name, std::string_view value,
                            int flags) {
  // POSIX ACLs are not modelled: refusing them makes cp -a, rsync -A and
  // tar fall back to chmod, which keeps the mode bits right.
  if (name.rfind("system.posix_acl_", 0) == 0)
    return Status::Unsupported("POSIX ACLs are not supported in ingest/");
  XattrMode m = (flags & XATTR_CREATE)    ? XattrMode::kCreate
                : (flags & XATTR_REPLACE) ? XattrMode::kReplace
                                          : XattrMode::kAny;
  return Mutate([&] { return draft_->SetXattr(ToId(ino), name, value, m); });
}

Status IngestTree::GetXattr(uint64_t ino, const std::string& name, std::string* value) {
  return draft_->GetXattr(ToId(ino), name, value);
}

Status IngestTree::ListXattr(uint64_t ino, std::vector<std::string>* names) {
  return draft_->ListXattr(ToId(ino), names);
}

Status IngestTree::RemoveXattr(uint64_t ino, const std::string& name) {
  return Mutate([&] { return draft_->RemoveXattr(ToId(ino), name); });
}

}  // namespace kloset::fs
