// Fuzz target for the snapshot JSON codec (core/snapshot.h). Any input must
// either be refused (kCorrupt / kVersion) or parse to a Snapshot whose JSON
// parses again to the same Snapshot (compared through a second encoding,
// which also covers byte strings escaped as {"hex": ...}).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  kloset::Snapshot s;
  kloset::Status st = kloset::SnapshotFromJson(in, &s);
  if (!st.ok()) {
    if (st.code() != kloset::Code::kCorrupt && st.code() != kloset::Code::kVersion) {
      std::fprintf(stderr, "unexpected status %s\n", st.ToString().c_str());
      std::abort();
    }
    return 0;
  }
  const std::string once = kloset::SnapshotToJson(s);
  kloset::Snapshot again;
  if (!kloset::SnapshotFromJson(once, &again).ok() || kloset::SnapshotToJson(again) != once) {
    std::fprintf(stderr, "snapshot JSON round trip mismatch (%zu bytes)\n", size);
    std::abort();
  }
  return 0;
}
