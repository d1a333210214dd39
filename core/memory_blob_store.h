// MemoryBlobStore: a BlobStore held in memory, for tests and fuzzers. Blobs
// are kept as plaintext in a map keyed by (type, id); ids are keyed
// BLAKE2b-256 under a fixed test key, so they are stable across runs.
// Counters let tests assert deduplication and how many blobs a read loaded.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/blob_store.h"

namespace kloset {

class MemoryBlobStore : public BlobStore {
 public:
  MemoryBlobStore();

  Hash HashBlob(std::string_view plaintext) const override;
  // Stores a copy of plaintext. Does not check id == HashBlob(plaintext)
  // (tests may plant mismatched blobs on purpose). *stored_bytes is the
  // plaintext size plus kSealOverhead, as if sealed.
  Status SaveBlob(BlobType type, const Hash& id, std::string_view plaintext,
                  bool* added = nullptr, uint64_t* stored_bytes = nullptr) override;
  bool HasBlob(BlobType type, const Hash& id) const override;
  // Counts every call, found or not. kNotFound for an unknown blob.
  Status LoadBlob(BlobType type, const Hash& id, std::string* plaintext) override;
  Status BlobSize(BlobType type, const Hash& id, uint64_t* size) const override;
  Status Flush() override { return Status::OK(); }

  // Test hooks.
  // Replaces (or plants) a blob's bytes regardless of its id.
  void Put(BlobType type, const Hash& id, std::string plaintext);
  bool Erase(BlobType type, const Hash& id);
  // While set, SaveBlob fails with this status (OK() clears it).
  void FailSaves(Status s);
  // Calls fn for every blob, in (type, id) order, under the store's lock
  // (fn must not call back into the store).
  void ForEach(const std::function<void(BlobType, const Hash&, const std::string&)>& fn) const;

  size_t blob_count() const;
  size_t blob_count(BlobType type) const;
  uint64_t byte_count() const;  // plaintext bytes stored, all types
  uint64_t load_count() const { return loads_.load(); }
  uint64_t save_count() const { return saves_.load(); }  // calls, incl. duplicates
  void ResetCounters() {
    loads_ = 0;
    saves_ = 0;
  }

 private:
  using BlobKey = std::pair<BlobType, Hash>;
  Key key_;
  mutable std::mutex mu_;
  std::map<BlobKey, std::string> blobs_;
  uint64_t bytes_ = 0;
  Status fail_saves_;
  std::atomic<uint64_t> loads_{0}, saves_{0};
};

}  // namespace kloset
