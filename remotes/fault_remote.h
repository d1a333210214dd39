// FaultRemote: wraps another Remote and injects the failures real storage
// produces, so tests can show the engine survives them: failed requests
// (kTransient, kIOError, kNoSpace), slow requests, truncated reads (OK status
// but fewer bytes than asked although the object is longer: the engine must
// notice), and lost acknowledgements (done, but reported as kTransient).
//
// Every request gets exactly one Fault. It comes from, in order:
//   1. a per-name read schedule (FailReads),
//   2. a per-operation schedule (Schedule),
//   3. the random rates in FaultOptions.
// The random choice is a hash of (seed, operation, name, how many requests of
// that operation on that name came before), so a run is reproducible for a
// seed even when several threads issue requests, as long as each name's
// requests happen in the same order. A List uses its prefix as the name. The
// per-name counts grow with the number of distinct names: meant for tests.
//
// A Write or Delete failed with kTransient, kIOError or kNoSpace never reaches
// the wrapped remote: nothing is stored or deleted (kLostAck does it first).
// A failed List first reports some (possibly none) of the objects, then
// fails, as a paginated listing that drops midway would.
//
// Thread safety: all methods may be called concurrently; configuration calls
// apply to requests that start afterwards.
// Ownership: either owns the wrapped remote (unique_ptr constructor) or
// borrows it (pointer constructor; it must outlive the FaultRemote).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "remotes/remote.h"

namespace kloset {

enum class RemoteOp : uint8_t { kRead, kWrite, kList, kDelete, kStat };
constexpr int kNumRemoteOps = 5;
constexpr uint32_t OpBit(RemoteOp op) { return 1u << static_cast<int>(op); }
constexpr uint32_t kAllOps = (1u << kNumRemoteOps) - 1;
const char* RemoteOpName(RemoteOp op);

enum class Fault : uint8_t {
  kNone,       // passed through untouched
  // The next three fail without reaching the wrapped remote (a List reports
  // a few objects first, see above).
  kTransient,  // fails with kTransient
  kIOError,    // fails with kIOError
  kNoSpace,    // fails with kNoSpace
  kSlow,       // passed through after FaultOptions::slow_delay
  kTruncate,   // Read only: a strict prefix of the real result (no-op elsewhere,
               // and on reads that return no bytes)
  kLostAck,    // done by the wrapped remote, then reported as kTransient
};
constexpr int kNumFaults = 7;
const char* FaultName(Fault f);

struct FaultOptions {
  uint64_t seed = 1;
  // Probabilities in [0, 1] for one request; together at most 1. Rates apply
  // to the operations in `ops`, restricted further where noted.
  double transient_rate = 0;
  double io_error_rate = 0;
  double no_space_rate = 0;  // Write only
  double truncate_rate = 0;  // Read only
  double lost_ack_rate = 0;  // Write and Delete only
  double slow_rate = 0;
  std::chrono::microseconds slow_delay{0};
  uint32_t ops = kAllOps;  // bitmask of OpBit(...)
};

struct FaultCounters {
  std::array<uint64_t, kNumRemoteOps> requests{};  // by RemoteOp, faulty or not
  std::array<uint64_t, kNumFaults> faults{};       // by Fault; kNone = clean passes
  uint64_t bytes_read = 0;                         // returned to callers by Read
  uint64_t bytes_written = 0;                      // accepted by the wrapped Write

  uint64_t Requests(RemoteOp op) const { return requests[static_cast<int>(op)]; }
  uint64_t Faults(Fault f) const { return faults[static_cast<int>(f)]; }
  uint64_t TotalRequests() const;
  // Requests that returned an injected error (transient, I/O, no space, lost ack).
  uint64_t Failed() const;
};

class FaultRemote : public Remote {
 public:
  FaultRemote(std::unique_ptr<Remote> base, FaultOptions options = {});
  FaultRemote(Remote* base, FaultOptions options = {});

  // Replaces the random rates (schedules and counters are kept).
  void SetOptions(const FaultOptions& options);
  FaultOptions options() const;

  // The next requests of kind `op` get these faults, one each, in order;
  // appends to anything already scheduled for `op`.
  void Schedule(RemoteOp op, const std::vector<Fault>& faults);
  // The next `n` Reads of `name` get `fault` (default: a permanent I/O error).
  void FailReads(const std::string& name, int n, Fault fault = Fault::kIOError);
  // Drops all schedules.
  void ClearSchedules();

  FaultCounters Counters() const;
  void ResetCounters();

  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix,
              const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return base_->MaxParallel(); }
  std::string Describe() const override { return base_->Describe() + " (fault injection)"; }

 private:
  struct Decision {
    Fault fault = Fault::kNone;
    uint64_t roll = 0;  // hash-derived, for further deterministic choices
    std::chrono::microseconds delay{0};
  };
  // Chooses the fault for one request and counts the request; the fault is
  // counted too, except kTruncate, which Read counts once it took effect.
  Decision Choose(RemoteOp op, const std::string& name);
  // The error a request fails with before reaching the wrapped remote (OK if
  // the fault lets it through); sleeps for kSlow.
  static Status Before(const Decision& d, RemoteOp op, const std::string& name);
  // Adds byte counts and a fault decided after the request (kTruncate).
  void Tally(uint64_t bytes_read, uint64_t bytes_written, std::optional<Fault> late = {});

  std::unique_ptr<Remote> owned_;
  Remote* const base_;

  mutable std::mutex mu_;
  FaultOptions options_;
  std::array<std::deque<Fault>, kNumRemoteOps> schedules_;
  std::map<std::string, std::deque<Fault>> read_schedules_;
  std::unordered_map<std::string, uint64_t> request_seq_;  // key: op byte + name
  FaultCounters counters_;
};

}  // namespace kloset
