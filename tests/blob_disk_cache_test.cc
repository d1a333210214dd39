// The on-disk data blob cache: BlobDiskCache on its own (capacity, LRU
// eviction, rebuild at open, damaged entries) and inside Repository::LoadBlob
// (repeated reads served locally, damaged entries refetched, no plaintext and
// no blob ids on disk).
#include "core/blob_disk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/repository.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;
namespace fs = std::filesystem;

namespace {

Key TestKey(uint8_t b) {
  Key k;
  k.fill(b);
  return k;
}

Hash IdOf(int i) {
  Hash h{};
  h[0] = static_cast<uint8_t>(i);
  h[1] = static_cast<uint8_t>(i >> 8);
  h[31] = 0x5a;
  return h;
}

// Bytes of every regular file under `dir`, counted in 4 KiB blocks.
uint64_t DiskBlocksBytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) n += (e.file_size() + 4095) / 4096 * 4096;
  }
  return n;
}

size_t FileCount(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) n += e.is_regular_file();
  return n;
}

void SetMtime(const std::string& path, time_t when) {
  struct timespec ts[2] = {{when, 0}, {when, 0}};
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0);
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
}

}  // namespace

TEST_CASE("disk cache: put, get, size mismatch, drop", "[blob_disk_cache]") {
  TempDir dir;
  BlobDiskCache c(dir / "data", 1 << 20, TestKey(1));
  std::string v = RandomData(5000, 1), out;
  CHECK_FALSE(c.Get(IdOf(1), v.size(), &out));
  c.Put(IdOf(1), v);
  REQUIRE(c.Get(IdOf(1), v.size(), &out));
  CHECK(out == v);
  CHECK(c.entries() == 1);
  CHECK(c.used_bytes() == 8192);  // two whole blocks
  struct stat st;
  REQUIRE(stat((dir / "data").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  // An entry of another size is not this blob's: a miss, and it is deleted.
  CHECK_FALSE(c.Get(IdOf(1), v.size() + 1, &out));
  CHECK_FALSE(fs::exists(c.PathOf(IdOf(1))));
  CHECK(c.entries() == 0);
  CHECK(c.used_bytes() == 0);

  c.Put(IdOf(2), v);
  c.Drop(IdOf(2));
  CHECK_FALSE(fs::exists(c.PathOf(IdOf(2))));
  CHECK_FALSE(c.Get(IdOf(2), v.size(), &out));
  BlobDiskCacheStats s = c.stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 3);
  CHECK(s.stored == 2);
  CHECK(s.dropped == 1);

  // Deleting the folder under the cache only costs misses.
  c.Put(IdOf(3), v);
  fs::remove_all(dir / "data");
  CHECK_FALSE(c.Get(IdOf(3), v.size(), &out));
  c.Put(IdOf(3), v);
  CHECK(c.Get(IdOf(3), v.size(), &out));
}

TEST_CASE("disk cache: the capacity holds and the least recently used go first",
          "[blob_disk_cache]") {
  TempDir dir;
  const uint64_t cap = 256 << 10;  // 64 blocks
  BlobDiskCache c(dir / "data", cap, TestKey(2));
  const std::string v = RandomData(10000, 2);  // 3 blocks each
  std::string out;
  for (int i = 0; i < 20; i++) c.Put(IdOf(i), v);  // 60 blocks: no eviction yet
  REQUIRE(c.entries() == 20);
  REQUIRE(c.stats().evicted == 0);
  // Touch the oldest: it becomes the most recently used.
  REQUIRE(c.Get(IdOf(0), v.size(), &out));
  c.Put(IdOf(20), v);  // 63 blocks
  c.Put(IdOf(21), v);  // 66 > 64: evicts down to 15/16 (60 blocks), oldest use first
  CHECK(c.stats().evicted == 2);
  CHECK(c.used_bytes() == 60 * 4096);
  CHECK(c.Get(IdOf(0), v.size(), &out));        // used recently: kept
  CHECK_FALSE(c.Get(IdOf(1), v.size(), &out));  // the two oldest untouched: evicted
  CHECK_FALSE(c.Get(IdOf(2), v.size(), &out));
  CHECK(c.Get(IdOf(3), v.size(), &out));
  CHECK(c.Get(IdOf(21), v.size(), &out));
  for (int i = 22; i < 80; i++) {
    c.Put(IdOf(i), v);
    CHECK(c.used_bytes() <= cap);
    CHECK(DiskBlocksBytes(dir / "data") <= cap);
  }
  CHECK(c.entries() == FileCount(dir / "data"));
  CHECK(c.Get(IdOf(79), v.size(), &out));  // newest: kept

  // A blob larger than 1/8 of the capacity is not cached.
  c.Put(IdOf(100), RandomData(cap / 8 + 1, 3));
  CHECK_FALSE(fs::exists(c.PathOf(IdOf(100))));
}

TEST_CASE("disk cache: reopening rebuilds the bookkeeping from the folder", "[blob_disk_cache]") {
  TempDir dir;
  const std::string v = RandomData(4096, 4);  // exactly one block
  {
    BlobDiskCache c(dir / "data", 1 << 20, TestKey(3));
    for (int i = 0; i < 10; i++) c.Put(IdOf(i), v);
    // Order of last use across sessions is the mtime: make 0..9 oldest first.
    for (int i = 0; i < 10; i++) SetMtime(c.PathOf(IdOf(i)), 1000000 + i);
  }
  // A stale temporary from a crash is deleted; a fresh one (a writer in
  // another process) is left alone; unknown files are ignored.
  std::string sub = fs::path(BlobDiskCache(dir / "data", 1 << 20, TestKey(3)).PathOf(IdOf(0)))
                        .parent_path();
  WriteFile(sub + "/stale.tmp~1", "x");
  SetMtime(sub + "/stale.tmp~1", 1000);
  WriteFile(sub + "/fresh.tmp~2", "y");
  {
    BlobDiskCache c(dir / "data", 1 << 20, TestKey(3));
    CHECK(c.entries() == 10);
    CHECK(c.used_bytes() == 10 * 4096);
    CHECK_FALSE(fs::exists(sub + "/stale.tmp~1"));
    CHECK(fs::exists(sub + "/fresh.tmp~2"));
    std::string out;
    REQUIRE(c.Get(IdOf(3), v.size(), &out));
    CHECK(out == v);
  }
  // A smaller capacity at open evicts the oldest down to it (15/16 of it).
  BlobDiskCache small(dir / "data", 6 * 4096, TestKey(3));
  CHECK(small.used_bytes() <= 6 * 4096);
  std::string out;
  CHECK(small.Get(IdOf(9), v.size(), &out));
  CHECK(small.Get(IdOf(3), v.size(), &out));  // used in the last session
  CHECK_FALSE(small.Get(IdOf(0), v.size(), &out));
  CHECK_FALSE(small.Get(IdOf(1), v.size(), &out));
  // Another key names entries differently: nothing of this cache is found.
  BlobDiskCache other(dir / "data", 1 << 20, TestKey(4));
  CHECK_FALSE(other.Get(IdOf(9), v.size(), &out));
}

namespace {

// A store with `n` data blobs of `size` bytes each (half random, half
// recognizable text), reopened through a counting remote with a data cache.
struct CachedStore {
  TempDir tmp;
  std::string name = UniqueStore();
  std::unique_ptr<Remote> base = Mem(name);
  CountingRemote* counter = nullptr;
  std::unique_ptr<Repository> repo;
  std::vector<Hash> ids;
  std::vector<std::string> plain;

  CachedStore(int n, size_t size) {
    std::unique_ptr<Repository> w;
    REQUIRE(Repository::Init(Mem(name), "pw", FastInit(256 << 10), &w).ok());
    for (int i = 0; i < n; i++) {
      std::string p;
      if (i % 2 == 0) {
        p = RandomData(size, 100 + i);
      } else {
        while (p.size() < size) {
          p += "KLOSETFS-PLAINTEXT-MARKER blob " + std::to_string(i) + " line " +
               std::to_string(p.size()) + "\n";
        }
        p.resize(size);
      }
      Hash id = w->HashBlob(p);
      REQUIRE(w->SaveBlob(BlobType::kData, id, p, nullptr, nullptr).ok());
      ids.push_back(id);
      plain.push_back(std::move(p));
    }
    REQUIRE(w->Flush().ok());
  }

  void Open(uint64_t cap) {
    repo.reset();
    auto c = std::make_unique<CountingRemote>(base.get());
    counter = c.get();
    OpenOptions o;
    o.cache_dir = tmp / "cache";
    o.data_cache_bytes = cap;
    Status s = Repository::Open(std::move(c), "pw", o, &repo);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  std::string Load(size_t i) {
    std::string out;
    Status s = repo->LoadBlob(BlobType::kData, ids[i], &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out;
  }
  int PackReads() const { return counter->Requests("read packs/"); }
};

}  // namespace

TEST_CASE("data cache: repeated reads are served from disk, also after reopening",
          "[blob_disk_cache]") {
  CachedStore st(20, 30000);
  st.Open(64 << 20);
  REQUIRE(st.repo->DataCache());
  for (size_t i = 0; i < st.ids.size(); i++) CHECK(st.Load(i) == st.plain[i]);
  CHECK(st.PackReads() == 20);
  for (size_t i = 0; i < st.ids.size(); i++) CHECK(st.Load(i) == st.plain[i]);
  CHECK(st.PackReads() == 20);  // no remote read the second time
  CHECK(st.repo->DataCache()->stats().hits == 20);
  CHECK(st.repo->DataCache()->dir() == st.repo->CacheDir() + "/data");

  st.Open(64 << 20);  // a new session finds the entries on disk
  CHECK(st.repo->DataCache()->entries() == 20);
  for (size_t i = 0; i < st.ids.size(); i++) CHECK(st.Load(i) == st.plain[i]);
  CHECK(st.PackReads() == 0);
}

TEST_CASE("data cache: the cap is respected while reading more than it holds",
          "[blob_disk_cache]") {
  CachedStore st(40, 30000);  // ~1.2 MB of blobs, 8 blocks each on disk
  const uint64_t cap = 512 << 10;
  st.Open(cap);
  const std::string data_dir = st.repo->DataCache()->dir();
  for (size_t i = 0; i < st.ids.size(); i++) {
    CHECK(st.Load(i) == st.plain[i]);
    CHECK(DiskBlocksBytes(data_dir) <= cap);
  }
  CHECK(st.repo->DataCache()->stats().evicted > 0);
  // The newest are still there, the oldest went.
  int before = st.PackReads();
  CHECK(st.Load(39) == st.plain[39]);
  CHECK(st.PackReads() == before);
  CHECK(st.Load(0) == st.plain[0]);
  CHECK(st.PackReads() == before + 1);
}

TEST_CASE("data cache: a damaged or truncated entry is refetched, never an error",
          "[blob_disk_cache]") {
  CachedStore st(6, 20000);
  st.Open(64 << 20);
  for (size_t i = 0; i < 6; i++) st.Load(i);
  REQUIRE(st.PackReads() == 6);
  const BlobDiskCache* dc = st.repo->DataCache();

  FlipByte(dc->PathOf(st.ids[0]), 100);
  CHECK(st.Load(0) == st.plain[0]);
  CHECK(st.PackReads() == 7);
  CHECK(dc->stats().dropped == 1);
  CHECK(st.Load(0) == st.plain[0]);  // the refetched copy was cached again
  CHECK(st.PackReads() == 7);

  fs::resize_file(dc->PathOf(st.ids[1]), 1000);
  CHECK(st.Load(1) == st.plain[1]);
  CHECK(st.PackReads() == 8);

  // Another blob's authentic bytes (same size) under this blob's name do not
  // open: the AEAD binds a sealed blob to its id.
  REQUIRE(fs::file_size(dc->PathOf(st.ids[4])) == fs::file_size(dc->PathOf(st.ids[2])));
  fs::copy_file(dc->PathOf(st.ids[4]), dc->PathOf(st.ids[2]),
                fs::copy_options::overwrite_existing);
  CHECK(st.Load(2) == st.plain[2]);
  CHECK(st.PackReads() == 9);
  CHECK(dc->stats().dropped == 2);
}

TEST_CASE("data cache: holds neither plaintext nor blob ids, and is off by default",
          "[blob_disk_cache]") {
  CachedStore st(10, 20000);
  st.Open(64 << 20);
  for (size_t i = 0; i < st.ids.size(); i++) st.Load(i);
  const std::string root = st.repo->CacheDir();
  REQUIRE(FileCount(st.repo->DataCache()->dir()) == 10);
  for (auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = ReadFile(e.path());
    INFO(e.path());
    CHECK(bytes.find("KLOSETFS-PLAINTEXT-MARKER") == std::string::npos);
    for (size_t i = 0; i < st.ids.size(); i++) {
      CHECK(bytes.find(st.plain[i].substr(1000, 64)) == std::string::npos);
      std::string hex = ToHex(st.ids[i]);
      CHECK(e.path().string().find(hex.substr(0, 16)) == std::string::npos);
    }
  }

  // Default options: no data cache, nothing under data/.
  st.repo.reset();
  fs::remove_all(st.tmp / "cache");
  std::unique_ptr<Repository> plain;
  OpenOptions o;
  o.cache_dir = st.tmp / "cache";
  REQUIRE(Repository::Open(Mem(st.name), "pw", o, &plain).ok());
  CHECK(plain->DataCache() == nullptr);
  std::string out;
  REQUIRE(plain->LoadBlob(BlobType::kData, st.ids[0], &out).ok());
  CHECK_FALSE(fs::exists(plain->CacheDir() + "/data"));
  // --no-cache turns it off whatever the cap.
  o.no_cache = true;
  o.data_cache_bytes = 1 << 20;
  REQUIRE(Repository::Open(Mem(st.name), "pw", o, &plain).ok());
  CHECK(plain->DataCache() == nullptr);
}
