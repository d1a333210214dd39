// A one-line progress display on stderr for backup, restore and check.
// A thread redraws it about 5 times a second from the Progress counters
// (the operation itself never waits on the display). It is shown only when
// stderr is a terminal and --quiet is off; otherwise nothing is started and
// no control characters are ever written. Stop() (or the destructor) erases
// the line so later messages start on a clean line.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "core/progress.h"

namespace kloset::cli {

class ProgressBar {
 public:
  // `verb` is shown first, e.g. "backup".
  ProgressBar(const Progress* progress, std::string verb, bool quiet);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Stop();
  bool enabled() const { return enabled_; }

  // The text of one frame, `width` columns at most (exposed for tests).
  static std::string Render(const std::string& verb, uint64_t files_done, uint64_t files_total,
                            uint64_t bytes_done, uint64_t bytes_total, uint64_t errors,
                            double rate_bytes_per_s, const std::string& current, size_t width);

 private:
  void Run();
  void Draw();
  double Rate(uint64_t bytes_now);

  const Progress* progress_;
  std::string verb_;
  bool enabled_ = false;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  // Recent (time, bytes_done) samples: the rate is measured over the last
  // few seconds so the ETA follows changes in speed.
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> samples_;
};

}  // namespace kloset::cli
