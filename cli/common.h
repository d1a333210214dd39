// Shared plumbing of the klosetfs commands: global options, the error type
// that carries an exit code up to main(), opening a store (with the version
// check before the passphrase is asked for), snapshot references, and the
// SIGINT/SIGTERM handler that cancels long work.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "core/progress.h"
#include "core/repository.h"
#include "core/snapshot.h"

namespace CLI {
class App;
}

namespace kloset::cli {

struct GlobalOptions {
  std::string password_file;
  std::string password_command;
  std::string cache_dir;
  bool no_cache = false;
  bool quiet = false;
  int verbose = 0;
};

// Thrown to end the program with `code` after printing `message` (one line,
// without the "klosetfs: " prefix; empty prints nothing).
class ExitError : public std::runtime_error {
 public:
  ExitError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] void Die(int code, const std::string& message);
// Dies with the exit code for `s` and "context: <status message>".
[[noreturn]] void DieStatus(const Status& s, const std::string& context);
// Prints "klosetfs: message" to stderr.
void Warn(const std::string& message);
// "16MiB", "16M", "64k", "1048576" -> bytes (binary units). False on junk.
bool ParseSize(const std::string& text, uint64_t* out);

// The command line: global options plus one runner per subcommand.
struct Cli {
  GlobalOptions g;
  std::map<const CLI::App*, std::function<int()>> runners;
};

// Registration of the command groups (one file each).
void AddStoreCommands(CLI::App& app, Cli& cli);   // init, key add|list|remove
void AddBackupCommands(CLI::App& app, Cli& cli);  // backup, restore
void AddBrowseCommands(CLI::App& app, Cli& cli);  // snapshots, ls, cat
void AddCheckCommands(CLI::App& app, Cli& cli);   // check
void AddMountCommands(CLI::App& app, Cli& cli);   // mount, umount (cmd_mount.cc)
// remote import, stats; global --rclone-config, --transfers, --simulate (cmd_remote.cc)
void AddRemoteCommands(CLI::App& app, Cli& cli);

// Fills in STORE from KLOSETFS_STORE when the command line gave one
// positional fewer than the command takes. `slots` are the command's
// positionals in order, slot 0 being STORE; CLI11 fills them front to back.
// Dies with a usage error naming `usage` when they do not add up.
void ResolvePositionals(const std::string& command, const std::string& usage,
                        const std::vector<std::string*>& slots);

// Opens the remote at `store` and checks the config header (exit 6 when
// there is no store, 7 when its version is newer), then asks for the
// passphrase and opens the store (exit 3 when the passphrase is wrong).
std::unique_ptr<Repository> OpenStore(const GlobalOptions& g, const std::string& store);

// SNAPSHOT[:PATH] split and validated. `path` is absolute ("/" when absent).
struct SnapshotRef {
  std::string snapshot;  // "latest" or lowercase hex (1..64 digits)
  std::string path;
};
SnapshotRef ParseSnapshotRef(const std::string& arg);
// Resolves a ref against the store; dies with a clear message (exit 1 when
// nothing matches, 2 when a prefix is ambiguous).
Snapshot ResolveOrDie(Repository* repo, const std::string& store, const SnapshotRef& ref);

// While alive, SIGINT/SIGTERM set progress->cancel; a second signal kills
// the process the default way. interrupted() tells whether one arrived.
class InterruptScope {
 public:
  explicit InterruptScope(Progress* progress);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static bool interrupted();
};

// Test-only: KLOSETFS_TEST_FAST_KDF=1 (or the hidden --kdf-* options) makes
// Argon2id cheap so tests run fast. Never use it for a real store.
KdfParams KdfFromOptions(int kdf_memory_mib, int kdf_ops);

// "user@host" for key labels.
std::string DefaultKeyLabel();

}  // namespace kloset::cli
