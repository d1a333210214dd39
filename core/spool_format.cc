#include "core/spool_format.h"

#include <cstring>

#include "core/encoding.h"
#include "core/pack.h"

namespace kloset {

namespace {

constexpr char kSpoolMagic[4] = {'K', 'L', 'S', 'P'};
constexpr uint32_t kSpoolVersion = 1;
constexpr char kSpoolLabel[] = "kloset.spool";
constexpr uint8_t kKindBlob = 1;
constexpr uint8_t kKindEnd = 2;
// Largest encoded pack-header entry: type, compression, id, two 5-byte varints.
constexpr uint64_t kMaxHeaderEntry = 1 + 1 + 32 + 5 + 5;

std::string RecordAad(std::string_view header, uint64_t offset) {
  std::string aad(kSpoolLabel);
  aad.append(header.data(), header.size());
  PutFixed64(&aad, offset);
  return aad;
}

std::string EncodeRecord(const Key& local_key, std::string_view header, uint64_t offset,
                         uint8_t kind, BlobType type, Compression c, const Hash& id,
                         uint32_t payload_size, uint32_t raw_size) {
  std::string meta;
  PutU8(&meta, kind);
  PutU8(&meta, static_cast<uint8_t>(type));
  PutU8(&meta, static_cast<uint8_t>(c));
  PutHash(&meta, id);
  PutFixed32(&meta, payload_size);
  PutFixed32(&meta, raw_size);
  std::string out;
  out.reserve(kSpoolRecordOverhead);
  PutFixed32(&out, static_cast<uint32_t>(kSpoolMetaSize + kSealOverhead + payload_size));
  Seal(local_key, meta, RecordAad(header, offset), &out);
  return out;
}

bool ValidType(uint8_t t) {
  return t == static_cast<uint8_t>(BlobType::kData) || t == static_cast<uint8_t>(BlobType::kTree);
}

}  // namespace

std::string EncodeSpoolHeader(const SpoolHeader& h) {
  std::string out(kSpoolMagic, 4);
  PutFixed32(&out, kSpoolVersion);
  out.append(reinterpret_cast<const char*>(h.store_id.data()), h.store_id.size());
  PutU8(&out, static_cast<uint8_t>(h.type));
  out.append(reinterpret_cast<const char*>(h.file_id.data()), h.file_id.size());
  return out;
}

Status ParseSpoolHeader(std::string_view file, SpoolHeader* h) {
  if (file.size() < kSpoolHeaderSize) {
    return Status::Corrupt("spool file too short (" + std::to_string(file.size()) + " bytes)");
  }
  if (std::memcmp(file.data(), kSpoolMagic, 4) != 0) {
    return Status::Corrupt("not a spool file (bad magic)");
  }
  std::string_view in = file.substr(4);
  uint32_t version;
  (void)GetFixed32(&in, &version);
  if (version != kSpoolVersion) {
    return Status::Version("spool file version " + std::to_string(version) +
                           ", this klosetfs reads " + std::to_string(kSpoolVersion));
  }
  std::memcpy(h->store_id.data(), in.data(), h->store_id.size());
  in.remove_prefix(h->store_id.size());
  uint8_t type;
  (void)GetU8(&in, &type);
  if (!ValidType(type)) return Status::Corrupt("spool file of unknown blob type");
  h->type = static_cast<BlobType>(type);
  std::memcpy(h->file_id.data(), in.data(), h->file_id.size());
  return Status::OK();
}

std::string EncodeSpoolBlobRecord(const Key& local_key, std::string_view header, uint64_t offset,
                                  BlobType type, const Hash& id, Compression c,
                                  uint32_t stored_size, uint32_t raw_size) {
  return EncodeRecord(local_key, header, offset, kKindBlob, type, c, id, stored_size, raw_size);
}

std::string EncodeSpoolEndRecord(const Key& local_key, std::string_view header, uint64_t offset,
                                 BlobType type, const Hash& pack_id, uint32_t tail_size) {
  return EncodeRecord(local_key, header, offset, kKindEnd, type, Compression::kNone, pack_id,
                      tail_size, 0);
}

void ParseSpoolRecords(const Key& local_key, const Key& data_key, std::string_view file,
                       SpoolRecords* out) {
  *out = SpoolRecords();
  SpoolHeader h;
  if (!ParseSpoolHeader(file, &h).ok()) return;
  const std::string_view header = file.substr(0, kSpoolHeaderSize);
  uint64_t pos = kSpoolHeaderSize;
  out->valid_bytes = pos;
  std::string meta, plain;
  while (file.size() - pos >= kSpoolRecordOverhead) {
    std::string_view in = file.substr(pos);
    uint32_t len;
    (void)GetFixed32(&in, &len);
    const size_t sealed_meta = kSpoolMetaSize + kSealOverhead;
    if (len < sealed_meta || len - sealed_meta > in.size() - sealed_meta) return;  // torn
    meta.clear();
    if (!Open(local_key, in.substr(0, sealed_meta), RecordAad(header, pos), &meta).ok()) return;
    std::string_view m = meta;
    uint8_t kind, type, comp;
    IndexEntry e;
    uint32_t payload_size, raw_size;
    (void)GetU8(&m, &kind);
    (void)GetU8(&m, &type);
    (void)GetU8(&m, &comp);
    (void)GetHash(&m, &e.id);
    (void)GetFixed32(&m, &payload_size);
    (void)GetFixed32(&m, &raw_size);
    if (payload_size != len - sealed_meta || type != static_cast<uint8_t>(h.type)) return;
    const uint64_t payload_offset = pos + 4 + sealed_meta;
    std::string_view payload = in.substr(sealed_meta, payload_size);
    if (kind == kKindEnd) {
      uint64_t max_tail = 64 + kMaxHeaderEntry * out->blobs.size();
      if (out->blobs.empty() || payload_size < kPackTrailerSize + kSealOverhead ||
          payload_size > max_tail) {
        return;
      }
      out->ended = true;
      out->pack_id = e.id;
      out->tail_offset = payload_offset;
      out->tail_size = payload_size;
      out->valid_bytes = payload_offset + payload_size;
      return;  // nothing may follow the end of the pack
    }
    if (kind != kKindBlob) return;
    e.type = h.type;
    e.compression = static_cast<Compression>(comp);
    e.pack = kNoPack;
    e.offset = payload_offset;
    e.stored_size = payload_size;
    e.raw_size = raw_size;
    if (!CheckBlobEntry(e).empty()) return;
    // The blob's own seal tells a whole payload from a torn or stale one.
    plain.clear();
    if (!Open(data_key, payload, BlobAad(e.type, e.id), &plain).ok()) return;
    out->blobs.push_back(e);
    pos = payload_offset + payload_size;
    out->valid_bytes = pos;
  }
}

}  // namespace kloset
