// Repository: the write path. SaveBlob -> open pack of its type -> finished
// pack uploaded by the upload pool -> an index naming the packs uploaded
// since the previous one, written by Flush or, once
// OpenOptions::max_unindexed_blobs blobs wait, by the upload pool.
#include "core/pack.h"
#include "core/repository_impl.h"
#include "core/sealed_object.h"

namespace kloset {

// Blobs per pack at most (docs/FORMAT.md, "Packs"): until a pack is
// uploaded, each of its blobs costs ~190 bytes of bookkeeping, so tiny blobs
// must not fill a 16 MiB pack by the hundred thousand.
constexpr size_t kMaxPackBlobs = 16384;

namespace {

int TypeSlot(BlobType t) { return t == BlobType::kTree ? 1 : 0; }

// An index object lists at most this many blobs, so no index body comes near
// kMaxObjectBody however much one Flush covers.
constexpr size_t kMaxBlobsPerIndex = size_t{1} << 20;

}  // namespace

Status Repository::Impl::StickyError() {
  std::lock_guard<std::mutex> l(upload_mu);
  return upload_error;
}

Status Repository::SaveBlob(BlobType type, const Hash& id, std::string_view plaintext, bool* added,
                            uint64_t* stored_bytes) {
  if (added) *added = false;
  if (stored_bytes) *stored_bytes = 0;
  if (type != BlobType::kData && type != BlobType::kTree) {
    return Status::InvalidArgument("unknown blob type " + std::to_string(static_cast<int>(type)));
  }
  if (plaintext.size() > kMaxBlobSize) {
    return Status::InvalidArgument("blob " + ToHex(id) + " of " + std::to_string(plaintext.size()) +
                                   " bytes is too large");
  }
  Impl& m = *impl_;
  KLOSET_RETURN_IF_ERROR(m.StickyError());
  const BlobKey key{id, type};
  {
    // Reserve the id first so that a concurrent save of the same blob
    // returns at once instead of storing it twice. With a spool, only once
    // that save's record is written: a SyncSpool after this call covers it.
    std::unique_lock<std::shared_mutex> l(m.index_mu);
    for (;;) {
      if (m.index.Contains(id, type)) return Status::OK();
      auto [it, fresh] = m.pending.try_emplace(key);
      if (fresh) break;
      if (!m.spool || it->second.pack) return Status::OK();
      m.spool_cv.wait(l);  // then look again: that save may have failed
    }
  }
  std::string sealed;
  sealed.reserve(plaintext.size() + kSealOverhead);
  Compression c = SealBlob(m.data_key, type, id, plaintext, m.config.compression_level, &sealed);

  std::shared_ptr<OpenPack> full[2];
  Status spooled;
  {
    const int t = TypeSlot(type);
    std::lock_guard<std::mutex> pl(m.packer_mu[t]);
    std::shared_ptr<OpenPack>& p = m.packer[t];
    // Close the open pack first if this blob would push it past the target,
    // or if its spool file takes no more records.
    const bool broken = p && p->spool && p->spool->broken();
    if (p && p->writer.count() > 0 &&
        (p->writer.size() + sealed.size() > m.config.pack_size ||
         p->writer.count() >= kMaxPackBlobs || broken)) {
      full[0] = std::move(p);
    } else if (broken) {
      p->spool->Remove();  // holds no blob: start a new file
      p->spool.reset();
    }
    if (!p) p = std::make_shared<OpenPack>(type);
    // Spool before adding, so a blob that could not be spooled is not saved.
    if (m.spool) {
      spooled = m.spool->AppendBlob(&p->spool, type, id, c, sealed,
                                    static_cast<uint32_t>(plaintext.size()));
    }
    if (spooled.ok()) {
      IndexEntry e;
      {
        std::lock_guard<std::mutex> ol(p->mu);
        e = p->writer.Add(id, c, sealed, static_cast<uint32_t>(plaintext.size()));
      }
      {
        std::unique_lock<std::shared_mutex> l(m.index_mu);
        PendingBlob& pb = m.pending[key];
        pb.pack = p;
        pb.entry = e;
      }
      if (p->writer.size() >= m.config.pack_size || p->writer.count() >= kMaxPackBlobs) {
        full[1] = std::move(p);
      }
    }
  }
  if (m.spool) {
    if (!spooled.ok()) {
      std::unique_lock<std::shared_mutex> l(m.index_mu);
      m.pending.erase(key);
    }
    m.spool_cv.notify_all();
  }
  if (!spooled.ok()) {
    if (full[0]) m.SubmitPack(std::move(full[0]));
    return spooled.Annotate("spooling blob " + ToHex(id));
  }
  m.stats.blobs_added++;
  m.stats.bytes_added_raw += plaintext.size();
  m.stats.bytes_added_stored += sealed.size();
  if (added) *added = true;
  if (stored_bytes) *stored_bytes = sealed.size();
  for (auto& p : full) {
    if (p) m.SubmitPack(std::move(p));
  }
  return m.StickyError();
}

bool Repository::HasBlob(BlobType type, const Hash& id) const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  return impl_->index.Contains(id, type) || impl_->pending.count(BlobKey{id, type}) != 0;
}

Status Repository::BlobSize(BlobType type, const Hash& id, uint64_t* size) const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  IndexEntry e;
  if (impl_->index.Find(id, type, &e)) {
    *size = e.raw_size;
    return Status::OK();
  }
  auto it = impl_->pending.find(BlobKey{id, type});
  if (it != impl_->pending.end() && it->second.pack) {
    *size = it->second.entry.raw_size;
    return Status::OK();
  }
  return Status::NotFound("blob " + ToHex(id) + " is not in the index");
}

void Repository::Impl::SubmitPack(std::shared_ptr<OpenPack> p) {
  size_t blob_bytes;
  {
    // Done outside every lock but the pack's own: hashing a 16 MiB pack
    // takes a while and other threads may still read blobs from it.
    std::lock_guard<std::mutex> ol(p->mu);
    blob_bytes = p->writer.size();
    p->writer.Finish(data_key);
    p->id = PlainHash(p->writer.data());
  }
  if (spool && p->spool) {
    // The finished bytes are immutable until the upload releases them.
    spool->AppendEnd(p->spool.get(), p->id, std::string_view(p->writer.data()).substr(blob_bytes));
  }
  uint64_t seq;
  {
    std::unique_lock<std::mutex> l(upload_mu);
    upload_cv.wait(l, [&] { return in_flight.size() < max_in_flight; });
    seq = next_seq++;
    in_flight.insert(seq);
  }
  uploads->Submit([this, p = std::move(p), seq]() mutable { UploadPack(std::move(p), seq); });
}

void Repository::Impl::UploadPack(std::shared_ptr<OpenPack> p, uint64_t seq) {
  const std::string name = PackName(p->id);
  // The bytes are immutable once finished, so no lock is needed to read them.
  const std::string& bytes = p->writer.data();
  Status s = remote->Write(name, bytes);
  if (s.ok()) {
    stats.packs_written++;
    stats.bytes_uploaded += bytes.size();
    if (cache && p->writer.type() == BlobType::kTree) cache->Put(name, bytes);
  }
  bool write_index = false;
  {
    std::unique_lock<std::shared_mutex> l(index_mu);
    if (s.ok()) {
      index.AddPack(p->id, p->writer.blobs());
      unindexed.push_back(PackRecord{p->id, p->writer.blobs()});
      unindexed_blobs += p->writer.count();
      // Registered before an index write can take the record, so the index
      // that names the pack finds its spool file to delete.
      if (spool && p->spool) spool->Uploaded(p->id, std::move(p->spool));
      const size_t limit = opts.max_unindexed_blobs;
      write_index = limit > 0 && unindexed_blobs >= limit && !index_write_due;
      if (write_index) index_write_due = true;
    }
    // On failure the blobs are forgotten: nothing may reference them, and the
    // sticky error stops this session from writing a snapshot.
    for (const IndexEntry& e : p->writer.blobs()) pending.erase(BlobKey{e.id, e.type});
  }
  {
    std::lock_guard<std::mutex> ol(p->mu);
    p->writer.ReleaseData();
    p->released = true;
  }
  {
    std::lock_guard<std::mutex> l(upload_mu);
    if (!s.ok() && upload_error.ok()) upload_error = s.Annotate("uploading " + name);
    in_flight.erase(seq);
  }
  upload_cv.notify_all();
  // After the pack counts as done: a Flush waiting for it then waits in
  // WriteIndexes for this write instead.
  if (write_index) (void)WriteIndexes(/*early=*/true);
}

Status Repository::Impl::WriteIndexes(bool early) {
  // The records are taken under index_write_mu, so whoever holds it has
  // every record taken before it written (or put back) once it returns.
  std::lock_guard<std::mutex> wl(index_write_mu);
  std::vector<PackRecord> recs;
  {
    std::unique_lock<std::shared_mutex> l(index_mu);
    recs.swap(unindexed);
    unindexed_blobs = 0;
    index_write_due = false;
  }
  size_t done = 0;
  while (done < recs.size()) {
    size_t end = done, blobs = 0;
    while (end < recs.size() &&
           (end == done || blobs + recs[end].blobs.size() <= kMaxBlobsPerIndex)) {
      blobs += recs[end++].blobs.size();
    }
    std::vector<PackRecord> part(recs.begin() + static_cast<ptrdiff_t>(done),
                                 recs.begin() + static_cast<ptrdiff_t>(end));
    std::string body, name;
    EncodeIndexBody(part, &body);
    Hash id;
    Status s = SaveSealed("index", kIndexLabel, body, /*cacheable=*/true, &id, &name);
    if (!s.ok()) {
      // Keep the rest for the next Flush: those packs are uploaded and valid.
      std::unique_lock<std::shared_mutex> l(index_mu);
      for (size_t i = done; i < recs.size(); i++) unindexed_blobs += recs[i].blobs.size();
      unindexed.insert(unindexed.begin(), recs.begin() + static_cast<ptrdiff_t>(done), recs.end());
      l.unlock();
      // Not sticky, unlike a failed upload: nothing is lost, the next write
      // (early or the Flush's) names these packs again, and a Flush that
      // cannot reports its own failure, so no snapshot goes on top of it.
      return early ? s.Annotate("writing an index early") : s;
    }
    {
      std::unique_lock<std::shared_mutex> l(index_mu);
      seen_indexes.insert(name);
      index_objects.push_back(name);
    }
    if (spool) spool->Indexed(part);  // the index is durable: their spool files may go
    done = end;
  }
  return Status::OK();
}

Status Repository::Flush() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> fl(m.flush_mu);
  for (int t = 0; t < 2; t++) {
    std::shared_ptr<OpenPack> p;
    {
      std::lock_guard<std::mutex> pl(m.packer_mu[t]);
      p = std::move(m.packer[t]);
    }
    if (p && p->writer.count() > 0) {
      m.SubmitPack(std::move(p));
    } else if (p && p->spool) {
      p->spool->Remove();  // an empty pack's file holds no blob
    }
  }
  {
    // Wait for every pack submitted before this point; packs that later
    // SaveBlob calls submit meanwhile do not hold us up.
    std::unique_lock<std::mutex> l(m.upload_mu);
    const uint64_t target = m.next_seq;
    m.upload_cv.wait(l, [&] { return m.in_flight.empty() || *m.in_flight.begin() >= target; });
  }
  // Packs first, then the index naming them: only successfully uploaded
  // packs reach `unindexed`, so a failed pack is never named. Packs an
  // early write took are named once WriteIndexes gets index_write_mu.
  Status idx = m.WriteIndexes();
  KLOSET_RETURN_IF_ERROR(m.StickyError());
  return idx;
}

}  // namespace kloset
