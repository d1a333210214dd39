// Packfiles (docs/FORMAT.md, "Blobs and packs"):
//
//   blob_0 || ... || blob_n-1 || seal("kloset.packheader", header) || u32 len(sealed header) ||
//   "KLPK" header: u8 version (1) || varint n ||
//           n × ( u8 type || u8 compression || H id || varint stored_size || varint raw_size )
//
// Each blob is seal("kloset.blob" || u8 type || H id, payload), payload being
// the plaintext or its zstd frame. A pack is named by BLAKE2b-256 of its bytes.
//
// Thread safety: the free functions are pure; a PackWriter is used by one
// thread at a time (Repository serializes access).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/blob_store.h"
#include "core/compress.h"
#include "core/crypto.h"
#include "core/index.h"
#include "remotes/status.h"

namespace kloset {

constexpr size_t kPackTrailerSize = 8;  // u32 len || "KLPK"

// The AAD binding a sealed blob to its type and id.
std::string BlobAad(BlobType type, const Hash& id);

// Compresses (when it saves >= 1/64) and seals one blob. Appends the sealed
// bytes to *sealed and returns the compression used.
Compression SealBlob(const Key& data_key, BlobType type, const Hash& id, std::string_view plaintext,
                     int level, std::string* sealed);
// Opens and decompresses one sealed blob described by `e`. kCorrupt when it
// does not authenticate or does not decompress to e.raw_size bytes; the
// message is a verb phrase ("does not authenticate") for "blob X in pack Y ...".
Status OpenBlob(const Key& data_key, const IndexEntry& e, std::string_view sealed,
                std::string* plaintext);

// The header body (plaintext) for `blobs`, in pack order.
void EncodePackHeader(const std::vector<IndexEntry>& blobs, std::string* out);
// Decodes a header body; sets offsets as running sums of stored sizes and
// `pack` to kNoPack. kCorrupt on anything malformed.
Status DecodePackHeader(std::string_view body, std::vector<IndexEntry>* blobs);
// Parses a whole pack: trailer, sealed header, and checks that the blobs
// exactly fill the bytes before the header. kCorrupt on anything wrong.
Status ParsePack(const Key& data_key, std::string_view pack, std::vector<IndexEntry>* blobs);

// Accumulates sealed blobs into one pack.
class PackWriter {
 public:
  explicit PackWriter(BlobType type) : type_(type) {}
  BlobType type() const { return type_; }
  // Appends a sealed blob; returns the entry describing it (pack = kNoPack).
  IndexEntry Add(const Hash& id, Compression c, std::string_view sealed, uint32_t raw_size);
  // Bytes of blobs so far (excluding the header still to come).
  size_t size() const { return data_.size(); }
  size_t count() const { return blobs_.size(); }
  bool finished() const { return finished_; }
  // Appends the sealed header and trailer. After this data() is the whole
  // pack; Add must not be called again.
  void Finish(const Key& data_key);
  const std::string& data() const { return data_; }
  const std::vector<IndexEntry>& blobs() const { return blobs_; }
  // Frees the bytes (after upload); blobs() stay.
  void ReleaseData() { std::string().swap(data_); }

 private:
  BlobType type_;
  bool finished_ = false;
  std::string data_;
  std::vector<IndexEntry> blobs_;
};

}  // namespace kloset
