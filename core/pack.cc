#include "core/pack.h"

#include <cstring>

#include "core/encoding.h"

namespace kloset {

namespace {

constexpr uint8_t kPackHeaderVersion = 1;
constexpr char kPackMagic[4] = {'K', 'L', 'P', 'K'};
constexpr char kPackHeaderLabel[] = "kloset.packheader";
constexpr char kBlobLabel[] = "kloset.blob";
constexpr size_t kMinHeaderEntry = 1 + 1 + 32 + 1 + 1;

}  // namespace

std::string BlobAad(BlobType type, const Hash& id) {
  std::string aad(kBlobLabel);
  aad.push_back(static_cast<char>(type));
  aad.append(reinterpret_cast<const char*>(id.data()), id.size());
  return aad;
}

Compression SealBlob(const Key& data_key, BlobType type, const Hash& id, std::string_view plaintext,
                     int level, std::string* sealed) {
  std::string compressed;
  Compression c = Compress(plaintext, level, &compressed);
  Seal(data_key, c == Compression::kZstd ? std::string_view(compressed) : plaintext,
       BlobAad(type, id), sealed);
  return c;
}

Status OpenBlob(const Key& data_key, const IndexEntry& e, std::string_view sealed,
                std::string* plaintext) {
  std::string payload;
  if (!Open(data_key, sealed, BlobAad(e.type, e.id), &payload).ok()) {
    return Status::Corrupt("does not authenticate");
  }
  if (e.compression == Compression::kNone) {
    if (payload.size() != e.raw_size) return Status::Corrupt("has the wrong size");
    *plaintext = std::move(payload);
    return Status::OK();
  }
  Status s = Decompress(e.compression, payload, e.raw_size, plaintext);
  if (!s.ok()) return Status::Corrupt("does not decompress (" + s.message() + ")");
  return Status::OK();
}

void EncodePackHeader(const std::vector<IndexEntry>& blobs, std::string* out) {
  PutU8(out, kPackHeaderVersion);
  PutVarint(out, blobs.size());
  for (const IndexEntry& e : blobs) {
    PutU8(out, static_cast<uint8_t>(e.type));
    PutU8(out, static_cast<uint8_t>(e.compression));
    PutHash(out, e.id);
    PutVarint(out, e.stored_size);
    PutVarint(out, e.raw_size);
  }
}

Status DecodePackHeader(std::string_view in, std::vector<IndexEntry>* blobs) {
  auto bad = [](const std::string& why) {
    return Status::Corrupt("pack header malformed: " + why);
  };
  uint8_t version;
  uint64_t n;
  if (!GetU8(&in, &version)) return bad("empty");
  if (version != kPackHeaderVersion) return bad("unknown version " + std::to_string(version));
  if (!GetVarint(&in, &n)) return bad("truncated blob count");
  if (n == 0) return bad("no blobs");
  if (n > in.size() / kMinHeaderEntry) return bad("blob count exceeds the data");
  std::vector<IndexEntry> out(n);
  uint64_t offset = 0;
  for (IndexEntry& e : out) {
    uint8_t type, comp;
    if (!GetU8(&in, &type) || !GetU8(&in, &comp) || !GetHash(&in, &e.id) ||
        !GetVarint32(&in, &e.stored_size) || !GetVarint32(&in, &e.raw_size)) {
      return bad("truncated entry");
    }
    e.type = static_cast<BlobType>(type);
    e.compression = static_cast<Compression>(comp);
    e.pack = kNoPack;
    e.offset = offset;
    std::string why = CheckBlobEntry(e);
    if (!why.empty()) return bad("blob " + ToHex(e.id) + ": " + why);
    offset += e.stored_size;
  }
  if (!in.empty()) return bad(std::to_string(in.size()) + " trailing bytes");
  *blobs = std::move(out);
  return Status::OK();
}

Status ParsePack(const Key& data_key, std::string_view pack, std::vector<IndexEntry>* blobs) {
  if (pack.size() < kPackTrailerSize + kSealOverhead) {
    return Status::Corrupt("pack too short (" + std::to_string(pack.size()) + " bytes)");
  }
  std::string_view trailer = pack.substr(pack.size() - kPackTrailerSize);
  if (std::memcmp(trailer.data() + 4, kPackMagic, 4) != 0) {
    return Status::Corrupt("pack trailer missing (truncated or not a pack)");
  }
  uint32_t len;
  (void)GetFixed32(&trailer, &len);
  size_t before_trailer = pack.size() - kPackTrailerSize;
  if (len < kSealOverhead || len > before_trailer) {
    return Status::Corrupt("pack header length " + std::to_string(len) + " out of range");
  }
  std::string body;
  if (!Open(data_key, pack.substr(before_trailer - len, len), kPackHeaderLabel, &body).ok()) {
    return Status::Corrupt("pack header does not authenticate");
  }
  std::vector<IndexEntry> out;
  KLOSET_RETURN_IF_ERROR(DecodePackHeader(body, &out));
  uint64_t blob_bytes = out.back().offset + out.back().stored_size;
  if (blob_bytes != before_trailer - len) {
    return Status::Corrupt("pack header describes " + std::to_string(blob_bytes) +
                           " blob bytes but the pack holds " +
                           std::to_string(before_trailer - len));
  }
  *blobs = std::move(out);
  return Status::OK();
}

IndexEntry PackWriter::Add(const Hash& id, Compression c, std::string_view sealed,
                           uint32_t raw_size) {
  IndexEntry e{id, type_, c, kNoPack, data_.size(), static_cast<uint32_t>(sealed.size()), raw_size};
  data_.append(sealed);
  blobs_.push_back(e);
  return e;
}

void PackWriter::Finish(const Key& data_key) {
  std::string header;
  EncodePackHeader(blobs_, &header);
  size_t before = data_.size();
  // Exactly what is appended: growing by doubling would keep a 32 MiB
  // buffer for a 16 MiB pack while it waits for its upload.
  data_.reserve(before + kSealOverhead + header.size() + 4 + 4);
  Seal(data_key, header, kPackHeaderLabel, &data_);
  PutFixed32(&data_, static_cast<uint32_t>(data_.size() - before));
  data_.append(kPackMagic, 4);
  finished_ = true;
}

}  // namespace kloset
