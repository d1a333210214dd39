// Fuzzes the index decoders: the body decoder on the raw input, the sealed
// object payload decoder (u8 compression || body, zstd bounded), and the
// whole sealed index under a fixed key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/index.h"
#include "core/sealed_object.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

namespace {

void Decode(std::string_view body) {
  std::vector<PackRecord> packs;
  if (!DecodeIndexBody(body, &packs).ok()) return;
  // A decoded index must re-encode to exactly its input (one encoding per index).
  std::string again;
  EncodeIndexBody(packs, &again);
  if (again != body) __builtin_trap();
  MemIndex idx;
  for (const PackRecord& p : packs) idx.AddPack(p.pack_id, p.blobs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Decode(in);
  std::string body;
  if (DecodeObjectPayload(in, &body).ok()) Decode(body);
  if (OpenObject(fuzz::FuzzDataKey(), kIndexLabel, in, &body).ok()) Decode(body);
  return 0;
}
