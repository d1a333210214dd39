#include "fs/layout.h"

#include <ctime>

namespace kloset::fs {

std::string SnapshotDirName(const Snapshot& s) {
  time_t secs = static_cast<time_t>(s.time_ns / 1000000000);
  if (s.time_ns < 0 && s.time_ns % 1000000000 != 0) secs--;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H-%M-%SZ", &tm);
  return std::string(buf) + "_" + ToHex(s.id).substr(0, 8);
}

std::string SafeComponent(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return "_" + s;
  std::string out = s;
  for (char& c : out)
    if (c == '/' || c == ':' || c == '\0') c = '_';
  return out;
}

std::shared_ptr<const Layout> Layout::Build(const std::vector<Snapshot>& snaps) {
  auto l = std::make_shared<Layout>();
  for (const auto& s : snaps) {
    std::string name = SnapshotDirName(s);
    l->snapshots[name] = std::make_shared<const Snapshot>(s);
  }
  // Iterate in name order so the per-host and per-tag lists sort by time too.
  for (const auto& [name, s] : l->snapshots) {
    l->hosts[SafeComponent(s->host)].push_back(name);
    for (const auto& t : s->tags) l->tags[SafeComponent(t)].push_back(name);
  }
  // Two snapshots in the same second sort by id, not by time: pick the
  // newest by time for latest.
  const Snapshot* newest = nullptr;
  for (const auto& [name, s] : l->snapshots) {
    if (!newest || s->time_ns >= newest->time_ns) {
      newest = s.get();
      l->latest = name;
    }
  }
  return l;
}

}  // namespace kloset::fs
