// BlobStore: the seam between content-addressed blobs and the code that
// builds or reads trees and files. Repository implements it over packs on a
// Remote; tests use MemoryBlobStore (core/memory_blob_store.h).
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

enum class BlobType : uint8_t { kData = 1, kTree = 2 };

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // The blob id of `plaintext` (keyed BLAKE2b-256).
  virtual Hash HashBlob(std::string_view plaintext) const = 0;
  // Stores a blob unless one with this id is already stored or pending.
  // `id` must be HashBlob(plaintext). *added (optional) tells whether new
  // bytes were queued; *stored_bytes (optional) the encrypted size added.
  // The blob is durable only after Flush() returns OK.
  virtual Status SaveBlob(BlobType type, const Hash& id, std::string_view plaintext,
                          bool* added = nullptr, uint64_t* stored_bytes = nullptr) = 0;
  // Whether a blob is stored or pending.
  virtual bool HasBlob(BlobType type, const Hash& id) const = 0;
  // Reads, decrypts and decompresses a blob. kNotFound if no index knows it;
  // kCorrupt if its bytes fail to authenticate; remote errors pass through.
  virtual Status LoadBlob(BlobType type, const Hash& id, std::string* plaintext) = 0;
  // Loads several blobs of one type: (*plaintexts)[i] and (*statuses)[i]
  // are what LoadBlob(type, ids[i]) would give (ids may repeat). A store may
  // fetch blobs lying next to each other in one request; the caller bounds
  // the memory by the size of the batch. The default calls LoadBlob per id.
  virtual void LoadBlobs(BlobType type, const std::vector<Hash>& ids,
                         std::vector<std::string>* plaintexts, std::vector<Status>* statuses) {
    plaintexts->assign(ids.size(), std::string());
    statuses->assign(ids.size(), Status::OK());
    for (size_t i = 0; i < ids.size(); i++) (*statuses)[i] = LoadBlob(type, ids[i], &(*plaintexts)[i]);
  }
  // The plaintext size of a stored blob without reading it; kNotFound if unknown.
  virtual Status BlobSize(BlobType type, const Hash& id, uint64_t* size) const = 0;
  // Writes out pending packs and the index covering them. After OK every blob
  // saved before the call is durable and findable by a fresh Open.
  virtual Status Flush() = 0;
};

}  // namespace kloset
