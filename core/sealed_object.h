// Sealed objects (indexes, snapshots, locks; docs/FORMAT.md "Keys"):
//
//   seal(label, u8 compression || body)   compression 0 = as is, 1 = one zstd frame
//
// Thread safety: all functions are pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

// No sealed object may decode to more than this (a bound for hostile input).
constexpr size_t kMaxObjectBody = size_t{1} << 30;

constexpr char kIndexLabel[] = "kloset.index";
constexpr char kSnapshotLabel[] = "kloset.snapshot";
constexpr char kLockLabel[] = "kloset.lock";

// Compresses `body` with zstd at `level` when that saves at least 1/64, then
// seals it under `label`. Appends to *out.
void SealObject(const Key& data_key, std::string_view label, std::string_view body, int level,
                std::string* out);
// Opens and decompresses. kCorrupt for anything that does not authenticate
// or decode.
Status OpenObject(const Key& data_key, std::string_view label, std::string_view sealed,
                  std::string* body);
// Decodes the opened payload `u8 compression || body` (for fuzzing).
Status DecodeObjectPayload(std::string_view payload, std::string* body);

}  // namespace kloset
