// Fuzzes the config parsers: the plaintext header, the JSON settings, and a
// whole config object under a fixed key (seeds are real configs sealed with it).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config_object.h"
#include "fuzz/fuzz_keys.h"

using namespace kloset;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  StoreConfig c;
  (void)ParseConfigHeader(in, &c);
  if (DecodeConfigSettings(in, &c).ok()) {
    if (!ValidateStoreSettings(c).ok()) __builtin_trap();
  }
  if (DecodeConfig(in, fuzz::FuzzDataKey(), &c).ok()) {
    if (!ValidateStoreSettings(c).ok() || c.version > kFormatVersion) __builtin_trap();
  }
  return 0;
}
