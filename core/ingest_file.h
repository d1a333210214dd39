// IngestFile: the live content of one regular file in the writable ingest/
// tree, from its first open to the chunk list the draft stores for it
// (Draft::SetContent, core/draft.h).
//
// Two ways in:
//  * Streaming (the fast path): while writes arrive in order at offset ==
//    size() (a new file, a file truncated to 0, appends), they feed an
//    IngestStream (core/ingest_stream.h), which chunks, hashes, compresses
//    and encrypts them as they come (on its feeder thread and env.pool). A write past the end streams a
//    hole first; growing by Truncate streams a hole.
//  * Staged: anything else (a write before the end, a read of bytes still
//    inside the stream, a Truncate that shrinks) first finishes the
//    stream so that its chunks become the base, then keeps the changed
//    regions as sealed fixed-size blocks in a staging file of its own
//    (core/staging_area.h). Reads merge staged blocks, the base chunks and
//    zeros. Once staged, the file stays staged until the next Commit, so
//    programs that mix reads and writes do not produce a chunk per read.
//
// Commit turns the content into a chunk list. In staged mode it rechunks
// only the base chunks that changed (a staged block overlaps them or a
// truncation cut them) plus whatever lies past the base, one FileWriter per
// run of changed chunks, and keeps unchanged base chunks as they are; runs
// of unstaged zeros become holes. So a small edit in a large file reads and
// rewrites only the chunks around it.
//
// Errors:
//  * kNoSpace from Write when the staging area is full (its cap, or the
//    disk). Before giving up, Write moves this file's own staged blocks into
//    the store (Spill) and retries once. A failed Write or Truncate leaves
//    the content exactly as before the call.
//  * A store error while streaming (or while finishing a stream) loses the
//    bytes streamed since the last Commit, which no longer exist anywhere.
//    The file then fails every call with that error until it is truncated
//    to 0.
//  * A construction whose chunk sizes do not add up to `size` fails every
//    call (kCorrupt) until truncated to 0.
//
// No plaintext reaches the disk. Memory per file: the stream's buffers
// and in-flight chunks while streaming, one cached base chunk, a few blocks
// and an index entry per staged block.
//
// Thread safety: every method may be called from many threads; one mutex per
// file serializes them (including store reads and staging I/O). The calling
// thread must not be a worker of env.pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/blob_store.h"
#include "core/chunker.h"
#include "core/file_io.h"
#include "core/ingest_base.h"
#include "core/ingest_stream.h"
#include "core/node.h"
#include "core/staging_area.h"

namespace kloset {

class ThreadPool;

// What every IngestFile of a mount shares. No pointer is owned; all must
// outlive the files.
struct IngestFileEnv {
  BlobStore* store = nullptr;
  const ChunkerParams* chunker = nullptr;
  const GearTable* gear = nullptr;
  ThreadPool* pool = nullptr;  // may be null (work done inline)
  StagingArea* staging = nullptr;
};

class IngestFile {
 public:
  // Largest size a file can have (off_t); writes or truncates past it are
  // kInvalidArgument.
  static constexpr uint64_t kMaxSize = (uint64_t{1} << 63) - 1;

  // `base`: the content the file had when first opened (chunk list + size).
  IngestFile(const IngestFileEnv& env, std::vector<ChunkRef> base, uint64_t size);
  // Abandons unstreamed work and deletes the staging file.
  ~IngestFile();
  IngestFile(const IngestFile&) = delete;
  IngestFile& operator=(const IngestFile&) = delete;

  // Writes data at offset; the file grows as needed (a gap reads as zeros).
  Status Write(uint64_t offset, std::string_view data);
  // Replaces *out with up to `len` bytes at `offset`: short only at EOF;
  // holes read as zeros. On error *out is empty.
  Status Read(uint64_t offset, size_t len, std::string* out);
  // Sets the size; growing adds zeros.
  Status Truncate(uint64_t size);
  uint64_t size() const;
  // Changed since construction or the last Commit.
  bool dirty() const;
  // Turns the current content into a chunk list (chunks saved to env.store,
  // not flushed) for fsync and close; the file stays open and writable and
  // the staging space it held is released. Afterwards dirty() is false.
  // On error the content is unchanged (but see the streaming case above).
  Status Commit(std::vector<ChunkRef>* chunks, uint64_t* size);
  // Moves staged blocks into the store as Commit does, without ending the
  // dirty state; frees this file's staging space (e.g. under pressure from
  // other files). A no-op for a file with nothing staged.
  Status Spill();

 private:
  enum class Mode { kClean, kStreaming, kStaged };
  struct Block {
    uint32_t slot = 0;
    uint64_t gen = 0;  // unique per sealing, bound into the AAD
  };
  using PieceFn = std::function<Status(const char* data, uint64_t n)>;

  Status Broken() const;
  Status Break(const Status& s);
  void StartStream();
  Status StreamWrite(uint64_t offset, std::string_view data);
  Status EndStream();  // kStreaming -> kStaged, the stream's chunks join the base
  Status StagedWrite(uint64_t offset, std::string_view data);
  Status TryStagedWrite(uint64_t offset, std::string_view data);
  Status ShrinkStaged(uint64_t size);
  // Calls fn for consecutive pieces of [pos, end) (end <= size_): staged or
  // base bytes, or nullptr for zeros that are neither (holes at commit).
  Status VisitContent(uint64_t pos, uint64_t end, const PieceFn& fn);
  // The plaintext of staged block b (cached).
  Status OpenBlock(uint64_t b, const Block& blk, const std::string** data);
  // Block b as the file reads now, kBlockSize bytes, zeros past size_.
  Status BlockContent(uint64_t b, std::string* out);
  Status Rebase();  // staged blocks and truncations -> new base chunks
  Status StreamRange(uint64_t start, uint64_t end, std::vector<ChunkRef>* out);
  bool StagedIn(uint64_t start, uint64_t end) const;
  void ReleaseStaging();
  void DropCaches();

  const IngestFileEnv env_;
  mutable std::mutex mu_;
  Mode mode_ = Mode::kClean;
  IngestBase base_;
  uint64_t size_ = 0;
  // Base bytes at or past base_valid_ read as zeros: min(base size, the
  // lowest size truncated to since the base was set). Never above size_.
  uint64_t base_valid_ = 0;
  std::unique_ptr<IngestStream> writer_;  // kStreaming: continues after base_
  std::map<uint64_t, Block> blocks_;    // staged blocks by index
  std::unique_ptr<StagingFile> file_;   // created with the first staged block
  uint64_t next_gen_ = 0;
  uint64_t cache_gen_ = 0;  // the block in block_cache_ (0: none)
  std::string block_cache_;
  bool dirty_ = false;
  Status broken_;
};

}  // namespace kloset
