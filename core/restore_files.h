// Writing a batch of regular files for the restorer (core/restorer.h), on
// one worker thread: the data of the batch is fetched window by window (up
// to kRestoreWindow bytes of chunks, across files) with BlobStore::LoadBlobs,
// so small files that were saved together come in a few reads.
//
// A file known to be absent is created in place (O_EXCL) and unlinked again
// if it cannot be completed; any other goes to a temporary name in its
// folder (".klosetfs-tmp-*") and is renamed over the old entry only once
// complete. Either way no file with wrong bytes is left under its name
// after the call returns. Holes are skipped (the size set with ftruncate
// when the file ends in one), so sparse files stay sparse. Owner, xattrs,
// mode and times are set through the open descriptor; no fsync.
//
// Thread safety: RestoreFiles calls on different batches may run at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/blob_store.h"
#include "core/node.h"
#include "core/progress.h"

namespace kloset {

constexpr uint64_t kRestoreWindow = 4 << 20;

struct FileToRestore {
  std::string path;
  Node node;
  bool absent = false;       // nothing is at `path`: create it there
  bool owner_known = false;  // a file made at `path` gets `new_uid`/`new_gid`
  bool mode_known = false;   // ... and its mode is the one asked for less the umask
  uid_t new_uid = 0;
  gid_t new_gid = 0;
};

struct FileRestoreEnv {
  BlobStore* store = nullptr;
  Progress* progress = nullptr;
  bool chown = false;      // set owners (running as root)
  bool overwrite = false;  // RestoreOptions::overwrite, for entries that appear meanwhile
  int umask = -1;          // of the process; -1 unknown (then always chmod)
  std::atomic<uint64_t>* bytes = nullptr;        // data bytes written
  std::atomic<uint64_t>* tmp_counter = nullptr;  // makes temporary names unique
};

struct FileOutcome {
  Status status;                      // not OK: the file was not restored
  std::vector<std::string> problems;  // metadata that could not be set
};

// Restores files[0..] in order; (*out)[i] tells what became of files[i].
// Returns a stopping error (cancelled, a full or read-only disk, a store
// error other than damage) after the file it hit; files from that one on
// have no outcome. Damage to one file's data fails only that file.
Status RestoreFiles(const FileRestoreEnv& env, const std::vector<FileToRestore>& files,
                    std::vector<FileOutcome>* out);

}  // namespace kloset
