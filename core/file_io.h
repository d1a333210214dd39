// Streaming file content: FileWriter turns bytes as they arrive into a chunk
// list (content-defined chunks saved as data blobs); FileReader serves any
// byte range of a file from its chunk list, loading only the chunks that
// overlap the range (binary search over cumulative sizes).
//
// Thread safety: a FileWriter is used by one thread; it may hand chunk work
// (hash, compress, encrypt) to a ThreadPool. FileReader is immutable after
// construction and safe to share (the BlobStore is thread-safe).
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

// Data chunks only (holes are not counted). new_* count blobs this writer
// added to the store; chunks already stored (dedup) count only in chunks/bytes.
struct WriteStats {
  uint64_t chunks = 0, new_chunks = 0;
  uint64_t bytes = 0, new_bytes = 0, stored_bytes = 0;  // stored = encrypted size added
};

// Streams one file into content-defined chunks, each saved as a
// BlobType::kData blob (id = HashBlob). Chunk boundaries depend only on the
// content, not on how it is split into Write calls. Memory use is bounded:
// the input buffer holds under 2 * max_size bytes whatever the Write sizes,
// and with a pool at most 2 * pool->size() chunks are in flight (Write
// blocks until one is done). The chunk list comes out in file order. An empty file gives an
// empty list.
class FileWriter {
 public:
  // `pool` may be null (work done inline). No pointer is owned; all must
  // outlive the writer. The calling thread must not be a worker of `pool`
  // (it may block waiting for the pool's tasks). The writer waits only for
  // its own tasks, so one pool can serve many writers at once.
  FileWriter(BlobStore* store, const ChunkerParams& params, const GearTable* gear,
             ThreadPool* pool = nullptr);
  // Waits for the writer's queued tasks (abandoning the file is fine).
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Errors of SaveBlob come back from this call or a later one (with a pool
  // they surface later); after an error the writer stays failed.
  Status Write(std::string_view data);
  // Appends a hole of `len` zero bytes that is stored as a hole, not data.
  // Pending data ends a chunk here; adjacent holes merge into one ChunkRef.
  Status WriteHole(uint64_t len);
  // Flushes the last chunk, waits for queued work and returns the chunk list.
  // After Finish the writer is spent (further calls: kInvalidArgument).
  Status Finish(std::vector<ChunkRef>* chunks, WriteStats* stats = nullptr);
  // Bytes passed to Write and WriteHole so far.
  uint64_t bytes_written() const { return total_; }

 private:
  struct Impl;
  Impl* impl_;
  uint64_t total_ = 0;
};

// Serves byte ranges of a file from its chunk list. Keeps no cache: every
// ReadAt loads each overlapping data chunk once (callers that read a chunk
// in small pieces should cache above this).
class FileReader {
 public:
  FileReader(BlobStore* store, std::vector<ChunkRef> chunks);
  uint64_t size() const { return offsets_.empty() ? 0 : offsets_.back(); }
  // Replaces *out with up to `len` bytes at `offset` (fewer only at EOF;
  // none at or after EOF). Holes read as zeros. kCorrupt when a loaded blob's
  // size differs from its ChunkRef or the sizes overflow; store errors pass
  // through, annotated with the blob id.
  Status ReadAt(uint64_t offset, size_t len, std::string* out) const;
  // Index of the chunk containing `offset` (offset < size()).
  size_t ChunkAt(uint64_t offset) const;
  const std::vector<ChunkRef>& chunks() const { return chunks_; }

 private:
  BlobStore* store_;
  std::vector<ChunkRef> chunks_;
  std::vector<uint64_t> offsets_;  // offsets_[i] = end of chunk i
  bool sizes_overflow_ = false;    // hostile chunk list: every read fails
};

}  // namespace kloset
