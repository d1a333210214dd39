// MemIndex: lookups over many random ids, first location wins, merging of
// repeated packs, and its memory per blob (printed; bounded where malloc
// statistics are available).
#include <malloc.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <map>

#include "core/index.h"
#include "remotes/splitmix.h"

using namespace kloset;

namespace {

// A pseudo-random id, as uniform as a BLAKE2b output.
Hash RandomId(uint64_t n) {
  Hash h;
  for (size_t i = 0; i < h.size(); i += 8) {
    uint64_t v = SplitMix64(n * 4 + i / 8);
    __builtin_memcpy(h.data() + i, &v, 8);
  }
  return h;
}

// The entry for blob `n` of a test: every field derived from n, so a lookup
// can be checked against it.
IndexEntry Entry(uint64_t n, BlobType type = BlobType::kData) {
  IndexEntry e;
  e.id = RandomId(n);
  e.type = type;
  e.compression = n % 3 == 0 ? Compression::kZstd : Compression::kNone;
  e.offset = (n * 977) << (n % 9);  // up to past 2^32
  e.stored_size = static_cast<uint32_t>(40 + n % 100000);
  e.raw_size = static_cast<uint32_t>(n % 70000);
  return e;
}

bool SameBlob(const IndexEntry& a, const IndexEntry& b) {
  return a.id == b.id && a.type == b.type && a.compression == b.compression &&
         a.offset == b.offset && a.stored_size == b.stored_size && a.raw_size == b.raw_size;
}

Hash PackId(uint64_t n) { return RandomId(UINT64_MAX / 2 + n); }

}  // namespace

TEST_CASE("MemIndex finds many random blobs at their locations", "[index]") {
  constexpr uint64_t kBlobs = 200000, kPerPack = 700;
  MemIndex idx;
  std::vector<IndexEntry> pack;
  for (uint64_t n = 0; n < kBlobs; n += kPerPack) {
    pack.clear();
    for (uint64_t i = n; i < std::min(kBlobs, n + kPerPack); i++) pack.push_back(Entry(i));
    CHECK(idx.AddPack(PackId(n), pack) == n / kPerPack);
  }
  CHECK(idx.BlobCount() == kBlobs);
  CHECK(idx.PackCount() == (kBlobs + kPerPack - 1) / kPerPack);
  for (uint64_t n = 0; n < kBlobs; n++) {
    IndexEntry e;
    REQUIRE(idx.Find(RandomId(n), BlobType::kData, &e));
    REQUIRE(SameBlob(e, Entry(n)));
    REQUIRE(e.pack == n / kPerPack);
    REQUIRE(idx.Contains(RandomId(n), BlobType::kData));
    REQUIRE_FALSE(idx.Contains(RandomId(n), BlobType::kTree));
  }
  for (uint64_t n = kBlobs; n < 2 * kBlobs; n++) {
    IndexEntry e;
    REQUIRE_FALSE(idx.Contains(RandomId(n), BlobType::kData));
    REQUIRE_FALSE(idx.Find(RandomId(n), BlobType::kData, &e));
  }
  uint32_t p;
  REQUIRE(idx.FindPack(PackId(kPerPack * 3), &p));
  CHECK(p == 3);
  CHECK(idx.PackId(3) == PackId(kPerPack * 3));
  CHECK_FALSE(idx.FindPack(PackId(1), &p));

  // ForEach visits every blob exactly once.
  std::map<Hash, int> seen;
  idx.ForEach([&](const IndexEntry& e) {
    seen[e.id]++;
    REQUIRE(e.type == BlobType::kData);
  });
  CHECK(seen.size() == kBlobs);
  for (const auto& [id, count] : seen) REQUIRE(count == 1);
}

TEST_CASE("MemIndex keeps data and tree blobs of one id apart", "[index]") {
  MemIndex idx;
  IndexEntry data = Entry(1), tree = Entry(2, BlobType::kTree);
  tree.id = data.id;
  CHECK(idx.AddPack(PackId(0), {data}) == 0);
  CHECK_FALSE(idx.PackHasTrees(0));
  CHECK(idx.AddPack(PackId(1), {tree}) == 1);
  CHECK(idx.PackHasTrees(1));
  IndexEntry e;
  REQUIRE(idx.Find(data.id, BlobType::kData, &e));
  CHECK(SameBlob(e, data));
  CHECK(e.pack == 0);
  REQUIRE(idx.Find(data.id, BlobType::kTree, &e));
  CHECK(SameBlob(e, tree));
  CHECK(e.pack == 1);
  CHECK(idx.BlobCount() == 2);
  int visits = 0;
  idx.ForEach([&](const IndexEntry&) { visits++; });
  CHECK(visits == 2);
}

TEST_CASE("MemIndex keeps the first location of a blob stored twice", "[index]") {
  MemIndex idx;
  std::vector<IndexEntry> first, second;
  for (uint64_t n = 0; n < 5000; n++) first.push_back(Entry(n));
  for (uint64_t n = 2500; n < 7500; n++) {
    IndexEntry e = Entry(n);
    e.offset += 1;  // another pack, another place
    second.push_back(e);
  }
  CHECK(idx.AddPack(PackId(0), first) == 0);
  CHECK(idx.AddPack(PackId(1), second) == 1);
  CHECK(idx.BlobCount() == 7500);
  for (uint64_t n = 0; n < 7500; n++) {
    IndexEntry e;
    REQUIRE(idx.Find(RandomId(n), BlobType::kData, &e));
    REQUIRE(e.pack == (n < 5000 ? 0u : 1u));
    REQUIRE(e.offset == Entry(n).offset + (n < 5000 ? 0 : 1));
  }
  // A blob repeated within one pack keeps its first entry too.
  IndexEntry a = Entry(9000), b = Entry(9000);
  b.offset += 100;
  idx.AddPack(PackId(2), {a, b});
  IndexEntry e;
  REQUIRE(idx.Find(a.id, BlobType::kData, &e));
  CHECK(e.offset == a.offset);
  CHECK(idx.BlobCount() == 7501);
}

TEST_CASE("MemIndex merges a known pack into its number", "[index]") {
  MemIndex idx;
  CHECK(idx.AddPack(PackId(0), {Entry(0), Entry(1)}) == 0);
  CHECK(idx.AddPack(PackId(1), {Entry(2)}) == 1);
  CHECK_FALSE(idx.PackHasTrees(0));
  // Again, with one blob more, a tree: same number, the new blob added.
  CHECK(idx.AddPack(PackId(0), {Entry(0), Entry(3, BlobType::kTree)}) == 0);
  CHECK(idx.PackCount() == 2);
  CHECK(idx.BlobCount() == 4);
  CHECK(idx.PackHasTrees(0));
  IndexEntry e;
  REQUIRE(idx.Find(Entry(3).id, BlobType::kTree, &e));
  CHECK(e.pack == 0);
  CHECK(idx.AddPack(PackId(0), {}) == 0);
  CHECK(idx.PackCount() == 2);
}

TEST_CASE("MemIndex of nothing finds nothing", "[index]") {
  MemIndex idx;
  IndexEntry e;
  CHECK_FALSE(idx.Find(RandomId(1), BlobType::kData, &e));
  CHECK_FALSE(idx.Contains(RandomId(1), BlobType::kTree));
  CHECK(idx.BlobCount() == 0);
  CHECK(idx.PackCount() == 0);
  uint32_t p;
  CHECK_FALSE(idx.FindPack(RandomId(1), &p));
  idx.ForEach([](const IndexEntry&) { FAIL("visited a blob"); });
}

TEST_CASE("MemIndex memory per blob", "[index]") {
  // Heap bytes in use, from malloc's own statistics (0 under sanitizers,
  // whose allocators do not keep them).
  auto heap = [] {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
  };
  constexpr uint64_t kBlobs = 1000000, kPerPack = 1000;
  std::vector<IndexEntry> pack(kPerPack);
  const size_t before = heap();
  {
    MemIndex idx;
    for (uint64_t n = 0; n < kBlobs; n += kPerPack) {
      for (uint64_t i = 0; i < kPerPack; i++) pack[i] = Entry(n + i);
      idx.AddPack(PackId(n), pack);
    }
    REQUIRE(idx.BlobCount() == kBlobs);
    const size_t after = heap();
    if (before == 0 && after == 0) {
      WARN("no malloc statistics here: not measured");
      return;
    }
    const double per_blob = static_cast<double>(after - before) / kBlobs;
    std::printf("MemIndex: %.1f bytes per blob (%llu blobs, %llu packs)\n", per_blob,
                static_cast<unsigned long long>(kBlobs),
                static_cast<unsigned long long>(kBlobs / kPerPack));
    CHECK(per_blob <= 64);
  }
}
