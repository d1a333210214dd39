// Tests for core/ingest_file.h and core/staging_area.h over a MemoryBlobStore:
// streaming equals FileWriter, random writes / truncates / reads against a
// model string, holes, no plaintext on disk, the staging cap, concurrency.
#include "core/ingest_file.h"

#include <dirent.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "core/file_io.h"
#include "core/memory_blob_store.h"
#include "core/staging_area.h"
#include "core/thread_pool.h"
#include "tests/chunk_test_util.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::SmallChunks;
using testing::TestGear;
using testing::TempDir;


constexpr uint64_t kB = StagingArea::kBlockSize;

// A store, chunker settings, a staging area and an optional pool.
struct Fixture {
  explicit Fixture(uint64_t cap = 1ull << 30, size_t threads = 0) {
    REQUIRE(InitCrypto());
    REQUIRE(StagingArea::Open(dir / "staging", RandomKey(), cap, &staging).ok());
    if (threads) pool = std::make_unique<ThreadPool>(threads);
    env = IngestFileEnv{&store, &params, &TestGear(), pool.get(), staging.get()};
  }
  std::unique_ptr<IngestFile> NewFile(std::vector<ChunkRef> base = {}, uint64_t size = 0) {
    return std::make_unique<IngestFile>(env, std::move(base), size);
  }
  std::vector<ChunkRef> Stream(std::string_view data) {
    FileWriter w(&store, params, &TestGear());
    REQUIRE(w.Write(data).ok());
    std::vector<ChunkRef> chunks;
    REQUIRE(w.Finish(&chunks).ok());
    return chunks;
  }
  std::string ReadChunks(const std::vector<ChunkRef>& chunks, uint64_t size) {
    FileReader r(&store, chunks);
    REQUIRE(r.size() == size);
    std::string out;
    REQUIRE(r.ReadAt(0, size, &out).ok());
    return out;
  }
  // Names of the files in the staging directory (without the lock file).
  std::vector<std::string> StagingFiles() {
    std::vector<std::string> names;
    DIR* d = opendir((dir / "staging").c_str());
    REQUIRE(d);
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != ".lock") names.push_back(n);
    }
    closedir(d);
    return names;
  }

  TempDir dir;
  MemoryBlobStore store;
  ChunkerParams params = SmallChunks();
  std::unique_ptr<StagingArea> staging;
  std::unique_ptr<ThreadPool> pool;
  IngestFileEnv env;
};

std::string ReadAll(IngestFile* f) {
  std::string out;
  Status s = f->Read(0, f->size() + 10, &out);
  REQUIRE(s.ok());
  return out;
}

void CommitTo(IngestFile* f, std::vector<ChunkRef>* chunks, uint64_t* size) {
  Status s = f->Commit(chunks, size);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK_FALSE(f->dirty());
}

uint64_t HoleBytes(const std::vector<ChunkRef>& chunks) {
  uint64_t n = 0;
  for (const ChunkRef& c : chunks) n += c.is_hole ? c.size : 0;
  return n;
}

}  // namespace

TEST_CASE("sequential writes stream into the chunks FileWriter makes", "[ingest_file]") {
  for (size_t threads : {0, 2}) {
    Fixture fx(1ull << 30, threads);
    const std::string data = RandomData(3 << 20, 7) + std::string(500000, 'x');
    auto f = fx.NewFile();
    std::mt19937_64 rng(threads);
    for (size_t pos = 0; pos < data.size();) {
      size_t n = std::min<size_t>(data.size() - pos, 1 + rng() % 200000);
      REQUIRE(f->Write(pos, std::string_view(data).substr(pos, n)).ok());
      pos += n;
    }
    CHECK(f->dirty());
    CHECK(f->size() == data.size());
    std::vector<ChunkRef> chunks;
    uint64_t size = 0;
    CommitTo(f.get(), &chunks, &size);
    CHECK(size == data.size());
    CHECK(chunks == fx.Stream(data));
    CHECK(fx.staging->used_bytes() == 0);
    CHECK(fx.StagingFiles().empty());
    // Commit is repeatable and an unchanged file gives the same list.
    std::vector<ChunkRef> again;
    CommitTo(f.get(), &again, &size);
    CHECK(again == chunks);
  }
}

TEST_CASE("truncate to 0 then rewrite streams again", "[ingest_file]") {
  Fixture fx;
  const std::string old_data = RandomData(300000, 1), data = RandomData(400000, 2);
  auto f = fx.NewFile(fx.Stream(old_data), old_data.size());
  CHECK(ReadAll(f.get()) == old_data);
  CHECK_FALSE(f->dirty());
  REQUIRE(f->Truncate(0).ok());
  for (size_t pos = 0; pos < data.size(); pos += 65536) {
    REQUIRE(f->Write(pos, std::string_view(data).substr(pos, 65536)).ok());
  }
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(chunks == fx.Stream(data));
  CHECK(fx.StagingFiles().empty());
}

TEST_CASE("appends after a commit continue after the committed chunks", "[ingest_file]") {
  Fixture fx;
  const std::string a = RandomData(200000, 3), b = RandomData(150000, 4);
  auto f = fx.NewFile();
  REQUIRE(f->Write(0, a).ok());
  std::vector<ChunkRef> first, second;
  uint64_t size = 0;
  CommitTo(f.get(), &first, &size);
  REQUIRE(f->Write(a.size(), b).ok());
  CommitTo(f.get(), &second, &size);
  CHECK(size == a.size() + b.size());
  REQUIRE(second.size() > first.size());
  CHECK(std::equal(first.begin(), first.end(), second.begin()));
  CHECK(fx.ReadChunks(second, size) == a + b);
  CHECK(fx.staging->used_bytes() == 0);
}

TEST_CASE("streamed gaps and extensions become holes", "[ingest_file]") {
  Fixture fx;
  auto f = fx.NewFile();
  const std::string a = RandomData(10000, 5), b = RandomData(20000, 6);
  REQUIRE(f->Write(0, a).ok());
  REQUIRE(f->Write(5000000, b).ok());  // a gap past the end
  REQUIRE(f->Truncate(9000000).ok());  // grows by a hole
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(size == 9000000);
  CHECK(HoleBytes(chunks) == 9000000 - a.size() - b.size());
  std::string want = a + std::string(5000000 - a.size(), '\0') + b;
  want.resize(9000000, '\0');
  CHECK(fx.ReadChunks(chunks, size) == want);
  CHECK(fx.staging->used_bytes() == 0);
}

TEST_CASE("staged sparse writes and shrink-regrow become holes", "[ingest_file]") {
  Fixture fx;
  const std::string base = RandomData(1 << 20, 8);
  auto f = fx.NewFile(fx.Stream(base), base.size());
  REQUIRE(f->Write(100, "edit").ok());           // staged: not at the end
  REQUIRE(f->Write(50 << 20, "far away").ok());  // staged sparse write
  std::string want = base;
  want.replace(100, 4, "edit");
  want.resize(50 << 20, '\0');
  want += "far away";
  CHECK(ReadAll(f.get()) == want);
  CHECK(fx.staging->used_bytes() == 2 * kB);
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == want);
  CHECK(HoleBytes(chunks) > (48u << 20));
  CHECK(fx.staging->used_bytes() == 0);
  CHECK(fx.StagingFiles().empty());

  // Base bytes past a shrink read as zeros after the file grows again.
  REQUIRE(f->Truncate(1000).ok());
  REQUIRE(f->Truncate(600000).ok());
  want = want.substr(0, 1000) + std::string(599000, '\0');
  CHECK(ReadAll(f.get()) == want);
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == want);
  CHECK(HoleBytes(chunks) >= 599000 - fx.params.max_size);
}

TEST_CASE("a small edit rechunks only the chunks around it", "[ingest_file]") {
  Fixture fx;
  const std::string base = RandomData(4 << 20, 9);
  const std::vector<ChunkRef> base_chunks = fx.Stream(base);
  auto f = fx.NewFile(base_chunks, base.size());
  REQUIRE(f->Write(2 << 20, "x").ok());
  fx.store.ResetCounters();
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.store.load_count() <= 2);  // the edited chunk (read once for the block, once here)
  size_t same = 0;
  for (const ChunkRef& c : chunks) {
    same += std::find(base_chunks.begin(), base_chunks.end(), c) != base_chunks.end();
  }
  CHECK(same + 3 >= base_chunks.size());
  std::string want = base;
  want[2 << 20] = 'x';
  CHECK(fx.ReadChunks(chunks, size) == want);
}

TEST_CASE("reading streamed bytes ends the stream and stays correct", "[ingest_file]") {
  Fixture fx(1ull << 30, 2);
  const std::string a = RandomData(300000, 10), b = RandomData(100000, 11);
  auto f = fx.NewFile();
  REQUIRE(f->Write(0, a).ok());
  std::string got;
  REQUIRE(f->Read(1000, 5000, &got).ok());
  CHECK(got == a.substr(1000, 5000));
  REQUIRE(f->Write(a.size(), b).ok());  // staged now, still at the end
  CHECK(fx.staging->used_bytes() > 0);
  CHECK(ReadAll(f.get()) == a + b);
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == a + b);
  CHECK(fx.staging->used_bytes() == 0);
}

// Thousands of random operations against a model string, with commits and
// reopens (a new IngestFile over the committed chunks) in between.
void RandomOps(Fixture& fx, uint64_t seed, int ops, uint64_t max_size, bool expect_spills) {
  std::mt19937_64 rng(seed);
  uint64_t peak = 0, spills = 0;
  auto rnd = [&](uint64_t n) { return n ? rng() % n : 0; };
  std::string model = RandomData(rnd(max_size / 2), seed);
  auto f = fx.NewFile(fx.Stream(model), model.size());
  for (int op = 0; op < ops; op++) {
    INFO("op " << op << " size " << model.size());
    const uint64_t kind = rnd(100);
    if (kind < 45) {  // write: anywhere, at the end, or past it
      uint64_t off = kind < 15 ? model.size() : rnd(model.size() + 100000);
      size_t len = rnd(4) == 0 ? 1 + rnd(100) : 1 + rnd(200000);
      if (off + len > max_size) continue;
      std::string data =
          rnd(3) == 0 ? std::string(len, static_cast<char>('a' + rnd(26))) : RandomData(len, rng());
      const uint64_t used = fx.staging->used_bytes();
      Status s = f->Write(off, data);
      INFO(s.ToString());
      REQUIRE(s.ok());
      peak = std::max(peak, fx.staging->used_bytes());
      spills += fx.staging->used_bytes() < used;  // only a spill frees space on a write
      if (model.size() < off) model.resize(off, '\0');
      model.replace(off, std::min(len, model.size() - off), data);
    } else if (kind < 70) {  // read
      uint64_t off = rnd(model.size() + 1000);
      size_t len = rnd(300000);
      std::string got;
      REQUIRE(f->Read(off, len, &got).ok());
      CHECK((off >= model.size() ? got.empty() : got == model.substr(off, len)));
    } else if (kind < 85) {  // truncate
      uint64_t to = rnd(20) == 0 ? 0 : rnd(std::min<uint64_t>(model.size() * 5 / 4 + 2, max_size));
      REQUIRE(f->Truncate(to).ok());
      model.resize(to, '\0');
    } else if (kind < 97) {  // commit, check the chunk list
      std::vector<ChunkRef> chunks;
      uint64_t size = 0;
      CommitTo(f.get(), &chunks, &size);
      REQUIRE(size == model.size());
      REQUIRE(fx.ReadChunks(chunks, size) == model);
      if (rnd(3) == 0) f = fx.NewFile(chunks, size);  // close and reopen
    } else {                                          // spill
      REQUIRE(f->Spill().ok());
    }
    REQUIRE(f->size() == model.size());
  }
  CHECK(ReadAll(f.get()) == model);
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == model);
  CHECK(peak > 0);  // the staged path was taken
  CHECK((spills > 0) == expect_spills);
  f.reset();
  CHECK(fx.staging->used_bytes() == 0);
  CHECK(fx.StagingFiles().empty());
}

TEST_CASE("random writes, truncates and reads match a model", "[ingest_file]") {
  SECTION("inline") {
    Fixture fx;
    RandomOps(fx, 1, 3000, 3 << 20, false);
  }
  SECTION("pool") {
    Fixture fx(1ull << 30, 2);
    RandomOps(fx, 2, 3000, 3 << 20, false);
  }
  SECTION("small cap: writes spill to the store") {
    Fixture fx(8 * kB);
    RandomOps(fx, 3, 2000, 2 << 20, true);
  }
}

TEST_CASE("staging files hold no plaintext", "[ingest_file]") {
  Fixture fx;
  const std::string marker = "KLOSETFS-PLAINTEXT-MARKER-0123456789";
  std::string pattern;
  while (pattern.size() < 400000) pattern += marker;
  auto f = fx.NewFile();
  REQUIRE(f->Write(1, pattern).ok());  // streams (a gap, then data)
  REQUIRE(f->Write(0, pattern).ok());  // before the end: staged
  REQUIRE(f->Write(2000000, pattern).ok());
  REQUIRE(f->Truncate(2100000).ok());
  std::vector<std::string> files = fx.StagingFiles();
  REQUIRE(files.size() == 1);
  std::string staged = testing::ReadFile(fx.dir / ("staging/" + files[0]));
  CHECK(staged.size() >= 10 * StagingArea::kSlotSize);
  CHECK(staged.find("KLOSETFS-PLAINTEXT") == std::string::npos);
  CHECK(staged.find(marker.substr(10, 16)) == std::string::npos);
  struct stat sb;
  REQUIRE(stat((fx.dir / "staging").c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0700);
  REQUIRE(stat((fx.dir / ("staging/" + files[0])).c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
  std::string got;
  REQUIRE(f->Read(0, pattern.size(), &got).ok());
  CHECK(got == pattern);
}

TEST_CASE("damaged or swapped staged blocks read as corrupt", "[ingest_file]") {
  Fixture fx;
  auto f = fx.NewFile();
  const std::string a = RandomData(kB, 20), b = RandomData(kB, 21);
  REQUIRE(f->Write(kB, b).ok());
  REQUIRE(f->Write(0, a).ok());   // staged: block 0 (slot 0)
  REQUIRE(f->Write(kB, b).ok());  // block 1 rewritten into slot 1
  std::string got;
  REQUIRE(f->Read(0, 2 * kB, &got).ok());
  REQUIRE(got == a + b);
  const std::string path = fx.dir / ("staging/" + fx.StagingFiles().at(0));
  std::string raw = testing::ReadFile(path);
  REQUIRE(raw.size() == 2 * StagingArea::kSlotSize);
  SECTION("swapped slots") {
    testing::WriteFile(path,
                       raw.substr(StagingArea::kSlotSize) + raw.substr(0, StagingArea::kSlotSize));
  }
  SECTION("flipped byte") {
    raw[100] ^= 1;
    testing::WriteFile(path, raw);
  }
  Status s = f->Read(0, 10, &got);
  CHECK(s.IsCorrupt());
  CHECK(got.empty());
}

TEST_CASE("a full staging area gives kNoSpace and keeps the old content", "[ingest_file]") {
  Fixture fx(4 * kB);
  const std::string base = RandomData(600000, 30);
  auto a = fx.NewFile(fx.Stream(base), base.size());
  auto b = fx.NewFile(fx.Stream(base), base.size());
  std::string model_a = base;
  for (uint64_t i = 0; i < 4; i++) {  // four staged blocks fill the cap
    REQUIRE(a->Write(i * kB + 10, "aaaa").ok());
    model_a.replace(i * kB + 10, 4, "aaaa");
  }
  CHECK(fx.staging->used_bytes() == fx.staging->cap_bytes());

  // b holds no blocks of its own: nothing to spill.
  Status s = b->Write(5, "bbbb");
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find("cap") != std::string::npos);
  CHECK(ReadAll(b.get()) == base);
  CHECK_FALSE(b->dirty());

  // A single write larger than the cap fails whole.
  s = a->Write(0, std::string(5 * kB, 'z'));
  CHECK(s.code() == Code::kNoSpace);
  CHECK(ReadAll(a.get()) == model_a);

  // a spills its own blocks to the store and then has room.
  REQUIRE(a->Write(8 * kB + 1, "more").ok());
  model_a.replace(8 * kB + 1, 4, "more");
  CHECK(fx.staging->used_bytes() == kB);
  CHECK(ReadAll(a.get()) == model_a);
  CHECK(a->dirty());
  REQUIRE(b->Write(5, "bbbb").ok());

  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  CommitTo(a.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == model_a);
}

TEST_CASE("a store error while streaming fails the file until truncated", "[ingest_file]") {
  Fixture fx;
  auto f = fx.NewFile();
  REQUIRE(f->Write(0, RandomData(100000, 40)).ok());
  fx.store.FailSaves(Status::IOError("disk gone"));
  Status s = f->Write(100000, RandomData(300000, 41));
  std::vector<ChunkRef> chunks;
  uint64_t size = 0;
  if (s.ok()) s = f->Commit(&chunks, &size);
  CHECK(s.code() == Code::kIOError);
  std::string got;
  CHECK(f->Read(0, 10, &got).code() == Code::kIOError);
  CHECK(f->Commit(&chunks, &size).code() == Code::kIOError);
  fx.store.FailSaves(Status::OK());
  REQUIRE(f->Truncate(0).ok());
  REQUIRE(f->Write(0, "fresh").ok());
  CommitTo(f.get(), &chunks, &size);
  CHECK(fx.ReadChunks(chunks, size) == "fresh");
}

TEST_CASE("a base whose chunks do not add up is refused", "[ingest_file]") {
  Fixture fx;
  auto f = fx.NewFile(fx.Stream("hello"), 6);
  std::string got;
  CHECK(f->Read(0, 3, &got).IsCorrupt());
  CHECK(f->size() == 6);
  REQUIRE(f->Truncate(0).ok());
  REQUIRE(f->Write(0, "ok").ok());
  CHECK(ReadAll(f.get()) == "ok");
}

TEST_CASE("StagingArea cleans leftovers and refuses a second owner", "[ingest_file]") {
  REQUIRE(InitCrypto());
  TempDir dir;
  const std::string staging = dir / "a/b/staging";
  std::unique_ptr<StagingArea> area;
  REQUIRE(StagingArea::Open(staging, RandomKey(), 1 << 20, &area).ok());
  testing::WriteFile(staging + "/leftover.stage", "old");
  std::unique_ptr<StagingArea> second;
  CHECK(StagingArea::Open(staging, RandomKey(), 1 << 20, &second).code() == Code::kBusy);
  CHECK(StagingArea::Open(staging + "/../staging", RandomKey(), 1 << 20, &second).code() ==
        Code::kBusy);
  area.reset();
  REQUIRE(StagingArea::Open(staging, RandomKey(), 1 << 20, &area).ok());
  struct stat sb;
  CHECK(stat((staging + "/leftover.stage").c_str(), &sb) != 0);
  CHECK(area->Reserve(16).ok());
  Status s = area->Reserve(1);
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find("1 MiB cap") != std::string::npos);
  area->Release(16);
  CHECK(area->used_bytes() == 0);
}

TEST_CASE("concurrent writers on many files and readers on one", "[ingest_file]") {
  Fixture fx(1ull << 30, 2);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  // Writers: each its own file with random staged and streamed writes.
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      auto f = fx.NewFile();
      std::string model;
      for (int i = 0; i < 200; i++) {
        uint64_t off = rng() % 2 ? model.size() : rng() % (model.size() + 1);
        std::string data = RandomData(1 + rng() % 100000, rng());
        if (!f->Write(off, data).ok()) failures++;
        if (model.size() < off + data.size()) model.resize(off + data.size());
        model.replace(off, data.size(), data);
        if (i % 50 == 49) {
          std::vector<ChunkRef> chunks;
          uint64_t size = 0;
          if (!f->Commit(&chunks, &size).ok() || size != model.size()) failures++;
        }
      }
      std::string got;
      if (!f->Read(0, model.size(), &got).ok() || got != model) failures++;
    });
  }
  // Readers on one staged file while a thread rewrites it with the same
  // bytes and commits now and then: every read sees the same content.
  const std::string content = RandomData(1 << 20, 50);
  auto shared = fx.NewFile(fx.Stream(content), content.size());
  REQUIRE(shared->Write(12345, content.substr(12345, 200000)).ok());
  std::atomic<bool> done{false};
  threads.emplace_back([&] {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 300; i++) {
      uint64_t off = rng() % content.size();
      size_t len = std::min<size_t>(1 + rng() % 100000, content.size() - off);
      if (!shared->Write(off, content.substr(off, len)).ok()) failures++;
      if (i % 40 == 0) {
        std::vector<ChunkRef> chunks;
        uint64_t size = 0;
        if (!shared->Commit(&chunks, &size).ok()) failures++;
      }
    }
    done = true;
  });
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(200 + t);
      int reads = 0;
      while (!done || reads < 50) {
        uint64_t off = rng() % content.size();
        size_t len = 1 + rng() % 200000;
        std::string got;
        if (!shared->Read(off, len, &got).ok() || got != content.substr(off, len)) failures++;
        reads++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(ReadAll(shared.get()) == content);
}

}  // namespace kloset
