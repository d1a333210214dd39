#include "core/index.h"

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
  for (const IndexEntry& e : blobs) {
    if (e.type == BlobType::kTree) packs_[n].has_trees = true;
    blobs_.try_emplace(BlobKey{e.id, e.type},
                       Loc{e.offset, n, e.stored_size, e.raw_size, e.compression});
  }
  return n;
}

bool MemIndex::Find(const Hash& id, BlobType type, IndexEntry* out) const {
  auto it = blobs_.find(BlobKey{id, type});
  if (it == blobs_.end()) return false;
  const Loc& l = it->second;
  *out = IndexEntry{id, type, l.compression, l.pack, l.offset, l.stored_size, l.raw_size};
  return true;
}

bool MemIndex::Contains(const Hash& id, BlobType type) const {
  return blobs_.count(BlobKey{id, type}) != 0;
}

bool MemIndex::FindPack(const Hash& pack_id, uint32_t* pack) const {
  auto it = pack_numbers_.find(pack_id);
  if (it == pack_numbers_.end()) return false;
  *pack = it->second;
  return true;
}

void MemIndex::ForEach(const std::function<void(const IndexEntry&)>& fn) const {
  for (const auto& [k, l] : blobs_) {
    fn(IndexEntry{k.id, k.type, l.compression, l.pack, l.offset, l.stored_size, l.raw_size});
  }
}

}  // namespace kloset
