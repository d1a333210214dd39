// MeteredRemote: per-remote counters. Wraps a Remote and counts, for each
// kind of request, the calls, the failures, the bytes moved and the time
// taken (total and worst), plus the retries of the RetryRemote below it.
// `klosetfs stats` prints them; AllRemoteStats() lists every MeteredRemote
// alive in the process (the mount's stats file), ProcessRemoteStats() also
// the final counts of closed ones (`klosetfs --remote-stats FILE`).
//
// Thread safety: all methods may be called concurrently; counters are
// relaxed atomics, so a snapshot taken while requests run is approximate.
// Ownership: owns the wrapped remote; `retry` (optional) must be inside it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "remotes/fault_remote.h"  // RemoteOp
#include "remotes/remote.h"
#include "remotes/retry_remote.h"

namespace kloset {

struct RemoteOpStats {
  uint64_t calls = 0, errors = 0, bytes = 0;
  uint64_t total_us = 0, max_us = 0;  // wall time of the calls, retries included
};

struct RemoteStats {
  std::string remote;                              // Describe() of the remote
  std::array<RemoteOpStats, kNumRemoteOps> ops{};  // by RemoteOp
  uint64_t retries = 0, gave_up = 0;
  uint64_t Requests() const;
  uint64_t Bytes() const;
  // A few lines for people: one per kind of request used, then retries.
  std::string ToText() const;
  // {"remote":..., "requests":{"read":{"calls":..,"errors":..,"bytes":..,
  //  "mean_ms":..,"max_ms":..},...}, "retries":.., "gave_up":..}
  std::string ToJson() const;
};

class MeteredRemote : public Remote {
 public:
  MeteredRemote(std::unique_ptr<Remote> base, RetryRemote* retry = nullptr);
  ~MeteredRemote() override;

  RemoteStats Stats() const;

  Status Read(const std::string& name, uint64_t offset, uint64_t length, std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return base_->MaxParallel(); }
  std::string Describe() const override { return base_->Describe(); }

  Remote* base() const { return base_.get(); }

 private:
  struct Counter {
    std::atomic<uint64_t> calls{0}, errors{0}, bytes{0}, total_us{0}, max_us{0};
  };
  Status Count(RemoteOp op, std::chrono::steady_clock::time_point start, const Status& s,
               uint64_t bytes);

  std::unique_ptr<Remote> base_;
  RetryRemote* const retry_;
  std::array<Counter, kNumRemoteOps> counters_;
};

// The stats of every MeteredRemote alive in this process, oldest first.
std::vector<RemoteStats> AllRemoteStats();
// The stats of every MeteredRemote this process made, in the order they were
// made: live ones as they are now, closed ones as they were when closed (the
// last 64 closed ones are kept).
std::vector<RemoteStats> ProcessRemoteStats();

}  // namespace kloset
