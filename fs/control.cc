#include "fs/control.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/crypto.h"

namespace kloset::fs {
namespace {

// Reads until a newline or EOF; requests and answers are small.
bool ReadLine(int fd, std::string* out) {
  char buf[4096];
  while (out->size() < (1u << 20)) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !out->empty();
    out->append(buf, static_cast<size_t>(n));
    if (out->back() == '\n') return true;
  }
  return false;
}

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

Status MakePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, dir);
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return Status::FromErrno(errno, dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    return Status::Permission(dir + " must be a directory owned by this user with mode 0700");
  }
  return Status::OK();
}

}  // namespace

Status ControlDir(std::string* dir) {
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  std::string base;
  struct stat st {};
  if (xdg && *xdg && stat(xdg, &st) == 0 && st.st_uid == geteuid()) {
    base = std::string(xdg) + "/klosetfs";
  } else if (geteuid() == 0) {
    base = "/run/klosetfs";
  } else {
    base = "/tmp/klosetfs-" + std::to_string(geteuid());
  }
  KLOSET_RETURN_IF_ERROR(MakePrivateDir(base));
  *dir = base;
  return Status::OK();
}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start(const std::string& key, Handler handler) {
  std::string dir;
  KLOSET_RETURN_IF_ERROR(ControlDir(&dir));
  Hash h = PlainHash(key + "\n" + std::to_string(getpid()));
  path_ = dir + "/" + ToHex(h.data(), 12) + ".sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("control socket path too long: " + path_);
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  unlink(path_.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0) {
    Status s = Status::FromErrno(errno, path_);
    close(fd);
    return s;
  }
  chmod(path_.c_str(), 0600);
  handler_ = std::move(handler);
  listen_fd_ = fd;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return Status::OK();
}

void ControlServer::Stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);
  listen_fd_ = -1;
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return active_ == 0; });
  }
  unlink(path_.c_str());
}

void ControlServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = poll(&p, 1, 200);
    if (stopping_) break;
    if (r <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_++;
    }
    std::thread([this, fd] {
      Serve(fd);
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) idle_.notify_all();
    }).detach();
  }
}

void ControlServer::Serve(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  nlohmann::json answer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != geteuid() && cred.uid != 0)) {
    answer = {{"ok", false}, {"error", "permission denied"}};
  } else {
    std::string line;
    nlohmann::json req;
    if (ReadLine(fd, &line)) req = nlohmann::json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object()) {
      answer = {{"ok", false}, {"error", "malformed request"}};
    } else {
      answer = handler_(req);
    }
  }
  WriteAll(fd, answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  close(fd);
}

Status ControlCall(const std::string& path, const nlohmann::json& request,
                   nlohmann::json* response) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Status::InvalidArgument("socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Status s = Status::NotFound("no klosetfs daemon listens on " + path + ": " + strerror(errno));
    close(fd);
    return s;
  }
  std::string line;
  bool ok = WriteAll(fd, request.dump() + "\n") && ReadLine(fd, &line);
  close(fd);
  if (!ok) return Status::IOError("the klosetfs daemon closed the control channel");
  *response = nlohmann::json::parse(line, nullptr, false);
  if (response->is_discarded() || !response->is_object()) {
    return Status::IOError("malformed answer from the klosetfs daemon");
  }
  return Status::OK();
}

Status FindControlSocket(const std::string& mountpoint, std::string* path) {
  char buf[4096];
  ssize_t n = getxattr(mountpoint.c_str(), kControlXattr, buf, sizeof buf);
  if (n <= 0) {
    return Status::NotFound(mountpoint + " is not a writable klosetfs mount" +
                            (n < 0 ? std::string(" (") + strerror(errno) + ")" : ""));
  }
  path->assign(buf, static_cast<size_t>(n));
  return Status::OK();
}

}  // namespace kloset::fs
