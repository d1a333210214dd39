// FileWriter and FileReader: see core/file_io.h.
#include "core/file_io.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "core/thread_pool.h"

namespace kloset {

struct FileWriter::Impl {
  Impl(BlobStore* s, const ChunkerParams& p, const GearTable* g, ThreadPool* tp)
      : store(s), chunker(p, g), pool(tp),
        max_in_flight(tp ? 2 * std::max<size_t>(tp->size(), 1) : 0) {}

  // Feeds bytes to the chunker without copying what can be cut directly.
  Status Add(std::string_view data);
  // Cuts the pending bytes into final chunks (end of file or a hole).
  Status Flush();
  // Hashes and saves one chunk, inline or on the pool; the ChunkRef is
  // already in `chunks` at index `slot`.
  Status Emit(std::string_view data);
  void Save(size_t slot, std::string_view data);
  void WaitAll();
  Status error() {
    std::lock_guard<std::mutex> lock(mu);
    return first_error;
  }

  BlobStore* store;
  Chunker chunker;
  ThreadPool* pool;
  size_t max_in_flight;
  std::string buf;
  size_t start = 0;  // buf[0, start) is already cut
  bool finished = false;

  // Shared with pool tasks; guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  Status first_error;
  std::vector<ChunkRef> chunks;
  WriteStats stats;
};

// Every FindCut call sees max_size bytes (or the end of the data), so it
// finds its cut in one pass; the cuts depend only on the content, never on
// how it was split into Write calls.
Status FileWriter::Impl::Add(std::string_view data) {
  const size_t max = chunker.params().max_size;
  while (!data.empty()) {
    if (buf.size() == start && data.size() >= max) {
      // Nothing pending: cut straight from the caller's bytes.
      size_t cut = chunker.FindCut(reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                   false);
      KLOSET_RETURN_IF_ERROR(Emit(data.substr(0, cut)));
      data.remove_prefix(cut);
      continue;
    }
    // Top the pending bytes up to max_size at most, and cut once full.
    size_t take = std::min(data.size(), max - (buf.size() - start));
    buf.append(data.data(), take);
    data.remove_prefix(take);
    if (buf.size() - start < max) break;
    size_t cut = chunker.FindCut(reinterpret_cast<const uint8_t*>(buf.data()) + start, max,
                                 false);
    KLOSET_RETURN_IF_ERROR(Emit(std::string_view(buf).substr(start, cut)));
    start += cut;
    // Drop the cut prefix only once it is large, so the uncut tail is not
    // moved after every chunk. buf stays under 2 * max_size.
    if (start >= max) {
      buf.erase(0, start);
      start = 0;
    }
  }
  return Status::OK();
}

Status FileWriter::Impl::Flush() {
  while (buf.size() > start) {
    size_t cut = chunker.FindCut(reinterpret_cast<const uint8_t*>(buf.data()) + start,
                                 buf.size() - start, true);
    KLOSET_RETURN_IF_ERROR(Emit(std::string_view(buf).substr(start, cut)));
    start += cut;
  }
  buf.clear();
  start = 0;
  return Status::OK();
}

void FileWriter::Impl::Save(size_t slot, std::string_view data) {
  Hash id = store->HashBlob(data);
  bool added = false;
  uint64_t stored = 0;
  Status s = store->SaveBlob(BlobType::kData, id, data, &added, &stored);
  std::lock_guard<std::mutex> lock(mu);
  chunks[slot].id = id;
  if (!s.ok() && first_error.ok()) first_error = s;
  if (added) {
    stats.new_chunks++;
    stats.new_bytes += data.size();
    stats.stored_bytes += stored;
  }
}

Status FileWriter::Impl::Emit(std::string_view data) {
  size_t slot;
  {
    std::unique_lock<std::mutex> lock(mu);
    // Bounded in flight: memory stays at max_in_flight chunks per writer.
    cv.wait(lock, [&] { return in_flight < max_in_flight || !pool; });
    if (!first_error.ok()) return first_error;
    slot = chunks.size();
    chunks.push_back(ChunkRef{Hash{}, data.size(), false});
    stats.chunks++;
    stats.bytes += data.size();
    if (pool) in_flight++;
  }
  if (!pool) {
    Save(slot, data);
    return error();
  }
  pool->Submit([this, slot, data = std::string(data)] {
    Save(slot, data);
    std::lock_guard<std::mutex> lock(mu);
    in_flight--;
    cv.notify_all();
  });
  return Status::OK();
}

void FileWriter::Impl::WaitAll() {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
}

FileWriter::FileWriter(BlobStore* store, const ChunkerParams& params, const GearTable* gear,
                       ThreadPool* pool)
    : impl_(new Impl(store, params, gear, pool)) {}

FileWriter::~FileWriter() {
  impl_->WaitAll();  // pool tasks point into impl_
  delete impl_;
}

Status FileWriter::Write(std::string_view data) {
  if (impl_->finished) return Status::InvalidArgument("FileWriter used after Finish");
  KLOSET_RETURN_IF_ERROR(impl_->error());
  total_ += data.size();
  return impl_->Add(data);
}

Status FileWriter::WriteHole(uint64_t len) {
  if (impl_->finished) return Status::InvalidArgument("FileWriter used after Finish");
  KLOSET_RETURN_IF_ERROR(impl_->error());
  if (len == 0) return Status::OK();
  // Data before a hole ends a chunk: the hole is not chunk content.
  KLOSET_RETURN_IF_ERROR(impl_->Flush());
  total_ += len;
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& chunks = impl_->chunks;
  if (!chunks.empty() && chunks.back().is_hole) {
    chunks.back().size += len;
  } else {
    chunks.push_back(ChunkRef{Hash{}, len, true});
  }
  return Status::OK();
}

Status FileWriter::Finish(std::vector<ChunkRef>* chunks, WriteStats* stats) {
  if (impl_->finished) return Status::InvalidArgument("FileWriter used after Finish");
  Status s = impl_->Flush();
  impl_->finished = true;
  impl_->WaitAll();
  if (s.ok()) s = impl_->error();
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl_->mu);
  *chunks = std::move(impl_->chunks);
  if (stats) *stats = impl_->stats;
  return Status::OK();
}

FileReader::FileReader(BlobStore* store, std::vector<ChunkRef> chunks)
    : store_(store), chunks_(std::move(chunks)) {
  offsets_.reserve(chunks_.size());
  uint64_t end = 0;
  for (const ChunkRef& c : chunks_) {
    sizes_overflow_ |= __builtin_add_overflow(end, c.size, &end);
    offsets_.push_back(end);
  }
}

size_t FileReader::ChunkAt(uint64_t offset) const {
  return std::upper_bound(offsets_.begin(), offsets_.end(), offset) - offsets_.begin();
}

Status FileReader::ReadAt(uint64_t offset, size_t len, std::string* out) const {
  out->clear();
  if (sizes_overflow_) return Status::Corrupt("chunk sizes of file add up to more than 2^64");
  if (offset >= size() || len == 0) return Status::OK();
  const uint64_t end = offset + std::min<uint64_t>(len, size() - offset);
  out->reserve(end - offset);
  std::string blob;
  for (size_t i = ChunkAt(offset); offset < end; i++) {
    const ChunkRef& c = chunks_[i];
    const uint64_t chunk_start = offsets_[i] - c.size;
    const uint64_t n = std::min(end, offsets_[i]) - offset;
    if (n == 0) continue;  // an empty chunk
    if (c.is_hole) {
      out->append(n, '\0');
    } else {
      Status s = store_->LoadBlob(BlobType::kData, c.id, &blob);
      // A chunk the file names but the store lacks is damage.
      if (s.IsNotFound()) s = Status::Corrupt("missing from the store (" + s.message() + ")");
      if (!s.ok()) return s.Annotate("data blob " + ToHex(c.id));
      if (blob.size() != c.size) {
        return Status::Corrupt("data blob " + ToHex(c.id) + " holds " +
                               std::to_string(blob.size()) + " bytes, file expects " +
                               std::to_string(c.size));
      }
      out->append(blob, offset - chunk_start, n);
    }
    offset += n;
  }
  return Status::OK();
}

}  // namespace kloset
