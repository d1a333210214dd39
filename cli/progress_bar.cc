#include "cli/progress_bar.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cli/output.h"

namespace kloset::cli {

namespace {

constexpr auto kInterval = std::chrono::milliseconds(200);
constexpr auto kRateWindow = std::chrono::seconds(5);

size_t TerminalWidth() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string Count(uint64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); i++) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string Duration(double seconds) {
  uint64_t s = static_cast<uint64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  return buf;
}

size_t Columns(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xc0) != 0x80;  // code points
  return n;
}

// Cuts to `width` columns keeping the start (the text is ASCII).
std::string FitHead(const std::string& s, size_t width) {
  return s.size() <= width ? s : s.substr(0, width);
}

// Cuts to `width` display columns (code points), keeping the tail of paths.
std::string FitTail(const std::string& s, size_t width) {
  std::vector<size_t> starts;  // byte offsets of code points
  for (size_t i = 0; i < s.size(); i++) {
    if ((static_cast<uint8_t>(s[i]) & 0xc0) != 0x80) starts.push_back(i);
  }
  if (starts.size() <= width) return s;
  if (width < 2) return "";
  return "\xe2\x80\xa6" + s.substr(starts[starts.size() - (width - 1)]);  // "…" + tail
}

}  // namespace

ProgressBar::ProgressBar(const Progress* progress, std::string verb, bool quiet)
    : progress_(progress), verb_(std::move(verb)) {
  const char* term = std::getenv("TERM");
  enabled_ = !quiet && isatty(STDERR_FILENO) && !(term && std::strcmp(term, "dumb") == 0);
  if (enabled_) thread_ = std::thread([this] { Run(); });
}

ProgressBar::~ProgressBar() { Stop(); }

void ProgressBar::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::fputs("\r\x1b[K", stderr);  // erase the bar
  std::fflush(stderr);
}

void ProgressBar::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, kInterval, [this] { return stop_; })) Draw();
}

double ProgressBar::Rate(uint64_t bytes_now) {
  auto now = std::chrono::steady_clock::now();
  samples_.emplace_back(now, bytes_now);
  while (samples_.size() > 2 && now - samples_.front().first > kRateWindow) samples_.pop_front();
  double dt = std::chrono::duration<double>(now - samples_.front().first).count();
  if (dt < 0.5) return 0;
  return static_cast<double>(bytes_now - samples_.front().second) / dt;
}

void ProgressBar::Draw() {
  uint64_t bytes_done = progress_->bytes_done.load();
  std::string line = Render(verb_, progress_->files_done.load(), progress_->files_total.load(),
                            bytes_done, progress_->bytes_total.load(), progress_->errors.load(),
                            Rate(bytes_done), EscapeForTerminal(progress_->Current()),
                            TerminalWidth() - 1);
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
}

std::string ProgressBar::Render(const std::string& verb, uint64_t files_done,
                                uint64_t files_total, uint64_t bytes_done, uint64_t bytes_total,
                                uint64_t errors, double rate, const std::string& current,
                                size_t width) {
  // The fraction follows bytes when their total is known, else files.
  double frac = -1;
  if (bytes_total > 0) {
    frac = static_cast<double>(bytes_done) / static_cast<double>(bytes_total);
  } else if (files_total > 0) {
    frac = static_cast<double>(files_done) / static_cast<double>(files_total);
  }
  std::string bar, pct;
  if (frac >= 0) {
    if (frac > 1) frac = 1;
    constexpr int kBar = 20;
    int full = static_cast<int>(frac * kBar);
    bar = " [" + std::string(full, '=') + (full < kBar ? ">" : "") +
          std::string(kBar - full - (full < kBar ? 1 : 0), ' ') + "]";
    char buf[8];
    std::snprintf(buf, sizeof buf, " %3d%%", static_cast<int>(frac * 100));
    pct = buf;
  }
  std::string stats = "  " + HumanBytes(bytes_done);
  if (bytes_total > 0) stats += " / " + HumanBytes(bytes_total);
  if (rate > 0) stats += "  " + HumanBytes(static_cast<uint64_t>(rate)) + "/s";
  if (rate > 0 && bytes_total > bytes_done) {
    stats += "  ETA " + Duration(static_cast<double>(bytes_total - bytes_done) / rate);
  }
  stats += "  " + Count(files_done);
  if (files_total > 0) stats += "/" + Count(files_total);
  stats += " files";
  if (errors > 0) stats += "  " + Count(errors) + " errors";
  // Narrow terminals lose the bar first, then the end of the line.
  std::string s = verb + bar + pct + stats;
  if (Columns(s) > width) s = verb + pct + stats;
  if (Columns(s) > width) s = FitHead(s, width);
  size_t used = Columns(s);
  if (!current.empty() && used + 8 < width) s += "  " + FitTail(current, width - used - 2);
  return s;
}

}  // namespace kloset::cli
