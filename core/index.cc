#include "core/index.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

#include "core/config_object.h"
#include "core/encoding.h"

namespace kloset {

namespace {

constexpr uint8_t kIndexVersion = 1;
// The smallest encodings, used to bound counts by the bytes left so that a
// hostile count cannot make us reserve memory the input does not back.
constexpr size_t kMinPackRecord = 32 + 1;
constexpr size_t kMinBlobRecord = 1 + 1 + 32 + 1 + 1 + 1;

}  // namespace

std::string CheckBlobEntry(const IndexEntry& e) {
  if (e.type != BlobType::kData && e.type != BlobType::kTree) {
    return "unknown blob type " + std::to_string(static_cast<int>(e.type));
  }
  if (e.compression != Compression::kNone && e.compression != Compression::kZstd) {
    return "unknown compression " + std::to_string(static_cast<int>(e.compression));
  }
  if (e.stored_size < kSealOverhead || e.stored_size > kMaxBlobSize + kSealOverhead) {
    return "stored size " + std::to_string(e.stored_size) + " out of range";
  }
  if (e.raw_size > kMaxBlobSize) return "raw size " + std::to_string(e.raw_size) + " out of range";
  uint32_t payload = e.stored_size - static_cast<uint32_t>(kSealOverhead);
  if (e.compression == Compression::kNone && payload != e.raw_size) {
    return "uncompressed blob with stored size " + std::to_string(e.stored_size) +
           " and raw size " + std::to_string(e.raw_size);
  }
  if (e.compression == Compression::kZstd && (payload == 0 || e.raw_size == 0)) {
    return "compressed blob with zero size";
  }
  return "";
}

void EncodeIndexBody(const std::vector<PackRecord>& packs, std::string* out) {
  PutU8(out, kIndexVersion);
  PutVarint(out, packs.size());
  for (const PackRecord& p : packs) {
    PutHash(out, p.pack_id);
    PutVarint(out, p.blobs.size());
    for (const IndexEntry& e : p.blobs) {
      PutU8(out, static_cast<uint8_t>(e.type));
      PutU8(out, static_cast<uint8_t>(e.compression));
      PutHash(out, e.id);
      PutVarint(out, e.offset);
      PutVarint(out, e.stored_size);
      PutVarint(out, e.raw_size);
    }
  }
}

Status DecodeIndexBody(std::string_view in, std::vector<PackRecord>* packs) {
  auto bad = [](const std::string& why) { return Status::Corrupt("index malformed: " + why); };
  uint8_t version;
  if (!GetU8(&in, &version)) return bad("empty");
  if (version == 0) return bad("version 0");
  if (version > kIndexVersion) {
    return Status::Version("index version " + std::to_string(version) + " is not understood");
  }
  uint64_t pack_count;
  if (!GetVarint(&in, &pack_count)) return bad("truncated pack count");
  if (pack_count > in.size() / kMinPackRecord) return bad("pack count exceeds the data");
  std::vector<PackRecord> out(pack_count);
  for (PackRecord& p : out) {
    uint64_t blob_count;
    if (!GetHash(&in, &p.pack_id) || !GetVarint(&in, &blob_count)) return bad("truncated pack");
    if (blob_count == 0) return bad("pack with no blobs");
    if (blob_count > in.size() / kMinBlobRecord) return bad("blob count exceeds the data");
    p.blobs.resize(blob_count);
    uint64_t end = 0;  // of the previous blob: blobs are listed in pack order
    for (IndexEntry& e : p.blobs) {
      uint8_t type, comp;
      if (!GetU8(&in, &type) || !GetU8(&in, &comp) || !GetHash(&in, &e.id) ||
          !GetVarint(&in, &e.offset) || !GetVarint32(&in, &e.stored_size) ||
          !GetVarint32(&in, &e.raw_size)) {
        return bad("truncated blob entry");
      }
      e.type = static_cast<BlobType>(type);
      e.compression = static_cast<Compression>(comp);
      e.pack = kNoPack;
      std::string why = CheckBlobEntry(e);
      if (!why.empty()) return bad("blob " + ToHex(e.id) + ": " + why);
      if (e.offset < end || e.offset > (uint64_t{1} << 40)) {
        return bad("blob " + ToHex(e.id) + ": offset " + std::to_string(e.offset) +
                   " overlaps or is out of range");
      }
      end = e.offset + e.stored_size;
    }
  }
  if (!in.empty()) return bad(std::to_string(in.size()) + " trailing bytes");
  *packs = std::move(out);
  return Status::OK();
}

IndexEntry MemIndex::Entry::Get() const {
  return IndexEntry{
      id, type, compression, pack, (uint64_t{offset_hi} << 32) | offset_lo, stored_size, raw_size};
}

const MemIndex::Entry* MemIndex::Probe(const Hash& id, BlobType type, size_t* pos,
                                       uint32_t* tag_word) const {
  // Ids are uniform already; the salt puts a tree blob elsewhere than the
  // data blob of the same id.
  uint64_t h;
  __builtin_memcpy(&h, id.data(), sizeof(h));
  if (type == BlobType::kTree) h ^= 0x9E3779B97F4A7C15ull;
  const size_t size = table_.size();
  const int tag_bits = 32 - slot_bits_;
  *tag_word = tag_bits == 0 ? 0 : static_cast<uint32_t>(h >> (64 - tag_bits)) << slot_bits_;
  const uint32_t slot_mask = static_cast<uint32_t>((uint64_t{1} << slot_bits_) - 1);
  // The low 32 bits pick the start (multiply-shift: any table size works),
  // the tag comes from the top bits, so the two are independent.
  size_t i = static_cast<size_t>(((h & 0xffffffffu) * size) >> 32);
  for (;;) {
    const uint32_t w = table_[i];
    if (w == 0) break;
    if ((w & ~slot_mask) == *tag_word) {
      const Entry& e = At((w & slot_mask) - 1);
      if (e.id == id && e.type == type) {
        *pos = i;
        return &e;
      }
    }
    if (++i == size) i = 0;
  }
  *pos = i;
  return nullptr;
}

void MemIndex::Grow() {
  // 1.5 times larger when more than 7/8 full: 4.6 to 6.9 bytes per blob.
  // Words hold slot + 1 in slot_bits_ <= 32 bits, so at most 2^32 - 1 words
  // (3.7 billion blobs, 200 GB of entries: not a store this daemon opens).
  uint64_t size = std::max<uint64_t>(64, table_.size() + table_.size() / 2);
  if (size > UINT32_MAX) {
    if (table_.size() == UINT32_MAX) std::abort();
    size = UINT32_MAX;
  }
  // Freed before the new one is made: it is rebuilt from the entries alone,
  // so growing never holds two tables.
  std::vector<uint32_t>().swap(table_);
  table_.assign(size, 0);
  slot_bits_ = std::bit_width(size);
  for (uint32_t slot = 0; slot < count_; slot++) {
    const Entry& e = At(slot);
    size_t pos;
    uint32_t tag_word;
    Probe(e.id, e.type, &pos, &tag_word);  // ids are unique: ends at an empty word
    table_[pos] = tag_word | (slot + 1);
  }
}

uint32_t MemIndex::AddPack(const Hash& pack_id, const std::vector<IndexEntry>& blobs) {
  uint32_t n;
  auto it = pack_numbers_.find(pack_id);
  if (it != pack_numbers_.end()) {
    n = it->second;
  } else {
    n = static_cast<uint32_t>(packs_.size());
    packs_.push_back({pack_id, false});
    pack_numbers_.emplace(pack_id, n);
  }
  if (table_.empty() && !blobs.empty()) Grow();
  for (const IndexEntry& e : blobs) {
    if (e.type == BlobType::kTree) packs_[n].has_trees = true;
    size_t pos;
    uint32_t tag_word;
    if (Probe(e.id, e.type, &pos, &tag_word)) continue;  // the first location stays
    if ((uint64_t{count_} + 1) * 8 > uint64_t{table_.size()} * 7) {
      Grow();
      Probe(e.id, e.type, &pos, &tag_word);
    }
    const uint32_t slot = count_;
    if (slot == blocks_.size() * kBlockEntries) {
      blocks_.push_back(std::make_unique_for_overwrite<Entry[]>(kBlockEntries));
    }
    blocks_[slot >> kBlockShift][slot & (kBlockEntries - 1)] =
        Entry{e.id,
              n,
              static_cast<uint32_t>(e.offset),
              e.stored_size,
              e.raw_size,
              static_cast<uint16_t>(e.offset >> 32),
              e.type,
              e.compression};
    table_[pos] = tag_word | (slot + 1);
    count_++;
  }
  return n;
}

bool MemIndex::Find(const Hash& id, BlobType type, IndexEntry* out) const {
  if (table_.empty()) return false;
  size_t pos;
  uint32_t tag_word;
  const Entry* e = Probe(id, type, &pos, &tag_word);
  if (e) *out = e->Get();
  return e != nullptr;
}

bool MemIndex::Contains(const Hash& id, BlobType type) const {
  size_t pos;
  uint32_t tag_word;
  return !table_.empty() && Probe(id, type, &pos, &tag_word) != nullptr;
}

bool MemIndex::FindPack(const Hash& pack_id, uint32_t* pack) const {
  auto it = pack_numbers_.find(pack_id);
  if (it == pack_numbers_.end()) return false;
  *pack = it->second;
  return true;
}

void MemIndex::ForEach(const std::function<void(const IndexEntry&)>& fn) const {
  for (uint32_t slot = 0; slot < count_; slot++) fn(At(slot).Get());
}

}  // namespace kloset
