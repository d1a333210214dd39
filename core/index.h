// The blob index: which blob lives where (docs/FORMAT.md, "Indexes").
//
// Index object body:
//   u8 version (1) || varint pack_count ||
//   pack_count × ( H pack id || varint blob_count ||
//                  blob_count × ( u8 type || u8 compression || H id ||
//                                 varint offset || varint stored_size || varint raw_size ) )
//
// MemIndex is the in-memory union of every index object loaded plus the packs
// uploaded by this process. It is not thread-safe: Repository guards it with
// its index mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/blob_store.h"
#include "core/compress.h"
#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

constexpr uint32_t kNoPack = UINT32_MAX;

struct IndexEntry {
  Hash id{};
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;
  uint32_t pack = 0;         // index into Repository's pack table (kNoPack: unknown)
  uint64_t offset = 0;       // of the sealed blob within the pack
  uint32_t stored_size = 0;  // sealed bytes (incl. nonce and tag)
  uint32_t raw_size = 0;     // plaintext bytes
};

// One pack's worth of index entries (the `pack` field of blobs is unused).
struct PackRecord {
  Hash pack_id{};
  std::vector<IndexEntry> blobs;
};

// Checks the fields every stored blob description must satisfy (type,
// compression, sizes, stored_size vs raw_size for uncompressed blobs).
// Returns an empty string when fine, else what is wrong.
std::string CheckBlobEntry(const IndexEntry& e);

void EncodeIndexBody(const std::vector<PackRecord>& packs, std::string* out);
// kCorrupt for malformed bodies, unknown version, out-of-range fields,
// overlapping or unordered blob ranges within a pack, or trailing bytes.
Status DecodeIndexBody(std::string_view body, std::vector<PackRecord>* packs);

// Blob ids and object ids are BLAKE2b outputs: their first bytes are
// already uniform, so they serve as the hash.
struct HashHasher {
  size_t operator()(const Hash& h) const {
    size_t v;
    static_assert(sizeof(v) <= sizeof(Hash));
    __builtin_memcpy(&v, h.data(), sizeof(v));
    return v;
  }
};

struct BlobKey {
  Hash id;
  BlobType type;
  bool operator==(const BlobKey& o) const { return type == o.type && id == o.id; }
};
struct BlobKeyHash {
  size_t operator()(const BlobKey& k) const {
    return HashHasher()(k.id) ^ static_cast<size_t>(k.type);
  }
};

class MemIndex {
 public:
  // Adds a pack and its blobs; returns the pack's number. Adding a known
  // pack again merges its blobs into the existing number. A blob already
  // known (e.g. stored twice by concurrent backups) keeps its first location.
  uint32_t AddPack(const Hash& pack_id, const std::vector<IndexEntry>& blobs);
  // False if unknown.
  bool Find(const Hash& id, BlobType type, IndexEntry* out) const;
  bool Contains(const Hash& id, BlobType type) const;
  bool FindPack(const Hash& pack_id, uint32_t* pack) const;
  size_t PackCount() const { return packs_.size(); }
  const Hash& PackId(uint32_t pack) const { return packs_[pack].id; }
  // Whether the pack holds tree blobs (tree packs are cached whole).
  bool PackHasTrees(uint32_t pack) const { return packs_[pack].has_trees; }
  size_t BlobCount() const { return blobs_.size(); }
  void ForEach(const std::function<void(const IndexEntry&)>& fn) const;

 private:
  struct PackInfo {
    Hash id;
    bool has_trees;
  };
  std::vector<PackInfo> packs_;
  // The key holds id and type, so the value is only the location (24 bytes).
  struct Loc {
    uint64_t offset;
    uint32_t pack, stored_size, raw_size;
    Compression compression;
  };
  std::unordered_map<Hash, uint32_t, HashHasher> pack_numbers_;
  std::unordered_map<BlobKey, Loc, BlobKeyHash> blobs_;
};

}  // namespace kloset
