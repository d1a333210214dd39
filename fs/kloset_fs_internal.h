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

// Where a reader of one file stands: the chunk table (ends[i] = end offset
// of chunk i, checked against the file's size when made) and the read-ahead
// state of a sequential reader.
struct KlosetFs::ReadState {
  std::vector<uint64_t> ends;
  std::mutex mu;               // guards the two fields below
  uint64_t next_expected = 0;  // where a sequential reader reads next
  size_t prefetched_to = 0;    // chunks below this index were prefetched
};

struct KlosetFs::Inode {
  Kind kind = Kind::kEntry;
  uint64_t ino = 0;
  uint64_t parent = 0;
  std::string name;
  uint64_t nlookup = 0;                  // guarded by inodes_mu_
  std::string key;                       // host or tag (kHostDir, kTagDir); link target (kLink)
  std::shared_ptr<const Snapshot> snap;  // kEntry
  Node node;                             // kEntry
  bool snapshot_root = false;            // kEntry naming snapshots/<name>
  // Reads without an open handle (ReadInode) share this one, made at the
  // first such read; guarded by inodes_mu_.
  std::shared_ptr<ReadState> reader;
  // Listings without a handle (ReadDir with fh 0) share this cursor.
  std::shared_ptr<DirHandle> lister;  // guarded by inodes_mu_
};

struct KlosetFs::DirHandle {
  std::mutex mu;
  uint64_t next_index = 0;  // child index the cursor stands at
  std::string last_name;    // name of child next_index - 1
  // Children in all, once a listing reached the end: the kernel asks once
  // more past the last entry to learn that, and a snapshot directory never
  // changes, so that answer needs no page decoded again.
  uint64_t end_index = UINT64_MAX;
};

struct KlosetFs::FileHandle {
  InodePtr inode;
  ReadState rs;      // a snapshot file's
  std::string text;  // a generated file's text, made at open
};

}  // namespace kloset::fs
