// Logging for the mount daemon: stderr in the foreground, syslog (the
// journal) once daemonized. Messages never contain secrets or file contents.
#pragma once

#include <string>

namespace kloset::fs {

enum class LogLevel { kError, kWarning, kInfo, kDebug };

void LogToSyslog(bool on);
void SetVerbose(bool on);
void Log(LogLevel level, const std::string& msg);

}  // namespace kloset::fs
