// Internal to fs/ingest*.cc: the records behind ingest file and directory
// handles.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "fs/ingest.h"

namespace kloset::fs {

// One per inode with open handles (shared by all of them, and by hardlinks).
struct IngestTree::OpenFile {
  DraftId id = 0;
  std::shared_ptr<IngestFile> file;
  int opens = 0;                      // guarded by files_mu_
  std::atomic<int64_t> write_ns{0};   // time of the last write or truncate
};

struct IngestTree::DirHandle {
  std::mutex mu;
  DraftId id = 0;
  uint64_t next_offset = 0;  // the offset the cursor stands at
  std::string last_name;     // name of the entry before next_offset
};

}  // namespace kloset::fs
