// The Remote contract (remotes/remote.h) as a reusable suite: every backend's
// test file defines its backends and includes this header once.
//
//   struct MyBackend {            // builds `remote` in its constructor and owns
//     std::unique_ptr<Remote> remote;   // whatever the backend needs
//     MyBackend();
//   };
//   #define KLOSET_CONFORMANCE_BACKENDS MyBackend, MyBackendUnderFaults
//   #include "tests/remote_conformance.h"
//
// The test names show the backend type. Helpers (ReadAll, Put, ListAll,
// Names, PackName, PackData) are available to the including file.
#pragma once

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "remotes/remote.h"
#include "tests/test_util.h"

#ifndef KLOSET_CONFORMANCE_BACKENDS
#error "define KLOSET_CONFORMANCE_BACKENDS before including tests/remote_conformance.h"
#endif

namespace kloset {
namespace conformance {

using testing::RandomData;

inline std::string ReadAll(Remote& r, const std::string& name) {
  std::string out;
  Status s = r.Read(name, 0, Remote::kToEnd, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

inline void Put(Remote& r, const std::string& name, std::string_view data) {
  Status s = r.Write(name, data);
  INFO(name << ": " << s.ToString());
  REQUIRE(s.ok());
}

// Every (name, size) List reports, sorted; duplicates would show twice.
inline std::vector<std::pair<std::string, uint64_t>> ListAll(Remote& r, const std::string& prefix) {
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

inline std::vector<std::string> Names(const std::vector<std::pair<std::string, uint64_t>>& v) {
  std::vector<std::string> names;
  for (const auto& e : v) names.push_back(e.first);
  return names;
}

// A pack-like name "packs/<hh>/<hex>" for object i.
inline std::string PackName(int i) {
  uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull + 12345;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(x));
  return std::string("packs/") + hex[0] + hex[1] + "/" + hex;
}

inline std::string PackData(int i) { return RandomData(100 + (i * 7919) % 20000, i); }

TEMPLATE_TEST_CASE("remote: write then read whole and ranges", "[remote]",
                   KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: missing objects are kNotFound", "[remote]",
                   KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: stat reports the size", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  Put(r, "keys/0a", RandomData(4321, 2));
  ObjectInfo info;
  REQUIRE(r.Stat("keys/0a", &info).ok());
  CHECK(info.name == "keys/0a");
  CHECK(info.size == 4321);
}

TEMPLATE_TEST_CASE("remote: list by prefix recurses", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: delete", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: rewriting an object is idempotent", "[remote]",
                   KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: invalid names are rejected", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
  TestType b;
  Remote& r = *b.remote;
  const std::vector<std::string> bad = {"",
                                        "/config",
                                        "a//b",
                                        "a/",
                                        "/",
                                        "../x",
                                        "a/../b",
                                        "..",
                                        ".",
                                        "./a",
                                        "a/./b",
                                        "Config",
                                        "a b",
                                        "a\\b",
                                        "a:b",
                                        std::string("a\0b", 3),
                                        "caf\xc3\xa9",
                                        ".tmp~123",
                                        "a\nb"};
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

TEMPLATE_TEST_CASE("remote: empty object", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: large object", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
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
TEMPLATE_TEST_CASE("remote: concurrent writers and readers", "[remote]",
                   KLOSET_CONFORMANCE_BACKENDS) {
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

TEMPLATE_TEST_CASE("remote: describe and parallelism", "[remote]", KLOSET_CONFORMANCE_BACKENDS) {
  TestType b;
  CHECK_FALSE(b.remote->Describe().empty());
  CHECK(b.remote->MaxParallel() >= 1);
}

}  // namespace conformance
}  // namespace kloset
