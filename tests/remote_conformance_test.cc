// The Remote contract (remotes/remote.h), checked against every backend.
//
// Each backend is a fixture type that builds `remote` in its constructor and
// owns whatever the backend needs (a temp folder, a wrapped remote). To cover
// a new backend, write such a type and add it to ALL_BACKENDS.
#include <algorithm>
#include <cerrno>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "remotes/fault_remote.h"
#include "remotes/local_remote.h"
#include "remotes/memory_remote.h"
#include "remotes/remote.h"
#include "remotes/retry_remote.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::TempDir;

struct LocalBackend {
  TempDir dir;
  std::unique_ptr<Remote> remote;
  LocalBackend() {
    Status s = OpenRemote(dir / "store", /*create=*/true, &remote);
    REQUIRE(s.ok());
  }
};

struct MemoryBackend {
  std::string name;
  std::unique_ptr<Remote> remote;
  MemoryBackend() {
    static std::atomic<int> counter{0};
    name = "conformance-" + std::to_string(counter++);
    Status s = OpenRemote("memory:" + name, true, &remote);
    REQUIRE(s.ok());
  }
  ~MemoryBackend() { MemoryRemote::DropNamed(name); }
};

// The fault wrapper with every rate at zero must be a transparent proxy.
struct FaultFreeBackend {
  TempDir dir;
  std::unique_ptr<Remote> remote;
  FaultFreeBackend() {
    std::unique_ptr<Remote> base;
    Status s = OpenRemote(dir / "store", true, &base);
    REQUIRE(s.ok());
    remote = std::make_unique<FaultRemote>(std::move(base));
  }
};

// 30% of requests fail with kTransient (failed Lists after reporting a few
// objects); the retry wrapper must hide all of it.
struct FlakyRetryBackend {
  std::unique_ptr<Remote> remote;
  FlakyRetryBackend() {
    FaultOptions faults;
    faults.seed = 42;
    faults.transient_rate = 0.3;
    RetryOptions retry;
    retry.max_attempts = 40;  // 0.3^40: never gives up in practice
    retry.initial_delay = std::chrono::microseconds(1);
    retry.max_delay = std::chrono::microseconds(50);
    retry.seed = 7;
    remote = std::make_unique<RetryRemote>(
        std::make_unique<FaultRemote>(std::make_unique<MemoryRemote>(), faults), retry);
  }
};

// Every backend the contract tests run against (test names show the type).
#define ALL_BACKENDS LocalBackend, MemoryBackend, FaultFreeBackend, FlakyRetryBackend

std::string ReadAll(Remote& r, const std::string& name) {
  std::string out;
  Status s = r.Read(name, 0, Remote::kToEnd, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

void Put(Remote& r, const std::string& name, std::string_view data) {
  Status s = r.Write(name, data);
  INFO(name << ": " << s.ToString());
  REQUIRE(s.ok());
}

// Every (name, size) List reports, sorted; duplicates would show twice.
std::vector<std::pair<std::string, uint64_t>> ListAll(Remote& r, const std::string& prefix) {
  std::vector<std::pair<std::string, uint64_t>> out;
  std::mutex mu;  // List may call back from any thread
  Status s = r.List(prefix, [&](const ObjectInfo& info) {
    std::lock_guard<std::mutex> lock(mu);
    out.emplace_back(info.name, info.size);
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Names(const std::vector<std::pair<std::string, uint64_t>>& v) {
  std::vector<std::string> names;
  for (const auto& e : v) names.push_back(e.first);
  return names;
}

// A pack-like name "packs/<hh>/<hex>" for object i.
std::string PackName(int i) {
  uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull + 12345;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(x));
  return std::string("packs/") + hex[0] + hex[1] + "/" + hex;
}

std::string PackData(int i) { return RandomData(100 + (i * 7919) % 20000, i); }

TEMPLATE_TEST_CASE("remote: write then read whole and ranges", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  const std::string data = RandomData(10000, 1);
  Put(r, "config", data);
  CHECK(ReadAll(r, "config") == data);

  std::string out;
  REQUIRE(r.Read("config", 100, 50, &out).ok());
  CHECK(out == data.substr(100, 50));
  REQUIRE(r.Read("config", 0, 1, &out).ok());
  CHECK(out == data.substr(0, 1));
  REQUIRE(r.Read("config", 9999, 1, &out).ok());
  CHECK(out == data.substr(9999));
  REQUIRE(r.Read("config", 4000, Remote::kToEnd, &out).ok());
  CHECK(out == data.substr(4000));
  REQUIRE(r.Read("config", 100, 0, &out).ok());
  CHECK(out.empty());

  SECTION("a range crossing the end returns what exists") {
    REQUIRE(r.Read("config", 9990, 100, &out).ok());
    CHECK(out == data.substr(9990));
  }
  SECTION("reading at or past the end returns nothing") {
    out = "stale";
    REQUIRE(r.Read("config", 10000, 10, &out).ok());
    CHECK(out.empty());
    out = "stale";
    REQUIRE(r.Read("config", 123456, Remote::kToEnd, &out).ok());
    CHECK(out.empty());
  }
  SECTION("nested names make their folders") {
    Put(r, "packs/ab/ab01", "pack");
    Put(r, "index/cd/cd02", "index");
    Put(r, "keys/a.b_c-d", "key");
    CHECK(ReadAll(r, "packs/ab/ab01") == "pack");
    CHECK(ReadAll(r, "index/cd/cd02") == "index");
    CHECK(ReadAll(r, "keys/a.b_c-d") == "key");
  }
}

TEMPLATE_TEST_CASE("remote: missing objects are kNotFound", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  std::string out;
  ObjectInfo info;
  CHECK(r.Read("snapshots/00ff", 0, Remote::kToEnd, &out).IsNotFound());
  CHECK(r.Stat("snapshots/00ff", &info).IsNotFound());
  CHECK(r.Delete("snapshots/00ff").IsNotFound());
  CHECK(r.Read("packs/zz/zz00", 5, 5, &out).IsNotFound());
  Put(r, "snapshots/0001", "x");
  // A folder that exists is still not an object.
  CHECK(r.Read("snapshots", 0, Remote::kToEnd, &out).IsNotFound());
  CHECK(r.Stat("snapshots", &info).IsNotFound());
  CHECK(r.Delete("snapshots").IsNotFound());
  // Below an object that is not a folder.
  CHECK(r.Read("snapshots/0001/x", 0, Remote::kToEnd, &out).IsNotFound());
  CHECK(r.Stat("snapshots/0001/x", &info).IsNotFound());
}

TEMPLATE_TEST_CASE("remote: stat reports the size", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  Put(r, "keys/0a", RandomData(4321, 2));
  ObjectInfo info;
  REQUIRE(r.Stat("keys/0a", &info).ok());
  CHECK(info.name == "keys/0a");
  CHECK(info.size == 4321);
}

TEMPLATE_TEST_CASE("remote: list by prefix recurses", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  Put(r, "config", "cfg");
  Put(r, "keys/k1", "key1");
  Put(r, "packs/ab/ab11", "p1");
  Put(r, "packs/ab/ab22", "pack2");
  Put(r, "packs/cd/cd33", "");
  Put(r, "snapshots/s1", "snap");

  using V = std::vector<std::string>;
  CHECK(Names(ListAll(r, "")) ==
        V{"config", "keys/k1", "packs/ab/ab11", "packs/ab/ab22", "packs/cd/cd33", "snapshots/s1"});
  CHECK(Names(ListAll(r, "packs/")) == V{"packs/ab/ab11", "packs/ab/ab22", "packs/cd/cd33"});
  CHECK(Names(ListAll(r, "packs")) == V{"packs/ab/ab11", "packs/ab/ab22", "packs/cd/cd33"});
  CHECK(Names(ListAll(r, "pa")) == V{"packs/ab/ab11", "packs/ab/ab22", "packs/cd/cd33"});
  CHECK(Names(ListAll(r, "packs/ab/")) == V{"packs/ab/ab11", "packs/ab/ab22"});
  CHECK(Names(ListAll(r, "packs/ab/ab2")) == V{"packs/ab/ab22"});
  CHECK(Names(ListAll(r, "packs/c")) == V{"packs/cd/cd33"});
  CHECK(Names(ListAll(r, "c")) == V{"config"});
  CHECK(ListAll(r, "index/").empty());
  CHECK(ListAll(r, "packs/ef/").empty());

  auto packs = ListAll(r, "packs/");
  CHECK(packs[0].second == 2);
  CHECK(packs[1].second == 5);
  CHECK(packs[2].second == 0);

  Status s = r.List("../", [](const ObjectInfo&) {});
  CHECK(s.code() == Code::kInvalidArgument);
}

TEMPLATE_TEST_CASE("remote: delete", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  Put(r, "locks/l1", "lock");
  Put(r, "locks/l2", "lock");
  REQUIRE(r.Delete("locks/l1").ok());
  std::string out;
  CHECK(r.Read("locks/l1", 0, Remote::kToEnd, &out).IsNotFound());
  CHECK(Names(ListAll(r, "locks/")) == std::vector<std::string>{"locks/l2"});
  CHECK(r.Delete("locks/l1").IsNotFound());
  // A deleted name can be written again.
  Put(r, "locks/l1", "again");
  CHECK(ReadAll(r, "locks/l1") == "again");
}

TEMPLATE_TEST_CASE("remote: rewriting an object is idempotent", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  const std::string data = RandomData(5000, 3);
  Put(r, "packs/12/1234", data);
  Put(r, "packs/12/1234", data);
  Put(r, "packs/12/1234", data);
  CHECK(ReadAll(r, "packs/12/1234") == data);
  CHECK(Names(ListAll(r, "")) == std::vector<std::string>{"packs/12/1234"});
  // The engine never does this, but a rewrite must still be atomic and whole.
  Put(r, "config", "first");
  Put(r, "config", "second version");
  CHECK(ReadAll(r, "config") == "second version");
}

TEMPLATE_TEST_CASE("remote: invalid names are rejected", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  const std::vector<std::string> bad = {
      "", "/config", "a//b", "a/", "/", "../x", "a/../b", "..", ".", "./a", "a/./b", "Config",
      "a b", "a\\b", "a:b", std::string("a\0b", 3), "caf\xc3\xa9", ".tmp~123", "a\nb"};
  for (const std::string& name : bad) {
    INFO("name '" << name << "'");
    std::string out;
    ObjectInfo info;
    CHECK(r.Write(name, "x").code() == Code::kInvalidArgument);
    CHECK(r.Read(name, 0, 1, &out).code() == Code::kInvalidArgument);
    CHECK(r.Stat(name, &info).code() == Code::kInvalidArgument);
    CHECK(r.Delete(name).code() == Code::kInvalidArgument);
  }
  CHECK(ListAll(r, "").empty());
}

TEMPLATE_TEST_CASE("remote: empty object", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  Put(r, "snapshots/empty", "");
  ObjectInfo info;
  REQUIRE(r.Stat("snapshots/empty", &info).ok());
  CHECK(info.size == 0);
  std::string out = "stale";
  REQUIRE(r.Read("snapshots/empty", 0, Remote::kToEnd, &out).ok());
  CHECK(out.empty());
  CHECK(ListAll(r, "snapshots/") ==
        std::vector<std::pair<std::string, uint64_t>>{{"snapshots/empty", 0}});
}

TEMPLATE_TEST_CASE("remote: large object", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  const std::string data = RandomData(20 << 20, 4);
  Put(r, "packs/ff/ffee", data);
  CHECK(ReadAll(r, "packs/ff/ffee") == data);
  std::string out;
  REQUIRE(r.Read("packs/ff/ffee", 10 << 20, 3 << 20, &out).ok());
  CHECK(out == data.substr(10 << 20, 3 << 20));
  ObjectInfo info;
  REQUIRE(r.Stat("packs/ff/ffee", &info).ok());
  CHECK(info.size == data.size());
}

// Writers add objects while readers list and read them: a listed object must
// always read back whole (writes are atomic, temporary files never listed).
TEMPLATE_TEST_CASE("remote: concurrent writers and readers", "[remote]", ALL_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  constexpr int kWriters = 4, kReaders = 3, kPerWriter = 40;
  std::map<std::string, int> index_of;
  for (int i = 0; i < kWriters * kPerWriter; i++) index_of[PackName(i)] = i;

  std::atomic<int> writers_left{kWriters};
  std::mutex err_mu;
  std::vector<std::string> errors;
  auto fail = [&](std::string e) {
    std::lock_guard<std::mutex> lock(err_mu);
    errors.push_back(std::move(e));
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    threads.emplace_back([&, w] {
      for (int k = 0; k < kPerWriter; k++) {
        int i = w * kPerWriter + k;
        Status s = r.Write(PackName(i), PackData(i));
        if (!s.ok()) fail("write: " + s.ToString());
        // Every writer also rewrites a shared object with identical content.
        s = r.Write("config", "shared");
        if (!s.ok()) fail("write config: " + s.ToString());
      }
      writers_left--;
    });
  }
  for (int t = 0; t < kReaders; t++) {
    threads.emplace_back([&] {
      do {
        std::vector<std::string> listed;
        Status s = r.List("packs/", [&](const ObjectInfo& info) { listed.push_back(info.name); });
        if (!s.ok()) fail("list: " + s.ToString());
        for (const std::string& name : listed) {
          auto it = index_of.find(name);
          if (it == index_of.end()) {
            fail("listed an unknown name " + name);
            continue;
          }
          std::string out;
          s = r.Read(name, 0, Remote::kToEnd, &out);
          if (!s.ok()) fail("read: " + s.ToString());
          if (s.ok() && out != PackData(it->second)) fail("partial or wrong data in " + name);
        }
      } while (writers_left > 0);
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : errors) FAIL_CHECK(e);
  CHECK(errors.empty());

  auto listed = ListAll(r, "packs/");
  REQUIRE(listed.size() == index_of.size());
  for (const auto& [name, size] : listed) {
    int i = index_of.at(name);
    CHECK(size == PackData(i).size());
    CHECK(ReadAll(r, name) == PackData(i));
  }
  CHECK(ReadAll(r, "config") == "shared");
}

TEMPLATE_TEST_CASE("remote: describe and parallelism", "[remote]", ALL_BACKENDS) {
  TestType b;
  CHECK_FALSE(b.remote->Describe().empty());
  CHECK(b.remote->MaxParallel() >= 1);
}

// The flaky backend must really fail often, or it proves nothing.
TEST_CASE("remote: the flaky backend is flaky", "[remote]") {
  FlakyRetryBackend b;
  for (int i = 0; i < 100; i++) Put(*b.remote, PackName(i), PackData(i));
  auto listed = ListAll(*b.remote, "packs/");
  CHECK(listed.size() == 100);
  auto* retry = dynamic_cast<RetryRemote*>(b.remote.get());
  REQUIRE(retry);
  CHECK(retry->stats().retries > 20);
  CHECK(retry->stats().gave_up == 0);
}

// ---- Naming and OpenRemote -------------------------------------------------

TEST_CASE("IsValidObjectName", "[remote]") {
  for (const char* ok : {"config", "keys/0a1b", "packs/ab/ab12", "a", "a.b", "a_b-c", "x/y/z/w",
                         "..a", "a..b", ".hidden"}) {
    INFO(ok);
    CHECK(IsValidObjectName(ok));
  }
  for (const char* bad : {"", "/", "/a", "a/", "a//b", ".", "..", "../a", "a/..", "a/./b", "A",
                          "a b", "a~", "a:b", "a*b", "a\\b"}) {
    INFO(bad);
    CHECK_FALSE(IsValidObjectName(bad));
  }
}

TEST_CASE("OpenRemote: memory stores are shared by name", "[remote]") {
  std::unique_ptr<Remote> a, b, c;
  REQUIRE(OpenRemote("memory:shared-test", false, &a).ok());
  REQUIRE(OpenRemote("memory:shared-test", false, &b).ok());
  REQUIRE(OpenRemote("memory:other-test", false, &c).ok());
  Put(*a, "config", "hello");
  CHECK(ReadAll(*b, "config") == "hello");
  std::string out;
  CHECK(c->Read("config", 0, Remote::kToEnd, &out).IsNotFound());
  a.reset();
  std::unique_ptr<Remote> again;
  REQUIRE(OpenRemote("memory:shared-test", false, &again).ok());
  CHECK(ReadAll(*again, "config") == "hello");
  MemoryRemote::DropNamed("shared-test");
  REQUIRE(OpenRemote("memory:shared-test", false, &again).ok());
  CHECK(again->Read("config", 0, Remote::kToEnd, &out).IsNotFound());
  CHECK(OpenRemote("memory:", false, &again).code() == Code::kInvalidArgument);
}

TEST_CASE("OpenRemote: rclone-style names are not supported yet", "[remote]") {
  std::unique_ptr<Remote> r;
  for (const char* store : {"gdrive:backup", "my-remote_1:a/b", "s3:", "C:foo"}) {
    INFO(store);
    Status s = OpenRemote(store, true, &r);
    CHECK(s.code() == Code::kUnsupported);
    CHECK(s.message().find("rclone remotes are not supported yet") != std::string::npos);
  }
  CHECK(OpenRemote("", true, &r).code() == Code::kInvalidArgument);
}

TEST_CASE("OpenRemote: local folders", "[remote]") {
  TempDir dir;
  std::unique_ptr<Remote> r;

  SECTION("a missing folder is kNotFound unless created") {
    Status s = OpenRemote(dir / "x:y", false, &r);  // a path with ':' is local
    CHECK(s.IsNotFound());
    CHECK(s.message().find(dir / "x:y") != std::string::npos);
    CHECK(s.message().find("does not exist") != std::string::npos);
    REQUIRE(OpenRemote(dir / "x:y/nested/store", true, &r).ok());
    CHECK(std::filesystem::is_directory(dir / "x:y/nested/store"));
    CHECK(r->Describe().find(dir / "x:y/nested/store") != std::string::npos);
    REQUIRE(OpenRemote(dir / "x:y/nested/store/", false, &r).ok());
  }
  SECTION("a relative path is resolved once, at open") {
    auto old_cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    Status s = OpenRemote("./a:b", true, &r);
    std::filesystem::current_path("/");
    REQUIRE(s.ok());
    Put(*r, "config", "rel");  // written after the chdir, still lands in dir/a:b
    std::filesystem::current_path(old_cwd);
    CHECK(testing::ReadFile(dir / "a:b/config") == "rel");
  }
  SECTION("a file is not a store") {
    testing::WriteFile(dir / "file", "x");
    CHECK(OpenRemote(dir / "file", false, &r).code() == Code::kInvalidArgument);
    CHECK(OpenRemote(dir / "file", true, &r).code() == Code::kIOError);
  }
}

// ---- Local-folder specifics ----------------------------------------------

std::vector<std::string> FilesUnder(const std::string& root) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) {
      files.push_back(std::filesystem::relative(e.path(), root).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_CASE("local remote: writes leave no temporary files behind", "[remote][local]") {
  TempDir dir;
  std::unique_ptr<Remote> r;
  REQUIRE(OpenRemote(dir.path(), false, &r).ok());
  Put(*r, "packs/ab/ab12", "data");
  Put(*r, "packs/ab/ab12", "data");
  Put(*r, "config", "c");
  CHECK(FilesUnder(dir.path()) == std::vector<std::string>{"config", "packs/ab/ab12"});
}

TEST_CASE("local remote: stale temporary files do not matter", "[remote][local]") {
  TempDir dir;
  std::unique_ptr<Remote> r;
  REQUIRE(OpenRemote(dir.path(), false, &r).ok());
  Put(*r, "packs/ab/ab12", "data");
  // What a process killed halfway through a Write leaves behind.
  testing::WriteFile(dir / "packs/ab/.tmp~0123456789abcdef", "half");
  testing::WriteFile(dir / ".tmp~feedfacefeedface", "half");
  std::filesystem::create_directories(dir / "packs/CD");  // nothing we would write
  testing::WriteFile(dir / "packs/CD/Junk", "j");
  CHECK(Names(ListAll(*r, "")) == std::vector<std::string>{"packs/ab/ab12"});
  CHECK(Names(ListAll(*r, "packs/ab/")) == std::vector<std::string>{"packs/ab/ab12"});
  Put(*r, "packs/ab/ab34", "more");
  CHECK(Names(ListAll(*r, "packs/")) ==
        std::vector<std::string>{"packs/ab/ab12", "packs/ab/ab34"});
}

TEST_CASE("local remote: errors carry the path and map errno", "[remote][local]") {
  TempDir dir;
  std::unique_ptr<Remote> r;
  REQUIRE(OpenRemote(dir / "store", true, &r).ok());
  std::string out;
  Status s = r->Read("packs/ab/ab12", 0, 1, &out);
  CHECK(s.IsNotFound());
  CHECK(s.message().find(dir / "store/packs/ab/ab12") != std::string::npos);

  // A file where a folder is needed is a permanent error, not kNotFound.
  Put(*r, "index", "not a folder");
  s = r->Write("index/ab/ab12", "x");
  CHECK(s.code() == Code::kIOError);

  // Permission errors: tests run as root, which ignores modes, so the errno
  // mapping the backend relies on is checked directly.
  CHECK(Status::FromErrno(EACCES, "x").code() == Code::kPermission);
  CHECK(Status::FromErrno(EROFS, "x").code() == Code::kPermission);
  CHECK(Status::FromErrno(ENOSPC, "x").code() == Code::kNoSpace);
}

}  // namespace
}  // namespace kloset
