// The blob index: which blob lives where (docs/FORMAT.md, "Indexes").
//
// Index object body:
//   u8 version (1) || varint pack_count ||
//   pack_count × ( H pack id || varint blob_count ||
//                  blob_count × ( u8 type || u8 compression || H id ||
//                                 varint offset || varint stored_size || varint raw_size ) )
//
// MemIndex is the in-memory union of every index object loaded plus the packs
// uploaded by this process, about 58 bytes per blob (a mount may hold
// millions). It is not thread-safe: Repository guards it with its index
// mutex; the const methods may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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
  // Offsets must be below 2^48 (index bodies allow up to 2^40).
  uint32_t AddPack(const Hash& pack_id, const std::vector<IndexEntry>& blobs);
  // False if unknown.
  bool Find(const Hash& id, BlobType type, IndexEntry* out) const;
  bool Contains(const Hash& id, BlobType type) const;
  bool FindPack(const Hash& pack_id, uint32_t* pack) const;
  size_t PackCount() const { return packs_.size(); }
  const Hash& PackId(uint32_t pack) const { return packs_[pack].id; }
  // Whether the pack holds tree blobs (tree packs are cached whole).
  bool PackHasTrees(uint32_t pack) const { return packs_[pack].has_trees; }
  size_t BlobCount() const { return count_; }
  // In the order the blobs were added.
  void ForEach(const std::function<void(const IndexEntry&)>& fn) const;

 private:
  struct PackInfo {
    Hash id;
    bool has_trees;
  };
  // A blob as stored: 52 bytes (a hash map's node and bucket took ~100).
  struct Entry {
    Hash id;
    uint32_t pack;
    uint32_t offset_lo;
    uint32_t stored_size;
    uint32_t raw_size;
    uint16_t offset_hi;
    BlobType type;
    Compression compression;
    IndexEntry Get() const;
  };
  static_assert(sizeof(Entry) == 52);
  // Entries live in blocks of fixed size that never move, so growing never
  // copies them nor holds two copies at once (as a reallocating vector would).
  static constexpr int kBlockShift = 10;
  static constexpr uint32_t kBlockEntries = uint32_t{1} << kBlockShift;

  const Entry& At(uint32_t slot) const {
    return blocks_[slot >> kBlockShift][slot & (kBlockEntries - 1)];
  }
  // The entry of (id, type), or null. *pos: the table word that holds it, or
  // the empty one where it would go; *tag_word: that word's tag part. The
  // table must not be empty.
  const Entry* Probe(const Hash& id, BlobType type, size_t* pos, uint32_t* tag_word) const;
  void Grow();

  std::vector<PackInfo> packs_;
  std::unordered_map<Hash, uint32_t, HashHasher> pack_numbers_;
  std::vector<std::unique_ptr<Entry[]>> blocks_;
  uint32_t count_ = 0;  // entries in use: slots 0 .. count_-1
  // Open addressing with linear probing. A word is 0 (empty) or
  // tag << slot_bits_ | (slot + 1): slot + 1 <= count_ < table_.size() <=
  // 2^slot_bits_, and the other 32 - slot_bits_ bits hold hash bits not used
  // for the position, so most probes of other blobs never touch their entry.
  std::vector<uint32_t> table_;
  int slot_bits_ = 0;
};

}  // namespace kloset
