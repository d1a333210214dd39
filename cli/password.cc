#include "cli/password.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/crypto.h"

namespace kloset::cli {

Secret& Secret::operator=(Secret&& o) noexcept {
  if (this != &o) {
    Clear();
    s_ = std::move(o.s_);
  }
  return *this;
}

void Secret::Append(const char* p, size_t n) {
  if (s_.size() + n > s_.capacity()) {
    std::string bigger;
    bigger.reserve(2 * (s_.size() + n));
    bigger.assign(s_);
    Clear();
    s_.swap(bigger);  // `bigger` now holds the old, wiped buffer
  }
  s_.append(p, n);
}

void Secret::Clear() {
  // Wipe the whole capacity: a shrinking edit may have left bytes past size().
  if (s_.capacity() > 0) Wipe(s_.data(), s_.capacity());
  s_.clear();
}

namespace {

// Reads all of `fd` into *out, wiping the bounce buffer.
bool ReadAllFd(int fd, Secret* out) {
  char buf[4096];
  bool ok = true;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    out->Append(buf, static_cast<size_t>(n));
  }
  Wipe(buf, sizeof buf);
  return ok;
}

// Keeps only the first line (without "\n" or "\r\n"), wiping the rest.
void KeepFirstLine(Secret* s) {
  std::string* str = s->mutable_string();
  size_t eol = str->find('\n');
  if (eol == std::string::npos) eol = str->size();
  if (eol > 0 && (*str)[eol - 1] == '\r') eol--;
  Wipe(str->data() + eol, str->size() - eol);
  str->resize(eol);
}

// Set once by RequirePrivatePasswordFiles().
bool g_private_files = false;

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Refuses (exit 2) a passphrase file that is not a regular file, is owned by someone other than
// us or root, or (with `check_mode`) grants group or others any access. Checked on the open
// descriptor, so the file judged is the file read.
void CheckPrivate(int fd, const std::string& path, const std::string& what, bool check_mode) {
  struct stat st;
  std::string problem;
  if (fstat(fd, &st) != 0) {
    problem = std::string("cannot stat it: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "it is not a regular file";
  } else if (st.st_uid != geteuid() && st.st_uid != 0) {
    problem = "it is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
              std::to_string(geteuid()) + " (who reads it) or root; chown it";
  } else if (check_mode && (st.st_mode & 077) != 0) {
    problem = "its mode " + Octal(st.st_mode) + " gives group or others access; run 'chmod 600 " +
              path + "'";
  }
  if (problem.empty()) return;
  close(fd);
  Die(kExitUsage, "refusing " + what + " " + path + ": " + problem);
}

enum class FileCheck { kNone, kPrivate, kCredential };
FileCheck FilesCheck() { return g_private_files ? FileCheck::kPrivate : FileCheck::kNone; }

Secret FromFile(const std::string& path, const std::string& what, FileCheck check) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(kExitError, "cannot read " + what + " " + path + ": " + std::strerror(errno));
  if (check != FileCheck::kNone) CheckPrivate(fd, path, what, check == FileCheck::kPrivate);
  Secret s;
  bool ok = ReadAllFd(fd, &s);
  int err = errno;
  close(fd);
  if (!ok) Die(kExitError, "cannot read " + what + " " + path + ": " + std::strerror(err));
  KeepFirstLine(&s);
  return s;
}

// Runs `command` via /bin/sh -c with stdout on a pipe; stdin and stderr are
// inherited so the command may prompt (e.g. a password manager).
Secret FromCommand(const std::string& command) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) Die(kExitError, std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) Die(kExitError, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  Secret s;
  ReadAllFd(fds[0], &s);
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status));
    Die(kExitError, "password command failed (" + how + "): " + command);
  }
  KeepFirstLine(&s);
  return s;
}

volatile sig_atomic_t g_prompt_signal = 0;
void OnPromptSignal(int sig) { g_prompt_signal = sig; }

// Prompts on /dev/tty with echo off. Returns false when there is no
// terminal. Restores the terminal even when interrupted (then exits 130).
bool Prompt(const std::string& prompt, Secret* out) {
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  termios saved{};
  bool have_termios = tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // the Enter key still moves to the next line
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  // No SA_RESTART: Ctrl-C makes read() fail with EINTR so echo is restored.
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = OnPromptSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  g_prompt_signal = 0;

  if (write(fd, prompt.data(), prompt.size()) < 0) {
    // Nothing useful to do: the read below fails the same way.
  }
  out->Clear();
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR && !g_prompt_signal) continue;
    if (n <= 0 || c == '\n') break;
    out->Append(&c, 1);
  }
  c = 0;
  if (have_termios) tcsetattr(fd, TCSAFLUSH, &saved);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  close(fd);
  if (g_prompt_signal) {
    out->Clear();
    Die(kExitInterrupted, "interrupted");
  }
  KeepFirstLine(out);
  return true;
}

[[noreturn]] void NoSource(const std::string& store) {
  Die(kExitUsage, "no passphrase for store " + store +
                      ": set KLOSETFS_PASSWORD or KLOSETFS_PASSWORD_FILE, pass "
                      "--password-file or --password-command (-o password_file=PATH when "
                      "mounting with mount(8)), or load the systemd credential " +
                      kCredentialName + " (no terminal to prompt on)");
}

// Asks twice on the terminal; false when there is no terminal.
bool PromptTwice(const std::string& what, Secret* out) {
  if (!Prompt("Enter " + what + ": ", out)) return false;
  Secret again;
  Prompt("Enter " + what + " again: ", &again);
  if (out->view() != again.view()) Die(kExitUsage, "the passphrases do not match");
  return true;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Takes a passphrase out of the environment: the value is copied, wiped in
// place and unset, so neither a long-lived mount daemon's /proc/PID/environ
// nor any child process (fusermount3, --password-command) still holds it.
bool TakeEnvSecret(const char* name, Secret* out) {
  char* p = std::getenv(name);
  if (!p || !*p) return false;
  *out = Secret(std::string(p));
  Wipe(p, std::strlen(p));
  unsetenv(name);
  return true;
}

}  // namespace

void RequirePrivatePasswordFiles() { g_private_files = true; }

Secret ReadPassphrase(const GlobalOptions& g, const std::string& store, bool confirm) {
  if (!g.password_command.empty()) return FromCommand(g.password_command);
  if (!g.password_file.empty()) return FromFile(g.password_file, "password file", FilesCheck());
  if (!Env("KLOSETFS_PASSWORD_COMMAND").empty()) {
    return FromCommand(Env("KLOSETFS_PASSWORD_COMMAND"));
  }
  if (!Env("KLOSETFS_PASSWORD_FILE").empty()) {
    return FromFile(Env("KLOSETFS_PASSWORD_FILE"), "password file", FilesCheck());
  }
  // Empty variables count as unset (an empty passphrase is never valid).
  Secret s;
  if (TakeEnvSecret("KLOSETFS_PASSWORD", &s)) return s;
  // systemd's LoadCredential= / LoadCredentialEncrypted= (a unit without one has no file here).
  if (std::string dir = Env("CREDENTIALS_DIRECTORY"); !dir.empty()) {
    std::string path = dir + "/" + kCredentialName;
    // systemd lets only the unit's user read it, by owner or by ACL (which shows as group bits).
    if (access(path.c_str(), F_OK) == 0) {
      return FromFile(path, "systemd credential", FileCheck::kCredential);
    }
  }
  if (confirm) {
    if (!PromptTwice("the passphrase for the new store " + store, &s)) NoSource(store);
  } else if (!Prompt("Enter the passphrase for store " + store + ": ", &s)) {
    NoSource(store);
  }
  return s;
}

Secret ReadNewPassphrase(const std::string& new_password_file, const std::string& store) {
  if (!new_password_file.empty()) {
    return FromFile(new_password_file, "new password file", FilesCheck());
  }
  Secret s;
  if (TakeEnvSecret("KLOSETFS_NEW_PASSWORD", &s)) return s;
  if (!PromptTwice("the new passphrase for store " + store, &s)) {
    Die(kExitUsage, "no new passphrase for store " + store +
                        ": pass --new-password-file or set KLOSETFS_NEW_PASSWORD "
                        "(no terminal to prompt on)");
  }
  return s;
}

}  // namespace kloset::cli
