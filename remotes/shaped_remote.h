// ShapedRemote: makes any store behave like a far, slow, unreliable cloud
// drive, for tests, benchmarks and demonstrations: `klosetfs --simulate
// latency=50ms,bandwidth=20MB,fail=0.1 backup /srv/kloset ~/docs`.
//
// A spec is a comma-separated list of KEY=VALUE:
//   latency=DUR    every request waits DUR first (one round trip): 50ms, 0.2s
//   bandwidth=RATE bytes per second of one link shared by all requests, in
//                  both directions: 20MB (10^6), 20MiB (2^20), 500KB, 1GB
//   fail=P         probability of a failed request (kTransient, a timeout)
//   throttle=P     probability of "429 Too Many Requests" with Retry-After:
//                  1 s (noted for RetryRemote, see NoteRetryAfter)
//   truncate=P     probability that a read returns a strict prefix of the
//                  data with OK (the engine's checks must notice)
//   quota=SIZE     writes fail with kNoSpace once this many bytes were
//                  written through this remote: a drive filling up
//   seed=N         seed of the random choices (default 1)
// Probabilities are per request, in [0, 1].
//
// Thread safety: all methods may be called concurrently.
// Ownership: owns the wrapped remote.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "remotes/remote.h"

namespace kloset {

struct ShapeOptions {
  std::chrono::microseconds latency{0};
  double bandwidth = 0;  // bytes per second; 0 = unlimited
  double fail_rate = 0, throttle_rate = 0, truncate_rate = 0;
  uint64_t quota = 0;  // bytes; 0 = none
  uint64_t seed = 1;
};

// Parses a spec (above). kInvalidArgument names the bad part.
Status ParseShapeSpec(const std::string& spec, ShapeOptions* out);

class ShapedRemote : public Remote {
 public:
  ShapedRemote(std::unique_ptr<Remote> base, ShapeOptions options);

  Status Read(const std::string& name, uint64_t offset, uint64_t length, std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return base_->MaxParallel(); }
  std::string Describe() const override {
    return base_->Describe() + " (simulated: " + spec_ + ")";
  }
  Remote* base() const { return base_.get(); }

 private:
  enum class Draw { kPass, kFail, kThrottle, kTruncate };
  // One round trip's wait and the random fault for this request.
  Status Begin(const char* op, const std::string& name, bool read, Draw* draw);
  // Waits for `bytes` to cross the shared link.
  void Transfer(uint64_t bytes);

  std::unique_ptr<Remote> base_;
  const ShapeOptions options_;
  const std::string spec_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point link_free_;  // when the link is idle again
  uint64_t seq_ = 0;
  std::atomic<uint64_t> written_{0};
};

}  // namespace kloset
