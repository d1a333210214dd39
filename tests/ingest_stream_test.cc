// Tests for core/ingest_stream.h: the chunks are a FileWriter's for the same
// bytes whatever the write sizes, holes and size class; errors of the
// background work come back; a stream dropped unfinished does not hang.
#include <catch2/catch.hpp>

#include "core/file_io.h"
#include "core/ingest_stream.h"
#include "core/memory_blob_store.h"
#include "core/thread_pool.h"
#include "tests/chunk_test_util.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::SmallChunks;
using testing::TestGear;

// What FileWriter makes of `data` (written whole; holes as `holes` says:
// offset -> length, inserted before the byte at that offset).
std::vector<ChunkRef> Reference(const std::string& data, const std::map<size_t, uint64_t>& holes) {
  MemoryBlobStore store;
  FileWriter w(&store, SmallChunks(), &TestGear(), nullptr);
  size_t pos = 0;
  for (auto [at, len] : holes) {
    REQUIRE(w.Write(std::string_view(data).substr(pos, at - pos)).ok());
    REQUIRE(w.WriteHole(len).ok());
    pos = at;
  }
  REQUIRE(w.Write(std::string_view(data).substr(pos)).ok());
  std::vector<ChunkRef> chunks;
  REQUIRE(w.Finish(&chunks).ok());
  return chunks;
}

std::vector<ChunkRef> Streamed(MemoryBlobStore* store, ThreadPool* pool, const std::string& data,
                               const std::map<size_t, uint64_t>& holes, size_t piece) {
  IngestStream s(store, SmallChunks(), &TestGear(), pool);
  size_t pos = 0;
  auto write_to = [&](size_t end) {
    for (; pos < end; pos += std::min(piece, end - pos)) {
      REQUIRE(s.Write(std::string_view(data).substr(pos, std::min(piece, end - pos))).ok());
    }
  };
  for (auto [at, len] : holes) {
    write_to(at);
    REQUIRE(s.WriteHole(len).ok());
  }
  write_to(data.size());
  std::vector<ChunkRef> chunks;
  REQUIRE(s.Finish(&chunks).ok());
  return chunks;
}

}  // namespace

TEST_CASE("ingest stream: a FileWriter's chunks for every size and write pattern",
          "[ingest_stream]") {
  const size_t min = SmallChunks().min_size;
  ThreadPool pool(2);
  struct Case {
    size_t size;
    std::map<size_t, uint64_t> holes;
  };
  const std::vector<Case> cases = {
      {0, {}},           {1, {}},         {min - 1, {}},         {min, {}},
      {min + 1, {}},     {3 << 20, {}},   {100, {{50, 1 << 20}}}, {200000, {{0, 4096}}},
      {1 << 20, {{700000, 12345}, {900000, 1 << 20}}},
  };
  for (const Case& c : cases) {
    const std::string data = RandomData(c.size, c.size + 1);
    const std::vector<ChunkRef> want = Reference(data, c.holes);
    for (size_t piece : {size_t{1000}, size_t{4096}, size_t{131072}, size_t{1} << 20}) {
      INFO("size " << c.size << ", holes " << c.holes.size() << ", pieces of " << piece);
      MemoryBlobStore store;
      CHECK(testing::SameChunks(Streamed(&store, &pool, data, c.holes, piece), want));
      // Every chunk it names is in the store, holding the right bytes.
      for (const ChunkRef& r : want) {
        if (r.is_hole) continue;
        std::string got;
        REQUIRE(store.LoadBlob(BlobType::kData, r.id, &got).ok());
        CHECK(got.size() == r.size);
      }
    }
  }
}

TEST_CASE("ingest stream: store errors come back, and the stream stays failed",
          "[ingest_stream]") {
  ThreadPool pool(2);
  for (size_t size : {size_t{100}, size_t{2} << 20}) {
    INFO("size " << size);
    MemoryBlobStore store;
    store.FailSaves(Status::NoSpace("disk full"));
    IngestStream s(&store, SmallChunks(), &TestGear(), &pool);
    const std::string data = RandomData(size, 3);
    Status w;
    for (size_t off = 0; off < data.size() && w.ok(); off += 65536) {
      w = s.Write(std::string_view(data).substr(off, 65536));
    }
    if (!w.ok()) CHECK(w.code() == Code::kNoSpace);
    std::vector<ChunkRef> chunks;
    CHECK(s.Finish(&chunks).code() == Code::kNoSpace);
    CHECK(s.Write("x").code() == Code::kInvalidArgument);  // spent
    CHECK(s.Finish(&chunks).code() == Code::kInvalidArgument);
  }
}

TEST_CASE("ingest stream: dropped unfinished with bytes queued, it ends promptly",
          "[ingest_stream]") {
  ThreadPool pool(1);
  MemoryBlobStore store;
  const std::string data = RandomData(8 << 20, 4);
  {
    IngestStream s(&store, SmallChunks(), &TestGear(), &pool);
    for (size_t off = 0; off < data.size(); off += 1 << 20) {
      REQUIRE(s.Write(std::string_view(data).substr(off, 1 << 20)).ok());
    }
  }  // the destructor drops what is queued and waits for the rest
  // The pool is free again: a new stream of the same bytes completes.
  IngestStream again(&store, SmallChunks(), &TestGear(), &pool);
  REQUIRE(again.Write(data).ok());
  std::vector<ChunkRef> chunks;
  REQUIRE(again.Finish(&chunks).ok());
  CHECK(testing::SameChunks(chunks, Reference(data, {})));
}

}  // namespace kloset
