#include "remotes/rclone_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "remotes/http_client.h"
#include "remotes/rclone_host.h"

extern char** environ;

namespace kloset {

namespace {

// ---- Process-wide registry ---------------------------------------------------

struct Registry {
  std::mutex mu;
  pid_t owner = 0;  // a forked child must not use its parent's daemons
  std::map<std::string, std::weak_ptr<RcloneDaemon>> daemons;
};

Registry& GetRegistry() {
  static Registry* r = new Registry;  // never destroyed: daemons may outlive statics
  return *r;
}

}  // namespace

bool ListenOnUnixSocket(RcloneDaemonOptions::Listen listen, int known_version) {
  switch (listen) {
    case RcloneDaemonOptions::Listen::kUnixSocket:
      return true;
    case RcloneDaemonOptions::Listen::kLoopback:
      return false;
    case RcloneDaemonOptions::Listen::kAuto:
      return known_version >= kRcloneUnixSocketVersion;
  }
  return false;
}

Status RcloneDaemon::Get(const RcloneDaemonOptions& options, std::shared_ptr<RcloneDaemon>* out) {
  std::string binary = FindExecutable(options.binary);
  if (binary.empty()) {
    const char* path = std::getenv("PATH");
    return Status::Unsupported(
        "rclone is not installed or not on PATH (looked for '" + options.binary +
        "' in PATH=" + (path ? path : "") +
        "): install it (apt install rclone, or from rclone.org) to use rclone remotes");
  }
  if (!options.config.empty() && access(options.config.c_str(), R_OK) != 0) {
    return Status::InvalidArgument("rclone config " + options.config + ": " + std::strerror(errno));
  }
  Registry& reg = GetRegistry();
  std::lock_guard<std::mutex> lock(reg.mu);
  if (reg.owner != getpid()) {
    // After fork() the parent's daemons belong to the parent (their threads
    // do not exist here): start afresh.
    reg.daemons.clear();
    reg.owner = getpid();
  }
  const std::string key =
      binary + '\0' + options.config + '\0' + std::to_string(static_cast<int>(options.listen));
  if (auto existing = reg.daemons[key].lock()) {
    *out = existing;
    return Status::OK();
  }
  std::shared_ptr<RcloneDaemon> d(new RcloneDaemon(options, binary));
  KLOSET_RETURN_IF_ERROR(d->Start());
  reg.daemons[key] = d;
  *out = std::move(d);
  return Status::OK();
}

RcloneDaemon::RcloneDaemon(RcloneDaemonOptions options, std::string binary_path)
    : options_(std::move(options)), binary_path_(std::move(binary_path)) {}

Status RcloneDaemon::Start() {
  const std::string base = PrivateDirBase();
  SweepStaleDirs(base);
  std::string tmpl = base + "/klosetfs-rclone-XXXXXX";
  if (!mkdtemp(tmpl.data())) return Status::FromErrno(errno, "cannot create a private folder");
  dir_ = tmpl;  // mkdtemp makes it 0700
  std::ofstream(dir_ + "/owner") << getpid() << "\n";
  supervisor_ = std::thread([this] { Supervise(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return first_done_; });
  return first_status_;
}

RcloneDaemon::~RcloneDaemon() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    if (pid_ > 0) kill(pid_, SIGTERM);
    cv_.notify_all();
    // rclone normally exits at once; one that hangs is killed.
    if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return pid_ == 0; })) {
      if (pid_ > 0) kill(pid_, SIGKILL);
    }
  }
  if (supervisor_.joinable()) supervisor_.join();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status RcloneDaemon::Current(Endpoint* out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, options_.start_timeout, [&] { return ready_ || stopping_; }) || !ready_) {
    return Status::Transient("the rclone daemon is not running (restarted " +
                             std::to_string(restarts_) + " times); rclone said: " + LogTail(400));
  }
  *out = endpoint_;
  return Status::OK();
}

std::string RcloneDaemon::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

int RcloneDaemon::version_number() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_number_;
}

pid_t RcloneDaemon::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

int RcloneDaemon::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

bool RcloneDaemon::unix_socket() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !endpoint_.unix_socket.empty();
}

std::string RcloneDaemon::LogTail(size_t max_bytes) const {
  std::ifstream f(dir_ + "/rclone.log", std::ios::binary | std::ios::ate);
  if (!f) return "(no output)";
  std::streamoff size = f.tellg();
  std::streamoff from = size > static_cast<std::streamoff>(max_bytes)
                            ? size - static_cast<std::streamoff>(max_bytes)
                            : 0;
  f.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (from > 0) {
    size_t nl = tail.find('\n');
    if (nl != std::string::npos) tail.erase(0, nl + 1);
  }
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  for (char& c : tail) {
    if (c == '\n') c = ' ';
  }
  return tail.empty() ? "(no output)" : tail;
}

void RcloneDaemon::Supervise() {
  bool use_socket = ListenOnUnixSocket(options_.listen, CachedVersion(binary_path_));
  int quick_failures = 0;  // starts that failed or children that died young, in a row
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    Status s = StartChild(use_socket);
    if (!s.ok() && use_socket && options_.listen == RcloneDaemonOptions::Listen::kAuto) {
      use_socket = false;  // an rclone that cannot after all: loopback it is
      s = StartChild(false);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!first_done_) {
      first_done_ = true;
      first_status_ = s;
      cv_.notify_all();
      if (!s.ok()) return;
    }
    if (stopping_) {
      cv_.notify_all();
      return;
    }
    if (s.ok()) {
      pid_t pid = pid_;
      lock.unlock();
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      lock.lock();
      ready_ = false;
      pid_ = 0;
      cv_.notify_all();
      if (stopping_) return;
      restarts_++;
      const bool young = std::chrono::steady_clock::now() - started < std::chrono::seconds(30);
      quick_failures = young ? quick_failures + 1 : 0;
    } else {
      quick_failures++;
    }
    // The first restart is immediate; a child that keeps failing is
    // restarted ever more slowly (up to 16 s apart).
    auto backoff = quick_failures <= 1
                       ? std::chrono::milliseconds(0)
                       : std::chrono::milliseconds(250) * (1 << std::min(quick_failures - 2, 6));
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    if (stopping_) return;
  }
}

Status RcloneDaemon::StartChild(bool unix_socket) {
  Status last;
  for (int attempt = 0; attempt < 4; attempt++) {
    Endpoint ep;
    ep.user = "klosetfs-" + RandomHex(6);
    ep.password = RandomHex(24);
    std::string addr;
    if (unix_socket) {
      ep.unix_socket = dir_ + "/rc.sock";
      unlink(ep.unix_socket.c_str());
      addr = "unix://" + ep.unix_socket;
      ep.base_url = "http://localhost";
    } else {
      int port = FreeLoopbackPort();
      if (port == 0) return Status::IOError("no free port on 127.0.0.1 for the rclone daemon");
      addr = "127.0.0.1:" + std::to_string(port);
      ep.base_url = "http://" + addr;
    }
    std::vector<std::string> args = {binary_path_, "rcd",        "--rc-addr",
                                     addr,         "--rc-serve", "--ask-password=false"};
    if (!options_.config.empty()) {
      args.push_back("--config");
      args.push_back(options_.config);
    }
    // The environment minus anything that would loosen the rc server.
    std::vector<std::string> env;
    for (char** e = environ; *e; e++) {
      if (std::strncmp(*e, "RCLONE_RC_", 10) != 0) env.emplace_back(*e);
    }
    env.push_back("RCLONE_RC_USER=" + ep.user);
    env.push_back("RCLONE_RC_PASS=" + ep.password);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    const std::string log_path = dir_ + "/rclone.log";
    int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err_pipe[2];
    if (log_fd < 0 || null_fd < 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
      Status s = Status::FromErrno(errno, "cannot prepare the rclone daemon");
      if (log_fd >= 0) close(log_fd);
      if (null_fd >= 0) close(null_fd);
      return s;
    }
    const pid_t parent = getpid();
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      close(log_fd);
      close(null_fd);
      close(err_pipe[0]);
      close(err_pipe[1]);
      return Status::Cancelled("shutting down");
    }
    pid_t pid = fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only until execve.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) sigaction(sig, &dfl, nullptr);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(null_fd, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      dup2(err_pipe[1], 3);
      fcntl(3, F_SETFD, FD_CLOEXEC);
      close_range(4, ~0U, 0);
      execve(argv[0], argv.data(), envp.data());
      int e = errno;
      ssize_t ignored = write(3, &e, sizeof e);
      (void)ignored;
      _exit(127);
    }
    int fork_errno = errno;
    close(log_fd);
    close(null_fd);
    close(err_pipe[1]);
    if (pid < 0) {
      close(err_pipe[0]);
      return Status::FromErrno(fork_errno, "cannot start rclone");
    }
    pid_ = pid;
    lock.unlock();

    int exec_errno = 0;
    ssize_t n;
    while ((n = read(err_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    close(err_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
      int status;
      waitpid(pid, &status, 0);
      lock.lock();
      pid_ = 0;
      cv_.notify_all();
      return Status::FromErrno(exec_errno, "cannot run " + binary_path_);
    }
    last = WaitReady(pid, ep);
    lock.lock();
    if (last.ok()) {
      ep.generation = endpoint_.generation + 1;
      endpoint_ = ep;
      ready_ = true;
      cv_.notify_all();
      lock.unlock();
      LearnVersion(ep);
      return Status::OK();
    }
    // WaitReady reaped or killed the child.
    pid_ = 0;
    cv_.notify_all();
    if (stopping_ || unix_socket || last.code() != Code::kExists) return last;
    // kExists: the port was taken meanwhile; try another.
  }
  return last;
}

Status RcloneDaemon::WaitReady(pid_t pid, const Endpoint& ep) {
  HttpOptions ho;
  ho.connect_timeout = std::chrono::milliseconds(1000);
  ho.total_timeout = std::chrono::milliseconds(5000);
  ho.user = ep.user;
  ho.password = ep.password;
  ho.unix_socket = ep.unix_socket;
  HttpClient http(ho);
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto pause = std::chrono::milliseconds(10);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      std::string tail = LogTail(600);
      std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                          : "signal " + std::to_string(WTERMSIG(status));
      std::string msg = "rclone rcd stopped at start (" + how + "): " + tail;
      if (tail.find("address already in use") != std::string::npos) return Status::Exists(msg);
      return Status::IOError(msg);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return Status::Cancelled("shutting down");
      }
    }
    HttpRequest req;
    req.method = "POST";
    req.url = ep.base_url + "/rc/noop";
    req.headers = {"Content-Type: application/json"};
    req.body = "{}";
    HttpResponse resp;
    if (http.Perform(req, &resp, "rc/noop").ok()) {
      if (resp.status == 200) return Status::OK();
      if (resp.status == 401 || resp.status == 403) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return Status::IOError("rclone rcd refused its own credentials (HTTP " +
                               std::to_string(resp.status) + ")");
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return Status::IOError("rclone rcd did not answer within " +
                             std::to_string(options_.start_timeout.count()) +
                             " s: " + LogTail(600));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

void RcloneDaemon::LearnVersion(const Endpoint& ep) {
  HttpOptions ho;
  ho.total_timeout = std::chrono::milliseconds(5000);
  ho.user = ep.user;
  ho.password = ep.password;
  ho.unix_socket = ep.unix_socket;
  HttpClient http(ho);
  HttpRequest req;
  req.method = "POST";
  req.url = ep.base_url + "/core/version";
  req.headers = {"Content-Type: application/json"};
  req.body = "{}";
  HttpResponse resp;
  if (!http.Perform(req, &resp, "core/version").ok() || resp.status != 200) return;
  auto j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_string()) return;
  std::string v = j["version"].get<std::string>();
  int number = ParseRcloneVersion(v);
  {
    std::lock_guard<std::mutex> lock(mu_);
    version_ = v.starts_with("v") ? v.substr(1) : v;
    version_number_ = number;
  }
  if (number != CachedVersion(binary_path_)) StoreVersion(binary_path_, number);
}

}  // namespace kloset
