// Cryptography for the store: key derivation, content ids, authenticated
// encryption. All of it is libsodium; nothing here is hand-rolled crypto.
//
//  * Master key: 32 random bytes, made at init, never stored in plaintext.
//  * Subkeys: crypto_kdf_derive_from_key(master, subkey_id, ctx "klosetfs").
//  * Blob ids: keyed BLAKE2b-256 of the plaintext under the id subkey, so ids
//    reveal nothing about content to anyone without the key.
//  * Object ids (pack / index / snapshot names): unkeyed BLAKE2b-256 of the
//    stored (encrypted) bytes, so any reader can verify an object by its name.
//  * Sealing: XChaCha20-Poly1305-IETF, random 24-byte nonce, layout
//    nonce(24) || ciphertext || tag(16). The AAD binds the ciphertext to its
//    role (domain label) and, for blobs, to the blob id.
//  * Passphrase keys: Argon2id (crypto_pwhash) with stored opslimit/memlimit.
//
// Thread safety: all functions are pure and thread-safe once InitCrypto() has
// returned (call it once at start; it is idempotent).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "remotes/status.h"

namespace kloset {

using Key = std::array<uint8_t, 32>;
using Hash = std::array<uint8_t, 32>;  // blob ids and object ids

constexpr size_t kSealOverhead = 24 + 16;

// Initializes libsodium. Returns false only if libsodium cannot start.
bool InitCrypto();

std::string ToHex(const uint8_t* data, size_t len);
inline std::string ToHex(const Hash& h) { return ToHex(h.data(), h.size()); }
// Parses exactly 64 hex digits. Returns false on anything else.
bool FromHex(std::string_view hex, Hash* out);

void RandomBytes(void* buf, size_t len);
Key RandomKey();

// Subkey ids used with DeriveSubkey. Values are part of the store format.
enum class Subkey : uint64_t {
  kBlobId = 1,    // keyed BLAKE2b for blob ids
  kData = 2,      // AEAD key for blobs, pack headers, indexes, snapshots, locks
  kChunker = 3,   // seeds the gear table of the chunker
  kCache = 4,     // names of local cache entries
  kLocal = 5,     // AEAD key for local-only files: ingest journal, staging, spool
};
Key DeriveSubkey(const Key& master, Subkey id);

// Keyed BLAKE2b-256.
Hash KeyedHash(const Key& key, std::string_view data);
// Unkeyed BLAKE2b-256 (object names).
Hash PlainHash(std::string_view data);

// Appends nonce||ciphertext||tag to *out.
void Seal(const Key& key, std::string_view plaintext, std::string_view aad, std::string* out);
// Opens a sealed buffer. kCorrupt if too short or it does not authenticate.
Status Open(const Key& key, std::string_view sealed, std::string_view aad, std::string* plaintext);

struct KdfParams {
  uint64_t opslimit = 3;
  uint64_t memlimit = 64ull << 20;  // bytes
};
// Argon2id. kInvalidArgument for parameters libsodium refuses; kIOError if
// memory cannot be had.
Status DeriveFromPassphrase(std::string_view passphrase, const std::array<uint8_t, 16>& salt,
                            const KdfParams& params, Key* out);

// Constant-time comparison of two buffers of equal length.
bool ConstantTimeEqual(const void* a, const void* b, size_t len);
// Wipes memory that held secrets.
void Wipe(void* p, size_t len);

}  // namespace kloset
