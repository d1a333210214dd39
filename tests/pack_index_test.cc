// Codecs of stored bytes: pack headers, index bodies, config, key slots,
// sealed objects; plus MemIndex, BlobLru and ObjectCache.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/blob_lru.h"
#include "core/config_object.h"
#include "core/index.h"
#include "core/key_slot.h"
#include "core/object_cache.h"
#include "core/pack.h"
#include "core/sealed_object.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;

namespace {

Key TestKey(uint8_t v) {
  Key k;
  k.fill(v);
  return k;
}

Hash H(uint8_t v) {
  Hash h;
  h.fill(v);
  return h;
}

std::vector<PackRecord> SampleIndex() {
  std::vector<PackRecord> v(2);
  v[0].pack_id = H(1);
  v[0].blobs = {{H(10), BlobType::kData, Compression::kNone, kNoPack, 0, 140, 100},
                {H(11), BlobType::kData, Compression::kZstd, kNoPack, 140, 60, 5000}};
  v[1].pack_id = H(2);
  v[1].blobs = {{H(12), BlobType::kTree, Compression::kNone, kNoPack, 0, 41, 1}};
  return v;
}

}  // namespace

TEST_CASE("index bodies round trip and refuse malformed input", "[codec]") {
  std::string body;
  EncodeIndexBody(SampleIndex(), &body);
  std::vector<PackRecord> back;
  REQUIRE(DecodeIndexBody(body, &back).ok());
  REQUIRE(back.size() == 2);
  CHECK(back[0].blobs[1].id == H(11));
  CHECK(back[0].blobs[1].raw_size == 5000);
  CHECK(back[0].blobs[1].offset == 140);
  CHECK(back[1].blobs[0].type == BlobType::kTree);
  std::string again;
  EncodeIndexBody(back, &again);
  CHECK(again == body);

  for (size_t n = 0; n < body.size(); n++) {
    INFO(n);
    CHECK(DecodeIndexBody(body.substr(0, n), &back).IsCorrupt());
  }
  CHECK(DecodeIndexBody(body + "x", &back).IsCorrupt());
  std::string v2 = body;
  v2[0] = 2;
  CHECK(DecodeIndexBody(v2, &back).code() == Code::kVersion);

  auto bad = SampleIndex();
  bad[0].blobs[1].offset = 100;  // overlaps blob 0
  EncodeIndexBody(bad, &body);
  CHECK(DecodeIndexBody(body, &back).IsCorrupt());
  bad = SampleIndex();
  bad[0].blobs[0].raw_size = 99;  // uncompressed: must be stored - 40
  EncodeIndexBody(bad, &body);
  CHECK(DecodeIndexBody(body, &back).IsCorrupt());
  // A huge count backed by no bytes is refused without allocating it.
  std::string huge = "\x01\xff\xff\xff\xff\x0f";
  CHECK(DecodeIndexBody(huge, &back).IsCorrupt());
}

TEST_CASE("packs: writer output parses back; damage is refused", "[codec]") {
  Key key = TestKey(7);
  PackWriter w(BlobType::kData);
  std::vector<std::string> plain = {RandomData(1000, 1), std::string(5000, 'z'), "x"};
  for (const auto& p : plain) {
    Hash id = KeyedHash(TestKey(1), p);
    std::string sealed;
    Compression c = SealBlob(key, BlobType::kData, id, p, 3, &sealed);
    w.Add(id, c, sealed, static_cast<uint32_t>(p.size()));
  }
  w.Finish(key);
  std::string pack = w.data();
  std::vector<IndexEntry> entries;
  REQUIRE(ParsePack(key, pack, &entries).ok());
  REQUIRE(entries.size() == 3);
  CHECK(entries[1].compression == Compression::kZstd);
  CHECK(entries[0].compression == Compression::kNone);
  for (size_t i = 0; i < 3; i++) {
    CHECK(entries[i].offset == w.blobs()[i].offset);
    std::string out;
    REQUIRE(OpenBlob(key, entries[i],
                     std::string_view(pack).substr(entries[i].offset, entries[i].stored_size), &out)
                .ok());
    CHECK(out == plain[i]);
  }
  // The AAD binds type and id: the same bytes do not open as another blob.
  IndexEntry wrong = entries[0];
  wrong.type = BlobType::kTree;
  std::string out;
  Status s = OpenBlob(key, wrong, std::string_view(pack).substr(0, wrong.stored_size), &out);
  CHECK(s.message() == "does not authenticate");

  CHECK(ParsePack(TestKey(8), pack, &entries).IsCorrupt());
  for (size_t cut : {size_t{0}, size_t{5}, pack.size() - 1, pack.size() - 9}) {
    CHECK(ParsePack(key, pack.substr(0, cut), &entries).IsCorrupt());
  }
  CHECK(ParsePack(key, "x" + pack, &entries).IsCorrupt());  // blob bytes do not add up
  for (size_t i = pack.size() - 60; i < pack.size(); i++) {
    std::string bad = pack;
    bad[i] ^= 0x10;
    CHECK(ParsePack(key, bad, &entries).IsCorrupt());
  }
}

TEST_CASE("pack headers refuse malformed bodies", "[codec]") {
  std::vector<IndexEntry> blobs = {{H(3), BlobType::kTree, Compression::kNone, kNoPack, 0, 50, 10}};
  std::string body;
  EncodePackHeader(blobs, &body);
  std::vector<IndexEntry> back;
  REQUIRE(DecodePackHeader(body, &back).ok());
  for (size_t n = 0; n < body.size(); n++)
    CHECK(DecodePackHeader(body.substr(0, n), &back).IsCorrupt());
  std::string bad = body;
  bad[2] = 9;  // blob type
  CHECK(DecodePackHeader(bad, &back).IsCorrupt());
  bad = body;
  bad[3] = 7;  // compression
  CHECK(DecodePackHeader(bad, &back).IsCorrupt());
  CHECK(DecodePackHeader(std::string("\x01\x00", 2), &back).IsCorrupt());  // no blobs
}

TEST_CASE("config objects round trip; header errors come before keys", "[codec]") {
  StoreConfig c;
  c.store_id.fill(0xab);
  c.chunker = {1024, 4096, 16384, 1};
  c.pack_size = 1 << 20;
  c.compression_level = 5;
  c.created_ns = 123456789;
  std::string bytes = EncodeConfig(c, TestKey(2));
  CHECK(bytes.substr(0, 8) == "KLOSETFS");
  StoreConfig back;
  REQUIRE(DecodeConfig(bytes, TestKey(2), &back).ok());
  CHECK(back.store_id == c.store_id);
  CHECK(back.chunker.normalization == 1);
  CHECK(back.compression_level == 5);
  CHECK(back.created_ns == 123456789);
  CHECK(DecodeConfig(bytes, TestKey(3), &back).IsCorrupt());
  CHECK(ParseConfigHeader(bytes.substr(0, 27), &back).IsCorrupt());
  std::string v9 = bytes;
  v9[8] = 9;
  Status s = ParseConfigHeader(v9, &back);
  CHECK(s.code() == Code::kVersion);
  CHECK(s.message().find("version 9") != std::string::npos);
  CHECK(s.message().find("(1)") != std::string::npos);

  CHECK(DecodeConfigSettings("[]", &back).IsCorrupt());
  CHECK(DecodeConfigSettings(R"({"chunker":{"min":1,"avg":2,"max":3,"normalization":0},
      "pack_size":65536,"compression_level":3,"created_ns":0})",
                             &back)
            .IsCorrupt());
  CHECK(DecodeConfigSettings(R"({"chunker":{"min":1024,"avg":4096,"max":16384,"normalization":0},
      "pack_size":-1,"compression_level":3,"created_ns":0})",
                             &back)
            .IsCorrupt());
  CHECK(DecodeConfigSettings(R"({"chunker":{"min":1024,"avg":4096,"max":16384,"normalization":0},
      "pack_size":65536,"compression_level":"3","created_ns":0})",
                             &back)
            .IsCorrupt());
  CHECK(DecodeConfigSettings(R"({"chunker":{"min":1024,"avg":4096,"max":16384,"normalization":0},
      "pack_size":65536,"compression_level":3,"created_ns":0,"future":true})",
                             &back)
            .ok());

  CHECK(ValidateChunkerParams({1024, 4096, 16384, 2}).ok());
  CHECK_FALSE(ValidateChunkerParams({4096, 4096, 16384, 2}).ok());
  CHECK_FALSE(ValidateChunkerParams({1024, 4096, 4096, 2}).ok());
  CHECK_FALSE(ValidateChunkerParams({1024, 3000, 16384, 2}).ok());
  CHECK_FALSE(ValidateChunkerParams({1024, 4096, 16384, 4}).ok());
  CHECK_FALSE(ValidateChunkerParams({16, 4096, 16384, 2}).ok());
}

TEST_CASE("key slots: unwrap, wrong passphrase, damage, label", "[codec]") {
  REQUIRE(InitCrypto());
  Key master = TestKey(9);
  std::string slot;
  REQUIRE(MakeKeySlot(master, "pass", {1, 8 << 20}, "label one", 42, &slot).ok());
  KeySlot ks;
  REQUIRE(ParseKeySlot(slot, &ks).ok());
  CHECK(ks.created_ns == 42);
  CHECK(ks.kdf.opslimit == 1);
  Key out{};
  REQUIRE(UnwrapKeySlot(ks, "pass", &out).ok());
  CHECK(out == master);
  CHECK(UnwrapKeySlot(ks, "Pass", &out).code() == Code::kWrongPassword);
  std::string label;
  REQUIRE(OpenKeySlotLabel(ks, DeriveSubkey(master, Subkey::kData), &label).ok());
  CHECK(label == "label one");
  CHECK(OpenKeySlotLabel(ks, TestKey(1), &label).IsCorrupt());

  for (size_t i : {size_t{0}, size_t{10}, size_t{47}, size_t{60}, slot.size() - 1}) {
    std::string bad = slot;
    bad[i] ^= 0x04;
    Status s = ParseKeySlot(bad, &ks);
    CHECK(s.IsCorrupt());
    CHECK(s.message().find("key slot damaged") != std::string::npos);
  }
  CHECK(ParseKeySlot(slot.substr(0, 100), &ks).IsCorrupt());
  std::string long_label(kMaxKeyLabel + 1, 'x');
  CHECK(MakeKeySlot(master, "p", {1, 8 << 20}, long_label, 0, &slot).code() ==
        Code::kInvalidArgument);
}

TEST_CASE("sealed objects compress when it helps and bind their label", "[codec]") {
  Key key = TestKey(4);
  std::string sealed;
  SealObject(key, kIndexLabel, std::string(10000, 'a'), 3, &sealed);
  CHECK(sealed.size() < 200);
  std::string body;
  REQUIRE(OpenObject(key, kIndexLabel, sealed, &body).ok());
  CHECK(body == std::string(10000, 'a'));
  CHECK(OpenObject(key, kSnapshotLabel, sealed, &body).IsCorrupt());
  std::string rnd = RandomData(500, 3), sealed2;
  SealObject(key, kLockLabel, rnd, 3, &sealed2);
  CHECK(sealed2.size() == rnd.size() + 1 + kSealOverhead);
  CHECK(DecodeObjectPayload(std::string("\x02xyz"), &body).IsCorrupt());
  CHECK(DecodeObjectPayload("", &body).IsCorrupt());
  CHECK(DecodeObjectPayload(std::string("\x01garbage"), &body).IsCorrupt());
}

TEST_CASE("MemIndex keeps the first location and merges repeated packs", "[codec]") {
  MemIndex idx;
  auto recs = SampleIndex();
  uint32_t p0 = idx.AddPack(recs[0].pack_id, recs[0].blobs);
  uint32_t p1 = idx.AddPack(recs[1].pack_id, recs[1].blobs);
  CHECK(p0 == 0);
  CHECK(p1 == 1);
  CHECK_FALSE(idx.PackHasTrees(p0));
  CHECK(idx.PackHasTrees(p1));
  // The same blob in a later pack (two backups raced) keeps its first home.
  std::vector<IndexEntry> dup = {recs[0].blobs[0]};
  CHECK(idx.AddPack(H(3), dup) == 2);
  IndexEntry e;
  REQUIRE(idx.Find(H(10), BlobType::kData, &e));
  CHECK(e.pack == 0);
  CHECK_FALSE(idx.Find(H(10), BlobType::kTree, &e));
  CHECK(idx.AddPack(recs[0].pack_id, recs[0].blobs) == 0);
  CHECK(idx.PackCount() == 3);
  CHECK(idx.BlobCount() == 3);
  uint32_t n;
  CHECK(idx.FindPack(H(2), &n));
  CHECK(n == 1);
}

TEST_CASE("BlobLru evicts least recently used entries by bytes", "[codec]") {
  BlobLru lru(1000);
  lru.Put(H(1), std::string(200, 'a'));
  lru.Put(H(2), std::string(200, 'b'));
  lru.Put(H(3), std::string(200, 'c'));
  std::string out;
  REQUIRE(lru.Get(H(1), &out));  // now most recent
  lru.Put(H(4), std::string(200, 'd'));
  lru.Put(H(5), std::string(200, 'e'));
  lru.Put(H(6), std::string(200, 'f'));
  CHECK(lru.Get(H(1), &out));
  CHECK_FALSE(lru.Get(H(2), &out));
  lru.Put(H(7), std::string(600, 'g'));  // more than a quarter: not kept
  CHECK_FALSE(lru.Get(H(7), &out));
}

TEST_CASE("ObjectCache verifies entries and survives deletion", "[codec]") {
  TempDir dir;
  ObjectCache cache(dir / "store");
  std::string data = "some object bytes";
  std::string name = "index/ab/" + ToHex(PlainHash(data));
  std::string out;
  CHECK_FALSE(cache.Get(name, &out));
  REQUIRE(cache.Put(name, data));
  REQUIRE(cache.Get(name, &out));
  CHECK(out == data);
  struct stat st;
  REQUIRE(stat((dir / "store").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(cache.ReadRange(name, 5, 6, &out));
  CHECK(out == "object");
  CHECK_FALSE(cache.ReadRange(name, 5, 600, &out));

  WriteFile(dir / ("store/" + name), "tampered");
  CHECK_FALSE(cache.Get(name, &out));
  CHECK(cache.corrupt_dropped() == 1);
  CHECK_FALSE(std::filesystem::exists(dir / ("store/" + name)));

  std::filesystem::remove_all(dir / "store");
  REQUIRE(cache.Put(name, data));
  CHECK(cache.Verify(name));
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    CHECK(e.path().string().find(".tmp~") == std::string::npos);
  }
}
