// ChunkCache: decoded data chunks in memory, shared by every open file of a
// mount, with single-flight loading (two readers of one chunk fetch it once)
// and asynchronous prefetch for read-ahead. Bounded by bytes (LRU; each
// chunk also counts a fixed bookkeeping overhead); chunks
// being read stay alive through their shared_ptr even when evicted.
//
// Thread safety: all methods may be called from any thread. The BlobStore
// and ThreadPool are not owned and must outlive the cache.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/blob_store.h"
#include "core/thread_pool.h"

namespace kloset::fs {

class ChunkCache {
 public:
  ChunkCache(BlobStore* store, size_t capacity_bytes, ThreadPool* pool);
  ~ChunkCache();

  // Returns the chunk's plaintext, loading it (or waiting for a load already
  // under way). Errors are not cached: the next Get tries again.
  Status Get(const Hash& id, std::shared_ptr<const std::string>* out);
  // Starts loading a chunk in the background unless cached or loading.
  void Prefetch(const Hash& id);

  uint64_t hits() const;
  uint64_t misses() const;
  size_t bytes() const;

 private:
  struct Slot;
  struct HashHasher {
    size_t operator()(const Hash& h) const;
  };
  std::shared_ptr<Slot> StartLoad(const Hash& id, bool* started);
  void Load(const Hash& id, const std::shared_ptr<Slot>& slot);
  void EvictLocked();

  BlobStore* store_;
  size_t capacity_;
  ThreadPool* pool_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Hash, std::shared_ptr<Slot>, HashHasher> slots_;
  std::list<Hash> lru_;  // front = most recent; only loaded slots
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  size_t pending_ = 0;  // background loads under way
};

}  // namespace kloset::fs
