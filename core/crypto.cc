#include "core/crypto.h"

#include <sodium.h>

#include <cstring>

namespace kloset {

namespace {
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES] = {'k', 'l', 'o', 's', 'e', 't', 'f', 's'};
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16);
static_assert(crypto_kdf_KEYBYTES == 32);
}  // namespace

bool InitCrypto() { return sodium_init() >= 0; }

std::string ToHex(const uint8_t* data, size_t len) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; i++) {
    s[2 * i] = kDigits[data[i] >> 4];
    s[2 * i + 1] = kDigits[data[i] & 15];
  }
  return s;
}

bool FromHex(std::string_view hex, Hash* out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; i++) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

void RandomBytes(void* buf, size_t len) { randombytes_buf(buf, len); }

Key RandomKey() {
  Key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

Key DeriveSubkey(const Key& master, Subkey id) {
  Key k;
  crypto_kdf_derive_from_key(k.data(), k.size(), static_cast<uint64_t>(id), kKdfContext,
                             master.data());
  return k;
}

Hash KeyedHash(const Key& key, std::string_view data) {
  Hash h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), key.data(), key.size());
  return h;
}

Hash PlainHash(std::string_view data) {
  Hash h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return h;
}

void Seal(const Key& key, std::string_view plaintext, std::string_view aad, std::string* out) {
  size_t base = out->size();
  out->resize(base + kSealOverhead + plaintext.size());
  auto* p = reinterpret_cast<unsigned char*>(out->data() + base);
  randombytes_buf(p, 24);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + 24, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr, p, key.data());
}

Status Open(const Key& key, std::string_view sealed, std::string_view aad, std::string* plaintext) {
  if (sealed.size() < kSealOverhead) return Status::Corrupt("sealed data too short");
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  plaintext->resize(sealed.size() - kSealOverhead);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext->data()), &mlen, nullptr, p + 24,
          sealed.size() - 24, reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), p,
          key.data()) != 0) {
    plaintext->clear();
    return Status::Corrupt("data does not authenticate");
  }
  plaintext->resize(mlen);
  return Status::OK();
}

Status DeriveFromPassphrase(std::string_view passphrase, const std::array<uint8_t, 16>& salt,
                            const KdfParams& params, Key* out) {
  static_assert(crypto_pwhash_SALTBYTES == 16);
  if (params.opslimit < crypto_pwhash_OPSLIMIT_MIN || params.opslimit > crypto_pwhash_OPSLIMIT_MAX ||
      params.memlimit < crypto_pwhash_MEMLIMIT_MIN || params.memlimit > (size_t{1} << 32)) {
    return Status::InvalidArgument("Argon2id parameters out of range (opslimit " +
                                   std::to_string(params.opslimit) + ", memlimit " +
                                   std::to_string(params.memlimit) + ")");
  }
  if (crypto_pwhash(out->data(), out->size(), passphrase.data(), passphrase.size(), salt.data(),
                    params.opslimit, params.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IOError("Argon2id failed: not enough memory for " +
                           std::to_string(params.memlimit >> 20) + " MiB");
  }
  return Status::OK();
}

bool ConstantTimeEqual(const void* a, const void* b, size_t len) {
  return sodium_memcmp(a, b, len) == 0;
}

void Wipe(void* p, size_t len) { sodium_memzero(p, len); }

}  // namespace kloset
