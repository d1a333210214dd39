// RcloneDaemon: the `rclone rcd` child process behind rclone remotes.
//
// klosetfs runs one rcd per rclone configuration (binary + config file) per
// process, shared by every rclone store the process opens. Sharing matters
// for drives whose refresh tokens are single-use (Proton Drive): one rclone
// process keeps one fs per remote, so two of them never race to refresh the
// same token.
//
// The daemon is private to the user. Where the installed rclone can listen on
// a Unix socket (1.61 and later) it listens on one inside a fresh 0700
// folder; otherwise on 127.0.0.1, a free port, with random Basic-auth
// credentials that reach rclone through its environment (RCLONE_RC_USER /
// RCLONE_RC_PASS), never its command line, and never with --rc-no-auth. The
// version decides the choice; it is learnt from the running daemon and kept
// in $XDG_CACHE_HOME/klosetfs/rclone-version keyed by the binary's path, size
// and mtime, so the first run of a new rclone uses loopback.
//
// Lifetime: a supervisor thread forks the child (PR_SET_PDEATHSIG ties the
// child to that thread, which lives as long as the daemon, so rclone dies
// with klosetfs however it ends), waits for it, and starts a new one when it
// dies alone. The child runs in its own process group so a terminal's ^C
// reaches klosetfs only, which then shuts rclone down in order. rclone's
// output goes to rclone.log in the private folder; its last lines explain a
// failed start. The folder is removed when the daemon stops; folders left by
// killed klosetfs processes are removed by the next start.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "remotes/status.h"

namespace kloset {

struct RcloneDaemonOptions {
  // The rclone executable: a path, or a name looked up on PATH.
  std::string binary = "rclone";
  // Passed as --config when set; otherwise rclone uses RCLONE_CONFIG or its
  // default (~/.config/rclone/rclone.conf).
  std::string config;
  enum class Listen { kAuto, kLoopback, kUnixSocket };
  // kAuto: a Unix socket when the rclone version is known to support one.
  Listen listen = Listen::kAuto;
  // How long a start (or restart) may take before requests fail.
  std::chrono::seconds start_timeout{30};
};

class RcloneDaemon {
 public:
  // The process-wide daemon for `options`, started on first use; it stops
  // when the last holder lets go. Errors: kUnsupported when the rclone
  // binary is missing, kInvalidArgument when the config file is, kIOError
  // when rclone cannot start (the message quotes rclone).
  static Status Get(const RcloneDaemonOptions& options, std::shared_ptr<RcloneDaemon>* out);

  ~RcloneDaemon();
  RcloneDaemon(const RcloneDaemon&) = delete;
  RcloneDaemon& operator=(const RcloneDaemon&) = delete;

  struct Endpoint {
    std::string base_url;     // "http://127.0.0.1:PORT" or "http://localhost" (socket)
    std::string unix_socket;  // set when listening on a Unix socket
    std::string user, password;
    uint64_t generation = 0;  // counts starts; changes on every restart
  };
  // The running daemon's endpoint. While a restart is under way, waits for it
  // (up to start_timeout). kTransient when it is not back in time.
  Status Current(Endpoint* out);

  // "1.60.1" and 10601 (major*10000 + minor*100 + patch) of the running rclone.
  std::string version() const;
  int version_number() const;
  // What --config points at, for messages ("" when rclone's default).
  const std::string& config() const { return options_.config; }
  // The child's pid (0 while none runs) and how often it was restarted.
  pid_t pid() const;
  int restarts() const;
  bool unix_socket() const;
  // The private 0700 folder (socket, log).
  const std::string& private_dir() const { return dir_; }
  // The last lines rclone logged (for error messages).
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  explicit RcloneDaemon(RcloneDaemonOptions options, std::string binary_path);

  Status Start();  // first start, on the caller's thread waiting for the supervisor
  void Supervise();
  Status StartChild(bool unix_socket);  // on the supervisor thread
  Status WaitReady(pid_t pid, const Endpoint& ep);
  void LearnVersion(const Endpoint& ep);

  const RcloneDaemonOptions options_;
  const std::string binary_path_;
  std::string dir_;  // private 0700 folder: socket, log

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool ready_ = false;
  bool first_done_ = false;
  Status first_status_;
  pid_t pid_ = 0;
  int restarts_ = 0;
  Endpoint endpoint_;
  std::string version_;
  int version_number_ = 0;
  std::thread supervisor_;
};

// Parses "v1.60.1-DEV" / "rclone v1.66.0" / "1.61" into major*10000 +
// minor*100 + patch (0 when unreadable; a patch level past 99 counts as 99,
// so the number never reaches the next minor version).
int ParseRcloneVersion(const std::string& s);

// rclone 1.61.0: the first whose rc server listens on a Unix socket.
constexpr int kRcloneUnixSocketVersion = 16100;
// Whether a daemon is started on a Unix socket: always with kUnixSocket,
// never with kLoopback, and with kAuto when the version remembered for the
// binary (0 = none yet) is kRcloneUnixSocketVersion or later. A kAuto start
// on a socket that fails is retried on loopback; the version the daemon
// then reports replaces the remembered one.
bool ListenOnUnixSocket(RcloneDaemonOptions::Listen listen, int known_version);

}  // namespace kloset
