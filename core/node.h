// Node: one directory entry as stored in a snapshot's tree. The same struct
// serves the archiver (filled from lstat), the restorer, `ls`, and the FUSE
// mount (turned into struct stat).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/crypto.h"

namespace kloset {

enum class NodeType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kSocket = 5,
  kCharDev = 6,
  kBlockDev = 7,
};

// One chunk of a file's content. A hole (sparse region) has is_hole = true
// and no blob; reading it gives zeros.
struct ChunkRef {
  Hash id{};
  uint64_t size = 0;  // plaintext bytes
  bool is_hole = false;

  bool operator==(const ChunkRef&) const = default;
};

struct Node {
  std::string name;  // any bytes but '/' and NUL
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no S_IFMT)
  uint32_t uid = 0, gid = 0;
  std::string user, group;  // names at backup time, may be empty
  int64_t mtime_ns = 0, ctime_ns = 0, atime_ns = 0;
  uint64_t size = 0;         // file size; symlink target length for symlinks
  uint64_t blocks = 0;       // st_blocks (512-byte units) at backup time
  uint64_t rdev = 0;         // devices
  uint32_t nlink = 1;        // link count seen at backup time
  uint64_t hardlink_id = 0;  // nonzero: entries sharing it are one inode
  uint64_t inode = 0;        // st_ino at backup time (for `ls -i`, informative)
  std::string symlink_target;
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted by name
  std::vector<ChunkRef> chunks;  // files: content in order; sizes sum to size
  Hash subtree{};                // dirs: root node id of the directory's tree
  uint64_t subtree_entries = 0;  // dirs: number of entries directly inside
  std::string error;             // non-empty: this entry was skipped at backup
                                 // (unreadable); holds the reason

  bool operator==(const Node&) const = default;
};

// st_blocks (512-byte units) of a file's non-hole chunks.
inline uint64_t DataBlocks(const std::vector<ChunkRef>& chunks) {
  uint64_t bytes = 0;
  for (const ChunkRef& c : chunks)
    if (!c.is_hole) bytes += c.size;
  return (bytes + 511) / 512;
}

// Index of the chunk holding byte `offset` of a file (binary search over
// cumulative sizes computed by the caller); see FileReader.

}  // namespace kloset
