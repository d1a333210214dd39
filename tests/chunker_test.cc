#include "core/chunker.h"

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <functional>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;

Key KeyOf(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Chunks `data` the way a reader with max_size bytes of lookahead does.
std::vector<size_t> ChunkAll(const Chunker& c, std::string_view data) {
  std::vector<size_t> sizes;
  const size_t max = c.params().max_size;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t rest = data.size() - pos;
    size_t n = c.FindCut(Bytes(data) + pos, std::min(rest, max), rest <= max);
    REQUIRE(n > 0);
    REQUIRE(n <= std::min(rest, max));
    sizes.push_back(n);
    pos += n;
  }
  return sizes;
}

// Content hashes of the chunks, to compare two versions of a buffer.
std::vector<size_t> ChunkHashes(std::string_view data, const std::vector<size_t>& sizes) {
  std::vector<size_t> out;
  size_t pos = 0;
  for (size_t n : sizes) {
    out.push_back(std::hash<std::string_view>{}(data.substr(pos, n)));
    pos += n;
  }
  return out;
}

ChunkerParams Small() {  // 8 KiB average: many chunks from little data
  return ChunkerParams{.min_size = 2048, .avg_size = 8192, .max_size = 32768, .normalization = 2};
}

TEST_CASE("ChunkMask spreads the requested number of bits over 63..16") {
  for (unsigned bits = 1; bits <= 48; ++bits) {
    uint64_t m = ChunkMask(bits);
    CHECK(std::popcount(m) == static_cast<int>(bits));
    CHECK((m >> 63) == 1);
    CHECK(std::countr_zero(m) >= 16);
  }
}

TEST_CASE("GearTable::FromKey is deterministic and key-dependent") {
  GearTable a = GearTable::FromKey(KeyOf(1)), a2 = GearTable::FromKey(KeyOf(1));
  GearTable b = GearTable::FromKey(KeyOf(2));
  CHECK(a.v == a2.v);
  CHECK(a.v != b.v);
  std::unordered_set<uint64_t> distinct(a.v.begin(), a.v.end());
  CHECK(distinct.size() == 256);
}

TEST_CASE("chunking is deterministic per key and differs across keys") {
  std::string data = RandomData(4 << 20, 7);
  GearTable ta = GearTable::FromKey(KeyOf(1)), tb = GearTable::FromKey(KeyOf(2));
  Chunker a(Small(), &ta), a2(Small(), &ta), b(Small(), &tb);
  std::vector<size_t> sa = ChunkAll(a, data);
  CHECK(sa == ChunkAll(a2, data));
  std::vector<size_t> sb = ChunkAll(b, data);
  CHECK(sa != sb);
  // Cut offsets should be almost disjoint across keys.
  auto offsets = [](const std::vector<size_t>& s) {
    std::vector<size_t> o(s.size());
    std::partial_sum(s.begin(), s.end(), o.begin());
    return o;
  };
  std::vector<size_t> oa = offsets(sa), ob = offsets(sb), common;
  std::set_intersection(oa.begin(), oa.end(), ob.begin(), ob.end(), std::back_inserter(common));
  CHECK(common.size() < oa.size() / 10);
}

TEST_CASE("chunk sizes stay within [min, max] and average near avg_size") {
  GearTable t = GearTable::FromKey(KeyOf(3));
  auto check = [&](const ChunkerParams& p, size_t data_size) {
    Chunker c(p, &t);
    std::string data = RandomData(data_size, 11);
    std::vector<size_t> s = ChunkAll(c, data);
    REQUIRE(s.size() > 1);
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      CHECK(s[i] >= p.min_size);
      CHECK(s[i] <= p.max_size);
    }
    CHECK(s.back() <= p.max_size);
    double mean = static_cast<double>(data.size() - s.back()) / static_cast<double>(s.size() - 1);
    INFO("mean chunk " << mean << " for avg " << p.avg_size);
    CHECK(mean > 0.7 * p.avg_size);
    CHECK(mean < 1.3 * p.avg_size);
  };
  SECTION("small parameters, ~4000 chunks") { check(Small(), 32 << 20); }
  SECTION("default parameters, ~64 chunks") { check(ChunkerParams{}, 64 << 20); }
  SECTION("no normalization") {
    ChunkerParams p = Small();
    p.normalization = 0;
    check(p, 32 << 20);
  }
}

TEST_CASE("inserting or deleting bytes near the start leaves most chunks unchanged") {
  GearTable t = GearTable::FromKey(KeyOf(4));
  Chunker c(ChunkerParams{}, &t);
  std::string data = RandomData(32 << 20, 5);
  std::vector<size_t> before = ChunkHashes(data, ChunkAll(c, data));
  std::unordered_set<size_t> known(before.begin(), before.end());

  auto shared = [&](const std::string& edited) {
    std::vector<size_t> after = ChunkHashes(edited, ChunkAll(c, edited));
    size_t same = 0;
    for (size_t h : after) same += known.count(h);
    INFO(same << " of " << after.size() << " chunks unchanged");
    CHECK(after.size() >= 16);
    // The edit touches one chunk; the next cut resynchronises (at worst a
    // second chunk changes when the edit moves a cut across min/avg).
    CHECK(same + 2 >= after.size());
  };
  SECTION("insert") {
    std::string edited = data;
    edited.insert(1000, "klosetfs was here");
    shared(edited);
  }
  SECTION("delete") {
    std::string edited = data;
    edited.erase(4096, 3);
    shared(edited);
  }
}

TEST_CASE("a cut does not depend on how far beyond it the caller's buffer reaches") {
  GearTable t = GearTable::FromKey(KeyOf(5));
  Chunker c(Small(), &t);
  std::string data = RandomData(1 << 20, 9);
  const ChunkerParams& p = c.params();
  size_t full = c.FindCut(Bytes(data), p.max_size, false);
  REQUIRE(full > 0);
  for (size_t len = 0; len <= p.max_size; len += 97) {
    size_t n = c.FindCut(Bytes(data), len, false);
    if (len < full) {
      CHECK(n == 0);
      CHECK(c.FindCut(Bytes(data), len, true) == len);  // eof: the rest is the final chunk
    } else {
      CHECK(n == full);
      CHECK(c.FindCut(Bytes(data), len, true) == full);
    }
  }
}

TEST_CASE("bytes more than 64 before min_size never influence a cut") {
  GearTable t = GearTable::FromKey(KeyOf(9));
  Chunker c(Small(), &t);
  std::string data = RandomData(c.params().max_size, 19);
  size_t cut = c.FindCut(Bytes(data), data.size(), false);
  for (size_t i = 0; i + 64 < c.params().min_size; i += 7) data[i] = static_cast<char>(~data[i]);
  CHECK(c.FindCut(Bytes(data), data.size(), false) == cut);
}

TEST_CASE("input without a cut point is cut at max_size") {
  GearTable t = GearTable::FromKey(KeyOf(6));
  Chunker c(Small(), &t);
  const size_t max = c.params().max_size;
  // A constant input makes the hash constant; with overwhelming odds it
  // never matches a mask, so every cut is forced.
  std::string zeros(3 * max + 5, '\0');
  CHECK(ChunkAll(c, zeros) == std::vector<size_t>{max, max, max, 5});
  CHECK(c.FindCut(Bytes(zeros), max - 1, false) == 0);
  CHECK(c.FindCut(Bytes(zeros), max - 1, true) == max - 1);
  CHECK(c.FindCut(Bytes(zeros), max, false) == max);
  CHECK(c.FindCut(Bytes(zeros), 2 * max, false) == max);
}

TEST_CASE("inputs shorter than min_size and empty inputs") {
  GearTable t = GearTable::FromKey(KeyOf(7));
  Chunker c(Small(), &t);
  std::string data = RandomData(c.params().min_size, 13);
  for (size_t len : {size_t{1}, size_t{100}, data.size() - 1, data.size()}) {
    CHECK(c.FindCut(Bytes(data), len, true) == len);
    CHECK(c.FindCut(Bytes(data), len, false) == 0);
  }
  CHECK(ChunkAll(c, std::string_view(data).substr(0, 100)) == std::vector<size_t>{100});
  CHECK(c.FindCut(nullptr, 0, true) == 0);
  CHECK(c.FindCut(nullptr, 0, false) == 0);
  CHECK(ChunkAll(c, "").empty());
}

TEST_CASE("ChunkerParams::Valid and clamping of bad parameters") {
  CHECK(ChunkerParams{}.Valid());
  CHECK(Small().Valid());
  CHECK_FALSE((ChunkerParams{.min_size = 4096, .avg_size = 3000, .max_size = 8192}).Valid());
  CHECK_FALSE((ChunkerParams{.min_size = 8192, .avg_size = 4096, .max_size = 16384}).Valid());
  CHECK_FALSE((ChunkerParams{.min_size = 1024, .avg_size = 4096, .max_size = 2048}).Valid());
  CHECK_FALSE((ChunkerParams{.min_size = 0, .avg_size = 4096, .max_size = 8192}).Valid());
  CHECK_FALSE(
      (ChunkerParams{.min_size = 1024, .avg_size = 4096, .max_size = 8192, .normalization = 9})
          .Valid());
  CHECK_FALSE(
      (ChunkerParams{.min_size = 1024, .avg_size = 1u << 31, .max_size = 1u << 31}).Valid());

  // Garbage (as from a hostile config) must not crash or loop.
  GearTable t = GearTable::FromKey(KeyOf(8));
  std::string data = RandomData(1 << 20, 17);
  for (ChunkerParams p : {ChunkerParams{0, 0, 0, 99}, ChunkerParams{~0u, ~0u, ~0u, ~0u},
                          ChunkerParams{5000, 3000, 100, 1}}) {
    Chunker c(p, &t);
    CHECK(c.params().Valid());
    std::vector<size_t> s = ChunkAll(c, data);
    CHECK(std::accumulate(s.begin(), s.end(), size_t{0}) == data.size());
  }
}

}  // namespace
}  // namespace kloset
