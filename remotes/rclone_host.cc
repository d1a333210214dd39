#include "remotes/rclone_host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "remotes/rclone_daemon.h"

namespace kloset {

namespace {

std::string VersionCachePath() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/klosetfs/rclone-version";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/klosetfs/rclone-version";
  return "";
}

// "path\tsize\tmtime" identifies one installed binary.
std::string BinaryKey(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "";
  return path + "\t" + std::to_string(st.st_size) + "\t" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy means no safe credentials; never happens on Linux >= 3.17
    }
    got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : buf) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

// Looks `name` up like execvp would; a name with a '/' is taken as a path.
std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    std::string dir =
        p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

// A port on 127.0.0.1 that is free right now. Another process could take it
// before rclone binds it; StartChild then tries again with a new one.
int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string PrivateDirBase() {
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* v = std::getenv(var);
    if (v && *v && access(v, W_OK | X_OK) == 0) return v;
  }
  return "/tmp";
}

int CachedVersion(const std::string& binary_path) {
  std::string path = VersionCachePath(), key = BinaryKey(binary_path);
  if (path.empty() || key.empty()) return 0;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == '\t') {
      return std::atoi(line.c_str() + key.size() + 1);
    }
  }
  return 0;
}

// Best effort: a cache that cannot be written only costs a loopback start.
void StoreVersion(const std::string& binary_path, int version) {
  std::string path = VersionCachePath(), key = BinaryKey(binary_path);
  if (path.empty() || key.empty() || version <= 0) return;
  std::vector<std::string> keep;
  {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line) && keep.size() < 7) {
      if (line.compare(0, binary_path.size() + 1, binary_path + "\t") != 0) keep.push_back(line);
    }
  }
  keep.push_back(key + "\t" + std::to_string(version));
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp~" + RandomHex(4);
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& l : keep) out << l << "\n";
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

// Removes the private folders of klosetfs processes that were killed before
// they could (their rclone died with them). Only our own folders, and only
// those whose owner process is gone.
void SweepStaleDirs(const std::string& base) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("klosetfs-rclone-")) continue;
    struct stat st;
    if (lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
      continue;
    }
    std::ifstream f(e.path() / "owner");
    pid_t owner = 0;
    if (!(f >> owner) || owner <= 0) continue;
    if (kill(owner, 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      std::filesystem::remove_all(e.path(), ignored);
    }
  }
}

int ParseRcloneVersion(const std::string& s) {
  size_t i = s.find_first_of("0123456789");
  if (i == std::string::npos) return 0;
  int major = 0, minor = 0, patch = 0;
  if (std::sscanf(s.c_str() + i, "%d.%d.%d", &major, &minor, &patch) < 2) return 0;
  if (major > 99 || minor > 99) return 0;
  return major * 10000 + minor * 100 + std::clamp(patch, 0, 99);
}

}  // namespace kloset
