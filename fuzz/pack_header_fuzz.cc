// Fuzzes the pack parsers: the header body decoder on the raw input, and the
// whole-pack parser (trailer, sealed header) with a fixed key, so seeds that
// are real packs sealed under that key reach the header decoder too.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/pack.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<IndexEntry> blobs;
  if (DecodePackHeader(in, &blobs).ok()) {
    uint64_t offset = 0;
    for (const IndexEntry& e : blobs) {
      if (e.offset != offset || !CheckBlobEntry(e).empty()) __builtin_trap();
      offset += e.stored_size;
    }
  }
  if (ParsePack(fuzz::FuzzDataKey(), in, &blobs).ok()) {
    const IndexEntry& last = blobs.back();
    if (last.offset + last.stored_size > size) __builtin_trap();
    // Every blob range is inside the pack: opening it must fail or succeed cleanly.
    for (const IndexEntry& e : blobs) {
      std::string plain;
      (void)OpenBlob(fuzz::FuzzDataKey(), e, in.substr(e.offset, e.stored_size), &plain);
    }
  }
  return 0;
}
