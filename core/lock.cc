#include "core/lock.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/sealed_object.h"
#include "core/system_info.h"

namespace kloset {

namespace {

using std::chrono::milliseconds;

const char* KindName(LockKind k) { return k == LockKind::kShared ? "shared" : "exclusive"; }

std::string Describe(const LockInfo& l) {
  if (l.damaged) return "unreadable lock " + l.name + " (" + l.error + ")";
  int64_t age_s = std::max<int64_t>(0, (NowNs() - l.record.time_ns) / 1000000000);
  return std::string(KindName(l.record.kind)) + " lock " + l.name + " held by pid " +
         std::to_string(l.record.pid) + " on " + l.record.host + ", refreshed " +
         std::to_string(age_s) + "s ago";
}

// The first lock (other than `own`) that `kind` must not coexist with.
const LockInfo* Conflict(const std::vector<LockInfo>& locks, LockKind kind,
                         const std::string& own) {
  for (const LockInfo& l : locks) {
    if (l.name == own) continue;
    if (kind == LockKind::kShared && l.fresh && !l.damaged &&
        l.record.kind == LockKind::kExclusive) {
      return &l;
    }
    // An exclusive holder deletes data: it must not guess about locks it
    // cannot read.
    if (kind == LockKind::kExclusive && (l.fresh || l.damaged)) return &l;
  }
  return nullptr;
}

Status BusyStatus(LockKind kind, const LockInfo& c) {
  if (kind == LockKind::kShared) {
    return Status::Busy("the store is locked for maintenance (" + Describe(c) +
                        "); try again when it is done, or remove a stale lock with "
                        "`klosetfs unlock`");
  }
  return Status::Busy("the store is in use (" + Describe(c) +
                      "); an exclusive lock needs every other lock gone or stale");
}

Status WriteRecord(Repository* repo, const LockRecord& r, std::string* name) {
  Hash id;
  KLOSET_RETURN_IF_ERROR(repo->SaveObject("locks", kLockLabel, EncodeLockRecord(r), &id));
  *name = LockName(id);
  return Status::OK();
}

}  // namespace

std::string EncodeLockRecord(const LockRecord& r) {
  nlohmann::json j = {
      {"host", r.host}, {"pid", r.pid}, {"time_ns", r.time_ns}, {"kind", KindName(r.kind)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status DecodeLockRecord(std::string_view json, LockRecord* r) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const char* why) {
    return Status::Corrupt(std::string("lock record malformed: ") + why);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto host = j.find("host"), pid = j.find("pid"), time = j.find("time_ns"), kind = j.find("kind");
  if (host == j.end() || !host->is_string()) return bad("no host");
  if (pid == j.end() || !pid->is_number_integer()) return bad("no pid");
  if (time == j.end() || !time->is_number_integer()) return bad("no time_ns");
  if (kind == j.end() || !kind->is_string()) return bad("no kind");
  LockRecord out;
  out.host = host->get<std::string>();
  out.pid = pid->get<int64_t>();
  out.time_ns = time->get<int64_t>();
  const std::string k = kind->get<std::string>();
  if (k == "shared") {
    out.kind = LockKind::kShared;
  } else if (k == "exclusive") {
    out.kind = LockKind::kExclusive;
  } else {
    return bad("unknown kind");
  }
  *r = std::move(out);
  return Status::OK();
}

Status ListLocks(Repository* repo, milliseconds stale_after, std::vector<LockInfo>* locks,
                 const std::string& skip) {
  std::vector<std::string> names;
  Status s = repo->remote()->List("locks/", [&](const ObjectInfo& o) {
    if (o.name != skip) names.push_back(o.name);
  });
  if (!s.ok()) return s.Annotate("listing locks/");
  std::sort(names.begin(), names.end());
  const int64_t now = NowNs();
  const int64_t stale_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(stale_after).count();
  std::vector<LockInfo> out;
  for (const std::string& name : names) {
    LockInfo info;
    info.name = name;
    std::string json;
    s = repo->LoadObject(name, kLockLabel, &json);
    if (s.IsNotFound()) continue;  // released meanwhile
    if (s.ok()) s = DecodeLockRecord(json, &info.record);
    if (s.IsCorrupt() || s.code() == Code::kInvalidArgument) {
      info.damaged = true;
      info.error = s.ToString();
    } else if (!s.ok()) {
      return s;
    } else {
      // A record dated in the future (clock skew) counts as fresh.
      info.fresh = now - info.record.time_ns <= stale_ns;
    }
    out.push_back(std::move(info));
  }
  *locks = std::move(out);
  return Status::OK();
}

Status RemoveLocks(Repository* repo, const LockOptions& opts, bool include_fresh, size_t* removed) {
  std::vector<LockInfo> locks;
  KLOSET_RETURN_IF_ERROR(ListLocks(repo, opts.stale_after, &locks));
  size_t n = 0;
  for (const LockInfo& l : locks) {
    if (l.fresh && !l.damaged && !include_fresh) continue;
    Status s = repo->DeleteObject(l.name);
    if (!s.ok() && !s.IsNotFound()) return s;
    n++;
  }
  if (removed) *removed = n;
  return Status::OK();
}

Status StoreLock::Acquire(Repository* repo, LockKind kind, std::unique_ptr<StoreLock>* out) {
  return Acquire(repo, kind, LockOptions(), out);
}

Status StoreLock::Acquire(Repository* repo, LockKind kind, const LockOptions& opts,
                          std::unique_ptr<StoreLock>* out) {
  std::vector<LockInfo> locks;
  if (kind == LockKind::kExclusive) {
    KLOSET_RETURN_IF_ERROR(ListLocks(repo, opts.stale_after, &locks));
    if (const LockInfo* c = Conflict(locks, kind, "")) return BusyStatus(kind, *c);
  }

  LockRecord rec;
  rec.host = opts.host.empty() ? HostName() : opts.host;
  rec.pid = getpid();
  rec.time_ns = NowNs();
  rec.kind = kind;
  std::string name;
  KLOSET_RETURN_IF_ERROR(WriteRecord(repo, rec, &name));
  // A conflicting lock written before ours is visible now, and the writer
  // of a later one will see ours when it checks.
  Status s = ListLocks(repo, opts.stale_after, &locks, name);
  const LockInfo* c = s.ok() ? Conflict(locks, kind, name) : nullptr;
  if (!s.ok() || c) {
    Status busy = s.ok() ? BusyStatus(kind, *c) : s;
    (void)repo->DeleteObject(name);
    return busy;
  }
  out->reset(new StoreLock(repo, opts, rec, name));
  return Status::OK();
}

StoreLock::StoreLock(Repository* repo, const LockOptions& opts, LockRecord record, std::string name)
    : repo_(repo), opts_(opts), record_(std::move(record)), name_(std::move(name)) {
  last_ok_ns_ = record_.time_ns;
  refresher_ = std::thread([this] { RefreshLoop(); });
}

StoreLock::~StoreLock() { (void)Release(); }

void StoreLock::RefreshLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    // After a failure, retry sooner than the normal interval.
    milliseconds wait = last_error_.ok() ? opts_.refresh_interval
                                         : std::max(opts_.refresh_interval / 5, milliseconds(1));
    if (cv_.wait_for(l, wait, [&] { return stop_; })) break;
    LockRecord rec = record_;
    rec.time_ns = NowNs();
    std::string old = name_, fresh;
    l.unlock();
    Status s = WriteRecord(repo_, rec, &fresh);
    if (s.ok()) (void)repo_->DeleteObject(old);
    l.lock();
    if (s.ok()) {
      name_ = fresh;
      last_ok_ns_ = rec.time_ns;
      last_error_ = Status::OK();
    } else {
      last_error_ = s;
    }
  }
}

Status StoreLock::Release() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (released_) return Status::OK();
    released_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::string name = object_name();
  Status s = repo_->DeleteObject(name);
  if (s.IsNotFound()) return Status::OK();
  return s;
}

Status StoreLock::Check() const {
  std::lock_guard<std::mutex> l(mu_);
  if (released_) return Status::InvalidArgument("lock " + name_ + " was released");
  int64_t limit =
      std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.stale_after).count() / 2;
  if (NowNs() - last_ok_ns_ > limit) {
    std::string why = last_error_.ok() ? "no refresh yet" : last_error_.ToString();
    Code code = last_error_.ok() ? Code::kIOError : last_error_.code();
    return Status(code, "lock " + name_ + " could not be refreshed in time (" + why +
                            "); other processes may treat it as stale");
  }
  return Status::OK();
}

std::string StoreLock::object_name() const {
  std::lock_guard<std::mutex> l(mu_);
  return name_;
}

}  // namespace kloset
