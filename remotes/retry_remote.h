// RetryRemote: wraps another Remote and retries requests that fail with
// kTransient, waiting between attempts with exponential backoff and jitter.
// Every other result (OK, kNotFound, kIOError, kNoSpace, ...) is returned at
// once. After `max_attempts` transient failures the last error is returned,
// still kTransient, its message prefixed with "gave up after N attempts".
//
// Retrying is safe because objects are content-named: a Write that reached
// the server before its reply was lost is simply written again. A Delete
// whose reply was lost gives kNotFound on the retry; callers that delete
// should treat kNotFound as done. A List that fails midway is restarted and
// objects already reported are not reported again (their names are kept
// until the List returns).
//
// Thread safety: all methods may be called concurrently; the options are
// fixed at construction.
// Ownership: either owns the wrapped remote (unique_ptr constructor) or
// borrows it (pointer constructor; it must outlive the RetryRemote).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "remotes/remote.h"

namespace kloset {

struct RetryOptions {
  // Tries per request, the first included (>= 1).
  int max_attempts = 8;
  // Wait before retry k (k = 1, 2, ...) is min(max_delay,
  // initial_delay * multiplier^(k-1)), scaled by a random factor in
  // [1 - jitter, 1] so that parallel requests do not retry in lockstep.
  // The defaults wait about 30 s in total before giving up.
  std::chrono::microseconds initial_delay{250'000};
  std::chrono::microseconds max_delay{30'000'000};
  double multiplier = 2.0;
  double jitter = 0.5;
  // Seed of the jitter; 0 picks a random seed.
  uint64_t seed = 0;
  // How to wait; empty means std::this_thread::sleep_for. Tests pass a
  // function that records the delays and returns at once.
  std::function<void(std::chrono::microseconds)> sleep;
};

class RetryRemote : public Remote {
 public:
  RetryRemote(std::unique_ptr<Remote> base, RetryOptions options = {});
  RetryRemote(Remote* base, RetryOptions options = {});

  struct Stats {
    uint64_t requests = 0;  // calls made on this wrapper
    uint64_t retries = 0;   // extra attempts after a transient failure
    uint64_t gave_up = 0;   // requests that ran out of attempts
  };
  Stats stats() const;

  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix,
              const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return base_->MaxParallel(); }
  std::string Describe() const override { return base_->Describe(); }
  Remote* base() const { return base_; }

 private:
  // Runs `attempt` until it returns something other than kTransient or the
  // attempts run out.
  Status Run(const std::function<Status()>& attempt);
  std::chrono::microseconds Backoff(int retry);

  std::unique_ptr<Remote> owned_;
  Remote* const base_;
  const RetryOptions options_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  std::atomic<uint64_t> requests_{0}, retries_{0}, gave_up_{0};
};

// Called by a backend on the request's thread just before it returns
// kTransient for an answer that named a delay (HTTP Retry-After): the
// RetryRemote running that request on this thread waits at least `delay`
// (capped at RetryOptions::max_delay) before its next attempt. Without a
// RetryRemote around the call the note is simply dropped.
void NoteRetryAfter(std::chrono::microseconds delay);

}  // namespace kloset
