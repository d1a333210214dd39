// Store locks: shared locks coexist, exclusive excludes everything, stale
// locks are ignored, refresh keeps a lock fresh, failures are reported.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/archiver.h"
#include "core/lock.h"
#include "core/repository.h"
#include "core/restorer.h"
#include "core/sealed_object.h"
#include "core/system_info.h"
#include "remotes/fault_remote.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Repository> NewRepo(std::unique_ptr<Remote> r) {
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(std::move(r), "secret", FastInit(), &repo).ok());
  return repo;
}

std::unique_ptr<Repository> OpenRepo(const std::string& store) {
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Open(Mem(store), "secret", NoCache(), &repo).ok());
  return repo;
}

// Writes a lock record as another process would, dated `age` ago.
std::string PlantLock(Repository* repo, LockKind kind, std::chrono::minutes age) {
  LockRecord r;
  r.host = "otherhost";
  r.pid = 4242;
  r.time_ns = NowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(age).count();
  r.kind = kind;
  Hash id;
  REQUIRE(repo->SaveObject("locks", kLockLabel, EncodeLockRecord(r), &id).ok());
  return LockName(id);
}

}  // namespace

TEST_CASE("lock records round trip", "[lock]") {
  LockRecord r{"h\xff", 12, 34, LockKind::kExclusive};  // invalid UTF-8 is replaced, not thrown
  LockRecord back;
  REQUIRE(DecodeLockRecord(EncodeLockRecord(r), &back).ok());
  CHECK(back.pid == 12);
  CHECK(back.time_ns == 34);
  CHECK(back.kind == LockKind::kExclusive);
  CHECK(DecodeLockRecord("{}", &back).IsCorrupt());
  CHECK(DecodeLockRecord("[1]", &back).IsCorrupt());
  CHECK(DecodeLockRecord(R"({"host":"h","pid":1,"time_ns":2,"kind":"weird"})", &back).IsCorrupt());
  CHECK(DecodeLockRecord("{\"host\":", &back).IsCorrupt());
}

TEST_CASE("shared locks coexist; exclusive waits for all of them", "[lock]") {
  std::string store = UniqueStore();
  auto a = NewRepo(Mem(store));
  auto b = OpenRepo(store);
  std::unique_ptr<StoreLock> la, lb, ex;
  REQUIRE(StoreLock::Acquire(a.get(), LockKind::kShared, &la).ok());
  REQUIRE(StoreLock::Acquire(b.get(), LockKind::kShared, &lb).ok());
  std::vector<LockInfo> locks;
  REQUIRE(ListLocks(a.get(), 30min, &locks).ok());
  CHECK(locks.size() == 2);
  for (const auto& l : locks) CHECK(l.fresh);

  Status s = StoreLock::Acquire(a.get(), LockKind::kExclusive, &ex);
  CHECK(s.code() == Code::kBusy);
  CHECK(s.message().find("shared lock") != std::string::npos);
  CHECK(ListAll(a->remote(), "locks/").size() == 2);  // the attempt left nothing behind

  REQUIRE(la->Release().ok());
  CHECK(StoreLock::Acquire(a.get(), LockKind::kExclusive, &ex).code() == Code::kBusy);
  lb.reset();  // the destructor releases too
  CHECK(ListAll(a->remote(), "locks/").empty());
  REQUIRE(StoreLock::Acquire(a.get(), LockKind::kExclusive, &ex).ok());
  CHECK(ex->kind() == LockKind::kExclusive);

  // Backups refuse to start while maintenance runs.
  s = StoreLock::Acquire(b.get(), LockKind::kShared, &lb);
  CHECK(s.code() == Code::kBusy);
  CHECK(s.message().find("locked for maintenance") != std::string::npos);
  CHECK(s.message().find(ex->object_name()) != std::string::npos);
  std::unique_ptr<StoreLock> ex2;
  CHECK(StoreLock::Acquire(b.get(), LockKind::kExclusive, &ex2).code() == Code::kBusy);
  REQUIRE(ex->Release().ok());
  REQUIRE(ex->Release().ok());  // idempotent
  REQUIRE(StoreLock::Acquire(b.get(), LockKind::kShared, &lb).ok());
}

TEST_CASE("stale locks are ignored and can be removed", "[lock]") {
  std::string store = UniqueStore();
  auto repo = NewRepo(Mem(store));
  std::string old_ex = PlantLock(repo.get(), LockKind::kExclusive, 31min);
  std::string old_sh = PlantLock(repo.get(), LockKind::kShared, 45min);
  std::unique_ptr<StoreLock> l;
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kShared, &l).ok());
  REQUIRE(l->Release().ok());
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kExclusive, &l).ok());
  REQUIRE(l->Release().ok());

  // A fresh one from another host does count.
  std::string fresh_ex = PlantLock(repo.get(), LockKind::kExclusive, 1min);
  Status s = StoreLock::Acquire(repo.get(), LockKind::kShared, &l);
  CHECK(s.code() == Code::kBusy);
  CHECK(s.message().find("otherhost") != std::string::npos);

  size_t removed = 0;
  REQUIRE(RemoveLocks(repo.get(), LockOptions(), false, &removed).ok());
  CHECK(removed == 2);
  CHECK(ListAll(repo->remote(), "locks/") == std::vector<std::string>{fresh_ex});
  REQUIRE(RemoveLocks(repo.get(), LockOptions(), true, &removed).ok());
  CHECK(removed == 1);
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kShared, &l).ok());
}

TEST_CASE("damaged locks block exclusive locks only", "[lock]") {
  std::string store = UniqueStore();
  auto repo = NewRepo(Mem(store));
  std::string name = PlantLock(repo.get(), LockKind::kShared, 0min);
  std::string bytes = ReadAll(repo->remote(), name);
  bytes[30] ^= 1;
  REQUIRE(repo->remote()->Write(name, bytes).ok());
  std::vector<LockInfo> locks;
  REQUIRE(ListLocks(repo.get(), 30min, &locks).ok());
  REQUIRE(locks.size() == 1);
  CHECK(locks[0].damaged);
  std::unique_ptr<StoreLock> l;
  CHECK(StoreLock::Acquire(repo.get(), LockKind::kExclusive, &l).code() == Code::kBusy);
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kShared, &l).ok());
}

TEST_CASE("a held lock is refreshed and stays single", "[lock]") {
  std::string store = UniqueStore();
  auto repo = NewRepo(Mem(store));
  LockOptions o;
  o.refresh_interval = 20ms;
  o.stale_after = 10s;
  o.host = "testhost";
  std::unique_ptr<StoreLock> l;
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kShared, o, &l).ok());
  std::string first = l->object_name();
  std::this_thread::sleep_for(150ms);
  CHECK(l->object_name() != first);
  CHECK(l->Check().ok());
  auto names = ListAll(repo->remote(), "locks/");
  REQUIRE(names.size() == 1);
  CHECK(names[0] == l->object_name());
  std::vector<LockInfo> locks;
  REQUIRE(ListLocks(repo.get(), o.stale_after, &locks).ok());
  CHECK(locks[0].record.host == "testhost");
  CHECK(NowNs() - locks[0].record.time_ns < 2'000'000'000);
  REQUIRE(l->Release().ok());
  CHECK(ListAll(repo->remote(), "locks/").empty());
  CHECK_FALSE(l->Check().ok());
}

TEST_CASE("a lock that cannot be refreshed reports it", "[lock]") {
  std::string store = UniqueStore();
  auto fault = std::make_unique<FaultRemote>(Mem(store));
  FaultRemote* f = fault.get();
  auto repo = NewRepo(std::move(fault));
  LockOptions o;
  o.refresh_interval = 10ms;
  o.stale_after = 200ms;
  std::unique_ptr<StoreLock> l;
  REQUIRE(StoreLock::Acquire(repo.get(), LockKind::kShared, o, &l).ok());
  FaultOptions fo;
  fo.io_error_rate = 1;
  fo.ops = OpBit(RemoteOp::kWrite);
  f->SetOptions(fo);
  std::this_thread::sleep_for(300ms);
  Status s = l->Check();
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("could not be refreshed") != std::string::npos);
  f->SetOptions(FaultOptions());
  std::this_thread::sleep_for(100ms);
  CHECK(l->Check().ok());  // recovered
}

TEST_CASE("restore holds a shared lock and waits out an exclusive one", "[lock]") {
  TempDir tmp;
  const std::string src = tmp / "src";
  std::filesystem::create_directories(src + "/d");
  WriteFile(src + "/d/file", RandomData(20000, 1));
  const std::string store = UniqueStore();
  auto repo = NewRepo(Mem(store));
  BackupOptions bo;
  bo.paths = {src};
  bo.count_totals = false;
  BackupResult br;
  REQUIRE(Backup(repo.get(), bo, nullptr, &br).ok());
  repo.reset();

  std::unique_ptr<Remote> base = Mem(store);
  auto counting = std::make_unique<CountingRemote>(base.get());
  CountingRemote* counter = counting.get();
  REQUIRE(Repository::Open(std::move(counting), "secret", NoCache(), &repo).ok());

  // A prune (exclusive) is running: restore refuses before writing anything.
  std::string ex = PlantLock(repo.get(), LockKind::kExclusive, 0min);
  RestoreOptions ro;
  ro.target = tmp / "out";
  RestoreResult rr;
  Status s = Restore(repo.get(), br.snapshot, ro, nullptr, &rr);
  CHECK(s.code() == Code::kBusy);
  CHECK_FALSE(std::filesystem::exists(ro.target));
  CHECK(ListAll(repo->remote(), "locks/") == std::vector<std::string>{ex});

  // A stale exclusive lock (a crashed prune) and a backup's shared lock do
  // not stop it; the restore's own lock is written, then deleted.
  REQUIRE(repo->DeleteObject(ex).ok());
  PlantLock(repo.get(), LockKind::kExclusive, 60min);
  std::string shared = PlantLock(repo.get(), LockKind::kShared, 0min);
  int writes = counter->Requests("write locks/"), deletes = counter->Requests("delete locks/");
  s = Restore(repo.get(), br.snapshot, ro, nullptr, &rr);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(counter->Requests("write locks/") == writes + 1);
  CHECK(counter->Requests("delete locks/") == deletes + 1);
  CHECK(ReadFile(ro.target + src + "/d/file") == RandomData(20000, 1));
  CHECK(ListAll(repo->remote(), "locks/").size() == 2);  // the two planted ones
}
