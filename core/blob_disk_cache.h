// BlobDiskCache: a size-capped on-disk cache of data blobs, so that reading
// the same file again (a mount's usual case) costs no remote request.
//
// Contract:
//  * An entry holds one blob's sealed bytes exactly as they are stored in
//    its pack (nonce, ciphertext, tag), so the cache holds no plaintext and
//    nothing the remote does not hold. Entry names are a keyed hash of the
//    blob id (store subkey "cache"), so they do not reveal blob ids either.
//  * The cache does not authenticate: the caller opens what Get returns with
//    the blob's AEAD and calls Drop when that fails. A damaged entry thus
//    costs a refetch, never wrong data or an error.
//  * Capacity: entries are counted in whole 4 KiB blocks (as a file system
//    stores them). Put evicts least recently used entries once the total
//    passes the capacity, down to 15/16 of it, so eviction work is amortized.
//    A blob larger than 1/8 of the capacity is not cached. Recency is kept in
//    memory (a counter per entry, about 50 bytes each; at most capacity/4 KiB
//    entries) and on disk as each entry's mtime, which a hit refreshes.
//  * The constructor rebuilds the bookkeeping from the folder (entries
//    ordered by mtime), deletes temporaries older than 10 minutes (left by a
//    crash) and evicts down to the capacity.
//  * Writes are atomic (temporary file + rename) and best effort: a full or
//    read-only disk only costs hits. The folder (mode 0700) may be deleted
//    at any time; a missing entry is a miss.
//  * Several processes may share the folder. Each enforces the capacity over
//    the entries it knows of (those found at open plus those it wrote), so
//    together they may exceed it until one of them reopens.
//
// Thread safety: all methods may be called concurrently. One mutex guards
// the bookkeeping; no file I/O happens under it except during eviction's
// unlink calls, which are made after it is released.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/crypto.h"
#include "core/object_cache.h"

namespace kloset {

struct BlobDiskCacheStats {
  uint64_t hits = 0, misses = 0;
  uint64_t stored = 0;         // entries written
  uint64_t evicted = 0;        // entries deleted to stay under the capacity
  uint64_t dropped = 0;        // entries deleted because the caller found them damaged
  uint64_t write_failures = 0;
};

class BlobDiskCache {
 public:
  static constexpr uint64_t kBlockSize = 4096;

  // `dir`: the folder for entries (created on first write). `capacity`:
  // bytes of disk the entries may use (> 0). `name_key`: the secret that
  // names entries. Scans `dir` (see above).
  BlobDiskCache(std::string dir, uint64_t capacity, const Key& name_key);
  ~BlobDiskCache();
  BlobDiskCache(const BlobDiskCache&) = delete;
  BlobDiskCache& operator=(const BlobDiskCache&) = delete;

  // The sealed bytes of blob `id` when an entry of exactly `size` bytes is
  // cached; marks it used. False on a miss (an entry of another size is
  // deleted).
  bool Get(const Hash& id, uint64_t size, std::string* sealed);
  // Caches blob `id` (call only with bytes that authenticated).
  void Put(const Hash& id, std::string_view sealed);
  // Deletes blob `id`'s entry: it failed authentication.
  void Drop(const Hash& id);

  uint64_t capacity() const { return capacity_; }
  // Bytes (in whole blocks) and entries currently accounted for.
  uint64_t used_bytes() const;
  size_t entries() const;
  BlobDiskCacheStats stats() const;
  const std::string& dir() const { return files_.dir(); }
  // The entry file of blob `id` (for tests and diagnostics).
  std::string PathOf(const Hash& id) const;

 private:
  struct Name {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Name& o) const { return hi == o.hi && lo == o.lo; }
  };
  struct NameHash {
    size_t operator()(const Name& n) const { return n.hi; }
  };
  struct Meta {
    uint64_t last_use = 0;  // value of clock_ at the last Get or Put
    uint64_t blocks = 0;
  };

  Name NameOf(const Hash& id) const;
  static std::string RelPath(const Name& n);  // "<hh>/<32 hex>"
  static bool ParseRelPath(std::string_view hh, std::string_view file, Name* n);
  void Scan();
  void Forget(const Name& n);  // drops the bookkeeping of one entry
  // Evicts down to the low mark if over capacity. Call with mu_ held; the
  // caller unlinks the returned entries once it has released mu_.
  std::vector<Name> EvictLocked();
  void Unlink(const std::vector<Name>& names);

  ObjectCache files_;  // atomic writes and removal, relative names
  const uint64_t capacity_;
  Key name_key_;

  mutable std::mutex mu_;
  std::unordered_map<Name, Meta, NameHash> map_;
  uint64_t clock_ = 0;
  uint64_t used_blocks_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0}, stored_{0}, evicted_{0}, dropped_{0};
};

}  // namespace kloset
