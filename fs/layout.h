// The virtual top of a mount: which names appear under snapshots/, hosts/,
// tags/ and where `latest` points, computed from the list of snapshots.
// Pure logic (no FUSE, no I/O) so it is tested without mounting.
//
//   snapshots/<YYYY-MM-DDTHH-MM-SSZ>_<short id>/   every snapshot; names sort by time
//   latest -> snapshots/<newest>
//   hosts/<host>/<snapshot name> -> ../../snapshots/<snapshot name>
//   tags/<tag>/<snapshot name>   -> ../../snapshots/<snapshot name>
//
// No name contains ':' (rsync and scp take it for a host) or '/'.
// Thread safety: a Layout is immutable once built; share it via shared_ptr.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/snapshot.h"

namespace kloset::fs {

// "2026-11-22T04-17-56Z_3fa1b2c4"
std::string SnapshotDirName(const Snapshot& s);
// Makes a host or tag usable as one path component: '/', ':' and NUL become
// '_', "." and ".." and "" become "_" + name.
std::string SafeComponent(const std::string& s);

struct Layout {
  // Snapshot directory name -> snapshot, sorted by name (= by time).
  std::map<std::string, std::shared_ptr<const Snapshot>> snapshots;
  std::map<std::string, std::vector<std::string>> hosts;  // host -> snapshot names
  std::map<std::string, std::vector<std::string>> tags;   // tag -> snapshot names
  std::string latest;  // snapshot name, empty when there are none

  static std::shared_ptr<const Layout> Build(const std::vector<Snapshot>& snaps);
};

}  // namespace kloset::fs
