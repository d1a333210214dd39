// IngestStream: the in-order part of an ingest file's content (core/
// ingest_file.h), bytes as a FUSE write hands them, into a chunk list. Same
// chunks as a FileWriter of the same bytes, with two shortcuts that matter
// when writes come one request at a time:
//  * Small content: up to the chunker's min_size (always one chunk) is only
//    buffered, and Finish hashes and saves it on the calling thread. A small
//    file then costs no FileWriter and no hand-off to the pool.
//  * Large content: past min_size, Write copies the bytes into a bounded
//    queue and returns; a feeder thread of this stream cuts them into chunks
//    (FileWriter, whose hashing, compression and sealing run on the pool).
//    The FUSE thread is then free for the next request while the previous one
//    is chunked, so a single writer (dd, cp) keeps both cores busy.
//
// Errors of the background work come back from a later call (Write,
// WriteHole or Finish); after an error the stream stays failed.
//
// Memory: min_size bytes while small; then at most kMaxQueued queued bytes
// plus the FileWriter's own bound.
//
// Thread safety: one caller at a time (IngestFile's lock); the feeder thread
// is internal. The caller must not be a worker of `pool`.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/blob_store.h"
#include "core/chunker.h"
#include "core/file_io.h"
#include "core/node.h"

namespace kloset {

class ThreadPool;

class IngestStream {
 public:
  // Queued bytes at most before Write waits for the feeder.
  static constexpr size_t kMaxQueued = 4u << 20;

  // No pointer is owned; all must outlive the stream (params is copied).
  IngestStream(BlobStore* store, const ChunkerParams& params, const GearTable* gear,
               ThreadPool* pool);
  // Drops queued bytes and waits for the feeder and the pool tasks.
  ~IngestStream();
  IngestStream(const IngestStream&) = delete;
  IngestStream& operator=(const IngestStream&) = delete;

  Status Write(std::string_view data);
  Status WriteHole(uint64_t len);
  // The chunk list of everything written; the stream is spent afterwards.
  Status Finish(std::vector<ChunkRef>* chunks);

 private:
  Status StartWriter();  // head_ -> a FileWriter (synchronously)
  Status Drain();        // waits until the feeder has written everything
  void Stop();           // ends the feeder thread (queued bytes dropped)
  void Feed();           // the feeder thread's loop

  BlobStore* const store_;
  const ChunkerParams params_;  // a copy: callers often pass a temporary
  const GearTable* const gear_;
  ThreadPool* const pool_;
  std::string head_;                  // content while it fits in one chunk
  std::unique_ptr<FileWriter> writer_;
  bool finished_ = false;

  std::thread feeder_;
  std::mutex mu_;  // guards the members below
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::vector<std::string> spare_;  // emptied buffers, reused by Write
  size_t queued_ = 0;
  bool busy_ = false;  // the feeder is writing a buffer it popped
  bool stop_ = false;
  Status error_;
};

}  // namespace kloset
