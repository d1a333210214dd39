// IngestBase: the committed content an IngestFile (core/ingest_file.h)
// builds on, a chunk list read back piece by piece. It keeps the cumulative
// chunk offsets and the last data chunk it loaded, so reads that walk a chunk
// in small pieces load it once.
//
// Thread safety: none; the owning IngestFile's lock guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/blob_store.h"
#include "core/node.h"

namespace kloset {

// Appends `c` to `list`, merging adjacent holes and dropping empty chunks.
void AppendChunk(std::vector<ChunkRef>* list, const ChunkRef& c);

class IngestBase {
 public:
  explicit IngestBase(BlobStore* store) : store_(store) {}

  // Replaces the chunk list (normalised with AppendChunk). Returns false if
  // the sizes add up to more than 2^64 (the list is then empty).
  bool Assign(const std::vector<ChunkRef>& chunks);
  // Appends chunks after the current end; false on overflow (nothing added).
  bool Append(const std::vector<ChunkRef>& chunks);

  uint64_t size() const { return ends_.empty() ? 0 : ends_.back(); }
  const std::vector<ChunkRef>& chunks() const { return chunks_; }
  size_t count() const { return chunks_.size(); }
  uint64_t start(size_t i) const { return ends_[i] - chunks_[i].size; }
  uint64_t end(size_t i) const { return ends_[i]; }
  // Index of the chunk holding `offset` (< size()).
  size_t ChunkAt(uint64_t offset) const;

  // Calls fn for consecutive pieces of [offset, offset + len), which must lie
  // within size(): fn(data, n) for stored bytes, fn(nullptr, n) for holes. A
  // chunk the store lacks or whose size differs from its ChunkRef is kCorrupt;
  // errors of fn or the store stop the walk and come back.
  Status Visit(uint64_t offset, uint64_t len,
               const std::function<Status(const char* data, uint64_t n)>& fn);
  // Frees the cached chunk.
  void DropCache();

 private:
  Status Load(const ChunkRef& c);

  BlobStore* store_;
  std::vector<ChunkRef> chunks_;
  std::vector<uint64_t> ends_;  // ends_[i] = end offset of chunk i
  Hash cached_id_{};
  std::string cached_;  // plaintext of cached_id_ when cache_valid_
  bool cache_valid_ = false;
};

}  // namespace kloset
