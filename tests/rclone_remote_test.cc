// The rclone bridge against the real rclone of this machine (these tests fail,
// never skip, when rclone is missing): the Remote contract on a `local` remote
// and on `:memory:`, each also under injected faults; the daemon's privacy,
// restart and death with its parent; ranged reads; and the messages for bad
// input (unknown remote, rclone missing, backend missing).
#include "remotes/rclone_remote.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "remotes/fault_remote.h"
#include "remotes/rclone_daemon.h"
#include "remotes/rclone_drives.h"
#include "remotes/rclone_host.h"
#include "remotes/remote.h"
#include "remotes/retry_remote.h"
#include "tests/test_util.h"

extern char** environ;

namespace kloset {
namespace {

using testing::TempDir;

// One rclone config for the whole test binary, with a daemon kept alive so
// that every test does not pay for an rclone start.
struct RcloneEnv {
  TempDir dir;
  std::string config;
  std::shared_ptr<RcloneDaemon> daemon;

  RcloneEnv() {
    config = dir / "rclone.conf";
    testing::WriteFile(config,
                       "[onedrive]\ntype = local\n\n"
                       "[kloset_local]\ntype = local\n\n"
                       "[pd]\ntype = protondrive\n");
    RemoteSettings settings;
    settings.rclone_config = config;
    SetRemoteSettings(settings);
    Status s = RcloneDaemon::Get(DaemonOptions(), &daemon);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  RcloneDaemonOptions DaemonOptions() const {
    RcloneDaemonOptions o;
    o.config = config;
    return o;
  }
  RcloneRemoteOptions RemoteOptions() const {
    RcloneRemoteOptions o;
    o.daemon = DaemonOptions();
    return o;
  }
  static RcloneEnv& Get() {
    static RcloneEnv env;
    return env;
  }
};

std::string UniqueName(const char* stem) {
  static std::atomic<int> counter{0};
  return std::string(stem) + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::unique_ptr<RcloneRemote> OpenDirect(const std::string& fs, RcloneRemoteOptions o) {
  std::unique_ptr<RcloneRemote> r;
  Status s = RcloneRemote::Open(fs, /*create=*/true, o, &r);
  INFO(fs << ": " << s.ToString());
  REQUIRE(s.ok());
  return r;
}

// Retries fast: the tests need the behaviour, not the real waits.
RetryOptions FastRetries() {
  RetryOptions retry;
  retry.max_attempts = 40;
  retry.initial_delay = std::chrono::microseconds(100);
  retry.max_delay = std::chrono::milliseconds(5);
  retry.seed = 3;
  return retry;
}

// A named remote of type local, opened the way the command line does.
struct RcloneLocalBackend {
  TempDir dir;
  std::unique_ptr<Remote> remote;
  RcloneLocalBackend() {
    RcloneEnv::Get();
    Status s = OpenRemote("kloset_local:" + dir / "store", true, &remote);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
};

// rclone's in-memory backend through a connection string.
struct RcloneMemoryBackend {
  std::unique_ptr<Remote> remote;
  RcloneMemoryBackend() {
    RcloneEnv::Get();
    Status s = OpenRemote(":memory:" + UniqueName("conformance"), true, &remote);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
};

// 10% failed requests above the backend, and 429s with Retry-After, timeouts
// and truncated bodies on its HTTP requests; the retry wrapper hides it all.
template <bool kMemory>
struct RcloneFaultyBackend {
  TempDir dir;
  std::unique_ptr<Remote> remote;
  RcloneFaultyBackend() {
    RcloneRemoteOptions o = RcloneEnv::Get().RemoteOptions();
    o.http.faults.seed = kMemory ? 11 : 12;
    o.http.faults.throttle_rate = 0.04;
    o.http.faults.timeout_rate = 0.03;
    o.http.faults.truncate_rate = 0.05;
    auto base =
        OpenDirect(kMemory ? ":memory:" + UniqueName("faulty") : "kloset_local:" + dir / "s", o);
    FaultOptions faults;
    faults.seed = kMemory ? 21 : 22;
    faults.transient_rate = 0.1;
    remote = std::make_unique<RetryRemote>(std::make_unique<FaultRemote>(std::move(base), faults),
                                           FastRetries());
  }
};
using RcloneLocalFaulty = RcloneFaultyBackend<false>;
using RcloneMemoryFaulty = RcloneFaultyBackend<true>;

}  // namespace
}  // namespace kloset

#define KLOSET_CONFORMANCE_BACKENDS \
  RcloneLocalBackend, RcloneMemoryBackend, RcloneLocalFaulty, RcloneMemoryFaulty
#include "tests/remote_conformance.h"

namespace kloset {
namespace {

using namespace conformance;

TEST_CASE("rclone: objects are where rclone put them, no temporary files", "[rclone]") {
  RcloneLocalBackend b;
  Put(*b.remote, "config", "cfg");
  Put(*b.remote, "packs/ab/ab12", "pack");
  Put(*b.remote, "packs/ab/ab12", "pack");
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(b.dir / "store")) {
    if (e.is_regular_file()) {
      files.push_back(std::filesystem::relative(e.path(), b.dir / "store").string());
    }
  }
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"config", "packs/ab/ab12"});
  CHECK(testing::ReadFile(b.dir / "store/packs/ab/ab12") == "pack");
  CHECK(b.remote->Describe() == "rclone remote kloset_local:" + b.dir / "store");
}

TEST_CASE("rclone: writes to a local backend are staged, cloud-like ones are not", "[rclone]") {
  TempDir dir;
  auto local = OpenDirect("kloset_local:" + dir / "s", RcloneEnv::Get().RemoteOptions());
  CHECK(local->backend_type() == "local");
  CHECK(local->staged_writes());
  auto memory = OpenDirect(":memory:" + UniqueName("staging"), RcloneEnv::Get().RemoteOptions());
  CHECK(memory->backend_type() == "memory");
  CHECK_FALSE(memory->staged_writes());
}

TEST_CASE("rclone: a ranged read fetches that range only", "[rclone]") {
  auto r = OpenDirect(":memory:" + UniqueName("range"), RcloneEnv::Get().RemoteOptions());
  const std::string data = testing::RandomData(8 << 20, 9);
  REQUIRE(r->Write("packs/aa/aa00", data).ok());
  HttpClient::Counters before = r->http_counters();
  std::string out;
  REQUIRE(r->Read("packs/aa/aa00", 5 << 20, 1000, &out).ok());
  CHECK(out == data.substr(5 << 20, 1000));
  HttpClient::Counters after = r->http_counters();
  CHECK(after.requests == before.requests + 1);
  CHECK(after.bytes_received - before.bytes_received == 1000);
  // The tail from an offset, and a range past the end.
  REQUIRE(r->Read("packs/aa/aa00", (8 << 20) - 10, Remote::kToEnd, &out).ok());
  CHECK(out == data.substr((8 << 20) - 10));
  REQUIRE(r->Read("packs/aa/aa00", 9 << 20, 10, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("rclone: the daemon is private to the user", "[rclone]") {
  RcloneEnv& env = RcloneEnv::Get();
  pid_t pid = env.daemon->pid();
  REQUIRE(pid > 0);
  std::string cmdline = testing::ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  INFO(cmdline);
  CHECK(cmdline.find(" rcd ") != std::string::npos);
  CHECK(cmdline.find("--rc-no-auth") == std::string::npos);
  CHECK(cmdline.find("--rc-pass") == std::string::npos);
  CHECK(cmdline.find("--rc-user") == std::string::npos);
  RcloneDaemon::Endpoint ep;
  REQUIRE(env.daemon->Current(&ep).ok());
  CHECK(cmdline.find(ep.password) == std::string::npos);
  CHECK(ep.password.size() >= 32);
  if (ep.unix_socket.empty()) {
    CHECK(ep.base_url.starts_with("http://127.0.0.1:"));
    // Without the credentials the daemon refuses everything.
    HttpClient anonymous;
    HttpRequest req;
    req.method = "POST";
    req.url = ep.base_url + "/operations/list";
    req.headers = {"Content-Type: application/json"};
    req.body = "{\"fs\":\"/\",\"remote\":\"\"}";
    HttpResponse resp;
    REQUIRE(anonymous.Perform(req, &resp, "anonymous list").ok());
    CHECK(resp.status == 401);
    req.method = "GET";
    req.url = ep.base_url + "/%5B%2F%5D/etc/passwd";
    req.body = {};
    REQUIRE(anonymous.Perform(req, &resp, "anonymous read").ok());
    CHECK(resp.status == 401);
  } else {
    struct stat st;
    REQUIRE(stat(std::filesystem::path(ep.unix_socket).parent_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  // The child runs in its own process group, so a terminal's ^C reaches us only.
  CHECK(getpgid(pid) == pid);
}

TEST_CASE("rclone: a daemon that dies alone is restarted", "[rclone]") {
  auto r = OpenDirect(":memory:" + UniqueName("restart"), RcloneEnv::Get().RemoteOptions());
  RetryRemote retry(r.get(), FastRetries());
  Put(retry, "config", "before");
  RcloneDaemon* d = r->daemon();
  const int restarts = d->restarts();
  pid_t old_pid = d->pid();
  REQUIRE(kill(old_pid, SIGKILL) == 0);
  // :memory: lived in the old process: the data is gone, the store works.
  std::string out;
  Status s;
  for (int i = 0; i < 200; i++) {
    s = retry.Read("config", 0, Remote::kToEnd, &out);
    if (!s.IsTransient()) break;
  }
  CHECK(s.IsNotFound());
  Put(retry, "config", "after");
  CHECK(ReadAll(retry, "config") == "after");
  CHECK(d->restarts() == restarts + 1);
  CHECK(d->pid() != old_pid);
  CHECK(d->pid() > 0);
}

bool ProcessGone(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) return true;
  std::string line;
  std::getline(f, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// Run by the next test in a fresh process (a fork of this threaded process
// could not start threads under ThreadSanitizer): holds a daemon of its own
// and reports "PID DIR" on the file descriptor KLOSET_TEST_REPORT_FD.
// Nothing here needs cleaning up after a SIGKILL but the daemon's folder.
TEST_CASE("helper: hold an rclone daemon", "[.helper]") {
  const char* fd_env = std::getenv("KLOSET_TEST_REPORT_FD");
  const char* config = std::getenv("KLOSET_TEST_RCLONE_CONFIG");
  REQUIRE(fd_env);
  REQUIRE(config);
  RcloneDaemonOptions own;
  own.config = config;
  own.listen = RcloneDaemonOptions::Listen::kLoopback;
  std::shared_ptr<RcloneDaemon> d;
  REQUIRE(RcloneDaemon::Get(own, &d).ok());
  std::string msg = std::to_string(d->pid()) + " " + d->private_dir();
  int fd = std::atoi(fd_env);
  REQUIRE(write(fd, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
  close(fd);
  pause();
}

TEST_CASE("rclone: the daemon dies with klosetfs", "[rclone]") {
  RcloneEnv& env = RcloneEnv::Get();
  RcloneDaemonOptions own = env.DaemonOptions();
  own.listen = RcloneDaemonOptions::Listen::kLoopback;  // not the shared one
  int p[2];
  REQUIRE(pipe(p) == 0);
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string fd_var = "KLOSET_TEST_REPORT_FD=" + std::to_string(p[1]);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; e++) env_strings.emplace_back(*e);
  env_strings.push_back(fd_var);
  env_strings.push_back("KLOSET_TEST_RCLONE_CONFIG=" + env.config);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string name = "helper: hold an rclone daemon";
  char* argv[] = {self.data(), name.data(), nullptr};
  pid_t child;
  REQUIRE(posix_spawn(&child, self.c_str(), nullptr, nullptr, argv, envp.data()) == 0);
  close(p[1]);
  char buf[512] = {};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  REQUIRE(n > 0);
  pid_t rclone = static_cast<pid_t>(std::atoi(buf));
  std::string dir = std::string(buf).substr(std::string(buf).find(' ') + 1);
  REQUIRE(rclone > 0);
  CHECK_FALSE(ProcessGone(rclone));
  CHECK(std::filesystem::is_directory(dir));
  kill(child, SIGKILL);  // no destructors, no cleanup: only the kernel's death signal
  int status;
  waitpid(child, &status, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) {
    gone = ProcessGone(rclone);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(gone);
  // The next start clears the private folder the killed process left (a
  // daemon started meanwhile by another test process may have done so).
  std::shared_ptr<RcloneDaemon> next;
  REQUIRE(RcloneDaemon::Get(own, &next).ok());
  CHECK_FALSE(std::filesystem::exists(dir));
  CHECK(std::filesystem::is_directory(next->private_dir()));
}

TEST_CASE("rclone: bad input gives clear messages", "[rclone]") {
  RcloneEnv::Get();
  std::unique_ptr<Remote> r;

  SECTION("an unknown remote name") {
    Status s = OpenRemote("nosuchremote:/kloset", false, &r);
    INFO(s.ToString());
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("rclone has no remote named 'nosuchremote'") != std::string::npos);
    CHECK(s.message().find("rclone config") != std::string::npos);
  }
  SECTION("a backend this rclone lacks, named in the config or inline") {
    for (const char* store : {"pd:/kloset", ":protondrive:/kloset"}) {
      Status s = OpenRemote(store, false, &r);
      INFO(s.ToString());
      CHECK(s.code() == Code::kUnsupported);
      CHECK(s.message().find("'protondrive' backend") != std::string::npos);
      CHECK(s.message().find("Proton Drive needs rclone 1.64 or later") != std::string::npos);
    }
  }
  SECTION("rclone missing from PATH") {
    TempDir empty;
    std::string old_path = std::getenv("PATH");
    setenv("PATH", empty.path().c_str(), 1);
    Status s = OpenRemote("onedrive:/kloset", false, &r);
    setenv("PATH", old_path.c_str(), 1);
    INFO(s.ToString());
    CHECK(s.code() == Code::kUnsupported);
    CHECK(s.message().find("rclone is not installed or not on PATH") != std::string::npos);
    CHECK(s.message().find("apt install rclone") != std::string::npos);
  }
  SECTION("a config file that does not exist") {
    RemoteSettings saved = GetRemoteSettings(), bad = saved;
    bad.rclone_config = "/nonexistent/rclone.conf";
    SetRemoteSettings(bad);
    Status s = OpenRemote("onedrive:/kloset", false, &r);
    SetRemoteSettings(saved);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("/nonexistent/rclone.conf") != std::string::npos);
  }
}

TEST_CASE("rclone: errors are read into codes that say what to do", "[rclone]") {
  RcloneContext od{"onedrive:/kloset", "onedrive", "onedrive", "", "1.60.1", ""};
  Status s =
      RcloneErrorStatus(od, 500, "couldn't list files: invalid_grant: token expired", "list packs");
  CHECK(s.code() == Code::kPermission);
  CHECK(s.message().find("OneDrive") != std::string::npos);
  CHECK(s.message().find("rclone config reconnect onedrive:") != std::string::npos);

  s = RcloneErrorStatus(od, 500, "quotaLimitReached: Insufficient Space Available", "write x");
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find("OneDrive is full") != std::string::npos);

  s = RcloneErrorStatus(od, 500, "429 Too Many Requests: activityLimitReached", "read x");
  CHECK(s.IsTransient());
  // Codes inside hex object names are not codes.
  s = RcloneErrorStatus(od, 500, "upload packs/40/401403ab failed: weird",
                        "write packs/40/401403ab");
  CHECK(s.code() == Code::kIOError);

  RcloneContext icloud{"ic:/k", "ic", "iclouddrive", "/etc/rc.conf", "", ""};
  s = RcloneErrorStatus(icloud, 500, "HTTP error 401: Unauthorized", "stat config");
  CHECK(s.code() == Code::kPermission);
  CHECK(s.message().find("rclone config reconnect ic: --config /etc/rc.conf") != std::string::npos);
  CHECK(s.message().find("30 days") != std::string::npos);

  RcloneContext local{"l:/x", "l", "local", "", "", ""};
  s = RcloneErrorStatus(local, 500, "open /x/y: permission denied", "read y");
  CHECK(s.code() == Code::kPermission);
  CHECK(s.message().find("reconnect") == std::string::npos);
  s = RcloneErrorStatus(local, 500, "write /x/y: no space left on device", "write y");
  CHECK(s.code() == Code::kNoSpace);
  s = RcloneErrorStatus(local, 404, "object not found", "read y");
  CHECK(s.IsNotFound());
}

// Debian 12 has rclone 1.60.1, so the Unix-socket listener of 1.61 and later
// never runs here; what decides for it and falls back from it is tested.
TEST_CASE("rclone: version numbers decide between socket and loopback", "[rclone]") {
  CHECK(ParseRcloneVersion("v1.60.1-DEV") == 16001);
  CHECK(ParseRcloneVersion("rclone v1.69.0") == 16900);
  CHECK(ParseRcloneVersion("v1.61.0") == 16100);
  CHECK(ParseRcloneVersion("1.61") == 16100);
  CHECK(ParseRcloneVersion("v1.64.0-beta.7370.9d3cf8d02") == 16400);
  CHECK(ParseRcloneVersion("v2.0.3") == 20003);
  CHECK(ParseRcloneVersion("v1.60.123") == 16099);  // never reads as 1.61
  CHECK(ParseRcloneVersion("v1.100.0") == 0);
  CHECK(ParseRcloneVersion("garbage") == 0);
  CHECK(ParseRcloneVersion("v1") == 0);
  CHECK(ParseRcloneVersion("") == 0);

  using L = RcloneDaemonOptions::Listen;
  CHECK_FALSE(ListenOnUnixSocket(L::kAuto, 0));  // first run of a binary: loopback
  CHECK_FALSE(ListenOnUnixSocket(L::kAuto, 16001));
  CHECK_FALSE(ListenOnUnixSocket(L::kAuto, 16099));
  CHECK(ListenOnUnixSocket(L::kAuto, 16100));
  CHECK(ListenOnUnixSocket(L::kAuto, 16900));
  CHECK(ListenOnUnixSocket(L::kUnixSocket, 0));
  CHECK_FALSE(ListenOnUnixSocket(L::kLoopback, 16900));
}

TEST_CASE("rclone: the version is remembered per binary", "[rclone]") {
  TempDir cache;
  testing::ScopedEnv xdg("XDG_CACHE_HOME", cache.path());
  const std::string binary = FindExecutable("rclone");
  REQUIRE(!binary.empty());
  // Copies that no daemon runs, so a daemon learning its version meanwhile
  // cannot change what this test reads.
  const std::string one = cache / "rclone-one", two = cache / "rclone-two";
  std::filesystem::copy_file(binary, one);
  std::filesystem::copy_file(binary, two);
  CHECK(CachedVersion(one) == 0);
  StoreVersion(one, 16001);
  StoreVersion(two, 16900);
  CHECK(CachedVersion(one) == 16001);
  CHECK(CachedVersion(two) == 16900);
  StoreVersion(one, 16100);  // replaces, does not add
  CHECK(CachedVersion(one) == 16100);
  std::string text = testing::ReadFile(cache / "klosetfs/rclone-version");
  CHECK(text.find(one + "\t") == text.rfind(one + "\t"));
  // A changed binary (an upgrade in place) is a new key: unknown again.
  { std::ofstream(two, std::ios::app) << "x"; }
  CHECK(CachedVersion(two) == 0);
}

TEST_CASE("rclone: a socket start that fails falls back to loopback", "[rclone]") {
  // A remembered version of 1.61 or later makes kAuto try a Unix socket; the
  // installed rclone (1.60.1 on Debian 12) refuses it, so klosetfs must
  // start it on loopback and remember the version it really has.
  TempDir dir;
  testing::ScopedEnv xdg("XDG_CACHE_HOME", dir.path());
  const std::string binary = FindExecutable("rclone");
  REQUIRE(!binary.empty());
  StoreVersion(binary, 16900);
  RcloneDaemonOptions o;
  o.config = dir / "rclone.conf";  // its own daemon, not the shared one
  testing::WriteFile(o.config, "[disk]\ntype = local\n");
  {
    std::shared_ptr<RcloneDaemon> d;
    Status s = RcloneDaemon::Get(o, &d);
    INFO(s.ToString());
    REQUIRE(s.ok());
    const int real = d->version_number();
    REQUIRE(real > 0);
    RcloneDaemon::Endpoint ep;
    REQUIRE(d->Current(&ep).ok());
    if (real < kRcloneUnixSocketVersion) {
      CHECK_FALSE(d->unix_socket());
      CHECK(ep.base_url.starts_with("http://127.0.0.1:"));
      CHECK(ep.password.size() >= 32);
    } else {
      CHECK(d->unix_socket());  // a newer rclone on PATH takes the socket
    }
    CHECK(CachedVersion(binary) == real);
    // The daemon answers on whichever it chose.
    auto r = OpenDirect(":local:" + dir.path() + "/store", [&] {
      RcloneRemoteOptions ro;
      ro.daemon = o;
      return ro;
    }());
    REQUIRE(r->Write("config", "x").ok());
    std::string back;
    REQUIRE(r->Read("config", 0, Remote::kToEnd, &back).ok());
    CHECK(back == "x");
  }
  // Forcing a socket on an rclone that cannot is an error, not a fallback.
  o.listen = RcloneDaemonOptions::Listen::kUnixSocket;
  std::shared_ptr<RcloneDaemon> forced;
  Status s = RcloneDaemon::Get(o, &forced);
  if (CachedVersion(binary) < kRcloneUnixSocketVersion) {
    CHECK_FALSE(s.ok());
    CHECK(s.message().find("rclone") != std::string::npos);
  }
}

// A server whose every answer is 429 with "Retry-After: 1" (injected by the
// HTTP layer), read the way the backends read it.
struct ThrottledRemote : Remote {
  HttpClient client{[] {
    HttpOptions o;
    o.faults.throttle_rate = 1.0;
    return o;
  }()};
  Status Once() {
    HttpRequest req;
    req.url = "http://127.0.0.1:1/x";
    HttpResponse resp;
    KLOSET_RETURN_IF_ERROR(client.Perform(req, &resp, "read x"));
    return StatusForHttp(resp, "read x", "test server");
  }
  Status Read(const std::string&, uint64_t, uint64_t, std::string*) override { return Once(); }
  Status Write(const std::string&, std::string_view) override { return Once(); }
  Status List(const std::string&, const std::function<void(const ObjectInfo&)>&) override {
    return Once();
  }
  Status Delete(const std::string&) override { return Once(); }
  Status Stat(const std::string&, ObjectInfo*) override { return Once(); }
  std::string Describe() const override { return "throttled"; }
};

TEST_CASE("http: Retry-After of a 429 is honoured by the retry wrapper", "[rclone][http]") {
  std::vector<std::chrono::microseconds> waits;
  RetryOptions retry = FastRetries();
  retry.max_attempts = 3;
  retry.max_delay = std::chrono::seconds(10);
  retry.sleep = [&](std::chrono::microseconds d) { waits.push_back(d); };
  ThrottledRemote throttled;
  RetryRemote rr(&throttled, retry);
  std::string out;
  Status s = rr.Read("x", 0, 1, &out);
  INFO(s.ToString());
  CHECK(s.IsTransient());
  CHECK(s.message().find("429") != std::string::npos);
  CHECK(s.message().find("retry after 1 s") != std::string::npos);
  REQUIRE(waits.size() == 2);
  for (auto w : waits) CHECK(w >= std::chrono::seconds(1));
  // Without a hint the fast backoff applies.
  CHECK(FastRetries().max_delay < std::chrono::seconds(1));
}

TEST_CASE("http: Retry-After, Content-Range and status mapping", "[http]") {
  using std::chrono::seconds;
  CHECK(ParseRetryAfter("7") == seconds(7));
  CHECK(ParseRetryAfter(" 120 ") == seconds(120));
  CHECK(ParseRetryAfter("") == seconds(0));
  CHECK(ParseRetryAfter("soon") == seconds(0));
  CHECK(ParseRetryAfter("99999999999") == std::chrono::minutes(5));
  CHECK(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == seconds(0));  // in the past
  uint64_t a, b, t;
  REQUIRE(ParseContentRange("bytes 10-19/100", &a, &b, &t));
  CHECK((a == 10 && b == 19 && t == 100));
  REQUIRE(ParseContentRange("bytes 0-0/*", &a, &b, &t));
  CHECK(t == UINT64_MAX);
  CHECK_FALSE(ParseContentRange("items 1-2/3", &a, &b, &t));

  HttpResponse r;
  r.status = 507;
  CHECK(StatusForHttp(r, "write x", "WebDAV server h").code() == Code::kNoSpace);
  r.status = 401;
  Status s = StatusForHttp(r, "write x", "WebDAV server h");
  CHECK(s.code() == Code::kPermission);
  CHECK(s.message().find("check the user name and password for WebDAV server h") !=
        std::string::npos);
  r.status = 403;
  CHECK(StatusForHttp(r, "write x", "h").code() == Code::kPermission);
  r.status = 503;
  CHECK(StatusForHttp(r, "write x", "h").IsTransient());
  r.status = 404;
  CHECK(StatusForHttp(r, "read x", "h").IsNotFound());
  r.status = 400;
  CHECK(StatusForHttp(r, "read x", "h").code() == Code::kIOError);
  r.body = "<error>Quota exceeded</error>";
  CHECK(StatusForHttp(r, "write x", "h").code() == Code::kNoSpace);
  CHECK(UrlEncode("[onedrive:/k b]") == "%5Bonedrive%3A%2Fk%20b%5D");
  CHECK(UrlEncode("packs/ab/x", true) == "packs/ab/x");
  CHECK(UrlDecode("%5Bx%3A%2F%5D%2") == "[x:/]%2");
}

}  // namespace
}  // namespace kloset
