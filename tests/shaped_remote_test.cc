// The wrappers every store gets or can get: ShapedRemote (--simulate),
// MeteredRemote (counters for `klosetfs stats`), OpenRemote's stacking, and
// klosetfs's own rclone config (`klosetfs remote import`).
#include "remotes/shaped_remote.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "remotes/memory_remote.h"
#include "remotes/metered_remote.h"
#include "remotes/rclone_config.h"
#include "remotes/remote.h"
#include "remotes/retry_remote.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::TempDir;
using Clock = std::chrono::steady_clock;

RetryOptions FastRetries() {
  RetryOptions retry;
  retry.max_attempts = 40;
  retry.initial_delay = std::chrono::microseconds(50);
  retry.max_delay = std::chrono::milliseconds(2);
  retry.seed = 5;
  return retry;
}

// Failing and throttling on every fourth request or so; retries hide it.
struct ShapedBackend {
  std::unique_ptr<Remote> remote;
  ShapedBackend() {
    static uint64_t seed = 1;
    ShapeOptions o;
    REQUIRE(
        ParseShapeSpec("fail=0.15,throttle=0.1,latency=100us,seed=" + std::to_string(seed++), &o)
            .ok());
    auto retry = std::make_unique<RetryRemote>(
        std::make_unique<ShapedRemote>(std::make_unique<MemoryRemote>(), o), FastRetries());
    RetryRemote* r = retry.get();
    remote = std::make_unique<MeteredRemote>(std::move(retry), r);
  }
};

}  // namespace
}  // namespace kloset

#define KLOSET_CONFORMANCE_BACKENDS ShapedBackend
#include "tests/remote_conformance.h"

namespace kloset {
namespace {

using namespace conformance;

TEST_CASE("shaped: specs", "[shaped]") {
  ShapeOptions o;
  REQUIRE(ParseShapeSpec("latency=50ms,bandwidth=20MB,fail=0.1,throttle=0.05,truncate=0.01,"
                         "quota=4MiB,seed=9",
                         &o)
              .ok());
  CHECK(o.latency == std::chrono::milliseconds(50));
  CHECK(o.bandwidth == 20e6);
  CHECK(o.fail_rate == 0.1);
  CHECK(o.throttle_rate == 0.05);
  CHECK(o.truncate_rate == 0.01);
  CHECK(o.quota == 4u << 20);
  CHECK(o.seed == 9);
  REQUIRE(ParseShapeSpec("latency=0.2s,bandwidth=500KiB/s", &o).ok());
  CHECK(o.latency == std::chrono::milliseconds(200));
  CHECK(o.bandwidth == 500 * 1024.0);
  for (const char* bad : {"latency", "latency=fast", "bandwidth=0", "fail=2", "speed=1",
                          "fail=0.6,throttle=0.6", "bandwidth=3XB"}) {
    INFO(bad);
    Status s = ParseShapeSpec(bad, &o);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("--simulate") != std::string::npos);
  }
}

TEST_CASE("shaped: latency and a shared bandwidth", "[shaped]") {
  ShapeOptions o;
  REQUIRE(ParseShapeSpec("latency=20ms,bandwidth=10MB", &o).ok());
  ShapedRemote r(std::make_unique<MemoryRemote>(), o);
  auto start = Clock::now();
  for (int i = 0; i < 3; i++) {
    ObjectInfo info;
    CHECK(r.Stat("config", &info).IsNotFound());
  }
  CHECK(Clock::now() - start >= std::chrono::milliseconds(60));
  // Two 1 MB writes at once share the 10 MB/s link: 0.2 s together.
  start = Clock::now();
  const std::string mb(1000000, 'x');
  Status other;  // Catch2 assertions are not thread-safe: check after join
  std::thread t([&] { other = r.Write("packs/aa/a1", mb); });
  CHECK(r.Write("packs/aa/a2", mb).ok());
  t.join();
  CHECK(other.ok());
  CHECK(Clock::now() - start >= std::chrono::milliseconds(200));
  CHECK(r.Describe() == "memory store (simulated: latency=20ms,bandwidth=10MB/s)");
}

TEST_CASE("shaped: a quota fills up", "[shaped]") {
  ShapeOptions o;
  REQUIRE(ParseShapeSpec("quota=1000", &o).ok());
  ShapedRemote r(std::make_unique<MemoryRemote>(), o);
  CHECK(r.Write("a", std::string(600, 'a')).ok());
  Status s = r.Write("b", std::string(600, 'b'));
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find("the drive is full") != std::string::npos);
  CHECK(r.Write("c", std::string(400, 'c')).ok());  // the failed write took no space
  CHECK(r.Write("d", "x").code() == Code::kNoSpace);
}

TEST_CASE("shaped: throttling asks the retry wrapper to wait", "[shaped]") {
  ShapeOptions o;
  REQUIRE(ParseShapeSpec("throttle=1", &o).ok());
  std::vector<std::chrono::microseconds> waits;
  RetryOptions retry = FastRetries();
  retry.max_attempts = 3;
  retry.max_delay = std::chrono::seconds(5);
  retry.sleep = [&](std::chrono::microseconds d) { waits.push_back(d); };
  RetryRemote r(std::make_unique<ShapedRemote>(std::make_unique<MemoryRemote>(), o), retry);
  Status s = r.Write("config", "x");
  CHECK(s.IsTransient());
  CHECK(s.message().find("429") != std::string::npos);
  REQUIRE(waits.size() == 2);
  for (auto w : waits) CHECK(w >= std::chrono::seconds(1));
}

TEST_CASE("shaped: truncated reads return OK with too few bytes", "[shaped]") {
  ShapeOptions o;
  REQUIRE(ParseShapeSpec("truncate=1", &o).ok());
  auto mem = std::make_unique<MemoryRemote>();
  REQUIRE(mem->Write("config", "0123456789").ok());
  ShapedRemote r(std::move(mem), o);
  std::string out;
  REQUIRE(r.Read("config", 0, Remote::kToEnd, &out).ok());
  CHECK(out == "01234");
}

TEST_CASE("metered: counts requests, bytes, errors, time and retries", "[metered]") {
  ShapedBackend b;
  auto* m = dynamic_cast<MeteredRemote*>(b.remote.get());
  REQUIRE(m);
  for (int i = 0; i < 20; i++) Put(*m, PackName(i), PackData(i));
  uint64_t written = 0;
  for (int i = 0; i < 20; i++) written += PackData(i).size();
  CHECK(ReadAll(*m, PackName(3)) == PackData(3));
  std::string out;
  CHECK(m->Read("missing", 0, 1, &out).IsNotFound());
  CHECK(m->Write("BAD", "x").code() == Code::kInvalidArgument);
  RemoteStats s = m->Stats();
  const RemoteOpStats& w = s.ops[static_cast<int>(RemoteOp::kWrite)];
  const RemoteOpStats& r = s.ops[static_cast<int>(RemoteOp::kRead)];
  CHECK(w.calls == 21);
  CHECK(w.errors == 1);
  CHECK(w.bytes == written);
  CHECK(r.calls == 2);
  CHECK(r.errors == 0);  // not found is an answer
  CHECK(r.bytes == PackData(3).size());
  CHECK(w.total_us >= w.max_us);
  CHECK(w.max_us >= 100);  // the simulated latency
  CHECK(s.retries > 0);
  CHECK(s.Requests() == 23);
  CHECK(s.ToText().find("write") != std::string::npos);
  auto j = nlohmann::json::parse(s.ToJson());
  CHECK(j["requests"]["write"]["calls"] == 21);
  CHECK(j["retries"] == s.retries);
  bool listed = false;
  for (const RemoteStats& all : AllRemoteStats()) listed |= all.Requests() == 23;
  CHECK(listed);
}

TEST_CASE("OpenRemote: --simulate wraps any store", "[shaped]") {
  TempDir dir;
  RemoteSettings saved = GetRemoteSettings(), sim = saved;
  sim.simulate = "latency=1ms,fail=0.2,seed=4";
  SetRemoteSettings(sim);
  std::unique_ptr<Remote> r;
  Status s = OpenRemote(dir / "store", true, &r);
  sim.simulate = "nonsense";
  SetRemoteSettings(sim);
  std::unique_ptr<Remote> bad;
  Status sb = OpenRemote(dir / "store", true, &bad);
  SetRemoteSettings(saved);
  REQUIRE(s.ok());
  CHECK(r->Describe().find("(simulated: latency=1ms,fail=0.2)") != std::string::npos);
  for (int i = 0; i < 10; i++) Put(*r, PackName(i), PackData(i));  // retried, all land
  CHECK(ListAll(*r, "packs/").size() == 10);
  CHECK(sb.code() == Code::kInvalidArgument);
}

TEST_CASE("remote import: klosetfs's own rclone config", "[rclone-config]") {
  TempDir dir;
  const std::string target = dir / "conf/klosetfs/rclone.conf";
  std::vector<ImportedRemote> done;
  const std::string od =
      "[onedrive]\ntype = onedrive\ntoken = {\"access_token\":\"x\"}\ndrive_type = personal\n";
  REQUIRE(ImportRcloneRemotes(od, "", target, &done).ok());
  REQUIRE(done.size() == 1);
  CHECK(done[0].name == "onedrive");
  CHECK(done[0].type == "onedrive");
  CHECK_FALSE(done[0].replaced);
  struct stat st;
  REQUIRE(stat(target.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir / "conf/klosetfs").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(RcloneConfigHasRemote(target, "onedrive"));

  REQUIRE(ImportRcloneRemotes(od, "backup-drive", target, &done).ok());
  REQUIRE(ImportRcloneRemotes("[onedrive]\ntype = local\n", "", target, &done).ok());
  CHECK(done[0].replaced);
  std::string text = testing::ReadFile(target);
  CHECK(text.find("[backup-drive]\ntype = onedrive\n") != std::string::npos);
  CHECK(text.find("[onedrive]\ntype = local\n") != std::string::npos);
  CHECK(text.find("drive_type = personal") != std::string::npos);  // in backup-drive

  CHECK(ImportRcloneRemotes("; empty config\n", "", target, &done).code() ==
        Code::kInvalidArgument);
  CHECK(ImportRcloneRemotes("[a]\ntype = local\n[b]\ntype = local\n", "x", target, &done).code() ==
        Code::kInvalidArgument);
  CHECK(ImportRcloneRemotes("[my drive]\ntype = local\n", "", target, &done).code() ==
        Code::kInvalidArgument);
  CHECK(ImportRcloneRemotes("[a]\nuser = x\n", "", target, &done).code() == Code::kInvalidArgument);

  // Which config a store uses.
  std::string source;
  CHECK(ChooseRcloneConfig("/x.conf", "onedrive", &source) == "/x.conf");
  CHECK(source.find("--rclone-config") != std::string::npos);
  const char* env = std::getenv("RCLONE_CONFIG");
  std::string saved_env = env ? env : "";
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  std::string saved_xdg = xdg ? xdg : "";
  unsetenv("RCLONE_CONFIG");
  setenv("XDG_CONFIG_HOME", (dir / "conf").c_str(), 1);
  CHECK(OwnRcloneConfigPath() == target);
  CHECK(ChooseRcloneConfig("", "backup-drive", &source) == target);
  CHECK(ChooseRcloneConfig("", "elsewhere", &source).empty());
  CHECK(source == "rclone's default config");
  setenv("RCLONE_CONFIG", "/etc/rclone.conf", 1);
  CHECK(ChooseRcloneConfig("", "backup-drive", &source).empty());  // rclone reads the variable
  CHECK(source.find("RCLONE_CONFIG") != std::string::npos);
  if (env) {
    setenv("RCLONE_CONFIG", saved_env.c_str(), 1);
  } else {
    unsetenv("RCLONE_CONFIG");
  }
  if (xdg) {
    setenv("XDG_CONFIG_HOME", saved_xdg.c_str(), 1);
  } else {
    unsetenv("XDG_CONFIG_HOME");
  }
}

}  // namespace
}  // namespace kloset
