// ObjectCache: a local on-disk cache of immutable, content-named store
// objects (indexes, snapshots, tree packs). It holds only ciphertext, exactly
// the bytes of the remote object, under the same relative name, so it leaks
// nothing the remote does not already hold.
//
// Contract:
//  * Every entry is named by the BLAKE2b-256 of its bytes (the hex after the
//    last '/'). Get verifies an entry against its name; a mismatch deletes
//    the entry and reports a miss, so a damaged cache costs a refetch, never
//    wrong data.
//  * Writes are atomic (temporary file + rename): a crash leaves at most a
//    stale temporary file, never a partial entry.
//  * The folder (mode 0700) may be deleted at any moment, also while in use:
//    every operation tolerates missing folders and recreates them.
//  * The cache is an optimization: write failures (full disk, read-only home)
//    are counted and otherwise ignored.
//  * It is not size-capped: it holds what every open needs (indexes) and
//    what is small next to the data (snapshots, tree packs). The owner calls
//    Trim to drop entries of objects the store no longer has.
//
// Thread safety: all methods may be called concurrently, also by several
// processes sharing the folder.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/crypto.h"

namespace kloset {

class ObjectCache {
 public:
  // `dir` is this store's cache folder (created on first write).
  explicit ObjectCache(std::string dir);

  // $XDG_CACHE_HOME/klosetfs, else $HOME/.cache/klosetfs; "" when neither is set.
  static std::string DefaultRoot();

  // Reads a whole entry and verifies it against its name. False on a miss
  // (also after dropping a corrupt entry).
  bool Get(const std::string& name, std::string* data);
  // Reads [offset, offset+length) of an entry without hashing it (the caller
  // authenticates what it reads, e.g. a sealed blob). False unless exactly
  // `length` bytes were read.
  bool ReadRange(const std::string& name, uint64_t offset, uint64_t length, std::string* out);
  // Hashes a whole entry; a mismatch deletes it. False when absent or corrupt.
  bool Verify(const std::string& name);
  // Stores an entry (best effort). False when it could not be written.
  bool Put(const std::string& name, std::string_view data);
  void Remove(const std::string& name);
  // Deletes the entries under `folder` (e.g. "index": its fan-out folders
  // are walked too) for which keep(name) is false, and leftover temporaries;
  // entries modified less than `grace` ago are neither judged nor deleted
  // (another process may have written them after the caller's listing).
  // Returns how many files were deleted.
  size_t Trim(const std::string& folder, std::chrono::seconds grace,
              const std::function<bool(const std::string& name)>& keep);

  const std::string& dir() const { return dir_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t corrupt_dropped() const { return corrupt_; }
  uint64_t write_failures() const { return write_failures_; }

 private:
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  bool ReadWhole(const std::string& path, std::string* data);

  const std::string dir_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, corrupt_{0}, write_failures_{0};
};

// The content hash named by an object name ("index/ab/<hex>" -> <hex>).
bool ObjectNameHash(std::string_view name, Hash* h);

}  // namespace kloset
