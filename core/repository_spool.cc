// Repository: the pack spool's recovery at Open/Init and SyncSpool. The
// spool's writing side lives in repository_write.cc (SaveBlob, SubmitPack,
// UploadPack, WriteIndexes), the files themselves in core/pack_spool.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_set>

#include "core/pack.h"
#include "core/repository_impl.h"

namespace kloset {

namespace {

Status ReadWholeFile(const std::string& path, std::string* out) {
  out->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "opening " + path);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno(err, "reading " + path);
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Status::OK();
}

bool Known(Repository::Impl& m, const Hash& id, BlobType type) {
  std::shared_lock<std::shared_mutex> l(m.index_mu);
  return m.index.Contains(id, type);
}

// The pack of one spool file: the finished pack exactly (so its name is the
// one it was uploaded under, if it was) when the file holds the pack-end
// record, else a new pack of the intact blobs no index knows. It is uploaded
// unless the store has it already. *rec gets the blobs no index knows;
// empty when there is nothing to upload or index.
Status RecoverPack(Repository::Impl& m, BlobType type, std::string_view file, const SpoolRecords& r,
                   PackRecord* rec) {
  std::string pack;
  std::vector<IndexEntry> entries;
  if (r.ended) {
    for (const IndexEntry& e : r.blobs) pack.append(file.substr(e.offset, e.stored_size));
    pack.append(file.substr(r.tail_offset, r.tail_size));
    if (PlainHash(pack) != r.pack_id || !ParsePack(m.data_key, pack, &entries).ok()) {
      pack.clear();  // cannot happen unless damaged: fall back to a new pack
      entries.clear();
    }
  }
  if (pack.empty()) {
    PackWriter w(type);
    std::unordered_set<Hash, HashHasher> added;
    for (const IndexEntry& e : r.blobs) {
      if (Known(m, e.id, type) || !added.insert(e.id).second) continue;
      w.Add(e.id, e.compression, file.substr(e.offset, e.stored_size), e.raw_size);
    }
    if (w.count() == 0) return Status::OK();
    w.Finish(m.data_key);
    entries = w.blobs();
    pack = w.data();
  }
  rec->pack_id = PlainHash(pack);
  for (const IndexEntry& e : entries) {
    if (!Known(m, e.id, e.type)) rec->blobs.push_back(e);
  }
  if (rec->blobs.empty()) return Status::OK();  // every blob is indexed elsewhere
  const std::string name = PackName(rec->pack_id);
  ObjectInfo info;
  Status s = m.remote->Stat(name, &info);
  if (s.ok() && info.size == pack.size()) return Status::OK();  // uploaded before the crash
  if (!s.ok() && !s.IsNotFound()) return s.Annotate("checking for " + name);
  s = m.remote->Write(name, pack);
  if (!s.ok()) return s.Annotate("writing " + name);
  m.stats.packs_written++;
  m.stats.bytes_uploaded += pack.size();
  if (m.cache && type == BlobType::kTree) m.cache->Put(name, pack);
  return Status::OK();
}

}  // namespace

Status Repository::Impl::RecoverSpool() {
  if (!spool) return Status::OK();
  std::vector<std::string> paths;
  KLOSET_RETURN_IF_ERROR(spool->ListFiles(&paths));
  std::vector<std::string> done;
  for (const std::string& path : paths) {
    std::string bytes;
    KLOSET_RETURN_IF_ERROR(ReadWholeFile(path, &bytes));
    SpoolHeader h;
    Status s = ParseSpoolHeader(bytes, &h);
    if (s.ok() && h.store_id != config.store_id) s = Status::InvalidArgument("another store's");
    if (!s.ok() && !s.IsCorrupt()) {
      stats.spool_files_skipped++;  // not ours to judge: left alone
      continue;
    }
    SpoolRecords r;  // a torn header (crash while creating) holds no record
    if (s.ok()) ParseSpoolRecords(local_key, data_key, bytes, &r);
    stats.spool_bytes_dropped += bytes.size() - r.valid_bytes;
    PackRecord rec;
    KLOSET_RETURN_IF_ERROR(
        RecoverPack(*this, h.type, bytes, r, &rec).Annotate("recovering spool file " + path));
    if (!rec.blobs.empty()) {
      stats.spool_blobs_recovered += rec.blobs.size();
      std::unique_lock<std::shared_mutex> l(index_mu);
      index.AddPack(rec.pack_id, rec.blobs);
      unindexed_blobs += rec.blobs.size();
      unindexed.push_back(std::move(rec));
    }
    done.push_back(path);
  }
  // Indexes before deleting: a crash in between only repeats the recovery,
  // which then finds the pack uploaded and its blobs indexed.
  KLOSET_RETURN_IF_ERROR(WriteIndexes().Annotate("indexing recovered spool packs"));
  for (const std::string& path : done) spool->RemoveFile(path);
  stats.spool_files_recovered += done.size();
  return Status::OK();
}

Status Repository::SyncSpool() { return impl_->spool ? impl_->spool->Sync() : Status::OK(); }

}  // namespace kloset
