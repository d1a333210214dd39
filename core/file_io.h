// Streaming file content: FileWriter turns bytes as they arrive into a chunk
// list (content-defined chunks saved as data blobs); FileReader serves any
// byte range of a file from its chunk list, loading only the chunks that
// overlap the range (binary search over cumulative sizes).
//
// Thread safety: a FileWriter is used by one thread; it may hand chunk work
// (hash, compress, encrypt) to a ThreadPool. FileReader is safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/blob_store.h"
#include "core/chunker.h"
#include "core/node.h"

namespace kloset {

class ThreadPool;

struct WriteStats {
  uint64_t chunks = 0, new_chunks = 0;
  uint64_t bytes = 0, new_bytes = 0, stored_bytes = 0;  // stored = encrypted size added
};

class FileWriter {
 public:
  // `pool` may be null (work done inline). Neither pointer is owned.
  FileWriter(BlobStore* store, const ChunkerParams& params, const GearTable* gear,
             ThreadPool* pool = nullptr);
  ~FileWriter();
  Status Write(std::string_view data);
  // Appends a hole of `len` zero bytes that is stored as a hole, not data.
  Status WriteHole(uint64_t len);
  // Flushes the last chunk, waits for queued work and returns the chunk list.
  // After Finish the writer is spent.
  Status Finish(std::vector<ChunkRef>* chunks, WriteStats* stats = nullptr);
  uint64_t bytes_written() const { return total_; }

 private:
  struct Impl;
  Impl* impl_;
  uint64_t total_ = 0;
};

class FileReader {
 public:
  FileReader(BlobStore* store, std::vector<ChunkRef> chunks);
  uint64_t size() const { return offsets_.empty() ? 0 : offsets_.back(); }
  // Reads up to `len` bytes at `offset` into *out (fewer only at EOF).
  Status ReadAt(uint64_t offset, size_t len, std::string* out) const;
  // Index of the chunk containing `offset` (offset < size()).
  size_t ChunkAt(uint64_t offset) const;
  const std::vector<ChunkRef>& chunks() const { return chunks_; }

 private:
  BlobStore* store_;
  std::vector<ChunkRef> chunks_;
  std::vector<uint64_t> offsets_;  // offsets_[i] = end of chunk i
};

}  // namespace kloset
