// Repository: an open Kloset store. Owns the Remote, the keys, the in-memory
// index of blobs, the packers that group new blobs into packfiles, and the
// local cache of encrypted metadata objects. Implements BlobStore.
//
// Object layout on the remote (byte layouts in docs/FORMAT.md):
//   config                 plaintext header (magic, version, store id) + sealed settings
//   keys/<hex>             key slots: Argon2id params + salt + wrapped master key
//   packs/<hh>/<hex>       packfiles: sealed blobs + sealed header; name = BLAKE2b of bytes
//   index/<hh>/<hex>       sealed indexes: which blob is where
//   snapshots/<hex>        sealed snapshot descriptions
//   locks/<hex>            sealed lock records (see docs/FORMAT.md, "Locking")
// Write order is packs, then the index naming them, then the snapshot naming
// trees in them, so no reader ever finds a reference to a missing object
// written by a completed operation.
//
// Thread safety: every public method may be called from many threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/blob_store.h"
#include "core/chunker.h"
#include "core/compress.h"
#include "core/crypto.h"
#include "remotes/remote.h"

namespace kloset {

constexpr uint32_t kFormatVersion = 1;

struct StoreConfig {
  uint32_t version = kFormatVersion;
  std::array<uint8_t, 16> store_id{};  // random, names the cache folder
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;       // target packfile size in bytes
  int compression_level = 3;           // zstd level for blobs
  int64_t created_ns = 0;
  std::string StoreIdHex() const { return ToHex(store_id.data(), store_id.size()); }
};

struct InitOptions {
  KdfParams kdf;
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;
  int compression_level = 3;
  std::string key_label;  // e.g. "user@host", shown by `key list`
};

struct OpenOptions {
  std::string cache_dir;  // empty: $XDG_CACHE_HOME/klosetfs (or ~/.cache/klosetfs)
  bool no_cache = false;  // --no-cache
  int transfers = 0;      // parallel uploads; 0 = remote's MaxParallel()
};

struct IndexEntry {
  Hash id{};
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;
  uint32_t pack = 0;          // index into Repository::packs()
  uint64_t offset = 0;        // of the sealed blob within the pack
  uint32_t stored_size = 0;   // sealed bytes (incl. nonce and tag)
  uint32_t raw_size = 0;      // plaintext bytes
};

struct KeyInfo {
  std::string id;      // hex name under keys/
  std::string label;
  int64_t created_ns = 0;
  bool current = false;  // the slot that opened this session
};

struct RepoStats {
  std::atomic<uint64_t> blobs_added{0}, bytes_added_raw{0}, bytes_added_stored{0};
  std::atomic<uint64_t> packs_written{0}, bytes_uploaded{0}, bytes_downloaded{0};
};

class Repository : public BlobStore {
 public:
  // Creates a store on an empty remote (kExists if a config is there).
  static Status Init(std::unique_ptr<Remote> remote, std::string_view passphrase,
                     const InitOptions& opts, std::unique_ptr<Repository>* out);
  // Opens a store: reads config (kVersion if newer), unlocks a key slot
  // (kWrongPassword if none opens, kCorrupt if a slot is damaged and no other
  // opens), loads the index (from the cache where possible).
  static Status Open(std::unique_ptr<Remote> remote, std::string_view passphrase,
                     const OpenOptions& opts, std::unique_ptr<Repository>* out);
  ~Repository() override;

  // BlobStore
  Hash HashBlob(std::string_view plaintext) const override;
  Status SaveBlob(BlobType type, const Hash& id, std::string_view plaintext, bool* added,
                  uint64_t* stored_bytes) override;
  bool HasBlob(BlobType type, const Hash& id) const override;
  Status LoadBlob(BlobType type, const Hash& id, std::string* plaintext) override;
  Status BlobSize(BlobType type, const Hash& id, uint64_t* size) const override;
  Status Flush() override;

  const StoreConfig& config() const;
  const GearTable& gear() const;
  Remote* remote() const;
  RepoStats& stats();

  // Reads indexes written since Open (by other processes or hosts).
  Status RefreshIndex();
  // Index inspection for check. fn is called under no lock held by the caller.
  void ForEachBlob(const std::function<void(const IndexEntry&)>& fn) const;
  Status LookupBlob(const Hash& id, BlobType type, IndexEntry* out) const;
  Hash PackId(uint32_t pack) const;
  size_t PackCount() const;
  // Names of the index objects loaded (for check).
  std::vector<std::string> IndexObjects() const;

  // Sealed standalone objects (snapshots, locks). `dir` is "snapshots" or
  // "locks"; `label` is the AAD domain. The object is named by the
  // BLAKE2b-256 of its stored bytes; *id receives it.
  Status SaveObject(const std::string& dir, std::string_view label, std::string_view plaintext,
                    Hash* id);
  // Loads and opens `name`, verifying its name against its bytes.
  Status LoadObject(const std::string& name, std::string_view label, std::string* plaintext);

  // Key slots.
  Status AddKey(std::string_view passphrase, const KdfParams& kdf, const std::string& label,
                std::string* key_id);
  Status ListKeys(std::vector<KeyInfo>* keys);
  // Refuses (kInvalidArgument) to remove the slot in use or the last slot.
  Status RemoveKey(const std::string& key_id_prefix);

  // Parses sealed pack header of a whole pack (check --read-data).
  Status ReadPackHeader(const std::string& pack_bytes, std::vector<IndexEntry>* entries) const;

  struct Impl;

 private:
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Object names.
std::string PackName(const Hash& id);    // packs/<hh>/<hex>
std::string IndexName(const Hash& id);   // index/<hh>/<hex>
std::string SnapshotName(const Hash& id);  // snapshots/<hex>

}  // namespace kloset
