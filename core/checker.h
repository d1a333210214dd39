// The checker: verifies a store. Without read_data it checks that the config
// and key slots parse, every index authenticates, every pack named by an
// index exists with a plausible size, every snapshot loads and every tree
// page it reaches decodes and names only blobs the index knows. With
// read_data it also downloads every pack, verifies its name (BLAKE2b of its
// bytes), its header, and every blob (decrypt, decompress, id).
//
// Each problem names the damaged object and, where known, the snapshot paths
// whose content lives in it.
#pragma once

#include <string>
#include <vector>

#include "core/progress.h"
#include "core/repository.h"

namespace kloset {

struct CheckProblem {
  std::string object;               // e.g. "packs/ab/ab12...", "snapshots/..."
  std::string what;                 // e.g. "pack is missing", "blob 12ab... does not authenticate"
  std::vector<std::string> affected;  // "<short snapshot id>:/path/to/file"; a directory
                                      // (its listing is damaged) ends in '/'
  uint64_t affected_total = 0;      // references found; `affected` keeps the first few.
                                    // A subtree shared by several snapshots is walked
                                    // once, under the newest snapshot that has it.
};

struct CheckOptions {
  bool read_data = false;
  int parallel = 0;  // downloads in flight; 0 = the remote's MaxParallel()
};

struct CheckReport {
  uint64_t snapshots = 0, trees = 0, blobs = 0, packs = 0, indexes = 0, keys = 0;
  uint64_t bytes_read = 0;  // pack bytes downloaded (read_data)
  std::vector<CheckProblem> problems;
  // Worth knowing but not damage, e.g. packs no index names (an interrupted
  // backup leaves them; prune removes them) or indexes written during the check.
  std::vector<CheckProblem> notes;
  bool ok() const { return problems.empty(); }
};

// Reads only; never writes to or deletes from the store. Open the repository
// without a local cache (or with a fresh one) so tree pages are read from the
// store itself. `progress` may be null; with read_data it counts packs
// (files_*) and pack bytes (bytes_*); setting its `cancel` stops the check
// (kCancelled). Returns OK when the check ran (whatever it found, see
// report); an error only when the check itself could not run (e.g. the
// remote is unreachable).
Status Check(Repository* repo, const CheckOptions& opts, Progress* progress, CheckReport* report);

}  // namespace kloset
