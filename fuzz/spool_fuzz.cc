// Fuzzes the pack spool parser (core/spool_format.h) with fixed keys, so
// seeds that are real spool files reach the records behind the AEAD. Checks
// that whatever it accepts lies inside the input, in order, and passes the
// pack header rules.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/spool_format.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  SpoolHeader h;
  const bool header_ok = ParseSpoolHeader(in, &h).ok();
  SpoolRecords r;
  ParseSpoolRecords(fuzz::FuzzLocalKey(), fuzz::FuzzDataKey(), in, &r);
  if (!header_ok && (r.valid_bytes != 0 || !r.blobs.empty() || r.ended)) __builtin_trap();
  if (r.valid_bytes > size) __builtin_trap();
  uint64_t end = kSpoolHeaderSize;
  for (const IndexEntry& e : r.blobs) {
    if (e.type != h.type || !CheckBlobEntry(e).empty()) __builtin_trap();
    if (e.offset < end + kSpoolRecordOverhead || e.offset + e.stored_size > r.valid_bytes) {
      __builtin_trap();
    }
    end = e.offset + e.stored_size;
  }
  if (r.ended &&
      (r.blobs.empty() || r.tail_offset < end || r.tail_offset + r.tail_size != r.valid_bytes)) {
    __builtin_trap();
  }
  // Header and encoder agree: re-encoding the parsed header gives its bytes.
  if (header_ok && EncodeSpoolHeader(h) != in.substr(0, kSpoolHeaderSize)) __builtin_trap();
  return 0;
}
