// Progress counters shared between a long-running operation (backup,
// restore, check) and whoever shows them (the CLI's progress bar, JSON
// status lines). Operations only bump atomics; rendering happens elsewhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace kloset {

struct Progress {
  std::atomic<uint64_t> files_total{0}, bytes_total{0};  // 0 while unknown
  std::atomic<uint64_t> files_done{0}, bytes_done{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> cancel{false};  // set by a signal handler to stop early

  void SetCurrent(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    current_ = path;
  }
  std::string Current() const {
    std::lock_guard<std::mutex> l(mu_);
    return current_;
  }

 private:
  mutable std::mutex mu_;
  std::string current_;
};

}  // namespace kloset
