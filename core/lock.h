// Store locks (docs/FORMAT.md, "Locking").
//
// Backups never exclude each other: every object they write is new and
// content-named, so concurrent writers cannot conflict. A backup announces
// itself with a *shared* lock so that a future prune (which deletes objects)
// can wait for it; prune takes an *exclusive* lock only when no fresh lock of
// any kind exists, and backups refuse to start while a fresh exclusive lock
// exists.
//
// A lock is a sealed object locks/<hex> holding JSON {host, pid, time_ns,
// kind}. Its holder rewrites it every refresh_interval (new object, then the
// old one is deleted); a lock not refreshed for stale_after is stale and
// ignored. Acquisition is "write, then check": whoever writes second sees
// the first and backs off, so two conflicting holders never both proceed
// (both may back off; the caller retries later). An exclusive taker checks
// before writing too, so that it fails without a write while others hold
// locks; a shared one does not, saving a round trip on every backup.
//
// Thread safety: a StoreLock may be used from any thread; its refresh runs on
// a background thread owned by the lock. The Repository must outlive it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/repository.h"

namespace kloset {

enum class LockKind { kShared, kExclusive };

struct LockRecord {
  std::string host;
  int64_t pid = 0;
  int64_t time_ns = 0;  // when written (refreshes write a new record)
  LockKind kind = LockKind::kShared;
};

std::string EncodeLockRecord(const LockRecord& r);
// kCorrupt for malformed JSON, missing fields or an unknown kind.
Status DecodeLockRecord(std::string_view json, LockRecord* r);

struct LockOptions {
  std::chrono::milliseconds refresh_interval = std::chrono::minutes(5);
  std::chrono::milliseconds stale_after = std::chrono::minutes(30);
  std::string host;  // empty: gethostname()
};

struct LockInfo {
  std::string name;  // locks/<hex>
  LockRecord record;
  bool fresh = false;    // refreshed within stale_after (or dated in the future)
  bool damaged = false;  // could not be read or opened; `error` says why
  std::string error;
};

// Reads every lock object but `skip` (the caller's own: not worth a
// request). Locks deleted while listing are skipped; damaged ones are
// reported (damaged = true) rather than failing the listing.
Status ListLocks(Repository* repo, std::chrono::milliseconds stale_after,
                 std::vector<LockInfo>* locks, const std::string& skip = "");
// Deletes stale and damaged locks (and fresh ones too with include_fresh,
// for `unlock --all` after a crash). *removed (optional) counts them.
Status RemoveLocks(Repository* repo, const LockOptions& opts, bool include_fresh, size_t* removed);

class StoreLock {
 public:
  // kBusy naming the conflicting lock (holder, age) when a shared lock meets
  // a fresh exclusive one, or an exclusive lock meets any fresh or damaged
  // lock. Remote errors pass through.
  static Status Acquire(Repository* repo, LockKind kind, std::unique_ptr<StoreLock>* out);
  static Status Acquire(Repository* repo, LockKind kind, const LockOptions& opts,
                        std::unique_ptr<StoreLock>* out);
  // Stops refreshing and deletes the lock object (errors ignored; a lock
  // left behind goes stale).
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  // Stops refreshing and deletes the lock object. Idempotent.
  Status Release();
  // OK while the lock is held and refreshed in time. An error once refreshing
  // has failed for more than half of stale_after: others may soon treat the
  // lock as stale, so a backup should not commit its snapshot on it.
  Status Check() const;

  LockKind kind() const { return record_.kind; }
  std::string object_name() const;

 private:
  StoreLock(Repository* repo, const LockOptions& opts, LockRecord record, std::string name);
  void RefreshLoop();

  Repository* const repo_;
  const LockOptions opts_;
  LockRecord record_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool released_ = false;
  std::string name_;        // current lock object
  int64_t last_ok_ns_ = 0;  // time of the last successful write
  Status last_error_;       // of the last failed refresh
  std::thread refresher_;
};

}  // namespace kloset
