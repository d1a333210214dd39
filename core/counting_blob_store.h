// CountingBlobStore: a BlobStore decorator that forwards every call and
// counts the blobs newly added through it, so one operation (a backup) can
// report what it added even while others write to the same store.
//
// Thread safety: as thread-safe as the wrapped store; counters are atomic.
// The wrapped store is not owned and must outlive this object.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/blob_store.h"

namespace kloset {

class CountingBlobStore : public BlobStore {
 public:
  explicit CountingBlobStore(BlobStore* base) : base_(base) {}

  Hash HashBlob(std::string_view plaintext) const override { return base_->HashBlob(plaintext); }
  Status SaveBlob(BlobType type, const Hash& id, std::string_view plaintext, bool* added,
                  uint64_t* stored_bytes) override {
    bool a = false;
    uint64_t stored = 0;
    Status s = base_->SaveBlob(type, id, plaintext, &a, &stored);
    if (added) *added = a;
    if (stored_bytes) *stored_bytes = stored;
    if (s.ok() && a) {
      (type == BlobType::kData ? data_blobs_ : tree_blobs_)++;
      if (type == BlobType::kData) data_bytes_ += plaintext.size();
      stored_ += stored;
    }
    return s;
  }
  bool HasBlob(BlobType type, const Hash& id) const override { return base_->HasBlob(type, id); }
  Status LoadBlob(BlobType type, const Hash& id, std::string* plaintext) override {
    return base_->LoadBlob(type, id, plaintext);
  }
  Status BlobSize(BlobType type, const Hash& id, uint64_t* size) const override {
    return base_->BlobSize(type, id, size);
  }
  Status Flush() override { return base_->Flush(); }

  uint64_t data_blobs_added() const { return data_blobs_; }
  uint64_t tree_blobs_added() const { return tree_blobs_; }
  uint64_t data_bytes_added() const { return data_bytes_; }  // plaintext
  uint64_t stored_added() const { return stored_; }          // stored (encrypted) bytes, all types

 private:
  BlobStore* base_;
  std::atomic<uint64_t> data_blobs_{0}, tree_blobs_{0}, data_bytes_{0}, stored_{0};
};

}  // namespace kloset
