// Exit codes of the klosetfs command line, in one place: the enum, the
// mapping from Status codes, and the table printed by `klosetfs --help`.
// Scripts depend on these numbers; never renumber them.
#pragma once

#include "remotes/status.h"

namespace kloset::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,          // anything else: store unreachable, I/O, no such snapshot/path
  kExitUsage = 2,          // bad arguments, malformed snapshot ref, ambiguous prefix
  kExitWrongPassword = 3,  // no key slot opens with the passphrase
  kExitDamage = 4,         // check found problems; restore/cat hit damaged data
  kExitPartial = 5,        // finished, but some files were skipped or not restored
  kExitNoStore = 6,        // no store at STORE (missing folder or no config)
  kExitVersion = 7,        // store format newer than this build understands
  kExitInterrupted = 130,  // SIGINT/SIGTERM; a backup writes no snapshot
};

// The exit code for an operation that failed with `s`. Store-not-found (6)
// and partial success (5) are decided by the caller: a kNotFound status can
// just as well mean a missing snapshot or path (1).
inline int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kInvalidArgument: return kExitUsage;
    case Code::kWrongPassword: return kExitWrongPassword;
    case Code::kCorrupt: return kExitDamage;
    case Code::kVersion: return kExitVersion;
    case Code::kCancelled: return kExitInterrupted;
    default: return kExitError;
  }
}

inline constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0    success\n"
    "  1    other error (store unreachable, I/O, no such snapshot or path)\n"
    "  2    usage error (bad arguments, malformed or ambiguous SNAPSHOT, no passphrase source)\n"
    "  3    wrong passphrase\n"
    "  4    damage found in the store (check found problems; restore or cat hit damaged "
    "data)\n"
    "  5    finished with some files skipped (backup) or not restored (restore)\n"
    "  6    store not found or not initialized\n"
    "  7    unsupported (newer) store format version\n"
    "  130  interrupted (SIGINT/SIGTERM); an interrupted backup writes no snapshot\n";

}  // namespace kloset::cli
