#include "fs/log.h"

#include <syslog.h>

#include <atomic>
#include <cstdio>

namespace kloset::fs {

namespace {
std::atomic<bool> g_syslog{false}, g_verbose{false};
}

void LogToSyslog(bool on) {
  if (on && !g_syslog) openlog("klosetfs", LOG_PID, LOG_DAEMON);
  g_syslog = on;
}

void SetVerbose(bool on) { g_verbose = on; }

void Log(LogLevel level, const std::string& msg) {
  if (level == LogLevel::kDebug && !g_verbose) return;
  static const int kPrio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
  static const char* kName[] = {"error", "warning", "info", "debug"};
  int i = static_cast<int>(level);
  if (g_syslog) {
    syslog(kPrio[i], "%s", msg.c_str());
  } else {
    std::fprintf(stderr, "klosetfs: %s: %s\n", kName[i], msg.c_str());
  }
}

}  // namespace kloset::fs
