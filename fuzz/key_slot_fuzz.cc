// Fuzzes the key slot parser. The input is parsed as is, and again with a
// valid checksum appended, so mutations get past the checksum to the layout
// checks; a parsed slot's label is opened with the fixed master's data key.
// No Argon2id runs here (too slow to fuzz; its bounds are checked by the parser).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/encoding.h"
#include "core/key_slot.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

namespace {

void Parse(std::string_view bytes) {
  KeySlot slot;
  if (!ParseKeySlot(bytes, &slot).ok()) return;
  if (slot.header.size() != kKeySlotHeaderSize || slot.wrapped_key.size() != 72) __builtin_trap();
  std::string label;
  if (OpenKeySlotLabel(slot, fuzz::FuzzDataKey(), &label).ok() && label.size() > kMaxKeyLabel) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Parse(in);
  std::string with_sum(in);
  PutHash(&with_sum, PlainHash(in));
  Parse(with_sum);
  return 0;
}
