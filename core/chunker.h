// Content-defined chunking: a gear-hash chunker with normalized chunking
// (FastCDC family). The gear table is derived from a secret key so that chunk
// boundaries do not reveal which known files a store holds.
//
// Cut rule (part of the store format; docs/FORMAT.md "Chunking"): with
// h = (h << 1) + gear[byte], a chunk of length n (counting the byte just
// hashed) ends when
//   n == max_size, or
//   n >= min_size and (h & mask) == 0, mask = MaskS while n < avg_size,
//                                             MaskL from avg_size on.
// MaskS has log2(avg)+N bits and MaskL log2(avg)-N bits (N = normalization),
// spread over bits 63..16 of the hash (see ChunkMask). Because the left shift
// pushes old bytes out, h depends only on the last 64 bytes: a cut depends
// on the 64 bytes that end it and its distance from the chunk start, nothing
// else. Hashing starts at offset min_size - 64 so this holds at every
// allowed cut point.
//
// Thread safety: a Chunker is used by one thread at a time; GearTable is
// immutable and shared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/crypto.h"

namespace kloset {

struct ChunkerParams {
  uint32_t min_size = 256 * 1024;
  uint32_t avg_size = 1024 * 1024;  // a power of two
  uint32_t max_size = 4 * 1024 * 1024;
  uint32_t normalization = 2;  // FastCDC normalization level (0..3)

  // True when the chunker can use the parameters as they are: avg a power of
  // two in [256, 2^28], 64 <= min <= avg <= max <= 2^30, normalization <= 3.
  // A store's config is held to the stricter ValidateChunkerParams
  // (core/config_object.h). A Chunker built from invalid parameters clamps
  // them (no UB, no endless loop) but then cuts differently.
  bool Valid() const;
};

struct GearTable {
  std::array<uint64_t, 256> v;
  // Expands `key` (the kChunker subkey) into 256 pseudo-random 64-bit values:
  // v[i] = little-endian u64 at offset 8*i of the XChaCha20 keystream under
  // `key` with an all-zero 24-byte nonce. Deterministic per key.
  static GearTable FromKey(const Key& key);
};

// The mask with `bits` one bits (1..48): bit positions 63 - floor(i*48/bits)
// for i = 0..bits-1, spread over 63..16. Bit k of h depends on the last k+1
// bytes only, so low-bit masks would test a few bytes; bit 63 is always in.
uint64_t ChunkMask(unsigned bits);

class Chunker {
 public:
  Chunker(const ChunkerParams& p, const GearTable* table);
  // Scans data[0, len) of the current chunk (the caller passes the bytes of
  // the chunk so far; the chunker keeps no copy). Returns the length of the
  // chunk that ends in this buffer, or 0 if no cut point is within `len`
  // bytes and len < max_size. When `eof` is true and no cut is found, returns
  // len (the final chunk; 0 when len == 0). If len >= max_size a cut is always
  // found, at max_size at the latest. A call that returns 0 is wasted work,
  // since the next call rescans from the chunk start: pass at least max_size
  // bytes whenever the input has them. Precondition: data starts at a chunk
  // start.
  size_t FindCut(const uint8_t* data, size_t len, bool eof) const;
  const ChunkerParams& params() const { return p_; }

 private:
  ChunkerParams p_;
  const GearTable* table_;
  uint64_t mask_s_, mask_l_;
};

}  // namespace kloset
