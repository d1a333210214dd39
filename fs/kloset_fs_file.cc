// Reading files for KlosetFs: chunk lookup by binary search, decoded chunks
// from the shared ChunkCache, read-ahead for sequential readers and parallel
// fetches for reads that span chunks; extended attributes; statfs.
#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "fs/control.h"
#include "fs/ingest.h"
#include "fs/kloset_fs_internal.h"
#include "fs/log.h"

namespace kloset::fs {

Status KlosetFs::Open(uint64_t ino, int flags, uint64_t* fh) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->Open(ino, flags, fh);
  if (ino == kStatsIno) return OpenStats(flags, fh);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
    return Status::ReadOnly("snapshots are read-only");
  if (n->kind != Kind::kEntry || n->node.type != NodeType::kFile)
    return Status::InvalidArgument("not a regular file");
  auto h = std::make_shared<FileHandle>();
  h->inode = n;
  KLOSET_RETURN_IF_ERROR(MakeReadState(*n, &h->rs));
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    *fh = next_fh_++;
    files_[*fh] = std::move(h);
  }
  PrefetchFollowing(*n);
  return Status::OK();
}

Status KlosetFs::MakeReadState(const Inode& n, ReadState* rs) const {
  uint64_t end = 0;
  rs->ends.reserve(n.node.chunks.size());
  for (auto& c : n.node.chunks) rs->ends.push_back(end += c.size);
  if (end != n.node.size) {
    Log(LogLevel::kError, "inode " + std::to_string(n.ino) + ": chunk sizes add up to " +
                              std::to_string(end) + ", not its size " + std::to_string(n.node.size));
    return Status::Corrupt("chunk list does not match file size");
  }
  return Status::OK();
}

void KlosetFs::PrefetchFollowing(const Inode& n) {
  // Many small files read one after another each wait for one blob fetch;
  // fetching the next ones meanwhile overlaps those waits. Siblings the
  // kernel has not looked up are skipped: the name index (by_name_) is
  // sorted like the directory, so this costs no tree page read.
  std::vector<Hash> ids;
  {
    std::lock_guard<std::mutex> l(inodes_mu_);
    auto it = by_name_.upper_bound(std::make_pair(n.parent, n.name));
    size_t bytes = 0;
    for (int k = 0; k < opts_.prefetch_files && bytes < opts_.prefetch_bytes &&
                    it != by_name_.end() && it->first.first == n.parent;
         k++, ++it) {
      auto sib = inodes_.find(it->second);
      if (sib == inodes_.end() || sib->second->kind != Kind::kEntry) continue;
      const Node& node = sib->second->node;
      if (node.type != NodeType::kFile || node.chunks.empty() || node.chunks[0].is_hole) continue;
      ids.push_back(node.chunks[0].id);
      bytes += node.chunks[0].size;
    }
  }
  for (const Hash& id : ids) cache_->Prefetch(id);
}

void KlosetFs::Release(uint64_t fh) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return (void)ingest_->Release(fh);
  std::lock_guard<std::mutex> l(handles_mu_);
  files_.erase(fh);
}

Status KlosetFs::Read(uint64_t fh, uint64_t offset, size_t size, std::string* out) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return ingest_->Read(fh, offset, size, out);
  std::shared_ptr<FileHandle> h;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return Status::InvalidArgument("bad file handle");
    h = it->second;
  }
  if (IsGeneratedFile(h->inode->ino)) {
    ReadText(h->text, offset, size, out);
    return Status::OK();
  }
  return ReadChunks(*h->inode, &h->rs, offset, size, out);
}

Status KlosetFs::ReadInode(uint64_t ino, uint64_t offset, size_t size, std::string* out) {
  if (ingest_ && IngestTree::Owns(ino)) return Status::InvalidArgument("ingest/ reads need a handle");
  if (ino == kStatsIno) return ReadStatsNoHandle(offset, size, out);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  if (n->kind != Kind::kEntry || n->node.type != NodeType::kFile)
    return Status::InvalidArgument("not a regular file");
  std::shared_ptr<ReadState> rs;
  {
    std::lock_guard<std::mutex> l(inodes_mu_);
    rs = n->reader;
  }
  if (!rs) {
    auto made = std::make_shared<ReadState>();
    KLOSET_RETURN_IF_ERROR(MakeReadState(*n, made.get()));
    std::lock_guard<std::mutex> l(inodes_mu_);
    if (!n->reader) n->reader = made;
    rs = n->reader;
  }
  // A read from the start is where an open would have been: a reader going
  // through a folder (tar, cp -r) reads each file from offset 0. It starts a
  // new pass, whose read-ahead must not skip chunks the cache has dropped
  // since the last one.
  if (offset == 0) {
    {
      std::lock_guard<std::mutex> l(rs->mu);
      rs->prefetched_to = 0;
      rs->next_expected = 0;  // as after an open: reading from 0 is sequential
    }
    PrefetchFollowing(*n);
  }
  return ReadChunks(*n, rs.get(), offset, size, out);
}

Status KlosetFs::ReadChunks(const Inode& n, ReadState* rs, uint64_t offset, size_t size,
                            std::string* out) {
  out->clear();
  const auto& chunks = n.node.chunks;
  const auto& ends = rs->ends;
  uint64_t file_size = ends.empty() ? 0 : ends.back();
  if (offset >= file_size || size == 0) return Status::OK();
  uint64_t end = std::min<uint64_t>(file_size, offset + size);
  size_t first = std::upper_bound(ends.begin(), ends.end(), offset) - ends.begin();
  size_t last = std::upper_bound(ends.begin(), ends.end(), end - 1) - ends.begin();

  // Start every chunk of this read, and the read-ahead window of a sequential
  // reader, before waiting for any: they are fetched in parallel.
  {
    std::lock_guard<std::mutex> l(rs->mu);
    bool sequential = offset == rs->next_expected;
    rs->next_expected = end;
    size_t ahead = sequential ? static_cast<size_t>(opts_.readahead_chunks) : 0;
    size_t from = std::max(first + 1, rs->prefetched_to);
    size_t to = std::min(chunks.size(), last + 1 + ahead);
    for (size_t i = from; i < to; i++)
      if (!chunks[i].is_hole) cache_->Prefetch(chunks[i].id);
    rs->prefetched_to = std::max(rs->prefetched_to, to);
  }

  out->reserve(end - offset);
  for (size_t i = first; i <= last; i++) {
    uint64_t cstart = i == 0 ? 0 : ends[i - 1];
    uint64_t from = std::max(offset, cstart) - cstart;
    uint64_t to = std::min(end, ends[i]) - cstart;
    if (chunks[i].is_hole) {
      out->append(to - from, '\0');
      continue;
    }
    std::shared_ptr<const std::string> data;
    Status s = cache_->Get(chunks[i].id, &data);
    if (s.ok() && data->size() != chunks[i].size)
      s = Status::Corrupt("chunk " + ToHex(chunks[i].id) + " has the wrong size");
    if (!s.ok()) {
      Log(LogLevel::kError, "read of inode " + std::to_string(n.ino) + " in snapshot " +
                                ToHex(n.snap->id).substr(0, 8) + " failed: " + s.ToString());
      out->clear();
      return s;
    }
    out->append(*data, from, to - from);
  }
  return Status::OK();
}

Status KlosetFs::GetXattr(uint64_t ino, const std::string& name, std::string* value) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->GetXattr(ino, name, value);
  if (ino == kRootIno && name == kControlXattr && !control_path_.empty()) {
    *value = control_path_;
    return Status::OK();
  }
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  if (n->kind == Kind::kEntry)
    for (auto& [k, v] : n->node.xattrs)
      if (k == name) {
        *value = v;
        return Status::OK();
      }
  return Status::NotFound("no such attribute");
}

Status KlosetFs::ListXattr(uint64_t ino, std::vector<std::string>* names) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->ListXattr(ino, names);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  names->clear();
  if (n->kind == Kind::kEntry)
    for (auto& kv : n->node.xattrs) names->push_back(kv.first);
  return Status::OK();
}

void KlosetFs::StatFs(struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
}

}  // namespace kloset::fs
