// The byte layout of pack spool files (docs/FORMAT.md, "Local files: the
// pack spool"): a header, then one record per blob appended to the pack, and
// a last record carrying the pack's tail once the pack is finished.
//
//   header: "KLSP" || u32 version (1) || store id (16) || u8 blob type || file id (16)
//   record at file offset o:
//     u32 len || seal(local key, "kloset.spool" || header || u64 o, meta(43)) || payload
//     meta: u8 kind || u8 blob type || u8 compression || H id || u32 payload len || u32 raw size
//
// Records are self-checking: the meta is sealed under the local key and
// bound to its file and offset, and a blob payload is the sealed blob itself
// (authenticated under the data key with the blob's type and id). So a
// reader finds exactly the records that were written whole, and stops at the
// first torn or damaged one.
//
// Thread safety: all functions are pure.
#pragma once

#include <array>
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

using StoreId = std::array<uint8_t, 16>;
using SpoolFileId = std::array<uint8_t, 16>;

constexpr size_t kSpoolHeaderSize = 4 + 4 + 16 + 1 + 16;
constexpr size_t kSpoolMetaSize = 1 + 1 + 1 + 32 + 4 + 4;
// u32 len and the sealed meta: what precedes every payload.
constexpr size_t kSpoolRecordOverhead = 4 + kSpoolMetaSize + kSealOverhead;

struct SpoolHeader {
  StoreId store_id{};
  BlobType type = BlobType::kData;  // of every blob in the file (one pack)
  SpoolFileId file_id{};            // random; the file is named <hex(file_id)>.spool
};

std::string EncodeSpoolHeader(const SpoolHeader& h);
// kCorrupt when `file` is shorter than a header, has another magic or an
// unknown blob type (a file torn while being created); kVersion for another
// spool version.
Status ParseSpoolHeader(std::string_view file, SpoolHeader* h);

// The bytes that precede the payload of a record at file offset `offset` of
// the file whose header bytes are `header`. The payload is written right
// after them. Blob records: `sealed` is the blob as stored in the pack.
std::string EncodeSpoolBlobRecord(const Key& local_key, std::string_view header, uint64_t offset,
                                  BlobType type, const Hash& id, Compression c,
                                  uint32_t stored_size, uint32_t raw_size);
// The pack-end record: payload = the pack's bytes after its blobs (sealed
// header, length, magic); pack_id = the pack's name.
std::string EncodeSpoolEndRecord(const Key& local_key, std::string_view header, uint64_t offset,
                                 BlobType type, const Hash& pack_id, uint32_t tail_size);

// What the intact prefix of a spool file holds.
struct SpoolRecords {
  // In file order; `offset` is the payload's offset in the file, `pack` is
  // kNoPack. Every entry passes CheckBlobEntry and its payload opens.
  std::vector<IndexEntry> blobs;
  bool ended = false;        // a pack-end record follows the blobs
  Hash pack_id{};            // with `ended`
  uint64_t tail_offset = 0;  // with `ended`: offset and size of its payload
  uint32_t tail_size = 0;
  uint64_t valid_bytes = 0;  // header plus intact records; the rest is dropped
};

// Reads the records of a file whose header parsed, up to the first torn or
// bad one (or the end record). Blob payloads are authenticated with the
// data key. Never fails: damage only shortens what is found.
void ParseSpoolRecords(const Key& local_key, const Key& data_key, std::string_view file,
                       SpoolRecords* out);

}  // namespace kloset
