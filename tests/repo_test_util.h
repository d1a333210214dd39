// Helpers for the Repository tests: fast init options, fresh in-memory
// stores, raw object access, and a Remote wrapper that counts requests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/repository.h"
#include "remotes/memory_remote.h"

namespace kloset::testing {

// Argon2id at its cheapest, small packs, no local cache: tests stay fast and
// leave nothing in $HOME.
inline InitOptions FastInit(uint32_t pack_size = 64 << 10) {
  InitOptions o;
  o.kdf.opslimit = 1;
  o.kdf.memlimit = 8 << 20;
  o.chunker.min_size = 1024;
  o.chunker.avg_size = 4096;
  o.chunker.max_size = 16384;
  o.pack_size = pack_size;
  o.key_label = "test@host";
  o.open.no_cache = true;
  return o;
}

inline KdfParams FastKdf() { return KdfParams{1, 8 << 20}; }

inline OpenOptions NoCache() {
  OpenOptions o;
  o.no_cache = true;
  return o;
}

// A fresh name for MemoryRemote::OpenNamed, unique within the process.
inline std::string UniqueStore() {
  static std::atomic<int> n{0};
  return "repo-test-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

inline std::unique_ptr<Remote> Mem(const std::string& name) {
  return MemoryRemote::OpenNamed(name);
}

// Names of every object under `prefix`, sorted.
inline std::vector<std::string> ListAll(Remote* r, const std::string& prefix) {
  std::vector<std::string> v;
  (void)r->List(prefix, [&](const ObjectInfo& o) { v.push_back(o.name); });
  std::sort(v.begin(), v.end());
  return v;
}

inline std::string ReadAll(Remote* r, const std::string& name) {
  std::string s;
  (void)r->Read(name, 0, Remote::kToEnd, &s);
  return s;
}

// Counts requests by operation and name; forwards to a borrowed remote.
class CountingRemote : public Remote {
 public:
  explicit CountingRemote(Remote* base) : base_(base) {}
  // Called with the name before each Write is passed on (to look at local
  // state, or to schedule a fault for it). Set before the remote is in use.
  std::function<void(const std::string& name)> before_write;

  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override {
    Count("read " + name);
    Status s = base_->Read(name, offset, length, out);
    if (s.ok()) CountBytes("read " + name, out->size());
    return s;
  }
  Status Write(const std::string& name, std::string_view data) override {
    Count("write " + name);
    if (before_write) before_write(name);
    return base_->Write(name, data);
  }
  Status List(const std::string& prefix,
              const std::function<void(const ObjectInfo&)>& fn) override {
    Count("list " + prefix);
    return base_->List(prefix, fn);
  }
  Status Delete(const std::string& name) override {
    Count("delete " + name);
    return base_->Delete(name);
  }
  Status Stat(const std::string& name, ObjectInfo* info) override {
    Count("stat " + name);
    return base_->Stat(name, info);
  }
  int MaxParallel() const override { return base_->MaxParallel(); }
  std::string Describe() const override { return "counting " + base_->Describe(); }

  // Requests whose "op name" starts with `prefix`, e.g. "read index/".
  int Requests(const std::string& prefix) const {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const auto& [k, v] : counts_) {
      if (k.compare(0, prefix.size(), prefix) == 0) n += v;
    }
    return n;
  }
  // Every "op name" counted so far, one per line (for failure messages).
  std::string Dump() const {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const auto& [k, v] : counts_) out += k + " x" + std::to_string(v) + "\n";
    return out;
  }
  // Bytes returned by Reads whose "read name" starts with `prefix`.
  uint64_t BytesRead(const std::string& prefix) const {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t n = 0;
    for (const auto& [k, v] : bytes_) {
      if (k.compare(0, prefix.size(), prefix) == 0) n += v;
    }
    return n;
  }

 private:
  void Count(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    counts_[key]++;
  }
  void CountBytes(const std::string& key, uint64_t n) {
    std::lock_guard<std::mutex> l(mu_);
    bytes_[key] += n;
  }
  Remote* base_;
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
  std::map<std::string, uint64_t> bytes_;
};

}  // namespace kloset::testing
