// Repository under damage and failure: flipped bytes, truncated or missing
// objects, failing uploads, and the local cache (reuse, corruption, deletion).
#include <catch2/catch.hpp>
#include <filesystem>

#include "core/index.h"
#include "core/repository.h"
#include "core/sealed_object.h"
#include "remotes/fault_remote.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;

namespace {

struct Saved {
  Hash id;
  std::string data;
  BlobType type;
};

// Saves n random blobs of `type` (incompressible, ~size bytes each).
std::vector<Saved> SaveMany(Repository* repo, int n, size_t size, uint64_t seed,
                            BlobType type = BlobType::kData) {
  std::vector<Saved> v;
  for (int i = 0; i < n; i++) {
    std::string d = RandomData(size, seed + i);
    Hash id = repo->HashBlob(d);
    REQUIRE(repo->SaveBlob(type, id, d, nullptr, nullptr).ok());
    v.push_back({id, d, type});
  }
  return v;
}

std::unique_ptr<Repository> OpenWith(std::unique_ptr<Remote> r, const OpenOptions& o = NoCache()) {
  std::unique_ptr<Repository> repo;
  Status s = Repository::Open(std::move(r), "secret", o, &repo);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return repo;
}

// Which pack holds the blob (by name).
std::string PackOf(Repository* repo, const Saved& b) {
  IndexEntry e;
  REQUIRE(repo->LookupBlob(b.id, b.type, &e).ok());
  return PackName(repo->PackId(e.pack));
}

}  // namespace

TEST_CASE("a flipped byte in a pack fails only the blobs it hits", "[repository][damage]") {
  std::string store = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", FastInit(), &repo).ok());
  auto blobs = SaveMany(repo.get(), 30, 4000, 10);
  REQUIRE(repo->Flush().ok());
  repo.reset();

  auto raw = Mem(store);
  auto reopened = OpenWith(Mem(store));
  const Saved& victim = blobs[3];
  std::string pack = PackOf(reopened.get(), victim);
  IndexEntry e;
  REQUIRE(reopened->LookupBlob(victim.id, victim.type, &e).ok());
  std::string bytes = ReadAll(raw.get(), pack);
  bytes[e.offset + 100] ^= 0x01;
  REQUIRE(raw->Write(pack, bytes).ok());

  int corrupt = 0, fine = 0;
  for (const auto& b : blobs) {
    std::string out;
    Status s = reopened->LoadBlob(b.type, b.id, &out);
    if (b.id == victim.id) {
      CHECK(s.code() == Code::kCorrupt);
      CHECK(s.message() == "blob " + ToHex(b.id) + " in pack " + pack + " does not authenticate");
      corrupt++;
    } else {
      REQUIRE(s.ok());
      CHECK(out == b.data);
      fine++;
    }
  }
  CHECK(corrupt == 1);
  CHECK(fine == 29);
  std::vector<IndexEntry> entries;
  CHECK(reopened->ReadPackHeader(bytes, &entries).ok());  // header intact
  bytes[bytes.size() - 20] ^= 0x01;                       // now the header
  CHECK(reopened->ReadPackHeader(bytes, &entries).code() == Code::kCorrupt);
  CHECK(reopened->ReadPackHeader(bytes.substr(0, bytes.size() - 1), &entries).IsCorrupt());
}

TEST_CASE("a truncated index does not stop open; its damage is reported", "[repository][damage]") {
  std::string store = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", FastInit(), &repo).ok());
  auto first = SaveMany(repo.get(), 10, 2000, 100);
  REQUIRE(repo->Flush().ok());
  std::string damaged_index = repo->IndexObjects().at(0);
  auto second = SaveMany(repo.get(), 10, 2000, 200);
  REQUIRE(repo->Flush().ok());
  REQUIRE(repo->IndexObjects().size() == 2);
  repo.reset();

  auto raw = Mem(store);
  std::string bytes = ReadAll(raw.get(), damaged_index);
  REQUIRE(raw->Write(damaged_index, bytes.substr(0, bytes.size() / 2)).ok());

  auto reopened = OpenWith(Mem(store));
  auto damaged = reopened->DamagedIndexes();
  REQUIRE(damaged.size() == 1);
  CHECK(damaged[0].name == damaged_index);
  CHECK(damaged[0].status.code() == Code::kCorrupt);
  CHECK(damaged[0].status.message().find(damaged_index) != std::string::npos);
  CHECK(reopened->IndexObjects().size() == 1);
  for (const auto& b : second) {
    std::string out;
    REQUIRE(reopened->LoadBlob(b.type, b.id, &out).ok());
    CHECK(out == b.data);
  }
  std::string out;
  CHECK(reopened->LoadBlob(first[0].type, first[0].id, &out).IsNotFound());
  // RefreshIndex does not report the same damage twice.
  REQUIRE(reopened->RefreshIndex().ok());
  CHECK(reopened->DamagedIndexes().size() == 1);
}

TEST_CASE("missing and truncated packs give errors, never garbage", "[repository][damage]") {
  std::string store = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", FastInit(), &repo).ok());
  auto blobs = SaveMany(repo.get(), 40, 4000, 300);
  REQUIRE(repo->Flush().ok());
  std::string missing = PackOf(repo.get(), blobs[0]);
  std::string truncated = PackOf(repo.get(), blobs.back());
  REQUIRE(missing != truncated);
  repo.reset();

  auto raw = Mem(store);
  REQUIRE(raw->Delete(missing).ok());
  std::string bytes = ReadAll(raw.get(), truncated);
  REQUIRE(raw->Write(truncated, bytes.substr(0, bytes.size() / 3)).ok());

  auto reopened = OpenWith(Mem(store));
  int not_found = 0, corrupt = 0, ok = 0;
  for (const auto& b : blobs) {
    std::string out;
    Status s = reopened->LoadBlob(b.type, b.id, &out);
    std::string pack = PackOf(reopened.get(), b);
    if (pack == missing) {
      CHECK(s.IsNotFound());
      CHECK(s.message().find(missing) != std::string::npos);
      not_found++;
    } else if (!s.ok()) {
      CHECK(pack == truncated);
      CHECK(s.IsCorrupt());
      CHECK(s.message().find(truncated) != std::string::npos);
      corrupt++;
    } else {
      CHECK(out == b.data);
      ok++;
    }
  }
  CHECK(not_found > 0);
  CHECK(corrupt > 0);
  CHECK(ok > 0);
}

TEST_CASE("truncated reads from the remote are caught", "[repository][damage]") {
  std::string store = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", FastInit(), &repo).ok());
  auto blobs = SaveMany(repo.get(), 5, 3000, 400);
  REQUIRE(repo->Flush().ok());
  repo.reset();
  auto fault = std::make_unique<FaultRemote>(Mem(store));
  FaultRemote* f = fault.get();
  auto reopened = OpenWith(std::move(fault));
  std::string pack = PackOf(reopened.get(), blobs[2]);
  f->FailReads(pack, 1, Fault::kTruncate);
  std::string out;
  Status s = reopened->LoadBlob(blobs[2].type, blobs[2].id, &out);
  CHECK(s.IsCorrupt());
  CHECK(s.message().find("truncated") != std::string::npos);
  REQUIRE(reopened->LoadBlob(blobs[2].type, blobs[2].id, &out).ok());  // next read is fine
  CHECK(out == blobs[2].data);
}

TEST_CASE("failed uploads surface from Flush and are never indexed", "[repository][damage]") {
  std::string store = UniqueStore();
  auto fault = std::make_unique<FaultRemote>(Mem(store));
  FaultRemote* f = fault.get();
  InitOptions o = FastInit(16 << 10);
  o.open.transfers = 2;
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(std::move(fault), "secret", o, &repo).ok());
  // Fail one pack upload among many.
  f->Schedule(RemoteOp::kWrite, {Fault::kNone, Fault::kNone, Fault::kIOError});
  std::vector<Saved> blobs;
  Status save_error;
  for (int i = 0; i < 60 && save_error.ok(); i++) {
    std::string d = RandomData(3000, 600 + i);
    Hash id = repo->HashBlob(d);
    save_error = repo->SaveBlob(BlobType::kData, id, d, nullptr, nullptr);
    if (save_error.ok()) blobs.push_back({id, d, BlobType::kData});
  }
  Status flushed = repo->Flush();
  CHECK(flushed.code() == Code::kIOError);
  CHECK(flushed.message().find("packs/") != std::string::npos);
  CHECK_FALSE(repo->Flush().ok());  // sticky: the session must not commit
  std::string d = RandomData(10, 1);
  CHECK_FALSE(repo->SaveBlob(BlobType::kData, repo->HashBlob(d), d, nullptr, nullptr).ok());
  repo.reset();

  // Every pack any index names exists; the failed one is in no index.
  auto raw = Mem(store);
  auto reopened = OpenWith(Mem(store));
  CHECK(reopened->DamagedIndexes().empty());
  auto on_remote = ListAll(raw.get(), "packs/");
  CHECK(reopened->PackCount() == on_remote.size());
  CHECK(reopened->PackCount() > 0);
  for (size_t p = 0; p < reopened->PackCount(); p++) {
    ObjectInfo info;
    CHECK(raw->Stat(PackName(reopened->PackId(static_cast<uint32_t>(p))), &info).ok());
  }
  int lost = 0;
  for (const auto& b : blobs) {
    std::string out;
    Status s = reopened->LoadBlob(b.type, b.id, &out);
    if (s.ok()) {
      CHECK(out == b.data);
    } else {
      CHECK(s.IsNotFound());
      lost++;
    }
  }
  CHECK(lost > 0);
  CHECK(lost < static_cast<int>(blobs.size()));
}

TEST_CASE("a failed index write keeps its packs for the next flush", "[repository][damage]") {
  std::string store = UniqueStore();
  auto fault = std::make_unique<FaultRemote>(Mem(store));
  FaultRemote* f = fault.get();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(std::move(fault), "secret", FastInit(), &repo).ok());
  auto blobs = SaveMany(repo.get(), 3, 1000, 700);
  f->Schedule(RemoteOp::kWrite, {Fault::kNone, Fault::kTransient});  // pack ok, index fails
  Status s = repo->Flush();
  CHECK(s.IsTransient());
  CHECK(ListAll(Mem(store).get(), "index/").empty());
  REQUIRE(repo->Flush().ok());
  CHECK(ListAll(Mem(store).get(), "index/").size() == 1);
  repo.reset();
  auto reopened = OpenWith(Mem(store));
  for (const auto& b : blobs) {
    std::string out;
    REQUIRE(reopened->LoadBlob(b.type, b.id, &out).ok());
  }
}

TEST_CASE("cache: indexes and tree packs are fetched once", "[repository][cache]") {
  TempDir dir;
  std::string store = UniqueStore();
  InitOptions o = FastInit();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", o, &repo).ok());
  auto trees = SaveMany(repo.get(), 20, 2000, 800, BlobType::kTree);
  auto data = SaveMany(repo.get(), 5, 2000, 900);
  REQUIRE(repo->Flush().ok());
  auto more = SaveMany(repo.get(), 5, 2000, 950, BlobType::kTree);
  REQUIRE(repo->Flush().ok());
  repo.reset();

  auto base = Mem(store);
  OpenOptions oo;
  oo.cache_dir = dir.path();
  auto open_counting = [&](CountingRemote** counter) {
    auto c = std::make_unique<CountingRemote>(base.get());
    *counter = c.get();
    return OpenWith(std::move(c), oo);
  };
  CountingRemote* c1;
  auto r1 = open_counting(&c1);
  CHECK(c1->Requests("read index/") == 2);
  for (const auto& t : trees) {
    std::string out;
    REQUIRE(r1->LoadBlob(t.type, t.id, &out).ok());
    CHECK(out == t.data);
  }
  CHECK(c1->Requests("read packs/") == 1);  // the whole tree pack, once
  std::string out;
  REQUIRE(r1->LoadBlob(data[0].type, data[0].id, &out).ok());
  CHECK(c1->Requests("read packs/") == 2);  // data packs are not cached
  std::string cache = r1->CacheDir();
  r1.reset();

  CountingRemote* c2;
  auto r2 = open_counting(&c2);
  CHECK(c2->Requests("read index/") == 0);
  CHECK(r2->IndexObjects().size() == 2);
  for (const auto& t : trees) REQUIRE(r2->LoadBlob(t.type, t.id, &out).ok());
  CHECK(c2->Requests("read packs/") == 0);
  r2.reset();

  // Corrupt cache entries are detected, dropped and refetched.
  std::string idx_path;
  for (auto& e : std::filesystem::recursive_directory_iterator(cache + "/index")) {
    if (e.is_regular_file()) idx_path = e.path();
  }
  std::string pack_path;
  for (auto& e : std::filesystem::recursive_directory_iterator(cache + "/packs")) {
    if (e.is_regular_file()) pack_path = e.path();
  }
  REQUIRE(!idx_path.empty());
  REQUIRE(!pack_path.empty());
  std::string bytes = ReadFile(idx_path);
  bytes[bytes.size() / 2] ^= 1;
  WriteFile(idx_path, bytes);
  bytes = ReadFile(pack_path);
  bytes[10] ^= 1;
  WriteFile(pack_path, bytes);
  CountingRemote* c3;
  auto r3 = open_counting(&c3);
  CHECK(c3->Requests("read index/") == 1);
  CHECK(r3->DamagedIndexes().empty());
  for (const auto& t : trees) {
    REQUIRE(r3->LoadBlob(t.type, t.id, &out).ok());
    CHECK(out == t.data);
  }
  CHECK(c3->Requests("read packs/") == 1);
  CHECK(ToHex(PlainHash(ReadFile(idx_path))) ==
        std::filesystem::path(idx_path).filename().string());  // repaired
  r3.reset();

  // The cache may vanish at any moment, also while a session uses it.
  CountingRemote* c4;
  auto r4 = open_counting(&c4);
  CHECK(c4->Requests("read index/") == 0);
  std::filesystem::remove_all(cache);
  for (const auto& t : more) {
    REQUIRE(r4->LoadBlob(t.type, t.id, &out).ok());
    CHECK(out == t.data);
  }
  REQUIRE(r4->RefreshIndex().ok());
  auto newer = SaveMany(r4.get(), 2, 500, 990, BlobType::kTree);
  REQUIRE(r4->Flush().ok());
  CHECK(std::filesystem::exists(cache + "/index"));
}

TEST_CASE("no_cache writes nothing locally", "[repository][cache]") {
  TempDir dir;
  std::string store = UniqueStore();
  InitOptions o = FastInit();
  o.open.cache_dir = dir.path();
  o.open.no_cache = true;
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(store), "secret", o, &repo).ok());
  SaveMany(repo.get(), 3, 100, 1, BlobType::kTree);
  REQUIRE(repo->Flush().ok());
  CHECK(repo->CacheDir().empty());
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("refresh picks up indexes written by another session", "[repository]") {
  std::string store = UniqueStore();
  std::unique_ptr<Repository> a, b;
  REQUIRE(Repository::Init(Mem(store), "secret", FastInit(), &a).ok());
  b = OpenWith(Mem(store));
  auto blobs = SaveMany(a.get(), 3, 1000, 50);
  REQUIRE(a->Flush().ok());
  CHECK_FALSE(b->HasBlob(blobs[0].type, blobs[0].id));
  REQUIRE(b->RefreshIndex().ok());
  CHECK(b->HasBlob(blobs[0].type, blobs[0].id));
  CHECK(b->IndexObjects().size() == 1);
}
