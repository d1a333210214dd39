// Fuzz target for the tree page codec (core/tree.h). Any input must either
// fail to decode or decode to a page that re-encodes to the same bytes (the
// decoder accepts exactly one encoding per page).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  kloset::TreePage page;
  if (!kloset::DecodeTreePage(in, &page).ok()) return 0;
  if (kloset::EncodeTreePage(page) != in) {
    std::fprintf(stderr, "tree page round trip mismatch (%zu bytes)\n", size);
    std::abort();
  }
  return 0;
}
