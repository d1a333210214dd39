#include "remotes/metered_remote.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace kloset {

namespace {

// Every MeteredRemote made, in order: `live` while it exists, then its final
// stats. Guarded by g_live_mu; never destroyed (outlives static destructors,
// so atexit handlers may read it).
struct Made {
  const MeteredRemote* live = nullptr;
  RemoteStats final;
};
constexpr size_t kKeepClosed = 64;
std::mutex g_live_mu;
std::vector<Made>& Registry() {
  static auto* made = new std::vector<Made>;
  return *made;
}

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  } else if (n < (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", n / 1048576.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", n / 1073741824.0);
  }
  return buf;
}

}  // namespace

uint64_t RemoteStats::Requests() const {
  uint64_t n = 0;
  for (const auto& o : ops) n += o.calls;
  return n;
}

uint64_t RemoteStats::Bytes() const {
  uint64_t n = 0;
  for (const auto& o : ops) n += o.bytes;
  return n;
}

std::string RemoteStats::ToText() const {
  std::string out = remote + "\n";
  char line[160];
  for (int i = 0; i < kNumRemoteOps; i++) {
    const RemoteOpStats& o = ops[i];
    if (o.calls == 0) continue;
    std::snprintf(line, sizeof line,
                  "  %-6s %8llu requests  %6llu failed  %12s  mean %8.1f ms  max %8.1f ms\n",
                  RemoteOpName(static_cast<RemoteOp>(i)), static_cast<unsigned long long>(o.calls),
                  static_cast<unsigned long long>(o.errors), kloset::Bytes(o.bytes).c_str(),
                  o.total_us / 1000.0 / static_cast<double>(o.calls), o.max_us / 1000.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "  total  %8llu requests, %s; %llu retries, %llu gave up\n",
                static_cast<unsigned long long>(Requests()), kloset::Bytes(Bytes()).c_str(),
                static_cast<unsigned long long>(retries), static_cast<unsigned long long>(gave_up));
  out += line;
  return out;
}

std::string RemoteStats::ToJson() const {
  nlohmann::json j;
  j["remote"] = remote;
  nlohmann::json req = nlohmann::json::object();
  for (int i = 0; i < kNumRemoteOps; i++) {
    const RemoteOpStats& o = ops[i];
    req[RemoteOpName(static_cast<RemoteOp>(i))] = {
        {"calls", o.calls},
        {"errors", o.errors},
        {"bytes", o.bytes},
        {"mean_ms", o.calls ? o.total_us / 1000.0 / static_cast<double>(o.calls) : 0.0},
        {"max_ms", o.max_us / 1000.0}};
  }
  j["requests"] = req;
  j["retries"] = retries;
  j["gave_up"] = gave_up;
  return j.dump();
}

MeteredRemote::MeteredRemote(std::unique_ptr<Remote> base, RetryRemote* retry)
    : base_(std::move(base)), retry_(retry) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  Registry().push_back(Made{this, {}});
}

MeteredRemote::~MeteredRemote() {
  RemoteStats last = Stats();
  std::lock_guard<std::mutex> lock(g_live_mu);
  auto& made = Registry();
  for (Made& m : made) {
    if (m.live == this) {
      m.live = nullptr;
      m.final = std::move(last);
    }
  }
  size_t closed = 0;
  for (const Made& m : made) closed += m.live == nullptr;
  for (auto it = made.begin(); closed > kKeepClosed && it != made.end();) {
    if (it->live == nullptr) {
      it = made.erase(it);
      closed--;
    } else {
      ++it;
    }
  }
}

RemoteStats MeteredRemote::Stats() const {
  RemoteStats s;
  s.remote = base_->Describe();
  for (int i = 0; i < kNumRemoteOps; i++) {
    const Counter& c = counters_[i];
    s.ops[i] = RemoteOpStats{
        c.calls.load(std::memory_order_relaxed), c.errors.load(std::memory_order_relaxed),
        c.bytes.load(std::memory_order_relaxed), c.total_us.load(std::memory_order_relaxed),
        c.max_us.load(std::memory_order_relaxed)};
  }
  if (retry_) {
    RetryRemote::Stats r = retry_->stats();
    s.retries = r.retries;
    s.gave_up = r.gave_up;
  }
  return s;
}

Status MeteredRemote::Count(RemoteOp op, std::chrono::steady_clock::time_point start,
                            const Status& s, uint64_t bytes) {
  const uint64_t us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count());
  Counter& c = counters_[static_cast<int>(op)];
  c.calls.fetch_add(1, std::memory_order_relaxed);
  // A missing object is an answer, not a failure.
  if (!s.ok() && !s.IsNotFound()) c.errors.fetch_add(1, std::memory_order_relaxed);
  c.bytes.fetch_add(bytes, std::memory_order_relaxed);
  c.total_us.fetch_add(us, std::memory_order_relaxed);
  uint64_t prev = c.max_us.load(std::memory_order_relaxed);
  while (us > prev && !c.max_us.compare_exchange_weak(prev, us, std::memory_order_relaxed)) {
  }
  return s;
}

Status MeteredRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                           std::string* out) {
  auto start = std::chrono::steady_clock::now();
  Status s = base_->Read(name, offset, length, out);
  return Count(RemoteOp::kRead, start, s, s.ok() ? out->size() : 0);
}

Status MeteredRemote::Write(const std::string& name, std::string_view data) {
  auto start = std::chrono::steady_clock::now();
  Status s = base_->Write(name, data);
  return Count(RemoteOp::kWrite, start, s, s.ok() ? data.size() : 0);
}

Status MeteredRemote::List(const std::string& prefix,
                           const std::function<void(const ObjectInfo&)>& fn) {
  auto start = std::chrono::steady_clock::now();
  return Count(RemoteOp::kList, start, base_->List(prefix, fn), 0);
}

Status MeteredRemote::Delete(const std::string& name) {
  auto start = std::chrono::steady_clock::now();
  return Count(RemoteOp::kDelete, start, base_->Delete(name), 0);
}

Status MeteredRemote::Stat(const std::string& name, ObjectInfo* info) {
  auto start = std::chrono::steady_clock::now();
  return Count(RemoteOp::kStat, start, base_->Stat(name, info), 0);
}

std::vector<RemoteStats> AllRemoteStats() {
  std::lock_guard<std::mutex> lock(g_live_mu);
  std::vector<RemoteStats> out;
  for (const Made& m : Registry())
    if (m.live) out.push_back(m.live->Stats());
  return out;
}

std::vector<RemoteStats> ProcessRemoteStats() {
  std::lock_guard<std::mutex> lock(g_live_mu);
  std::vector<RemoteStats> out;
  for (const Made& m : Registry()) out.push_back(m.live ? m.live->Stats() : m.final);
  return out;
}

}  // namespace kloset
