// The Remote contract (remotes/remote.h, suite in tests/remote_conformance.h)
// on the local, memory and wrapper backends, plus OpenRemote and local-folder
// specifics.
//
// Each backend is a fixture type that builds `remote` in its constructor and
// owns whatever the backend needs (a temp folder, a wrapped remote). To cover
// a new backend here, write such a type and add it to ALL_BACKENDS; a backend
// with its own test file includes tests/remote_conformance.h there.
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
#include "remotes/rclone_drives.h"
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

#define KLOSET_CONFORMANCE_BACKENDS ALL_BACKENDS
}  // namespace
}  // namespace kloset
#include "tests/remote_conformance.h"

namespace kloset {
namespace {

using namespace conformance;

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

TEST_CASE("OpenRemote: which STORE strings are rclone remotes", "[remote]") {
  RcloneFsSpec spec;
  REQUIRE(ParseRcloneFs("onedrive:/kloset", &spec));
  CHECK(spec.name == "onedrive");
  CHECK(spec.backend.empty());
  CHECK(spec.path == "/kloset");
  REQUIRE(ParseRcloneFs("my-remote_1:a/b", &spec));
  CHECK(spec.name == "my-remote_1");
  CHECK(spec.path == "a/b");
  REQUIRE(ParseRcloneFs("s3:", &spec));
  CHECK(spec.path.empty());
  REQUIRE(ParseRcloneFs(":memory:bucket", &spec));
  CHECK(spec.name.empty());
  CHECK(spec.backend == "memory");
  CHECK(spec.path == "bucket");
  REQUIRE(ParseRcloneFs(":sftp,host=example.com,user='a:b':dir/x", &spec));
  CHECK(spec.backend == "sftp");
  CHECK(spec.path == "dir/x");
  REQUIRE(ParseRcloneFs("od,drive_type=personal:/kloset", &spec));
  CHECK(spec.name == "od");
  CHECK(spec.path == "/kloset");
  // Local paths with a colon stay local.
  for (const char* local : {"./a:b", "/x:y", "a.b:c", "kloset", "../k:1", "", ":", "::x"}) {
    INFO(local);
    CHECK_FALSE(ParseRcloneFs(local, &spec));
  }
  std::unique_ptr<Remote> r;
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
