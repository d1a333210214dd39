#include "remotes/rclone_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kloset {

namespace {

struct Section {
  std::string name;
  std::vector<std::string> lines;  // "key = value" lines, as given
};

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

bool ValidName(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Sections of an INI text; lines before the first section (comments, rclone's
// "; empty config") are dropped.
std::vector<Section> ParseSections(const std::string& text) {
  std::vector<Section> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
      out.push_back(Section{t.substr(1, t.size() - 2), {}});
    } else if (!out.empty() && !t.empty() && t[0] != ';' && t[0] != '#') {
      out.back().lines.push_back(t);
    }
  }
  return out;
}

std::string TypeOf(const Section& s) {
  for (const std::string& l : s.lines) {
    size_t eq = l.find('=');
    if (eq != std::string::npos && Trim(l.substr(0, eq)) == "type") return Trim(l.substr(eq + 1));
  }
  return "";
}

}  // namespace

std::string OwnRcloneConfigPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/klosetfs/rclone.conf";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "") + "/.config/klosetfs/rclone.conf";
}

bool RcloneConfigHasRemote(const std::string& path, const std::string& name) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  for (const Section& s : ParseSections(ss.str())) {
    if (s.name == name) return true;
  }
  return false;
}

std::string ChooseRcloneConfig(const std::string& explicit_config, const std::string& name,
                               std::string* source) {
  if (!explicit_config.empty()) {
    *source = explicit_config + " (--rclone-config)";
    return explicit_config;
  }
  if (const char* env = std::getenv("RCLONE_CONFIG"); env && *env) {
    *source = std::string(env) + " (RCLONE_CONFIG)";
    return "";
  }
  std::string own = OwnRcloneConfigPath();
  if (!name.empty() && RcloneConfigHasRemote(own, name)) {
    *source = own + " (klosetfs's own, see 'klosetfs remote import')";
    return own;
  }
  *source = "rclone's default config";
  return "";
}

Status ImportRcloneRemotes(const std::string& text, const std::string& alias,
                           const std::string& target, std::vector<ImportedRemote>* imported) {
  std::vector<Section> incoming = ParseSections(text);
  if (incoming.empty()) {
    return Status::InvalidArgument(
        "no rclone remote in the input: pipe in the output of 'rclone config show NAME'");
  }
  if (!alias.empty()) {
    if (incoming.size() != 1) {
      return Status::InvalidArgument("--as renames one remote, but the input has " +
                                     std::to_string(incoming.size()) +
                                     ": use 'rclone config show NAME' for just one");
    }
    incoming[0].name = alias;
  }
  for (const Section& s : incoming) {
    if (!ValidName(s.name)) {
      return Status::InvalidArgument("remote name '" + s.name +
                                     "' cannot be used in NAME:PATH (letters, digits, _ and - "
                                     "only): import it with --as NEWNAME");
    }
    if (TypeOf(s).empty()) {
      return Status::InvalidArgument("remote '" + s.name + "' has no 'type = ...' line");
    }
  }

  std::vector<Section> existing;
  {
    std::ifstream f(target);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      existing = ParseSections(ss.str());
    }
  }
  imported->clear();
  for (const Section& s : incoming) {
    ImportedRemote r{s.name, TypeOf(s), false};
    for (Section& e : existing) {
      if (e.name == s.name) {
        e = s;
        r.replaced = true;
      }
    }
    if (!r.replaced) existing.push_back(s);
    imported->push_back(r);
  }

  std::string out;
  for (const Section& s : existing) {
    out += "[" + s.name + "]\n";
    for (const std::string& l : s.lines) out += l + "\n";
    out += "\n";
  }
  std::filesystem::path dir = std::filesystem::path(target).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::FromErrno(ec.value(), "create " + dir.string());
    chmod(dir.c_str(), 0700);
  }
  // Tokens inside: written 0600 from the start, then renamed into place.
  std::string tmp = target + ".tmp~" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = write(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::FromErrno(errno, "write " + tmp);
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  int err = fsync(fd) != 0 ? errno : 0;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    unlink(tmp.c_str());
    return Status::FromErrno(err, "write " + tmp);
  }
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    Status s = Status::FromErrno(errno, "rename to " + target);
    unlink(tmp.c_str());
    return s;
  }
  return Status::OK();
}

}  // namespace kloset
