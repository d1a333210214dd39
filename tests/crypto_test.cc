#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "core/compress.h"
#include "core/crypto.h"
#include "core/thread_pool.h"
#include "tests/test_util.h"

using namespace kloset;

TEST_CASE("seal and open round trip, tamper detection", "[crypto]") {
  REQUIRE(InitCrypto());
  Key k = RandomKey();
  std::string sealed;
  Seal(k, "hello world", "label", &sealed);
  REQUIRE(sealed.size() == 11 + kSealOverhead);
  std::string plain;
  REQUIRE(Open(k, sealed, "label", &plain).ok());
  CHECK(plain == "hello world");
  CHECK(Open(k, sealed, "other-label", &plain).IsCorrupt());
  std::string flipped = sealed;
  flipped[30] ^= 1;
  CHECK(Open(k, flipped, "label", &plain).IsCorrupt());
  CHECK(Open(RandomKey(), sealed, "label", &plain).IsCorrupt());
  CHECK(Open(k, sealed.substr(0, 20), "label", &plain).IsCorrupt());
  // Same plaintext seals differently each time (random nonce).
  std::string again;
  Seal(k, "hello world", "label", &again);
  CHECK(again != sealed);
}

TEST_CASE("hashes, subkeys and hex", "[crypto]") {
  REQUIRE(InitCrypto());
  Key master = RandomKey();
  Key a = DeriveSubkey(master, Subkey::kBlobId), b = DeriveSubkey(master, Subkey::kData);
  CHECK(a != b);
  CHECK(a == DeriveSubkey(master, Subkey::kBlobId));
  Hash h1 = KeyedHash(a, "data"), h2 = KeyedHash(b, "data");
  CHECK(h1 != h2);
  CHECK(PlainHash("data") != h1);
  // BLAKE2b-256 of the empty string, a published test vector.
  CHECK(ToHex(PlainHash("")) ==
        "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  Hash back;
  REQUIRE(FromHex(ToHex(h1), &back));
  CHECK(back == h1);
  CHECK_FALSE(FromHex("abc", &back));
  CHECK_FALSE(FromHex(std::string(64, 'g'), &back));
}

TEST_CASE("passphrase derivation is deterministic and salted", "[crypto]") {
  REQUIRE(InitCrypto());
  std::array<uint8_t, 16> salt{}, salt2{};
  salt2[0] = 1;
  KdfParams p{1, 8 << 20};
  Key k1, k2, k3;
  REQUIRE(DeriveFromPassphrase("secret", salt, p, &k1).ok());
  REQUIRE(DeriveFromPassphrase("secret", salt, p, &k2).ok());
  REQUIRE(DeriveFromPassphrase("secret", salt2, p, &k3).ok());
  CHECK(k1 == k2);
  CHECK(k1 != k3);
  CHECK(DeriveFromPassphrase("secret", salt, KdfParams{0, 1}, &k1).code() ==
        Code::kInvalidArgument);
}

TEST_CASE("compression keeps raw data raw and round-trips", "[compress]") {
  std::string text;
  for (int i = 0; i < 5000; i++) text += "line " + std::to_string(i % 97) + " of text\n";
  std::string z, back;
  REQUIRE(Compress(text, 3, &z) == Compression::kZstd);
  CHECK(z.size() < text.size() / 4);
  REQUIRE(Decompress(Compression::kZstd, z, text.size(), &back).ok());
  CHECK(back == text);
  CHECK(Decompress(Compression::kZstd, z, text.size() - 1, &back).IsCorrupt());
  CHECK(Decompress(Compression::kZstd, z.substr(0, z.size() / 2), text.size(), &back).IsCorrupt());
  REQUIRE(DecompressBounded(z, text.size(), &back).ok());
  CHECK(back == text);
  CHECK(DecompressBounded(z, 100, &back).IsCorrupt());
  std::string random = kloset::testing::RandomData(100000, 7);
  CHECK(Compress(random, 3, &z) == Compression::kNone);
  CHECK(z.empty());
}

TEST_CASE("thread pool runs every task and waits", "[pool]") {
  ThreadPool pool(3);
  std::atomic<int> n{0};
  for (int i = 0; i < 1000; i++) pool.Submit([&] { n++; });
  pool.Wait();
  CHECK(n == 1000);
}
