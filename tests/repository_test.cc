// Repository: init/open, passphrases and key slots, saving and loading blobs,
// dedup, pack sizes, sealed objects.
#include "core/repository.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "core/pack.h"
#include "remotes/remote.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;

namespace {

std::unique_ptr<Repository> InitMem(const std::string& store, const InitOptions& o = FastInit()) {
  std::unique_ptr<Repository> repo;
  Status s = Repository::Init(Mem(store), "secret", o, &repo);
  REQUIRE(s.ok());
  return repo;
}

std::unique_ptr<Repository> OpenMem(const std::string& store, const std::string& pass = "secret") {
  std::unique_ptr<Repository> repo;
  Status s = Repository::Open(Mem(store), pass, NoCache(), &repo);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return repo;
}

Status TryOpen(const std::string& store, const std::string& pass) {
  std::unique_ptr<Repository> repo;
  return Repository::Open(Mem(store), pass, NoCache(), &repo);
}

Hash Save(Repository* repo, BlobType t, const std::string& data, bool* added = nullptr) {
  Hash id = repo->HashBlob(data);
  Status s = repo->SaveBlob(t, id, data, added, nullptr);
  REQUIRE(s.ok());
  return id;
}

std::string Load(Repository* repo, BlobType t, const Hash& id) {
  std::string out;
  Status s = repo->LoadBlob(t, id, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

uint64_t PackBytes(Remote* r) {
  uint64_t total = 0;
  (void)r->List("packs/", [&](const ObjectInfo& o) { total += o.size; });
  return total;
}

}  // namespace

TEST_CASE("init and open round trip on a memory store", "[repository]") {
  std::string store = UniqueStore();
  std::string data = RandomData(10000, 1);
  Hash id;
  StoreConfig cfg;
  {
    auto repo = InitMem(store);
    cfg = repo->config();
    id = Save(repo.get(), BlobType::kData, data);
    REQUIRE(repo->Flush().ok());
  }
  // Reopen through the STORE-string factory, as the CLI does.
  std::unique_ptr<Remote> remote;
  REQUIRE(OpenRemote("memory:" + store, false, &remote).ok());
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Open(std::move(remote), "secret", NoCache(), &repo).ok());
  CHECK(repo->config().store_id == cfg.store_id);
  CHECK(repo->config().pack_size == cfg.pack_size);
  CHECK(repo->config().chunker.avg_size == 4096);
  CHECK(repo->config().created_ns == cfg.created_ns);
  CHECK(Load(repo.get(), BlobType::kData, id) == data);
  CHECK(repo->HashBlob(data) == id);  // same id key after reopening
  CHECK(repo->IndexObjects().size() == 1);
  CHECK(repo->DamagedIndexes().empty());
}

TEST_CASE("init and open round trip on a local folder", "[repository]") {
  TempDir dir;
  std::string path = dir / "store";
  std::unique_ptr<Remote> remote;
  REQUIRE(OpenRemote(path, true, &remote).ok());
  std::unique_ptr<Repository> repo;
  InitOptions o = FastInit();
  o.open.no_cache = false;
  o.open.cache_dir = dir / "cache";
  REQUIRE(Repository::Init(std::move(remote), "pw", o, &repo).ok());
  std::string tree = "tree page " + RandomData(300, 2);
  Hash tid = Save(repo.get(), BlobType::kTree, tree);
  Hash did = Save(repo.get(), BlobType::kData, RandomData(5000, 3));
  REQUIRE(repo->Flush().ok());
  std::string store_hex = repo->config().StoreIdHex();
  repo.reset();

  REQUIRE(OpenRemote(path, false, &remote).ok());
  CHECK(ListAll(remote.get(), "keys/").size() == 1);
  CHECK(ListAll(remote.get(), "packs/").size() == 2);  // data and tree apart
  CHECK(ListAll(remote.get(), "index/").size() == 1);
  OpenOptions oo;
  oo.cache_dir = dir / "cache";
  REQUIRE(Repository::Open(std::move(remote), "pw", oo, &repo).ok());
  CHECK(Load(repo.get(), BlobType::kTree, tid) == tree);
  CHECK(Load(repo.get(), BlobType::kData, did) == RandomData(5000, 3));
  CHECK(repo->CacheDir() == dir / "cache/" + store_hex);
  struct stat st;
  REQUIRE(stat(repo->CacheDir().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("init refuses an existing store and bad settings", "[repository]") {
  std::string store = UniqueStore();
  InitMem(store);
  std::unique_ptr<Repository> repo;
  CHECK(Repository::Init(Mem(store), "x", FastInit(), &repo).code() == Code::kExists);

  InitOptions o = FastInit();
  o.chunker.avg_size = 5000;  // not a power of two
  Status s = Repository::Init(Mem(UniqueStore()), "x", o, &repo);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("power of two") != std::string::npos);
  o = FastInit();
  o.chunker.min_size = 8192;  // min >= avg
  CHECK(Repository::Init(Mem(UniqueStore()), "x", o, &repo).code() == Code::kInvalidArgument);
  o = FastInit();
  o.pack_size = 10;
  CHECK(Repository::Init(Mem(UniqueStore()), "x", o, &repo).code() == Code::kInvalidArgument);
}

TEST_CASE("open: missing store, not a store, wrong passphrase", "[repository]") {
  std::string store = UniqueStore();
  CHECK(TryOpen(store, "x").code() == Code::kNotFound);
  REQUIRE(Mem(store)->Write("config", "hello, this is not a store config").ok());
  Status s = TryOpen(store, "x");
  CHECK(s.code() == Code::kCorrupt);
  CHECK(s.message() == "not a klosetfs store or config damaged");

  std::string good = UniqueStore();
  InitMem(good);
  s = TryOpen(good, "not the secret");
  CHECK(s.code() == Code::kWrongPassword);
  CHECK(s.message() == "wrong passphrase");
}

TEST_CASE("open refuses a newer format version naming both versions", "[repository]") {
  std::string store = UniqueStore();
  InitMem(store);
  auto raw = Mem(store);
  std::string cfg = ReadAll(raw.get(), "config");
  cfg[8] = 2;  // u32 version, little-endian
  REQUIRE(raw->Write("config", cfg).ok());
  Status s = TryOpen(store, "secret");
  CHECK(s.code() == Code::kVersion);
  CHECK(s.message() ==
        "store format version 2 is newer than this klosetfs understands (1); upgrade klosetfs");
  // The version is checked before any key slot: even a wrong passphrase gets it.
  CHECK(TryOpen(store, "wrong").code() == Code::kVersion);
}

TEST_CASE("damaged config settings are reported as corrupt", "[repository]") {
  std::string store = UniqueStore();
  InitMem(store);
  auto raw = Mem(store);
  std::string cfg = ReadAll(raw.get(), "config");
  cfg[cfg.size() - 3] ^= 1;
  REQUIRE(raw->Write("config", cfg).ok());
  CHECK(TryOpen(store, "secret").code() == Code::kCorrupt);
}

TEST_CASE("a damaged key slot is skipped when another opens", "[repository][keys]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::string first = repo->CurrentKeyId();
  std::string second;
  REQUIRE(repo->AddKey("secret", FastKdf(), "same passphrase", &second).ok());
  repo.reset();
  auto raw = Mem(store);
  std::string slot = ReadAll(raw.get(), "keys/" + first);
  slot[60] ^= 0x40;
  REQUIRE(raw->Write("keys/" + first, slot).ok());

  auto reopened = OpenMem(store, "secret");
  CHECK(reopened->CurrentKeyId() == second);
  std::vector<KeyInfo> keys;
  REQUIRE(reopened->ListKeys(&keys).ok());
  REQUIRE(keys.size() == 2);
  int damaged = 0;
  for (const auto& k : keys) damaged += k.damaged;
  CHECK(damaged == 1);

  // The only slot damaged: corrupt, not a wrong passphrase.
  REQUIRE(raw->Delete("keys/" + second).ok());
  Status s = TryOpen(store, "secret");
  CHECK(s.code() == Code::kCorrupt);
  CHECK(s.message().find("key slot damaged") != std::string::npos);
  CHECK(s.message().find(first) != std::string::npos);
}

TEST_CASE("keys: add, list, remove rules", "[repository][keys]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::string main_id = repo->CurrentKeyId();
  std::string other;
  REQUIRE(repo->AddKey("other pass", FastKdf(), "laptop", &other).ok());
  CHECK(OpenMem(store, "other pass")->CurrentKeyId() == other);

  std::vector<KeyInfo> keys;
  REQUIRE(repo->ListKeys(&keys).ok());
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].id == main_id);  // sorted by creation
  CHECK(keys[0].label == "test@host");
  CHECK(keys[0].current);
  CHECK(keys[1].label == "laptop");
  CHECK_FALSE(keys[1].current);
  CHECK(keys[0].created_ns <= keys[1].created_ns);

  CHECK(repo->RemoveKey(main_id.substr(0, 8)).code() == Code::kInvalidArgument);  // in use
  CHECK(repo->RemoveKey("zz").code() == Code::kInvalidArgument);
  CHECK(repo->RemoveKey("").code() == Code::kInvalidArgument);
  CHECK(repo->RemoveKey(ToHex(Hash{})).code() == Code::kNotFound);
  REQUIRE(repo->RemoveKey(other.substr(0, 6)).ok());
  CHECK(TryOpen(store, "other pass").code() == Code::kWrongPassword);

  // The last slot can never be removed, also not from a session that
  // opened with another (now removed) slot.
  Status s = repo->RemoveKey(main_id);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("last key slot") != std::string::npos);
}

TEST_CASE("keys: an ambiguous prefix is refused", "[repository][keys]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::map<char, int> first_digits;
  first_digits[repo->CurrentKeyId()[0]]++;
  char dup = 0;
  while (!dup) {  // pigeonhole: at most 17 slots
    std::string id;
    REQUIRE(repo->AddKey("k", FastKdf(), "k", &id).ok());
    if (++first_digits[id[0]] == 2) dup = id[0];
  }
  Status s = repo->RemoveKey(std::string(1, dup));
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("ambiguous") != std::string::npos);
}

TEST_CASE("many blobs from several threads survive flush and reopen", "[repository]") {
  std::string store = UniqueStore();
  InitOptions o = FastInit(32 << 10);
  o.open.transfers = 3;
  auto repo = InitMem(store, o);
  constexpr int kThreads = 4, kPerThread = 150;
  // Threads overlap: blob k is saved by every thread that reaches it.
  auto blob = [](int k) {
    return k % 3 == 0 ? std::string(500 + k, static_cast<char>('a' + k % 26))  // compressible
                      : RandomData(100 + (k * 37) % 6000, 1000 + k);
  };
  std::vector<std::thread> threads;
  std::atomic<int> added_total{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        int k = t * kPerThread / 2 + i;
        std::string d = blob(k);
        bool added = false;
        BlobType type = k % 5 == 0 ? BlobType::kTree : BlobType::kData;
        if (repo->SaveBlob(type, repo->HashBlob(d), d, &added, nullptr).ok() && added) {
          added_total++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const int unique = (kThreads - 1) * kPerThread / 2 + kPerThread;
  CHECK(added_total == unique);
  REQUIRE(repo->Flush().ok());
  CHECK(repo->stats().blobs_added == static_cast<uint64_t>(unique));
  repo.reset();

  auto again = OpenMem(store);
  size_t count = 0;
  again->ForEachBlob([&](const IndexEntry&) { count++; });
  CHECK(count == static_cast<size_t>(unique));
  for (int k = 0; k < unique; k++) {
    std::string d = blob(k);
    BlobType type = k % 5 == 0 ? BlobType::kTree : BlobType::kData;
    REQUIRE(Load(again.get(), type, again->HashBlob(d)) == d);
    uint64_t size = 0;
    REQUIRE(again->BlobSize(type, again->HashBlob(d), &size).ok());
    CHECK(size == d.size());
  }
}

TEST_CASE("dedup: a blob saved twice is stored once", "[repository]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::string d = RandomData(20000, 7);
  bool added = false;
  Hash id = Save(repo.get(), BlobType::kData, d, &added);
  CHECK(added);
  Save(repo.get(), BlobType::kData, d, &added);
  CHECK_FALSE(added);
  CHECK(repo->HasBlob(BlobType::kData, id));
  CHECK_FALSE(repo->HasBlob(BlobType::kTree, id));  // the type is part of the key
  REQUIRE(repo->Flush().ok());
  uint64_t one = PackBytes(repo->remote());
  CHECK(one < d.size() + 200);  // one sealed copy + header
  CHECK(one > d.size());

  // Many threads racing on the same blobs store each once.
  std::vector<std::string> blobs;
  for (int i = 0; i < 20; i++) blobs.push_back(RandomData(3000, 100 + i));
  std::vector<std::thread> threads;
  std::atomic<int> added_count{0};
  for (int t = 0; t < 6; t++) {
    threads.emplace_back([&] {
      for (const auto& b : blobs) {
        bool a = false;
        if (repo->SaveBlob(BlobType::kData, repo->HashBlob(b), b, &a, nullptr).ok() && a) {
          added_count++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(added_count == 20);
  REQUIRE(repo->Flush().ok());
  CHECK(PackBytes(repo->remote()) - one < 20 * (3000 + 40 + 80) + 200);
  // A blob already in the index (after reopen) is not stored again.
  repo.reset();
  auto again = OpenMem(store);
  Save(again.get(), BlobType::kData, d, &added);
  CHECK_FALSE(added);
  REQUIRE(again->Flush().ok());
  CHECK(ListAll(again->remote(), "index/").size() == 2);  // nothing new: no index
}

TEST_CASE("packs respect the size target and keep types apart", "[repository]") {
  std::string store = UniqueStore();
  const uint32_t kPack = 64 << 10;
  auto repo = InitMem(store, FastInit(kPack));
  for (int i = 0; i < 120; i++) {
    Save(repo.get(), i % 4 == 0 ? BlobType::kTree : BlobType::kData, RandomData(5000, 500 + i));
  }
  REQUIRE(repo->Flush().ok());
  auto packs = ListAll(repo->remote(), "packs/");
  REQUIRE(packs.size() >= 9);
  int small = 0;
  for (const auto& name : packs) {
    std::string bytes = ReadAll(repo->remote(), name);
    CHECK(name == PackName(PlainHash(bytes)));
    std::vector<IndexEntry> entries;
    REQUIRE(repo->ReadPackHeader(bytes, &entries).ok());
    uint64_t blob_bytes = entries.back().offset + entries.back().stored_size;
    CHECK(blob_bytes <= kPack);
    if (blob_bytes < kPack - 5100) small++;  // only the last pack of each type
    std::set<BlobType> types;
    for (const auto& e : entries) types.insert(e.type);
    CHECK(types.size() == 1);
  }
  CHECK(small <= 2);
  CHECK(repo->PackCount() == packs.size());
  CHECK(repo->IndexObjects().size() == 1);  // one index per flush
}

TEST_CASE("packs close at 16,384 blobs however small the blobs", "[repository]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store, FastInit(16 << 20));
  for (int i = 0; i < 40000; i++) Save(repo.get(), BlobType::kData, "blob " + std::to_string(i));
  REQUIRE(repo->Flush().ok());
  auto packs = ListAll(repo->remote(), "packs/");
  REQUIRE(packs.size() == 3);  // 16,384 + 16,384 + 7,232
  size_t total = 0;
  for (const auto& name : packs) {
    std::vector<IndexEntry> entries;
    REQUIRE(repo->ReadPackHeader(ReadAll(repo->remote(), name), &entries).ok());
    CHECK(entries.size() <= 16384);
    total += entries.size();
  }
  CHECK(total == 40000);
}

TEST_CASE("pending blobs load before flush", "[repository]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::string d = RandomData(1000, 9);
  Hash id = Save(repo.get(), BlobType::kTree, d);
  CHECK(Load(repo.get(), BlobType::kTree, id) == d);
  uint64_t size = 0;
  REQUIRE(repo->BlobSize(BlobType::kTree, id, &size).ok());
  CHECK(size == 1000);
  IndexEntry e;
  CHECK(repo->LookupBlob(id, BlobType::kTree, &e).IsNotFound());  // not indexed yet
  REQUIRE(repo->Flush().ok());
  REQUIRE(repo->LookupBlob(id, BlobType::kTree, &e).ok());
  CHECK(e.raw_size == 1000);
  CHECK(repo->PackId(e.pack) != Hash{});
  std::string out;
  CHECK(repo->LoadBlob(BlobType::kData, id, &out).IsNotFound());
}

TEST_CASE("sealed objects round trip and verify their names", "[repository]") {
  std::string store = UniqueStore();
  auto repo = InitMem(store);
  std::string body(50000, 'x');
  Hash id;
  REQUIRE(repo->SaveObject("snapshots", "kloset.snapshot", body, &id).ok());
  std::string name = SnapshotName(id);
  std::string stored = ReadAll(repo->remote(), name);
  CHECK(stored.size() < 1000);  // compressed
  CHECK(PlainHash(stored) == id);
  std::string out;
  REQUIRE(repo->LoadObject(name, "kloset.snapshot", &out).ok());
  CHECK(out == body);
  // A snapshot cannot be passed off as an index.
  Status s = repo->LoadObject(name, "kloset.index", &out);
  CHECK(s.code() == Code::kCorrupt);
  CHECK(s.message().find(name) != std::string::npos);
  stored[stored.size() / 2] ^= 1;
  REQUIRE(repo->remote()->Write(name, stored).ok());
  s = repo->LoadObject(name, "kloset.snapshot", &out);
  CHECK(s.code() == Code::kCorrupt);
  CHECK(s.message().find(name) != std::string::npos);
  CHECK(repo->LoadObject(SnapshotName(Hash{}), "kloset.snapshot", &out).IsNotFound());
  CHECK(repo->SaveObject("packs", "x", "y", &id).code() == Code::kInvalidArgument);
  REQUIRE(repo->DeleteObject(name).ok());
  CHECK(repo->DeleteObject("config").code() == Code::kInvalidArgument);
}

TEST_CASE("indexes are written before Flush once enough blobs wait for one", "[repository]") {
  std::string store = UniqueStore();
  InitOptions o = FastInit(4 << 10);  // ~30 of these blobs a pack
  o.open.transfers = 2;
  o.open.max_unindexed_blobs = 50;
  auto repo = InitMem(store, o);
  auto remote = Mem(store);
  constexpr int kBlobs = 2000;
  auto blob = [](int k) { return RandomData(60 + k % 50, 7000 + k); };
  auto type = [](int k) { return k % 7 == 0 ? BlobType::kTree : BlobType::kData; };
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      for (int k = t; k < kBlobs; k += 2) {
        std::string d = blob(k);
        if (!repo->SaveBlob(type(k), repo->HashBlob(d), d, nullptr, nullptr).ok()) failed++;
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failed == 0);
  // ~70 packs, at most 4 in flight: most have been indexed already.
  const size_t early = ListAll(remote.get(), "index/").size();
  CHECK(early >= 5);
  REQUIRE(repo->Flush().ok());
  const auto names = ListAll(remote.get(), "index/");
  CHECK(names.size() >= early);
  CHECK(repo->IndexObjects().size() == names.size());
  repo.reset();

  auto again = OpenMem(store);
  size_t count = 0;
  again->ForEachBlob([&](const IndexEntry&) { count++; });
  CHECK(count == kBlobs);
  for (int k = 0; k < kBlobs; k++) {
    std::string d = blob(k);
    REQUIRE(Load(again.get(), type(k), again->HashBlob(d)) == d);
  }
}
