// Helpers of the checker (core/checker*.cc): reading objects, naming them,
// collecting findings, running work in parallel.
#include <algorithm>
#include <chrono>
#include <thread>

#include "core/checker_internal.h"

namespace kloset {
namespace check_internal {

bool IsObjectDamage(const Status& s) {
  return s.code() == Code::kNotFound || s.code() == Code::kCorrupt ||
         s.code() == Code::kIOError || s.code() == Code::kVersion;
}

std::string ShortHex(const Hash& h) { return ToHex(h.data(), 8); }

std::string FileRef(const Hash& snapshot, const std::string& path) {
  return ToHex(snapshot.data(), 4) + ":" + path;
}

Status ReadWhole(Remote* remote, const std::string& name, uint64_t expected, std::string* out) {
  constexpr int kAttempts = 4;
  Status s;
  for (int attempt = 1; attempt <= kAttempts; attempt++) {
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
    out->clear();
    s = remote->Read(name, 0, Remote::kToEnd, out);
    if (s.ok() && (expected == UINT64_MAX || out->size() >= expected)) return s;
    if (!s.ok() && !s.IsTransient()) return s;
  }
  return s;  // transient to the end, or OK but short (the caller's hash check says so)
}

bool ParseObjectName(const std::string& name, const std::string& dir, bool fanout, Hash* id) {
  std::string_view rest(name);
  if (!rest.starts_with(dir + "/")) return false;
  rest.remove_prefix(dir.size() + 1);
  if (fanout) {
    if (rest.size() != 2 + 1 + 64 || rest[2] != '/' || rest.substr(0, 2) != rest.substr(3, 2))
      return false;
    rest.remove_prefix(3);
  }
  // FromHex accepts upper case; names never use it.
  if (std::any_of(rest.begin(), rest.end(), [](char c) { return c >= 'A' && c <= 'F'; }))
    return false;
  return FromHex(rest, id);
}

size_t Findings::Problem(const std::string& key, const std::string& object,
                         const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    std::string& w = problems_[it->second].p.what;
    if (!what.empty() && w.find(what) == std::string::npos) w += w.empty() ? what : "; " + what;
    return it->second;
  }
  problems_.push_back(Entry{CheckProblem{object, what, {}, 0}, "", "", {}, 0});
  by_key_.emplace(key, problems_.size() - 1);
  return problems_.size() - 1;
}

void Findings::Note(const std::string& object, const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  notes_.push_back(CheckProblem{object, what, {}, 0});
}

void Findings::MarkBlob(const Hash& id, size_t problem) {
  std::lock_guard<std::mutex> l(mu_);
  blobs_.emplace(id, problem);
}

void Findings::AddBlob(size_t problem, const Hash& id, const std::string& label,
                       const std::string& item, const std::string& detail) {
  std::lock_guard<std::mutex> l(mu_);
  if (!blobs_.emplace(id, problem).second) return;
  Entry& e = problems_[problem];
  if (e.label.empty()) e.label = label;
  if (e.detail.empty()) e.detail = detail;
  if (e.items.size() < kMaxItems) e.items.push_back(item);
  e.item_count++;
}

bool Findings::Has(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  return by_key_.count(key) != 0;
}

long Findings::BlobProblem(const Hash& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = blobs_.find(id);
  return it == blobs_.end() ? -1 : static_cast<long>(it->second);
}

void Findings::Affect(size_t problem, const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  CheckProblem& p = problems_[problem].p;
  if (std::find(p.affected.begin(), p.affected.end(), ref) != p.affected.end()) return;
  p.affected_total++;
  if (p.affected.size() < kMaxAffected) p.affected.push_back(ref);
}

void Findings::MoveTo(CheckReport* report) {
  std::lock_guard<std::mutex> l(mu_);
  for (Entry& e : problems_) {
    if (e.item_count > 0) {
      std::string list = e.label + " (" + std::to_string(e.item_count) + "): ";
      for (size_t i = 0; i < e.items.size(); i++) list += (i ? ", " : "") + e.items[i];
      if (e.item_count > e.items.size()) list += ", ...";
      if (!e.detail.empty()) list += "; first error: " + e.detail;
      e.p.what += e.p.what.empty() ? list : "; " + list;
    }
    report->problems.push_back(std::move(e.p));
  }
  report->notes = std::move(notes_);
  problems_.clear();
  notes_.clear();
}

Status Context::Cancelled() const {
  return progress->cancel.load() ? Status::Cancelled("check interrupted") : Status::OK();
}

Status ParallelFor(size_t n, int threads, const Context& ctx,
                   const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (!first.ok()) return;
      }
      size_t i = next++;
      if (i >= n) return;
      Status s = ctx.Cancelled();
      if (s.ok()) s = fn(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first.ok()) first = s;
        return;
      }
    }
  };
  size_t count = std::min<size_t>(std::max(threads, 1), n);
  std::vector<std::thread> pool;
  for (size_t i = 1; i < count; i++) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace check_internal
}  // namespace kloset
