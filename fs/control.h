// The control channel between `klosetfs commit` / `klosetfs umount` and a
// running mount daemon: a Unix stream socket in a private directory. One
// request per connection: the client writes one JSON object and a newline,
// the server answers one JSON object and a newline, then closes.
//
// Privacy: the socket lives in a 0700 directory owned by the daemon's user
// ($XDG_RUNTIME_DIR/klosetfs, /run/klosetfs for root, else
// /tmp/klosetfs-<uid>); the server also checks the peer's uid with
// SO_PEERCRED and refuses anyone but the same user and root. Clients find the
// socket through the mount itself: the mount root answers the virtual
// extended attribute kControlXattr with the socket's path.
//
// Thread safety: ControlServer runs its own accept thread and one thread per
// connection; the handler may be called from several threads at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "remotes/status.h"

namespace kloset::fs {

inline constexpr char kControlXattr[] = "user.klosetfs.control";

// The private directory for control sockets (created 0700 if missing).
// kPermission if it exists with the wrong owner or mode.
Status ControlDir(std::string* dir);

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  ControlServer() = default;
  ~ControlServer();  // Stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds a fresh socket named after `key` (e.g. the mountpoint) in
  // ControlDir and starts serving. A stale socket file of the same name is
  // replaced.
  Status Start(const std::string& key, Handler handler);
  // Stops accepting, waits for requests in progress, removes the socket.
  void Stop();
  const std::string& path() const { return path_; }

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  // Connections are served on detached threads (a long-lived daemon must not
  // pile up finished ones); Stop waits until `active_` is back to zero.
  std::mutex mu_;
  std::condition_variable idle_;
  int active_ = 0;
};

// Sends one request to the socket at `path` and reads the answer. No
// timeout on the answer (a commit may upload for a long time);
// kNotFound / kIOError when no daemon listens.
Status ControlCall(const std::string& path, const nlohmann::json& request,
                   nlohmann::json* response);

// The control socket of the mount at `mountpoint` (via kControlXattr).
// kNotFound when it is not a klosetfs mount with a control channel.
Status FindControlSocket(const std::string& mountpoint, std::string* path);

}  // namespace kloset::fs
