// Chunking settings shared by the tests of file content (file_io_test,
// ingest_file_test): small chunks, so a few MiB of data give many of them,
// and one fixed gear table.
#pragma once

#include <vector>

#include "core/chunker.h"
#include "core/node.h"
#include "core/crypto.h"

namespace kloset::testing {

inline ChunkerParams SmallChunks() {
  ChunkerParams p;
  p.min_size = 4 * 1024;
  p.avg_size = 16 * 1024;
  p.max_size = 64 * 1024;
  return p;
}

inline const GearTable& TestGear() {
  static const GearTable table = [] {
    Key k;
    for (size_t i = 0; i < k.size(); i++) k[i] = static_cast<uint8_t>(i * 7 + 3);
    return GearTable::FromKey(k);
  }();
  return table;
}

// Same ids, sizes and holes, in the same order.
inline bool SameChunks(const std::vector<ChunkRef>& a, const std::vector<ChunkRef>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].id != b[i].id || a[i].size != b[i].size || a[i].is_hole != b[i].is_hole) return false;
  }
  return true;
}

}  // namespace kloset::testing
