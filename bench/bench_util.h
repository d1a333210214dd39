// Helpers shared by the benchmarks: loading real files as test data and
// timing. Header-only so each bench stays one translation unit.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace kloset::bench {

struct LoadedFile {
  std::string path;
  std::string data;
};

// Regular files under `roots`, in sorted path order (so runs are
// reproducible): every `stride`-th path (a spread-out sample rather than the
// alphabetically first folders), skipping files larger than `max_file` and
// stopping once `budget` bytes are loaded. Unreadable entries are skipped.
inline std::vector<LoadedFile> LoadFiles(const std::vector<std::string>& roots, size_t budget,
                                         size_t max_file = SIZE_MAX, size_t stride = 1) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  for (const std::string& root : roots) {
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code ec2;
      if (it->is_regular_file(ec2) && !it->is_symlink(ec2)) paths.push_back(it->path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<LoadedFile> out;
  size_t total = 0;
  for (size_t i = 0; i < paths.size(); i += std::max<size_t>(stride, 1)) {
    const std::string& p = paths[i];
    if (total >= budget) break;
    std::error_code ec;
    uintmax_t size = fs::file_size(p, ec);
    if (ec || size > max_file || total + size > budget) continue;
    std::ifstream in(p, std::ios::binary);
    if (!in) continue;
    std::string data(size, '\0');
    if (!in.read(data.data(), static_cast<std::streamsize>(size))) continue;
    total += size;
    out.push_back({p, std::move(data)});
  }
  return out;
}

// CPU time of the calling thread: on a machine shared with builds it
// tracks the work done far better than wall time, which counts the time the
// thread sat descheduled.
inline double ThreadSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Best (shortest) thread CPU time of `reps` runs of fn().
template <typename Fn>
double BestOf(int reps, Fn&& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    double t0 = ThreadSeconds();
    fn();
    best = std::min(best, ThreadSeconds() - t0);
  }
  return best;
}

}  // namespace kloset::bench
