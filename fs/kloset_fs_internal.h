// Internal to fs/kloset_fs*.cc: the inode and handle records of KlosetFs.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "fs/kloset_fs.h"

namespace kloset::fs {

enum class Kind {
  kIngestRoot,
  kRoot,
  kSnapshotsDir,
  kHostsDir,
  kTagsDir,
  kHostDir,
  kTagDir,
  kLink,
  kLatest,
  kEntry,
  kStatsFile,  // MOUNTPOINT/.klosetfs-stats.json
};
constexpr uint64_t kUnknownIno = 0xffffffff;  // readdir without plus: the kernel ignores it

struct KlosetFs::Inode {
  Kind kind = Kind::kEntry;
  uint64_t ino = 0;
  uint64_t parent = 0;
  std::string name;
  uint64_t nlookup = 0;  // guarded by inodes_mu_
  std::string key;       // host or tag (kHostDir, kTagDir); link target (kLink)
  std::shared_ptr<const Snapshot> snap;  // kEntry
  Node node;                             // kEntry
  bool snapshot_root = false;            // kEntry naming snapshots/<name>
};

struct KlosetFs::DirHandle {
  std::mutex mu;
  uint64_t next_index = 0;  // child index the cursor stands at
  std::string last_name;    // name of child next_index - 1
};

struct KlosetFs::FileHandle {
  InodePtr inode;
  std::vector<uint64_t> ends;  // ends[i] = end offset of chunk i
  std::mutex mu;
  uint64_t next_expected = 0;  // where a sequential reader reads next
  size_t prefetched_to = 0;    // chunks below this index were prefetched
  std::string text;            // a generated file's text, made at open
};

}  // namespace kloset::fs
