#include "remotes/shaped_remote.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include "remotes/retry_remote.h"
#include "remotes/splitmix.h"

namespace kloset {

namespace {

// "20MB" -> 2e7, "20MiB" -> 20971520, "500" -> 500; false when unreadable.
bool ParseSize(const std::string& v, double* out) {
  char* end = nullptr;
  double n = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || n < 0 || !std::isfinite(n)) return false;
  std::string unit(end);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.ends_with("/s")) unit.resize(unit.size() - 2);
  double mult = 1;
  if (unit == "" || unit == "b") {
    mult = 1;
  } else if (unit == "k" || unit == "kb") {
    mult = 1e3;
  } else if (unit == "m" || unit == "mb") {
    mult = 1e6;
  } else if (unit == "g" || unit == "gb") {
    mult = 1e9;
  } else if (unit == "kib") {
    mult = 1024.0;
  } else if (unit == "mib") {
    mult = 1048576.0;
  } else if (unit == "gib") {
    mult = 1073741824.0;
  } else {
    return false;
  }
  *out = n * mult;
  return true;
}

// "50ms", "0.2s", "100us", "1" (seconds).
bool ParseDuration(const std::string& v, std::chrono::microseconds* out) {
  char* end = nullptr;
  double n = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || n < 0 || !std::isfinite(n)) return false;
  std::string unit(end);
  double us;
  if (unit == "ms") {
    us = n * 1e3;
  } else if (unit == "s" || unit.empty()) {
    us = n * 1e6;
  } else if (unit == "us") {
    us = n;
  } else {
    return false;
  }
  *out = std::chrono::microseconds(static_cast<int64_t>(us));
  return true;
}

}  // namespace

Status ParseShapeSpec(const std::string& spec, ShapeOptions* out) {
  ShapeOptions o;
  size_t start = 0;
  while (start < spec.size()) {
    size_t comma = spec.find(',', start);
    std::string part =
        spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() : comma + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    const std::string bad = "invalid --simulate part '" + part + "'";
    if (eq == std::string::npos) return Status::InvalidArgument(bad + ": expected KEY=VALUE");
    std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    auto prob = [&](double* p) {
      char* end = nullptr;
      *p = std::strtod(value.c_str(), &end);
      return end != value.c_str() && *end == '\0' && *p >= 0 && *p <= 1;
    };
    bool ok;
    if (key == "latency") {
      ok = ParseDuration(value, &o.latency);
    } else if (key == "bandwidth") {
      ok = ParseSize(value, &o.bandwidth) && o.bandwidth > 0;
    } else if (key == "fail") {
      ok = prob(&o.fail_rate);
    } else if (key == "throttle") {
      ok = prob(&o.throttle_rate);
    } else if (key == "truncate") {
      ok = prob(&o.truncate_rate);
    } else if (key == "quota") {
      double q = 0;
      ok = ParseSize(value, &q);
      o.quota = static_cast<uint64_t>(q);
    } else if (key == "seed") {
      char* end = nullptr;
      o.seed = std::strtoull(value.c_str(), &end, 10);
      ok = end != value.c_str() && *end == '\0';
    } else {
      return Status::InvalidArgument(bad +
                                     ": unknown key (latency, bandwidth, fail, throttle, "
                                     "truncate, quota, seed)");
    }
    if (!ok) return Status::InvalidArgument(bad + ": bad value");
  }
  if (o.fail_rate + o.throttle_rate + o.truncate_rate > 1) {
    return Status::InvalidArgument("invalid --simulate '" + spec +
                                   "': fail + throttle + truncate exceed 1");
  }
  *out = o;
  return Status::OK();
}

namespace {

std::string SpecText(const ShapeOptions& o) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  char buf[64];
  if (o.latency.count()) {
    std::snprintf(buf, sizeof buf, "latency=%gms", o.latency.count() / 1000.0);
    add(buf);
  }
  if (o.bandwidth > 0) {
    std::snprintf(buf, sizeof buf, "bandwidth=%gMB/s", o.bandwidth / 1e6);
    add(buf);
  }
  for (auto [key, rate] : {std::pair{"fail", o.fail_rate}, std::pair{"throttle", o.throttle_rate},
                           std::pair{"truncate", o.truncate_rate}}) {
    if (rate > 0) {
      std::snprintf(buf, sizeof buf, "%s=%g", key, rate);
      add(buf);
    }
  }
  if (o.quota > 0) add("quota=" + std::to_string(o.quota) + "B");
  return s.empty() ? "none" : s;
}

}  // namespace

ShapedRemote::ShapedRemote(std::unique_ptr<Remote> base, ShapeOptions options)
    : base_(std::move(base)),
      options_(options),
      spec_(SpecText(options)),
      link_free_(std::chrono::steady_clock::now()) {}

void ShapedRemote::Transfer(uint64_t bytes) {
  if (options_.bandwidth <= 0 || bytes == 0) return;
  auto need = std::chrono::microseconds(
      static_cast<int64_t>(static_cast<double>(bytes) / options_.bandwidth * 1e6));
  std::chrono::steady_clock::time_point done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (link_free_ < now) link_free_ = now;
    link_free_ += need;
    done = link_free_;
  }
  std::this_thread::sleep_until(done);
}

Status ShapedRemote::Begin(const char* op, const std::string& name, bool read, Draw* draw) {
  if (options_.latency.count() > 0) std::this_thread::sleep_for(options_.latency);
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = ++seq_;
  }
  double u = static_cast<double>(SplitMix64(options_.seed ^ SplitMix64(seq)) >> 11) * 0x1.0p-53;
  *draw = Draw::kPass;
  const std::string what = std::string("simulated fault: ") + op + " " + name;
  if (u < options_.fail_rate) {
    *draw = Draw::kFail;
    return Status::Transient(what + ": timed out");
  }
  u -= options_.fail_rate;
  if (u < options_.throttle_rate) {
    *draw = Draw::kThrottle;
    NoteRetryAfter(std::chrono::seconds(1));
    return Status::Transient(what + ": HTTP 429 Too Many Requests, retry after 1 s");
  }
  u -= options_.throttle_rate;
  if (read && u < options_.truncate_rate) *draw = Draw::kTruncate;
  return Status::OK();
}

Status ShapedRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                          std::string* out) {
  Draw d;
  out->clear();
  KLOSET_RETURN_IF_ERROR(Begin("read", name, true, &d));
  KLOSET_RETURN_IF_ERROR(base_->Read(name, offset, length, out));
  Transfer(out->size());
  if (d == Draw::kTruncate && !out->empty()) out->resize(out->size() / 2);
  return Status::OK();
}

Status ShapedRemote::Write(const std::string& name, std::string_view data) {
  Draw d;
  KLOSET_RETURN_IF_ERROR(Begin("write", name, false, &d));
  if (options_.quota > 0) {
    uint64_t before = written_.fetch_add(data.size());
    if (before + data.size() > options_.quota) {
      written_.fetch_sub(data.size());
      return Status::NoSpace("write " + name + ": the drive is full (simulated quota of " +
                             std::to_string(options_.quota) + " bytes)");
    }
  }
  Transfer(data.size());
  Status s = base_->Write(name, data);
  if (!s.ok() && options_.quota > 0) written_.fetch_sub(data.size());
  return s;
}

Status ShapedRemote::List(const std::string& prefix,
                          const std::function<void(const ObjectInfo&)>& fn) {
  Draw d;
  KLOSET_RETURN_IF_ERROR(Begin("list", prefix, false, &d));
  uint64_t entries = 0;
  KLOSET_RETURN_IF_ERROR(base_->List(prefix, [&](const ObjectInfo& info) {
    entries++;
    fn(info);
  }));
  Transfer(entries * 100);  // a listing costs about 100 bytes an entry
  return Status::OK();
}

Status ShapedRemote::Delete(const std::string& name) {
  Draw d;
  KLOSET_RETURN_IF_ERROR(Begin("delete", name, false, &d));
  return base_->Delete(name);
}

Status ShapedRemote::Stat(const std::string& name, ObjectInfo* info) {
  Draw d;
  KLOSET_RETURN_IF_ERROR(Begin("stat", name, false, &d));
  return base_->Stat(name, info);
}

}  // namespace kloset
