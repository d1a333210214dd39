#include "core/memory_blob_store.h"

namespace kloset {

namespace {
std::string BlobName(BlobType type, const Hash& id) {
  return std::string(type == BlobType::kTree ? "tree" : "data") + " blob " + ToHex(id);
}
}  // namespace

MemoryBlobStore::MemoryBlobStore() {
  InitCrypto();
  // A fixed key: ids (and so page ids) are reproducible across test runs.
  for (size_t i = 0; i < key_.size(); i++) key_[i] = static_cast<uint8_t>(0xA5 ^ i);
}

Hash MemoryBlobStore::HashBlob(std::string_view plaintext) const {
  return KeyedHash(key_, plaintext);
}

Status MemoryBlobStore::SaveBlob(BlobType type, const Hash& id, std::string_view plaintext,
                                 bool* added, uint64_t* stored_bytes) {
  saves_++;
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_saves_.ok()) return fail_saves_;
  auto [it, inserted] = blobs_.try_emplace(BlobKey(type, id));
  if (inserted) {
    it->second.assign(plaintext.data(), plaintext.size());
    bytes_ += plaintext.size();
  }
  if (added) *added = inserted;
  if (stored_bytes) *stored_bytes = inserted ? plaintext.size() + kSealOverhead : 0;
  return Status::OK();
}

bool MemoryBlobStore::HasBlob(BlobType type, const Hash& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return blobs_.count(BlobKey(type, id)) > 0;
}

Status MemoryBlobStore::LoadBlob(BlobType type, const Hash& id, std::string* plaintext) {
  loads_++;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(BlobKey(type, id));
  if (it == blobs_.end()) return Status::NotFound(BlobName(type, id) + " not in store");
  *plaintext = it->second;
  return Status::OK();
}

Status MemoryBlobStore::BlobSize(BlobType type, const Hash& id, uint64_t* size) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(BlobKey(type, id));
  if (it == blobs_.end()) return Status::NotFound(BlobName(type, id) + " not in store");
  *size = it->second.size();
  return Status::OK();
}

void MemoryBlobStore::Put(BlobType type, const Hash& id, std::string plaintext) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string& slot = blobs_[BlobKey(type, id)];
  bytes_ -= slot.size();
  bytes_ += plaintext.size();
  slot = std::move(plaintext);
}

bool MemoryBlobStore::Erase(BlobType type, const Hash& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(BlobKey(type, id));
  if (it == blobs_.end()) return false;
  bytes_ -= it->second.size();
  blobs_.erase(it);
  return true;
}

void MemoryBlobStore::FailSaves(Status s) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_saves_ = std::move(s);
}

void MemoryBlobStore::ForEach(
    const std::function<void(BlobType, const Hash&, const std::string&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : blobs_) fn(k.first, k.second, v);
}

size_t MemoryBlobStore::blob_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return blobs_.size();
}

size_t MemoryBlobStore::blob_count(BlobType type) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [k, v] : blobs_) n += k.first == type;
  return n;
}

uint64_t MemoryBlobStore::byte_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace kloset
