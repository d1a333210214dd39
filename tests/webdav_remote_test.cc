// Native WebDAV against a real server on loopback: `rclone serve webdav`
// (these tests fail, never skip, when rclone is missing). The Remote contract,
// also under injected faults; PROPFIND parsing; credentials from the
// environment and netrc, never in messages; bad input.
#include "remotes/webdav_remote.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "remotes/fault_remote.h"
#include "remotes/remote.h"
#include "remotes/retry_remote.h"
#include "remotes/webdav_xml.h"
#include "tests/test_util.h"

extern char** environ;

namespace kloset {
namespace {

using testing::TempDir;

constexpr const char* kUser = "kloset-user";
constexpr const char* kPassword = "s3cret-Pa55word";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One `rclone serve webdav` for the whole test binary, serving a temp folder.
struct WebdavServer {
  TempDir dir;
  pid_t pid = 0;
  std::string url;  // webdav+http://127.0.0.1:PORT

  WebdavServer() {
    const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
    std::vector<std::string> args = {"rclone", "serve", "webdav",   dir / "root",
                                     "--addr", addr,    "--config", "/dev/null"};
    std::filesystem::create_directories(dir / "root");
    std::vector<std::string> env;
    for (char** e = environ; *e; e++) env.emplace_back(*e);
    env.push_back(std::string("RCLONE_USER=") + kUser);
    env.push_back(std::string("RCLONE_PASS=") + kPassword);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, (dir / "server.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawnp(&pid, "rclone", &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    INFO("rclone must be installed: apt install rclone");
    REQUIRE(rc == 0);
    url = "webdav+http://" + addr;
    // Ready once it answers (401 without credentials is an answer).
    HttpClient probe;
    for (int i = 0; i < 300; i++) {
      HttpRequest req;
      req.method = "PROPFIND";
      req.url = "http://" + addr + "/";
      HttpResponse resp;
      if (probe.Perform(req, &resp, "probe").ok()) {
        // Our server, not another one that had the port first.
        int status;
        REQUIRE(waitpid(pid, &status, WNOHANG) == 0);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("rclone serve webdav did not start: " << testing::ReadFile(dir / "server.log"));
  }
  ~WebdavServer() {
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }
  static WebdavServer& Get() {
    static WebdavServer server;
    return server;
  }
};

std::string UniquePath(const char* stem) {
  static std::atomic<int> counter{0};
  return std::string("/") + stem + "-" + std::to_string(counter++) + "/store";
}

WebdavOptions Credentials() {
  WebdavOptions o;
  o.user = kUser;
  o.password = kPassword;
  return o;
}

struct WebdavBackend {
  std::unique_ptr<Remote> remote;
  WebdavBackend() {
    std::unique_ptr<WebdavRemote> r;
    Status s = WebdavRemote::Open(WebdavServer::Get().url + UniquePath("conformance"), true,
                                  Credentials(), &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    remote = std::move(r);
  }
};

// Listing by a walk with depth 1, as on servers that refuse depth infinity.
struct WebdavWalkBackend {
  std::unique_ptr<Remote> remote;
  WebdavWalkBackend() {
    WebdavOptions o = Credentials();
    o.depth_infinity = false;
    std::unique_ptr<WebdavRemote> r;
    Status s = WebdavRemote::Open(WebdavServer::Get().url + UniquePath("walk"), true, o, &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    remote = std::move(r);
  }
};

// 10% failed requests, and 429s with Retry-After, timeouts and truncated
// bodies on the wire; the retry wrapper hides it all.
struct WebdavFaultyBackend {
  std::unique_ptr<Remote> remote;
  WebdavFaultyBackend() {
    static std::atomic<uint64_t> seed{100};
    WebdavOptions o = Credentials();
    std::unique_ptr<WebdavRemote> r;
    const std::string store = WebdavServer::Get().url + UniquePath("faulty");
    REQUIRE(WebdavRemote::Open(store, true, o, &r).ok());
    o.http.faults.seed = seed++;
    o.http.faults.throttle_rate = 0.04;
    o.http.faults.timeout_rate = 0.03;
    o.http.faults.truncate_rate = 0.05;
    REQUIRE(WebdavRemote::Open(store, false, o, &r).ok());
    FaultOptions faults;
    faults.seed = seed++;
    faults.transient_rate = 0.1;
    RetryOptions retry;
    retry.max_attempts = 40;
    retry.initial_delay = std::chrono::microseconds(100);
    retry.max_delay = std::chrono::milliseconds(5);
    remote =
        std::make_unique<RetryRemote>(std::make_unique<FaultRemote>(std::move(r), faults), retry);
  }
};

}  // namespace
}  // namespace kloset

#define KLOSET_CONFORMANCE_BACKENDS WebdavBackend, WebdavWalkBackend, WebdavFaultyBackend
#include "tests/remote_conformance.h"

namespace kloset {
namespace {

using namespace conformance;

TEST_CASE("webdav: objects land under the store folder, no temporary files", "[webdav]") {
  WebdavServer& server = WebdavServer::Get();
  const std::string path = UniquePath("layout");
  std::unique_ptr<WebdavRemote> r;
  REQUIRE(WebdavRemote::Open(server.url + path, true, Credentials(), &r).ok());
  Put(*r, "packs/ab/ab12", "pack");
  Put(*r, "packs/ab/ab12", "pack");
  Put(*r, "config", "c");
  std::vector<std::string> files;
  const std::string root = server.dir / "root" + path;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files.push_back(std::filesystem::relative(e.path(), root).string());
  }
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"config", "packs/ab/ab12"});
  CHECK(r->Describe() ==
        "WebDAV server http://127.0.0.1:" + server.url.substr(server.url.rfind(':') + 1) + path);
}

TEST_CASE("webdav: a ranged read fetches that range only", "[webdav]") {
  std::unique_ptr<WebdavRemote> r;
  REQUIRE(WebdavRemote::Open(WebdavServer::Get().url + UniquePath("range"), true, Credentials(), &r)
              .ok());
  const std::string data = testing::RandomData(4 << 20, 5);
  Put(*r, "packs/aa/aa00", data);
  auto before = r->http_counters();
  std::string out;
  REQUIRE(r->Read("packs/aa/aa00", 3 << 20, 777, &out).ok());
  CHECK(out == data.substr(3 << 20, 777));
  auto after = r->http_counters();
  CHECK(after.requests == before.requests + 1);
  CHECK(after.bytes_received - before.bytes_received == 777);
}

TEST_CASE("webdav: credentials from the environment and netrc, never in messages", "[webdav]") {
  WebdavServer& server = WebdavServer::Get();
  const std::string store = server.url + UniquePath("creds");
  std::unique_ptr<WebdavRemote> r;
  REQUIRE(WebdavRemote::Open(store, true, Credentials(), &r).ok());

  SECTION("a wrong password") {
    WebdavOptions bad = Credentials();
    bad.password = "wrong-password-123";
    Status s = WebdavRemote::Open(store, false, bad, &r);
    INFO(s.ToString());
    CHECK(s.code() == Code::kPermission);
    CHECK(s.message().find("WebDAV server 127.0.0.1") != std::string::npos);
    CHECK(s.message().find("check the user name and password") != std::string::npos);
    CHECK(s.message().find("the user is 'kloset-user'") != std::string::npos);
    CHECK(s.message().find("wrong-password-123") == std::string::npos);
  }
  SECTION("no credentials at all") {
    TempDir home;
    std::string old_home = std::getenv("HOME");
    setenv("HOME", home.path().c_str(), 1);
    Status s = WebdavRemote::Open(store, false, WebdavOptions(), &r);
    setenv("HOME", old_home.c_str(), 1);
    CHECK(s.code() == Code::kPermission);
    CHECK(s.message().find("KLOSETFS_WEBDAV_USER") != std::string::npos);
  }
  SECTION("from KLOSETFS_WEBDAV_USER / KLOSETFS_WEBDAV_PASSWORD, through OpenRemote") {
    setenv("KLOSETFS_WEBDAV_USER", kUser, 1);
    setenv("KLOSETFS_WEBDAV_PASSWORD", kPassword, 1);
    std::unique_ptr<Remote> any;
    Status s = OpenRemote(store, false, &any);
    unsetenv("KLOSETFS_WEBDAV_USER");
    unsetenv("KLOSETFS_WEBDAV_PASSWORD");
    INFO(s.ToString());
    REQUIRE(s.ok());
    Put(*any, "config", "via env");
    CHECK(ReadAll(*any, "config") == "via env");
  }
  SECTION("from ~/.netrc, the user in the STORE") {
    TempDir home;
    testing::WriteFile(home / ".netrc", std::string("machine 127.0.0.1 login ") + kUser +
                                            " password " + kPassword + "\n");
    std::string old_home = std::getenv("HOME");
    setenv("HOME", home.path().c_str(), 1);
    std::string with_user = "webdav+http://" + std::string(kUser) + "@" +
                            store.substr(std::string("webdav+http://").size());
    Status s1 = WebdavRemote::Open(with_user, false, WebdavOptions(), &r);
    Status s2 = WebdavRemote::Open(store, false, WebdavOptions(), &r);  // login from netrc too
    setenv("HOME", old_home.c_str(), 1);
    INFO(s1.ToString() << " / " << s2.ToString());
    CHECK(s1.ok());
    CHECK(s2.ok());
  }
}

TEST_CASE("webdav: bad STORE strings", "[webdav]") {
  std::unique_ptr<WebdavRemote> r;
  Status s = WebdavRemote::Open("webdav+http://example.com/kloset", false, Credentials(), &r);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("use webdav+https://example.com/kloset") != std::string::npos);
  s = WebdavRemote::Open("webdav+https://u:pw@example.com/k", false, Credentials(), &r);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("KLOSETFS_WEBDAV_PASSWORD") != std::string::npos);
  CHECK(s.message().find("pw") == std::string::npos);
  CHECK(WebdavRemote::Open("webdav+ftp://x/k", false, Credentials(), &r).code() ==
        Code::kInvalidArgument);
  CHECK(WebdavRemote::Open("webdav+https:///k", false, Credentials(), &r).code() ==
        Code::kInvalidArgument);
  // A folder that does not exist is "no store", as for a local folder.
  s = WebdavRemote::Open(WebdavServer::Get().url + "/missing/store", false, Credentials(), &r);
  CHECK(s.IsNotFound());
  CHECK(s.message().find("no store at") != std::string::npos);
}

TEST_CASE("webdav: PROPFIND answers of other servers", "[webdav]") {
  // Nextcloud-style: lowercase prefix, absolute hrefs, a 404 propstat.
  const std::string xml =
      "<?xml version=\"1.0\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:oc=\"x\">"
      "<d:response><d:href>https://h.example/remote.php/dav/files/u/k/</d:href>"
      "<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>"
      "<d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
      "<d:propstat><d:prop><d:getcontentlength/></d:prop>"
      "<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>"
      "<d:response><d:href>/remote.php/dav/files/u/k/packs/a%62/x&amp;y</d:href>"
      "<d:propstat><d:prop><d:resourcetype/><d:getcontentlength>42</d:getcontentlength>"
      "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
      "</d:multistatus>";
  std::vector<DavEntry> e;
  REQUIRE(ParseMultistatus(xml, &e));
  REQUIRE(e.size() == 2);
  CHECK(e[0].collection);
  CHECK(e[0].size == -1);
  CHECK(HrefPath(e[0].href) == "/remote.php/dav/files/u/k/");
  CHECK_FALSE(e[1].collection);
  CHECK(e[1].size == 42);
  CHECK(HrefPath(e[1].href) == "/remote.php/dav/files/u/k/packs/ab/x&y");
  CHECK_FALSE(ParseMultistatus("<html>nope</html>", &e));
}

}  // namespace
}  // namespace kloset
