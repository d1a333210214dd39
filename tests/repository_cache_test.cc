// Upkeep of the local object cache (entries of objects the store no longer
// has are dropped at open and refresh), blobs opened from pack bytes already
// held, and check --read-data downloading each pack exactly once.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/archiver.h"
#include "core/checker.h"
#include "core/repository.h"
#include "core/sealed_object.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;
namespace fs = std::filesystem;

namespace {

InitOptions CachedInit(const std::string& cache_dir) {
  InitOptions o = FastInit();
  o.open.no_cache = false;
  o.open.cache_dir = cache_dir;
  return o;
}

OpenOptions CachedOpen(const std::string& cache_dir) {
  OpenOptions o;
  o.cache_dir = cache_dir;
  return o;
}

// Dates every file under `dir` `seconds` into the past.
void Age(const std::string& dir, time_t seconds) {
  struct timespec ts[2] = {{time(nullptr) - seconds, 0}, {time(nullptr) - seconds, 0}};
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) REQUIRE(utimensat(AT_FDCWD, e.path().c_str(), ts, 0) == 0);
  }
}

Hash SaveSnapshotObject(Repository* repo, const std::string& body) {
  Hash id;
  REQUIRE(repo->SaveObject("snapshots", kSnapshotLabel, body, &id).ok());
  return id;
}

Hash SaveData(Repository* repo, BlobType type, const std::string& data) {
  Hash id = repo->HashBlob(data);
  REQUIRE(repo->SaveBlob(type, id, data, nullptr, nullptr).ok());
  return id;
}

}  // namespace

TEST_CASE("cache trim: entries of objects gone from the store go at the next open",
          "[repository_cache]") {
  TempDir tmp;
  const std::string name = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(name), "pw", CachedInit(tmp / "cache"), &repo).ok());
  Hash tree = SaveData(repo.get(), BlobType::kTree, "tree page " + RandomData(500, 1));
  SaveData(repo.get(), BlobType::kData, RandomData(5000, 2));
  REQUIRE(repo->Flush().ok());
  Hash kept = SaveSnapshotObject(repo.get(), "{\"kept\":1}");
  Hash forgotten = SaveSnapshotObject(repo.get(), "{\"forgotten\":1}");
  const std::string cache = repo->CacheDir();
  const std::string index = repo->IndexObjects().at(0);
  IndexEntry e;
  REQUIRE(repo->LookupBlob(tree, BlobType::kTree, &e).ok());
  const std::string tree_pack = PackName(repo->PackId(e.pack));
  repo.reset();
  REQUIRE(fs::exists(cache + "/" + SnapshotName(forgotten)));
  REQUIRE(fs::exists(cache + "/" + index));
  REQUIRE(fs::exists(cache + "/" + tree_pack));

  // Another process forgets a snapshot and rewrites indexes; a crash left a
  // temporary behind.
  REQUIRE(Mem(name)->Delete(SnapshotName(forgotten)).ok());
  const std::string junk_index = IndexName(PlainHash("old index"));
  const std::string junk_pack = PackName(PlainHash("old pack"));
  fs::create_directories(fs::path(cache + "/" + junk_index).parent_path());
  fs::create_directories(fs::path(cache + "/" + junk_pack).parent_path());
  WriteFile(cache + "/" + junk_index, "old index");
  WriteFile(cache + "/" + junk_pack, "old pack");
  WriteFile(cache + "/snapshots/abc.tmp~0123", "partial");

  // Fresh entries are never judged: another process may have just written
  // them after this one listed the store.
  REQUIRE(Repository::Open(Mem(name), "pw", CachedOpen(tmp / "cache"), &repo).ok());
  CHECK(fs::exists(cache + "/" + SnapshotName(forgotten)));
  CHECK(fs::exists(cache + "/" + junk_index));
  CHECK(fs::exists(cache + "/snapshots/abc.tmp~0123"));
  repo.reset();

  // Two days later (the once-a-day marker included).
  Age(cache, 2 * 86400);
  REQUIRE(Repository::Open(Mem(name), "pw", CachedOpen(tmp / "cache"), &repo).ok());
  CHECK_FALSE(fs::exists(cache + "/" + SnapshotName(forgotten)));
  CHECK_FALSE(fs::exists(cache + "/" + junk_index));
  CHECK_FALSE(fs::exists(cache + "/" + junk_pack));
  CHECK_FALSE(fs::exists(cache + "/snapshots/abc.tmp~0123"));
  CHECK(fs::exists(cache + "/" + SnapshotName(kept)));
  CHECK(fs::exists(cache + "/" + index));
  CHECK(fs::exists(cache + "/" + tree_pack));
  std::string plain;
  CHECK(repo->LoadObject(SnapshotName(kept), kSnapshotLabel, &plain).ok());
  repo.reset();

  // At most once a day: with a fresh marker nothing is judged.
  WriteFile(cache + "/" + junk_index, "old index");
  Age(cache + "/index", 2 * 86400);
  REQUIRE(Repository::Open(Mem(name), "pw", CachedOpen(tmp / "cache"), &repo).ok());
  CHECK(fs::exists(cache + "/" + junk_index));
}

TEST_CASE("cache trim: an index gone from the store leaves the cache at refresh",
          "[repository_cache]") {
  TempDir tmp;
  const std::string name = UniqueStore();
  std::unique_ptr<Repository> a;
  REQUIRE(Repository::Init(Mem(name), "pw", CachedInit(tmp / "cache"), &a).ok());
  Hash first = SaveData(a.get(), BlobType::kData, RandomData(3000, 3));
  REQUIRE(a->Flush().ok());
  const std::string first_index = a->IndexObjects().at(0);

  std::unique_ptr<Repository> b;  // another process, without a cache
  REQUIRE(Repository::Open(Mem(name), "pw", NoCache(), &b).ok());
  SaveData(b.get(), BlobType::kData, RandomData(3000, 4));
  REQUIRE(b->Flush().ok());
  const std::string second_index = b->IndexObjects().at(1);

  REQUIRE(a->RefreshIndex().ok());
  const std::string cache = a->CacheDir();
  CHECK(fs::exists(cache + "/" + first_index));
  CHECK(fs::exists(cache + "/" + second_index));

  // A prune (of the future) rewrote the first index away.
  REQUIRE(Mem(name)->Delete(first_index).ok());
  REQUIRE(a->RefreshIndex().ok());
  CHECK_FALSE(fs::exists(cache + "/" + first_index));
  CHECK(fs::exists(cache + "/" + second_index));
  // What this session already knows stays usable.
  std::string out;
  CHECK(a->LoadBlob(BlobType::kData, first, &out).ok());
}

TEST_CASE("OpenPackBlob opens blobs from pack bytes the caller holds", "[repository_cache]") {
  const std::string name = UniqueStore();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(name), "pw", FastInit(), &repo).ok());
  std::vector<std::string> plain = {RandomData(3000, 5), std::string(20000, 'z'), "short"};
  for (const auto& p : plain) SaveData(repo.get(), BlobType::kData, p);
  REQUIRE(repo->Flush().ok());
  std::vector<std::string> packs = ListAll(repo->remote(), "packs/");
  REQUIRE(packs.size() == 1);
  std::string bytes = ReadAll(repo->remote(), packs[0]);
  std::vector<IndexEntry> header;
  REQUIRE(repo->ReadPackHeader(bytes, &header).ok());
  REQUIRE(header.size() == 3);
  for (size_t i = 0; i < header.size(); i++) {
    std::string out;
    REQUIRE(repo->OpenPackBlob(header[i], bytes, &out).ok());
    CHECK(out == plain[i]);
  }
  std::string out;
  IndexEntry past = header[2];
  past.offset = bytes.size() - 10;
  Status s = repo->OpenPackBlob(past, bytes, &out);
  CHECK(s.IsCorrupt());
  CHECK(s.message().find("past the end") != std::string::npos);
  bytes[header[1].offset + 50] ^= 1;
  s = repo->OpenPackBlob(header[1], bytes, &out);
  CHECK(s.IsCorrupt());
  CHECK(s.message().find("does not authenticate") != std::string::npos);
  IndexEntry other = header[0];
  other.id = header[2].id;  // the AEAD binds the blob to its id
  CHECK(repo->OpenPackBlob(other, bytes, &out).IsCorrupt());
}

TEST_CASE("OfferPack caches intact tree packs only", "[repository_cache]") {
  TempDir tmp;
  const std::string name = UniqueStore();
  std::unique_ptr<Repository> w;
  REQUIRE(Repository::Init(Mem(name), "pw", FastInit(), &w).ok());
  std::string page = "tree page " + RandomData(2000, 6);
  Hash tree = SaveData(w.get(), BlobType::kTree, page);
  Hash data = SaveData(w.get(), BlobType::kData, RandomData(2000, 7));
  REQUIRE(w->Flush().ok());
  IndexEntry te, de;
  REQUIRE(w->LookupBlob(tree, BlobType::kTree, &te).ok());
  REQUIRE(w->LookupBlob(data, BlobType::kData, &de).ok());
  const Hash tree_pack = w->PackId(te.pack), data_pack = w->PackId(de.pack);
  const std::string tree_bytes = ReadAll(w->remote(), PackName(tree_pack));
  const std::string data_bytes = ReadAll(w->remote(), PackName(data_pack));
  CHECK_FALSE(w->OfferPack(tree_pack, tree_bytes));  // no cache

  std::unique_ptr<Remote> base = Mem(name);
  auto counting = std::make_unique<CountingRemote>(base.get());
  CountingRemote* counter = counting.get();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Open(std::move(counting), "pw", CachedOpen(tmp / "cache"), &repo).ok());
  CHECK_FALSE(repo->OfferPack(data_pack, data_bytes));
  CHECK_FALSE(repo->OfferPack(tree_pack, tree_bytes.substr(1)));
  CHECK_FALSE(fs::exists(repo->CacheDir() + "/" + PackName(tree_pack)));
  CHECK(repo->OfferPack(tree_pack, tree_bytes));
  CHECK(fs::exists(repo->CacheDir() + "/" + PackName(tree_pack)));
  CHECK(repo->OfferPack(tree_pack, tree_bytes));  // already there
  std::string out;
  REQUIRE(repo->LoadBlob(BlobType::kTree, tree, &out).ok());
  CHECK(out == page);
  CHECK(counter->Requests("read packs/") == 0);
}

TEST_CASE("check --read-data downloads each pack exactly once", "[repository_cache]") {
  TempDir tmp;
  // A tree with several data packs and tree packs.
  const std::string src = tmp / "src";
  for (int d = 0; d < 6; d++) {
    fs::create_directories(src + "/dir" + std::to_string(d) + "/sub");
    for (int f = 0; f < 8; f++) {
      std::string base = src + "/dir" + std::to_string(d);
      WriteFile(base + "/f" + std::to_string(f), RandomData(2000 + 3000 * f, d * 10 + f));
      WriteFile(base + "/sub/t" + std::to_string(f), std::string(100 + f, 'a' + f));
    }
  }
  WriteFile(src + "/big", RandomData(300 << 10, 99));
  const std::string name = UniqueStore();
  {
    std::unique_ptr<Repository> w;
    REQUIRE(Repository::Init(Mem(name), "pw", FastInit(16 << 10), &w).ok());
    BackupOptions bo;
    bo.paths = {src};
    bo.count_totals = false;
    BackupResult br;
    Status s = Backup(w.get(), bo, nullptr, &br);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  std::unique_ptr<Remote> base = Mem(name);
  uint64_t pack_bytes = 0;
  size_t pack_count = 0;
  REQUIRE(base->List("packs/", [&](const ObjectInfo& o) {
                pack_bytes += o.size;
                pack_count++;
              }).ok());
  REQUIRE(pack_count > 4);

  // As `klosetfs check --read-data` runs: with a (here fresh) local cache.
  auto counting = std::make_unique<CountingRemote>(base.get());
  CountingRemote* counter = counting.get();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Open(std::move(counting), "pw", CachedOpen(tmp / "cache"), &repo).ok());
  CheckOptions co;
  co.read_data = true;
  CheckReport r;
  REQUIRE(Check(repo.get(), co, nullptr, &r).ok());
  CHECK(r.ok());
  CHECK(r.trees > 10);
  CHECK(r.bytes_read == pack_bytes);
  CHECK(counter->BytesRead("read packs/") == pack_bytes);
  CHECK(counter->Requests("read packs/") == static_cast<int>(pack_count));
  // The Repository's own downloads held no pack bytes: blobs were opened
  // from the checker's copy and tree pages read from the cache it filled.
  uint64_t other = counter->BytesRead("read ") - pack_bytes;
  CHECK(repo->stats().bytes_downloaded <= other);
}

TEST_CASE("a warm open asks for the config, keys/ and index/ only", "[repository_cache]") {
  TempDir tmp;
  const std::string name = UniqueStore();
  auto base = Mem(name);
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(name), "pw", CachedInit(tmp / "cache"), &repo).ok());
  SaveData(repo.get(), BlobType::kData, "some data");
  REQUIRE(repo->Flush().ok());
  std::string second;
  REQUIRE(repo->AddKey("other", FastKdf(), "second", &second).ok());
  repo.reset();

  auto open = [&](const std::string& pass, OpenOptions oo, CountingRemote** counter) {
    auto counting = std::make_unique<CountingRemote>(base.get());
    *counter = counting.get();
    std::unique_ptr<Repository> r;
    Status s = Repository::Open(std::move(counting), pass, oo, &r);
    return std::make_pair(s, std::move(r));
  };
  // Init cached its slot and Flush its index: only the three requests of the
  // first round trip remain.
  CountingRemote* c;
  auto [s1, r1] = open("pw", CachedOpen(tmp / "cache"), &c);
  REQUIRE(s1.ok());
  INFO(c->Dump());
  CHECK(c->Requests("read config") == 1);
  CHECK(c->Requests("list keys/") == 1);
  CHECK(c->Requests("list index/") == 1);
  CHECK(c->Requests("read") == 1);
  CHECK(c->Requests("") == 3);
  // The command line read the config already: one request fewer.
  OpenOptions pre = CachedOpen(tmp / "cache");
  pre.config_bytes = ReadAll(base.get(), "config");
  auto [s2, r2] = open("pw", pre, &c);
  REQUIRE(s2.ok());
  CHECK(c->Requests("") == 2);
  // The second slot is read once, then comes from the cache...
  auto [s3, r3] = open("other", CachedOpen(tmp / "cache"), &c);
  REQUIRE(s3.ok());
  CHECK(c->Requests("read keys/") >= 1);
  auto [s4, r4] = open("other", CachedOpen(tmp / "cache"), &c);
  REQUIRE(s4.ok());
  CHECK(c->Requests("read keys/") == 0);
  // ...until it is removed from the store: a cached copy opens nothing then.
  REQUIRE(r2->RemoveKey(second).ok());
  auto [s5, r5] = open("other", CachedOpen(tmp / "cache"), &c);
  CHECK(s5.code() == Code::kWrongPassword);
  Age(tmp / "cache", 10);  // the trim spares entries younger than a second
  auto [s6, r6] = open("pw", CachedOpen(tmp / "cache"), &c);
  REQUIRE(s6.ok());
  CHECK_FALSE(fs::exists(r6->CacheDir() + "/keys/" + second));
}

TEST_CASE("LoadBlobs reads neighbouring blobs of a pack together, each as LoadBlob would",
          "[repository_cache]") {
  const std::string name = UniqueStore();
  auto base = Mem(name);
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(Mem(name), "pw", FastInit(1 << 20), &repo).ok());
  std::vector<std::string> data;
  std::vector<Hash> ids;
  for (int i = 0; i < 40; i++) {
    data.push_back(RandomData(3000 + i, 100 + i));
    ids.push_back(SaveData(repo.get(), BlobType::kData, data.back()));
  }
  REQUIRE(repo->Flush().ok());
  repo.reset();
  const std::vector<std::string> packs = ListAll(base.get(), "packs/");
  REQUIRE(!packs.empty());

  auto counting = std::make_unique<CountingRemote>(base.get());
  CountingRemote* c = counting.get();
  REQUIRE(Repository::Open(std::move(counting), "pw", NoCache(), &repo).ok());
  std::vector<Hash> want = ids;
  want.push_back(ids[3]);            // asked twice
  want.push_back(repo->HashBlob("never saved"));
  std::vector<std::string> got;
  std::vector<Status> st;
  const int before = c->Requests("read packs/");
  repo->LoadBlobs(BlobType::kData, want, &got, &st);
  REQUIRE(got.size() == want.size());
  REQUIRE(st.size() == want.size());
  for (size_t i = 0; i < ids.size(); i++) {
    INFO("blob " << i);
    CHECK(st[i].ok());
    CHECK(got[i] == data[i]);
  }
  CHECK(st[ids.size()].ok());
  CHECK(got[ids.size()] == data[3]);
  CHECK(st.back().IsNotFound());
  // One read per pack, not one per blob.
  CHECK(c->Requests("read packs/") - before <= static_cast<int>(packs.size()));

  // A damaged byte inside the run fails the blob it falls in, and only it,
  // with the error LoadBlob gives.
  std::string pack = ReadAll(base.get(), packs[0]);
  pack[pack.size() / 3] ^= 0x40;
  REQUIRE(base->Write(packs[0], pack).ok());
  repo->LoadBlobs(BlobType::kData, ids, &got, &st);
  int bad = 0;
  for (size_t i = 0; i < ids.size(); i++) {
    std::string one;
    Status single = repo->LoadBlob(BlobType::kData, ids[i], &one);
    CHECK(st[i].code() == single.code());
    if (st[i].ok()) {
      CHECK(got[i] == data[i]);
    } else {
      CHECK(st[i].IsCorrupt());
      bad++;
    }
  }
  CHECK(bad == 1);
}
