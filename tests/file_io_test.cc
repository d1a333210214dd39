// Tests for core/file_io.h: FileWriter (chunking, dedup, holes, pool,
// errors) and FileReader (ranges, holes, loads only what a read needs).
#include <catch2/catch.hpp>
#include <numeric>
#include <random>
#include <set>

#include "core/file_io.h"
#include "core/memory_blob_store.h"
#include "core/thread_pool.h"
#include "tests/chunk_test_util.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::SameChunks;
using testing::SmallChunks;
using testing::TestGear;


// Writes `data` in pieces of the given sizes (cycled), returns the chunks.
std::vector<ChunkRef> WriteAll(BlobStore* store, std::string_view data,
                               const ChunkerParams& p, std::vector<size_t> pieces = {1 << 20},
                               ThreadPool* pool = nullptr, WriteStats* stats = nullptr) {
  FileWriter w(store, p, &TestGear(), pool);
  size_t pos = 0;
  for (size_t k = 0; pos < data.size(); k++) {
    size_t n = std::min(pieces[k % pieces.size()], data.size() - pos);
    REQUIRE(w.Write(data.substr(pos, n)).ok());
    pos += n;
  }
  CHECK(w.bytes_written() == data.size());
  std::vector<ChunkRef> chunks;
  Status s = w.Finish(&chunks, stats);
  REQUIRE(s.ok());
  return chunks;
}

uint64_t Total(const std::vector<ChunkRef>& chunks) {
  uint64_t t = 0;
  for (const ChunkRef& c : chunks) t += c.size;
  return t;
}

std::string ReadRange(const FileReader& r, uint64_t off, size_t len) {
  std::string out;
  Status s = r.ReadAt(off, len, &out);
  REQUIRE(s.ok());
  return out;
}

}  // namespace

TEST_CASE("empty file has no chunks", "[file_io]") {
  MemoryBlobStore store;
  std::vector<ChunkRef> chunks = WriteAll(&store, "", SmallChunks());
  CHECK(chunks.empty());
  CHECK(store.blob_count() == 0);
  FileReader r(&store, chunks);
  CHECK(r.size() == 0);
  CHECK(ReadRange(r, 0, 100).empty());
}

TEST_CASE("chunks round trip and do not depend on write sizes", "[file_io]") {
  const ChunkerParams p = SmallChunks();
  const std::string data = RandomData(3 * 1024 * 1024 + 12345, 1);
  MemoryBlobStore store;
  WriteStats stats;
  std::vector<ChunkRef> chunks = WriteAll(&store, data, p, {1 << 20}, nullptr, &stats);
  REQUIRE(Total(chunks) == data.size());
  CHECK(chunks.size() > 50);
  for (size_t i = 0; i < chunks.size(); i++) {
    CHECK(chunks[i].size <= p.max_size);
    CHECK_FALSE(chunks[i].is_hole);
    if (i + 1 < chunks.size()) CHECK(chunks[i].size >= p.min_size);
  }
  CHECK(stats.chunks == chunks.size());
  CHECK(stats.bytes == data.size());
  CHECK(stats.new_bytes == data.size());
  CHECK(stats.new_chunks == store.blob_count());
  CHECK(stats.stored_bytes == data.size() + kSealOverhead * stats.new_chunks);

  // Every chunk id is the hash of the bytes it covers.
  uint64_t off = 0;
  for (const ChunkRef& c : chunks) {
    CHECK(c.id == store.HashBlob(std::string_view(data).substr(off, c.size)));
    off += c.size;
  }

  // Same content, written in odd pieces or inline vs on a pool: same chunks.
  MemoryBlobStore other;
  CHECK(SameChunks(WriteAll(&other, data, p, {1, 7, 4096, 100000, 3}), chunks));
  ThreadPool pool(2);
  MemoryBlobStore pooled;
  CHECK(SameChunks(WriteAll(&pooled, data, p, {65536}, &pool), chunks));
  CHECK(pooled.blob_count() == store.blob_count());
}

TEST_CASE("writing the same data again adds no blobs", "[file_io]") {
  const std::string data = RandomData(2 * 1024 * 1024, 2);
  MemoryBlobStore store;
  ThreadPool pool(2);
  std::vector<ChunkRef> a = WriteAll(&store, data, SmallChunks(), {1 << 20}, &pool);
  size_t blobs = store.blob_count();
  uint64_t bytes = store.byte_count();
  WriteStats stats;
  std::vector<ChunkRef> b = WriteAll(&store, data, SmallChunks(), {1000}, &pool, &stats);
  CHECK(SameChunks(a, b));
  CHECK(store.blob_count() == blobs);
  CHECK(store.byte_count() == bytes);
  CHECK(stats.chunks == a.size());
  CHECK(stats.new_chunks == 0);
  CHECK(stats.new_bytes == 0);
  CHECK(stats.stored_bytes == 0);
}

TEST_CASE("an insert in the middle of a 20 MiB file changes a couple of chunks", "[file_io]") {
  ChunkerParams p;  // the defaults: 256 KiB / 1 MiB / 4 MiB
  std::string data = RandomData(20 * 1024 * 1024, 3);
  MemoryBlobStore store;
  ThreadPool pool(2);
  std::vector<ChunkRef> a = WriteAll(&store, data, p, {1 << 20}, &pool);
  const size_t blobs = store.blob_count();
  data.insert(data.size() / 2, "a few inserted bytes");
  WriteStats stats;
  std::vector<ChunkRef> b = WriteAll(&store, data, p, {128 * 1024}, &pool, &stats);
  REQUIRE(Total(b) == data.size());
  const size_t added = store.blob_count() - blobs;
  WARN("20 MiB file: " << a.size() << " chunks; insert added " << added << " chunks, "
                       << stats.new_bytes << " bytes");
  CHECK(added >= 1);
  CHECK(added <= 2);
  CHECK(stats.new_chunks == added);
  std::set<Hash> old_ids;
  for (const ChunkRef& c : a) old_ids.insert(c.id);
  size_t reused = 0;
  for (const ChunkRef& c : b) reused += old_ids.count(c.id);
  CHECK(reused + added == b.size());
}

TEST_CASE("FileReader serves any range and loads only the chunks it needs", "[file_io]") {
  const std::string data = RandomData(1024 * 1024 + 777, 4);
  MemoryBlobStore store;
  std::vector<ChunkRef> chunks = WriteAll(&store, data, SmallChunks());
  FileReader r(&store, chunks);
  REQUIRE(r.size() == data.size());

  std::mt19937_64 rng(5);
  for (int k = 0; k < 300; k++) {
    uint64_t off = rng() % (data.size() + 100);
    size_t len = rng() % 3 == 0 ? rng() % 200000 : rng() % 5000;
    store.ResetCounters();
    std::string got = ReadRange(r, off, len);
    std::string want = off < data.size() ? data.substr(off, len) : "";
    REQUIRE(got == want);
    // Exactly the chunks overlapping [off, off + got.size()) were loaded.
    size_t need = got.empty() ? 0 : r.ChunkAt(off + got.size() - 1) - r.ChunkAt(off) + 1;
    CHECK(store.load_count() == need);
  }

  // Reads spanning a boundary load exactly the two chunks.
  uint64_t boundary = chunks[0].size + chunks[1].size;
  store.ResetCounters();
  CHECK(ReadRange(r, boundary - 10, 20) == data.substr(boundary - 10, 20));
  CHECK(store.load_count() == 2);
  CHECK(r.ChunkAt(boundary - 1) == 1);
  CHECK(r.ChunkAt(boundary) == 2);
  CHECK(r.ChunkAt(0) == 0);

  // At and after EOF: nothing; a read running past EOF is cut short.
  store.ResetCounters();
  CHECK(ReadRange(r, data.size(), 10).empty());
  CHECK(ReadRange(r, data.size() + 1000, 10).empty());
  CHECK(ReadRange(r, 5, 0).empty());
  CHECK(store.load_count() == 0);
  CHECK(ReadRange(r, data.size() - 3, 100) == data.substr(data.size() - 3));
  CHECK(ReadRange(r, 0, SIZE_MAX) == data);
  CHECK(ReadRange(r, 1, SIZE_MAX) == data.substr(1));
}

TEST_CASE("holes are stored as holes and read as zeros", "[file_io]") {
  const ChunkerParams p = SmallChunks();
  const std::string a = RandomData(100000, 6), b = RandomData(5000, 7);
  MemoryBlobStore store;
  FileWriter w(&store, p, &TestGear());
  REQUIRE(w.WriteHole(0).ok());
  REQUIRE(w.WriteHole(1000).ok());
  REQUIRE(w.Write(a).ok());
  REQUIRE(w.WriteHole(300000).ok());
  REQUIRE(w.WriteHole(12).ok());  // merges with the hole before
  REQUIRE(w.Write(b).ok());
  REQUIRE(w.WriteHole(4096).ok());
  CHECK(w.bytes_written() == 1000 + a.size() + 300012 + b.size() + 4096);
  std::vector<ChunkRef> chunks;
  WriteStats stats;
  REQUIRE(w.Finish(&chunks, &stats).ok());
  CHECK(stats.bytes == a.size() + b.size());

  std::string want = std::string(1000, '\0') + a + std::string(300012, '\0') + b +
                     std::string(4096, '\0');
  REQUIRE(Total(chunks) == want.size());
  size_t holes = 0;
  for (size_t i = 0; i < chunks.size(); i++) {
    holes += chunks[i].is_hole;
    if (i > 0) CHECK_FALSE((chunks[i].is_hole && chunks[i - 1].is_hole));
  }
  CHECK(holes == 3);
  CHECK(chunks.front().is_hole);
  CHECK(chunks.front().size == 1000);
  CHECK(chunks.back().is_hole);

  FileReader r(&store, chunks);
  CHECK(ReadRange(r, 0, want.size()) == want);
  std::mt19937_64 rng(8);
  for (int k = 0; k < 200; k++) {
    uint64_t off = rng() % want.size();
    size_t len = rng() % 120000;
    REQUIRE(ReadRange(r, off, len) == want.substr(off, len));
  }
  // Reading inside a hole loads nothing.
  store.ResetCounters();
  CHECK(ReadRange(r, 1000 + a.size() + 10, 1000) == std::string(1000, '\0'));
  CHECK(store.load_count() == 0);

  // A file that is all hole.
  FileWriter h(&store, p, &TestGear());
  REQUIRE(h.WriteHole(1 << 30).ok());
  REQUIRE(h.Finish(&chunks).ok());
  REQUIRE(chunks.size() == 1);
  CHECK(FileReader(&store, chunks).size() == 1u << 30);
  CHECK(ReadRange(FileReader(&store, chunks), (1u << 30) - 5, 10) == std::string(5, '\0'));
}

TEST_CASE("FileReader reports damaged or missing chunks", "[file_io]") {
  const std::string data = RandomData(200000, 9);
  MemoryBlobStore store;
  std::vector<ChunkRef> chunks = WriteAll(&store, data, SmallChunks());
  REQUIRE(chunks.size() >= 3);
  FileReader r(&store, chunks);
  std::string out;

  SECTION("wrong size") {
    store.Put(BlobType::kData, chunks[1].id, "short");
    Status s = r.ReadAt(chunks[0].size, 10, &out);
    CHECK(s.IsCorrupt());
    CHECK(s.message().find(ToHex(chunks[1].id)) != std::string::npos);
    CHECK(r.ReadAt(0, 10, &out).ok());  // other chunks still read
  }
  SECTION("missing") {
    REQUIRE(store.Erase(BlobType::kData, chunks[2].id));
    // A chunk the file names but the store lacks is damage, not "no such file".
    CHECK(r.ReadAt(0, data.size(), &out).IsCorrupt());
  }
  SECTION("sizes that overflow") {
    std::vector<ChunkRef> bad = {{Hash{}, UINT64_MAX, true}, {Hash{}, 10, true}};
    FileReader hostile(&store, bad);
    CHECK(hostile.ReadAt(0, 10, &out).IsCorrupt());
  }
}

TEST_CASE("SaveBlob errors come back from Write or Finish", "[file_io]") {
  const std::string data = RandomData(1024 * 1024, 10);
  ThreadPool pool(2);
  for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
    MemoryBlobStore store;
    store.FailSaves(Status::NoSpace("disk full"));
    FileWriter w(&store, SmallChunks(), &TestGear(), tp);
    Status s;
    for (size_t off = 0; off < data.size() && s.ok(); off += 10000) {
      s = w.Write(std::string_view(data).substr(off, 10000));
    }
    std::vector<ChunkRef> chunks;
    Status f = w.Finish(&chunks);
    CHECK(f.code() == Code::kNoSpace);
    if (!s.ok()) CHECK(s.code() == Code::kNoSpace);
    CHECK(w.Write("x").code() == Code::kInvalidArgument);  // spent
  }
  // A small file fails only at Finish (its one chunk is cut there).
  MemoryBlobStore store;
  store.FailSaves(Status::IOError("boom"));
  FileWriter w(&store, SmallChunks(), &TestGear(), &pool);
  REQUIRE(w.Write("tiny").ok());
  std::vector<ChunkRef> chunks;
  CHECK(w.Finish(&chunks).code() == Code::kIOError);
}

TEST_CASE("many writers share one pool", "[file_io]") {
  ThreadPool pool(2);
  MemoryBlobStore store;
  std::vector<std::string> files;
  for (int i = 0; i < 4; i++) files.push_back(RandomData(300000 + i * 1000, 20 + i));
  std::vector<std::unique_ptr<FileWriter>> writers;
  for (size_t i = 0; i < files.size(); i++) {
    writers.push_back(std::make_unique<FileWriter>(&store, SmallChunks(), &TestGear(), &pool));
  }
  // Interleave writes across writers.
  for (size_t off = 0; off < 310000; off += 7000) {
    for (size_t i = 0; i < files.size(); i++) {
      if (off < files[i].size()) {
        REQUIRE(writers[i]->Write(std::string_view(files[i]).substr(off, 7000)).ok());
      }
    }
  }
  for (size_t i = 0; i < files.size(); i++) {
    std::vector<ChunkRef> chunks;
    REQUIRE(writers[i]->Finish(&chunks).ok());
    CHECK(ReadRange(FileReader(&store, chunks), 0, SIZE_MAX) == files[i]);
  }
  // Abandoning a writer mid-file is safe.
  auto abandoned = std::make_unique<FileWriter>(&store, SmallChunks(), &TestGear(), &pool);
  REQUIRE(abandoned->Write(files[0]).ok());
  abandoned.reset();
}

}  // namespace kloset
