// FaultRemote injects what it promises, deterministically; RetryRemote retries
// only kTransient, backs off as configured and gives up with the last error.
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "remotes/fault_remote.h"
#include "remotes/memory_remote.h"
#include "remotes/retry_remote.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using std::chrono::microseconds;
using testing::RandomData;

std::string Name(int i) { return "packs/00/" + std::to_string(i); }

// The outcome codes of a fixed request sequence: writes, then reads.
std::vector<Code> Outcomes(uint64_t seed) {
  MemoryRemote base;
  for (int i = 0; i < 50; i++) REQUIRE(base.Write(Name(i), "abc").ok());
  FaultOptions o;
  o.seed = seed;
  o.transient_rate = 0.3;
  o.io_error_rate = 0.1;
  FaultRemote r(&base, o);
  std::vector<Code> codes;
  std::string out;
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 50; i++) codes.push_back(r.Write(Name(i), "abc").code());
    for (int i = 0; i < 50; i++) codes.push_back(r.Read(Name(i), 0, 3, &out).code());
  }
  return codes;
}

TEST_CASE("fault remote: without faults it is a counting proxy", "[fault]") {
  MemoryRemote base;
  FaultRemote r(&base);
  REQUIRE(r.Write("config", "12345").ok());
  REQUIRE(r.Write("keys/k", "ab").ok());
  std::string out;
  REQUIRE(r.Read("config", 1, 3, &out).ok());
  CHECK(out == "234");
  ObjectInfo info;
  REQUIRE(r.Stat("keys/k", &info).ok());
  int listed = 0;
  REQUIRE(r.List("", [&](const ObjectInfo&) { listed++; }).ok());
  CHECK(listed == 2);
  REQUIRE(r.Delete("keys/k").ok());
  CHECK(r.Read("keys/k", 0, 1, &out).IsNotFound());  // base errors pass through

  FaultCounters c = r.Counters();
  CHECK(c.Requests(RemoteOp::kWrite) == 2);
  CHECK(c.Requests(RemoteOp::kRead) == 2);
  CHECK(c.Requests(RemoteOp::kStat) == 1);
  CHECK(c.Requests(RemoteOp::kList) == 1);
  CHECK(c.Requests(RemoteOp::kDelete) == 1);
  CHECK(c.TotalRequests() == 7);
  CHECK(c.Faults(Fault::kNone) == 7);
  CHECK(c.Failed() == 0);
  CHECK(c.bytes_written == 7);
  CHECK(c.bytes_read == 3);
  r.ResetCounters();
  CHECK(r.Counters().TotalRequests() == 0);
  CHECK(r.Describe().find("memory") != std::string::npos);
}

TEST_CASE("fault remote: truncated reads are short but OK", "[fault]") {
  MemoryRemote base;
  const std::string data = RandomData(1000, 1);
  REQUIRE(base.Write("packs/aa/aa", data).ok());
  FaultOptions o;
  o.truncate_rate = 1.0;
  FaultRemote r(&base, o);
  for (int i = 0; i < 20; i++) {
    std::string out;
    REQUIRE(r.Read("packs/aa/aa", 100, 500, &out).ok());
    CHECK(out.size() < 500);
    CHECK(out == data.substr(100, out.size()));  // a prefix of the real bytes
  }
  // Nothing to cut from a read past the end: counted as a clean pass.
  std::string out;
  REQUIRE(r.Read("packs/aa/aa", 5000, 10, &out).ok());
  CHECK(out.empty());
  FaultCounters c = r.Counters();
  CHECK(c.Faults(Fault::kTruncate) == 20);
  CHECK(c.Faults(Fault::kNone) == 1);
  CHECK(c.Failed() == 0);
}

TEST_CASE("fault remote: failed writes leave nothing", "[fault]") {
  MemoryRemote base;
  FaultOptions o;
  o.ops = OpBit(RemoteOp::kWrite);
  FaultRemote r(&base);

  SECTION("I/O errors") {
    o.io_error_rate = 1.0;
    r.SetOptions(o);
    CHECK(r.Write("config", "x").code() == Code::kIOError);
  }
  SECTION("no space") {
    o.no_space_rate = 1.0;
    r.SetOptions(o);
    CHECK(r.Write("config", "x").code() == Code::kNoSpace);
  }
  SECTION("transient") {
    o.transient_rate = 1.0;
    r.SetOptions(o);
    CHECK(r.Write("config", "x").code() == Code::kTransient);
  }
  CHECK(base.ObjectCount() == 0);
  CHECK(r.Counters().bytes_written == 0);
  // Rates limited to writes leave the other operations alone.
  ObjectInfo info;
  CHECK(r.Stat("config", &info).IsNotFound());
  CHECK(r.Counters().Failed() == 1);
}

TEST_CASE("fault remote: schedules", "[fault]") {
  MemoryRemote base;
  FaultRemote r(&base);
  r.Schedule(RemoteOp::kWrite, {Fault::kNone, Fault::kIOError, Fault::kNoSpace, Fault::kLostAck});
  CHECK(r.Write("keys/a", "a").ok());
  CHECK(r.Write("keys/b", "b").code() == Code::kIOError);
  CHECK(r.Write("keys/c", "c").code() == Code::kNoSpace);
  CHECK(r.Write("keys/d", "d").code() == Code::kTransient);  // lost ack: stored anyway
  CHECK(r.Write("keys/e", "e").ok());                          // schedule used up
  std::vector<std::string> names;
  REQUIRE(base.List("", [&](const ObjectInfo& i) { names.push_back(i.name); }).ok());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"keys/a", "keys/d", "keys/e"});

  SECTION("a name's next reads fail") {
    r.FailReads("keys/a", 2, Fault::kTransient);
    std::string out;
    CHECK(r.Read("keys/e", 0, 1, &out).ok());  // other names are unaffected
    CHECK(r.Read("keys/a", 0, 1, &out).code() == Code::kTransient);
    CHECK(r.Read("keys/a", 0, 1, &out).code() == Code::kTransient);
    CHECK(r.Read("keys/a", 0, 1, &out).ok());
    CHECK(out == "a");
    r.FailReads("keys/a", 1);  // default: permanent I/O error
    CHECK(r.Read("keys/a", 0, 1, &out).code() == Code::kIOError);
  }
  SECTION("a lost delete acknowledgement still deletes") {
    r.Schedule(RemoteOp::kDelete, {Fault::kLostAck});
    CHECK(r.Delete("keys/a").code() == Code::kTransient);
    CHECK(r.Delete("keys/a").IsNotFound());
  }
  SECTION("ClearSchedules") {
    r.Schedule(RemoteOp::kStat, {Fault::kIOError});
    r.FailReads("keys/a", 5);
    r.ClearSchedules();
    ObjectInfo info;
    std::string out;
    CHECK(r.Stat("keys/a", &info).ok());
    CHECK(r.Read("keys/a", 0, 1, &out).ok());
  }
}

TEST_CASE("fault remote: a failed list reports some objects, then fails", "[fault]") {
  MemoryRemote base;
  for (int i = 0; i < 100; i++) REQUIRE(base.Write(Name(i), "x").ok());
  FaultRemote r(&base);
  r.Schedule(RemoteOp::kList, {Fault::kTransient});
  int seen = 0;
  CHECK(r.List("packs/", [&](const ObjectInfo&) { seen++; }).code() == Code::kTransient);
  CHECK(seen < 100);
  seen = 0;
  CHECK(r.List("packs/", [&](const ObjectInfo&) { seen++; }).ok());
  CHECK(seen == 100);
}

TEST_CASE("fault remote: random faults are deterministic for a seed", "[fault]") {
  std::vector<Code> a = Outcomes(1), b = Outcomes(1), c = Outcomes(2);
  CHECK(a == b);
  CHECK(a != c);
  int transient = 0, io = 0;
  for (Code code : a) {
    transient += code == Code::kTransient;
    io += code == Code::kIOError;
  }
  // 400 requests at 30% / 10%: far outside these bounds only if the draw is broken.
  CHECK(transient > 80);
  CHECK(transient < 160);
  CHECK(io > 15);
  CHECK(io < 70);
}

TEST_CASE("fault remote: determinism does not depend on thread interleaving", "[fault]") {
  FaultOptions o;
  o.seed = 99;
  o.transient_rate = 0.5;
  auto run = [&](int threads) {
    MemoryRemote base;
    FaultRemote r(&base, o);
    std::vector<std::vector<Code>> results(8);
    std::vector<std::thread> pool;
    auto work = [&](int t) {
      for (int k = 0; k < 30; k++) results[t].push_back(r.Write(Name(t), "data").code());
    };
    if (threads == 1) {
      for (int t = 0; t < 8; t++) work(t);
    } else {
      for (int t = 0; t < 8; t++) pool.emplace_back(work, t);
      for (auto& th : pool) th.join();
    }
    return results;
  };
  CHECK(run(1) == run(8));
}

TEST_CASE("fault remote: slow requests", "[fault]") {
  MemoryRemote base;
  REQUIRE(base.Write("config", "x").ok());
  FaultOptions o;
  o.slow_rate = 1.0;
  o.slow_delay = std::chrono::milliseconds(30);
  FaultRemote r(&base, o);
  auto start = std::chrono::steady_clock::now();
  std::string out;
  REQUIRE(r.Read("config", 0, 1, &out).ok());
  CHECK(out == "x");
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(30));
  CHECK(r.Counters().Faults(Fault::kSlow) == 1);
}

// ---- RetryRemote -----------------------------------------------------------

// Fails the first `fail` calls with kTransient ("attempt N"), then answers.
class ScriptedRemote : public MemoryRemote {
 public:
  explicit ScriptedRemote(int fail) : fail_(fail) {}
  int calls = 0;
  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override {
    if (++calls <= fail_) return Status::Transient("attempt " + std::to_string(calls));
    return MemoryRemote::Read(name, offset, length, out);
  }

 private:
  int fail_;
};

RetryOptions FastRetry(int attempts, std::vector<microseconds>* waits = nullptr) {
  RetryOptions o;
  o.max_attempts = attempts;
  o.initial_delay = microseconds(100);
  o.max_delay = microseconds(1000);
  o.jitter = 0;
  o.seed = 1;
  o.sleep = [waits](microseconds d) {
    if (waits) waits->push_back(d);
  };
  return o;
}

TEST_CASE("retry remote: gives up after N attempts with the last error", "[retry]") {
  ScriptedRemote base(100);
  RetryRemote r(&base, FastRetry(3));
  std::string out;
  Status s = r.Read("config", 0, 1, &out);
  CHECK(s.code() == Code::kTransient);
  CHECK(s.message() == "gave up after 3 attempts: attempt 3");
  CHECK(base.calls == 3);
  CHECK(r.stats().requests == 1);
  CHECK(r.stats().retries == 2);
  CHECK(r.stats().gave_up == 1);
}

TEST_CASE("retry remote: transient failures are retried until success", "[retry]") {
  ScriptedRemote base(4);
  REQUIRE(base.Write("config", "cfg").ok());
  std::vector<microseconds> waits;
  RetryRemote r(&base, FastRetry(5, &waits));
  std::string out;
  REQUIRE(r.Read("config", 0, Remote::kToEnd, &out).ok());
  CHECK(out == "cfg");
  CHECK(base.calls == 5);
  CHECK(waits == std::vector<microseconds>{microseconds(100), microseconds(200),
                                           microseconds(400), microseconds(800)});
}

TEST_CASE("retry remote: only kTransient is retried", "[retry]") {
  MemoryRemote mem;
  FaultRemote faulty(&mem);
  RetryRemote r(&faulty, FastRetry(5));
  std::string out;
  CHECK(r.Read("config", 0, 1, &out).IsNotFound());
  faulty.Schedule(RemoteOp::kWrite, {Fault::kIOError, Fault::kNoSpace});
  CHECK(r.Write("config", "x").code() == Code::kIOError);
  CHECK(r.Write("config", "x").code() == Code::kNoSpace);
  CHECK(faulty.Counters().Requests(RemoteOp::kRead) == 1);
  CHECK(faulty.Counters().Requests(RemoteOp::kWrite) == 2);
  CHECK(r.stats().retries == 0);
}

TEST_CASE("retry remote: backoff grows, is capped and jittered", "[retry]") {
  ScriptedRemote base(100);
  std::vector<microseconds> waits;
  RetryRemote r(&base, FastRetry(8, &waits));
  std::string out;
  CHECK(r.Read("config", 0, 1, &out).IsTransient());
  CHECK(waits == std::vector<microseconds>{microseconds(100), microseconds(200),
                                           microseconds(400), microseconds(800),
                                           microseconds(1000), microseconds(1000),
                                           microseconds(1000)});
  RetryOptions o = FastRetry(8, &waits);
  o.jitter = 0.5;
  waits.clear();
  ScriptedRemote base2(100);
  RetryRemote jittered(&base2, o);
  CHECK(jittered.Read("config", 0, 1, &out).IsTransient());
  REQUIRE(waits.size() == 7);
  const int64_t full[] = {100, 200, 400, 800, 1000, 1000, 1000};
  bool any_below = false;
  for (size_t i = 0; i < waits.size(); i++) {
    CHECK(waits[i].count() >= full[i] / 2);
    CHECK(waits[i].count() <= full[i]);
    any_below |= waits[i].count() < full[i];
  }
  CHECK(any_below);
}

TEST_CASE("retry remote: lost acknowledgements and restarted lists", "[retry]") {
  MemoryRemote mem;
  for (int i = 0; i < 100; i++) REQUIRE(mem.Write(Name(i), "x").ok());
  FaultRemote faulty(&mem);
  RetryRemote r(&faulty, FastRetry(5));

  faulty.Schedule(RemoteOp::kWrite, {Fault::kLostAck});
  CHECK(r.Write("config", "c").ok());  // the retry rewrites the same bytes
  CHECK(faulty.Counters().Requests(RemoteOp::kWrite) == 2);

  faulty.Schedule(RemoteOp::kList, {Fault::kTransient, Fault::kTransient, Fault::kLostAck});
  std::map<std::string, int> seen;
  REQUIRE(r.List("packs/", [&](const ObjectInfo& i) { seen[i.name]++; }).ok());
  CHECK(seen.size() == 100);
  for (const auto& [name, n] : seen) CHECK(n == 1);
  CHECK(faulty.Counters().Requests(RemoteOp::kList) == 4);
}

TEST_CASE("retry remote over a flaky remote stores everything", "[retry]") {
  MemoryRemote mem;
  FaultOptions fo;
  fo.seed = 5;
  fo.transient_rate = 0.3;
  fo.lost_ack_rate = 0.1;
  fo.ops = OpBit(RemoteOp::kWrite) | OpBit(RemoteOp::kRead);
  FaultRemote faulty(&mem, fo);
  RetryRemote r(&faulty, FastRetry(30));
  for (int i = 0; i < 200; i++) REQUIRE(r.Write(Name(i), RandomData(100, i)).ok());
  for (int i = 0; i < 200; i++) {
    std::string out;
    REQUIRE(r.Read(Name(i), 0, Remote::kToEnd, &out).ok());
    CHECK(out == RandomData(100, i));
  }
  CHECK(faulty.Counters().Failed() > 50);
  CHECK(r.stats().gave_up == 0);
}

}  // namespace
}  // namespace kloset
