// The `config` object: store settings (docs/FORMAT.md, "config").
//
//   "KLOSETFS" || u32 version || store id(16) || seal(AAD = those 28 bytes, JSON settings)
//
// The 28-byte header is plaintext so a store written by a newer klosetfs is
// refused (kVersion, naming both versions) before a passphrase is asked for.
// The settings are sealed with the data subkey, so they are only readable
// once a key slot has been opened.
//
// Thread safety: all functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/chunker.h"
#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kConfigHeaderSize = 28;
// The largest plaintext blob a store accepts (chunks and tree pages).
constexpr uint32_t kMaxBlobSize = 256u << 20;

struct StoreConfig {
  uint32_t version = kFormatVersion;
  std::array<uint8_t, 16> store_id{};  // random, names the cache folder
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;  // target packfile size in bytes
  int compression_level = 3;      // zstd level for blobs
  int64_t created_ns = 0;
  std::string StoreIdHex() const { return ToHex(store_id.data(), store_id.size()); }
};

// kInvalidArgument unless min < avg < max, avg is a power of two, and all lie
// within what the chunker and the pack format support.
Status ValidateChunkerParams(const ChunkerParams& p);
// Validates chunker params, pack_size and compression_level.
Status ValidateStoreSettings(const StoreConfig& c);

// Parses the plaintext header. kCorrupt "not a klosetfs store or config
// damaged" for a short buffer or bad magic; kVersion for a newer version.
// Fills version and store_id only.
Status ParseConfigHeader(std::string_view bytes, StoreConfig* c);

// Serializes a whole config object, sealing the settings with `data_key`.
std::string EncodeConfig(const StoreConfig& c, const Key& data_key);
// Parses the header, then opens and parses the settings. kCorrupt when the
// settings do not authenticate under `data_key` (wrong master key or damage)
// or are malformed / out of range.
Status DecodeConfig(std::string_view bytes, const Key& data_key, StoreConfig* c);

// The JSON settings alone (exposed for the fuzz target).
std::string EncodeConfigSettings(const StoreConfig& c);
Status DecodeConfigSettings(std::string_view json, StoreConfig* c);

}  // namespace kloset
