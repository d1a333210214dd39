#include "remotes/retry_remote.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <unordered_set>

namespace kloset {

namespace {

uint64_t SeedOf(const RetryOptions& o) { return o.seed != 0 ? o.seed : std::random_device{}(); }

// The request runs synchronously on the thread of RetryRemote::Run, so a
// thread-local carries the server's hint from the backend to the loop.
thread_local std::chrono::microseconds t_retry_after{0};

}  // namespace

void NoteRetryAfter(std::chrono::microseconds delay) {
  t_retry_after = std::max(t_retry_after, delay);
}

RetryRemote::RetryRemote(std::unique_ptr<Remote> base, RetryOptions options)
    : owned_(std::move(base)), base_(owned_.get()), options_(std::move(options)),
      rng_(SeedOf(options_)) {}

RetryRemote::RetryRemote(Remote* base, RetryOptions options)
    : base_(base), options_(std::move(options)), rng_(SeedOf(options_)) {}

RetryRemote::Stats RetryRemote::stats() const {
  return Stats{requests_.load(), retries_.load(), gave_up_.load()};
}

std::chrono::microseconds RetryRemote::Backoff(int retry) {
  double delay = static_cast<double>(options_.initial_delay.count()) *
                 std::pow(options_.multiplier, retry - 1);
  delay = std::min(delay, static_cast<double>(options_.max_delay.count()));
  double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  double u;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  delay *= 1.0 - jitter * u;
  return std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, delay)));
}

Status RetryRemote::Run(const std::function<Status()>& attempt) {
  requests_++;
  const int max_attempts = std::max(1, options_.max_attempts);
  for (int n = 1;; n++) {
    t_retry_after = std::chrono::microseconds(0);
    Status s = attempt();
    const std::chrono::microseconds hint = t_retry_after;
    t_retry_after = std::chrono::microseconds(0);
    if (!s.IsTransient()) return s;
    if (n >= max_attempts) {
      gave_up_++;
      return s.Annotate("gave up after " + std::to_string(n) + " attempts");
    }
    retries_++;
    std::chrono::microseconds wait = std::max(Backoff(n), std::min(hint, options_.max_delay));
    if (options_.sleep) {
      options_.sleep(wait);
    } else {
      std::this_thread::sleep_for(wait);
    }
  }
}

Status RetryRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                         std::string* out) {
  return Run([&] { return base_->Read(name, offset, length, out); });
}

Status RetryRemote::Write(const std::string& name, std::string_view data) {
  return Run([&] { return base_->Write(name, data); });
}

Status RetryRemote::List(const std::string& prefix,
                         const std::function<void(const ObjectInfo&)>& fn) {
  std::unordered_set<std::string> reported;
  return Run([&] {
    return base_->List(prefix, [&](const ObjectInfo& info) {
      if (reported.insert(info.name).second) fn(info);
    });
  });
}

Status RetryRemote::Delete(const std::string& name) {
  return Run([&] { return base_->Delete(name); });
}

Status RetryRemote::Stat(const std::string& name, ObjectInfo* info) {
  return Run([&] { return base_->Stat(name, info); });
}

}  // namespace kloset
