// Key slots (`keys/<hex>`, docs/FORMAT.md "Key slots"): one per passphrase,
// each wrapping the same master key under an Argon2id-derived key.
//
//   0   "KLKY" || u32 version || u64 opslimit || u64 memlimit || salt(16) || i64 created_ns
//   48  seal(Argon2id(passphrase, salt), AAD = bytes 0..47, master key)      72 bytes
//   120 seal(data subkey, AAD = "kloset.keylabel" || bytes 0..47, label)
//   end-32  BLAKE2b-256 of every preceding byte
//
// The checksum separates a damaged slot (kCorrupt "key slot damaged") from a
// wrong passphrase (checksum fine, AEAD fails: kWrongPassword). The label is
// sealed under the data subkey, so anyone holding the master key can list
// every slot's label without knowing the other passphrases.
//
// Thread safety: all functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

constexpr uint32_t kKeySlotVersion = 1;
constexpr size_t kKeySlotHeaderSize = 48;
constexpr size_t kMaxKeyLabel = 1024;

struct KeySlot {
  uint32_t version = kKeySlotVersion;
  KdfParams kdf;
  std::array<uint8_t, 16> salt{};
  int64_t created_ns = 0;
  std::string header;        // bytes 0..47 (the AAD of both seals)
  std::string wrapped_key;   // seal of the master key
  std::string sealed_label;  // seal of the label
};

// Makes a new slot for `passphrase` wrapping `master`. Runs Argon2id (slow by
// design). kInvalidArgument for KDF parameters libsodium refuses or a label
// longer than kMaxKeyLabel.
Status MakeKeySlot(const Key& master, std::string_view passphrase, const KdfParams& kdf,
                   std::string_view label, int64_t created_ns, std::string* bytes);

// Checks magic, checksum and layout. kCorrupt "key slot damaged ..." for
// anything wrong (including KDF parameters no sane slot has), kVersion for a
// newer slot version. Runs no KDF.
Status ParseKeySlot(std::string_view bytes, KeySlot* slot);

// Derives the passphrase key and unwraps the master key. kWrongPassword when
// the AEAD refuses; KDF errors pass through.
Status UnwrapKeySlot(const KeySlot& slot, std::string_view passphrase, Key* master);

// Opens the label with the data subkey of the store's master key. kCorrupt
// when it does not authenticate (damage, or a slot of another master key).
Status OpenKeySlotLabel(const KeySlot& slot, const Key& data_key, std::string* label);

}  // namespace kloset
