#include "remotes/fault_remote.h"

#include <optional>
#include <thread>

#include "remotes/splitmix.h"

namespace kloset {

const char* RemoteOpName(RemoteOp op) {
  switch (op) {
    case RemoteOp::kRead: return "read";
    case RemoteOp::kWrite: return "write";
    case RemoteOp::kList: return "list";
    case RemoteOp::kDelete: return "delete";
    case RemoteOp::kStat: return "stat";
  }
  return "?";
}

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone: return "none";
    case Fault::kTransient: return "transient";
    case Fault::kIOError: return "io-error";
    case Fault::kNoSpace: return "no-space";
    case Fault::kSlow: return "slow";
    case Fault::kTruncate: return "truncate";
    case Fault::kLostAck: return "lost-ack";
  }
  return "?";
}

uint64_t FaultCounters::TotalRequests() const {
  uint64_t n = 0;
  for (uint64_t r : requests) n += r;
  return n;
}

uint64_t FaultCounters::Failed() const {
  return Faults(Fault::kTransient) + Faults(Fault::kIOError) + Faults(Fault::kNoSpace) +
         Faults(Fault::kLostAck);
}

namespace {

uint64_t HashName(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

double ToUnit(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

Status LostAck(RemoteOp op, const std::string& name) {
  return Status::Transient(std::string("injected fault: ") + RemoteOpName(op) + " " + name +
                           ": connection lost before the reply");
}

}  // namespace

FaultRemote::FaultRemote(std::unique_ptr<Remote> base, FaultOptions options)
    : owned_(std::move(base)), base_(owned_.get()), options_(options) {}

FaultRemote::FaultRemote(Remote* base, FaultOptions options)
    : base_(base), options_(options) {}

void FaultRemote::SetOptions(const FaultOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  options_ = options;
}

FaultOptions FaultRemote::options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

void FaultRemote::Schedule(RemoteOp op, const std::vector<Fault>& faults) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = schedules_[static_cast<int>(op)];
  q.insert(q.end(), faults.begin(), faults.end());
}

void FaultRemote::FailReads(const std::string& name, int n, Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = read_schedules_[name];
  for (int i = 0; i < n; i++) q.push_back(fault);
  if (q.empty()) read_schedules_.erase(name);
}

void FaultRemote::ClearSchedules() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& q : schedules_) q.clear();
  read_schedules_.clear();
}

FaultCounters FaultRemote::Counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

void FaultRemote::ResetCounters() {
  std::lock_guard<std::mutex> lock(mu_);
  counters_ = FaultCounters();
}

FaultRemote::Decision FaultRemote::Choose(RemoteOp op, const std::string& name) {
  const int op_index = static_cast<int>(op);
  std::lock_guard<std::mutex> lock(mu_);
  counters_.requests[op_index]++;
  uint64_t seq = request_seq_[static_cast<char>('0' + op_index) + name]++;
  uint64_t h = SplitMix64(SplitMix64(SplitMix64(options_.seed) ^ HashName(name)) ^
                          (seq * kNumRemoteOps + op_index));

  Decision d;
  d.roll = SplitMix64(h);
  d.delay = options_.slow_delay;
  auto named = op == RemoteOp::kRead ? read_schedules_.find(name) : read_schedules_.end();
  auto& queue = schedules_[op_index];
  if (named != read_schedules_.end()) {
    d.fault = named->second.front();
    named->second.pop_front();
    if (named->second.empty()) read_schedules_.erase(named);
  } else if (!queue.empty()) {
    d.fault = queue.front();
    queue.pop_front();
  } else if (options_.ops & OpBit(op)) {
    // One uniform draw against cumulative rates keeps the faults exclusive.
    const double u = ToUnit(h);
    double edge = 0;
    auto pick = [&](double rate, bool applies, Fault f) {
      if (!applies || d.fault != Fault::kNone) return;
      edge += rate;
      if (u < edge) d.fault = f;
    };
    const bool write = op == RemoteOp::kWrite;
    pick(options_.transient_rate, true, Fault::kTransient);
    pick(options_.io_error_rate, true, Fault::kIOError);
    pick(options_.no_space_rate, write, Fault::kNoSpace);
    pick(options_.truncate_rate, op == RemoteOp::kRead, Fault::kTruncate);
    pick(options_.lost_ack_rate, write || op == RemoteOp::kDelete, Fault::kLostAck);
    pick(options_.slow_rate, true, Fault::kSlow);
  }
  if (d.fault != Fault::kTruncate) counters_.faults[static_cast<int>(d.fault)]++;
  return d;
}

Status FaultRemote::Before(const Decision& d, RemoteOp op, const std::string& name) {
  const std::string what = std::string("injected fault: ") + RemoteOpName(op) + " " + name;
  switch (d.fault) {
    case Fault::kTransient: return Status::Transient(what + ": timed out");
    case Fault::kIOError: return Status::IOError(what + ": I/O error");
    case Fault::kNoSpace: return Status::NoSpace(what + ": storage full");
    case Fault::kSlow: std::this_thread::sleep_for(d.delay); return Status::OK();
    default: return Status::OK();
  }
}

void FaultRemote::Tally(uint64_t bytes_read, uint64_t bytes_written, std::optional<Fault> late) {
  std::lock_guard<std::mutex> lock(mu_);
  if (late) counters_.faults[static_cast<int>(*late)]++;
  counters_.bytes_read += bytes_read;
  counters_.bytes_written += bytes_written;
}

Status FaultRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                         std::string* out) {
  Decision d = Choose(RemoteOp::kRead, name);
  out->clear();
  KLOSET_RETURN_IF_ERROR(Before(d, RemoteOp::kRead, name));
  KLOSET_RETURN_IF_ERROR(base_->Read(name, offset, length, out));
  std::optional<Fault> late;
  if (d.fault == Fault::kTruncate) {
    // A read that returned nothing cannot be cut short: count it as clean.
    late = out->empty() ? Fault::kNone : Fault::kTruncate;
    if (!out->empty()) out->resize(d.roll % out->size());
  }
  if (d.fault == Fault::kLostAck) {
    out->clear();
    return LostAck(RemoteOp::kRead, name);
  }
  Tally(out->size(), 0, late);
  return Status::OK();
}

Status FaultRemote::Write(const std::string& name, std::string_view data) {
  Decision d = Choose(RemoteOp::kWrite, name);
  KLOSET_RETURN_IF_ERROR(Before(d, RemoteOp::kWrite, name));
  KLOSET_RETURN_IF_ERROR(base_->Write(name, data));
  Tally(0, data.size());
  if (d.fault == Fault::kLostAck) return LostAck(RemoteOp::kWrite, name);
  return Status::OK();
}

Status FaultRemote::List(const std::string& prefix,
                         const std::function<void(const ObjectInfo&)>& fn) {
  Decision d = Choose(RemoteOp::kList, prefix);
  Status injected = Before(d, RemoteOp::kList, prefix);
  if (!injected.ok()) {
    // Deliver a deterministic handful of entries, then fail.
    uint64_t keep = d.roll % 32, seen = 0;
    Status s = base_->List(prefix, [&](const ObjectInfo& info) {
      if (seen++ < keep) fn(info);
    });
    return s.ok() ? injected : s;
  }
  KLOSET_RETURN_IF_ERROR(base_->List(prefix, fn));
  if (d.fault == Fault::kLostAck) return LostAck(RemoteOp::kList, prefix);
  return Status::OK();
}

Status FaultRemote::Delete(const std::string& name) {
  Decision d = Choose(RemoteOp::kDelete, name);
  KLOSET_RETURN_IF_ERROR(Before(d, RemoteOp::kDelete, name));
  KLOSET_RETURN_IF_ERROR(base_->Delete(name));
  if (d.fault == Fault::kLostAck) return LostAck(RemoteOp::kDelete, name);
  return Status::OK();
}

Status FaultRemote::Stat(const std::string& name, ObjectInfo* info) {
  Decision d = Choose(RemoteOp::kStat, name);
  KLOSET_RETURN_IF_ERROR(Before(d, RemoteOp::kStat, name));
  KLOSET_RETURN_IF_ERROR(base_->Stat(name, info));
  if (d.fault == Fault::kLostAck) return LostAck(RemoteOp::kStat, name);
  return Status::OK();
}

}  // namespace kloset
