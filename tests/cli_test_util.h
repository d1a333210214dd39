// Helpers for the command-line tests: a temp store with the environment the
// CLI runs with (fast KDF, private cache, a passphrase), and a runner for the
// cases RunKlosetfs cannot do (no controlling terminal, a pseudo-terminal,
// no DAC override).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_util.h"

extern char** environ;

namespace kloset::testing {

constexpr const char* kPass = "correct horse battery staple";

// Inherited KLOSETFS_* (and XDG_CACHE_HOME) variables would change what the CLI does; children
// get exactly the ones a test passes.
inline void ClearKlosetEnv() {
  std::vector<std::string> names;
  for (char** e = environ; *e; e++) {
    std::string s = *e;
    if (s.rfind("KLOSETFS_", 0) == 0) names.push_back(s.substr(0, s.find('=')));
  }
  names.push_back("XDG_CACHE_HOME");  // each test store gets its own cache
  for (const auto& n : names) unsetenv(n.c_str());
}

inline bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

struct CliStore {
  TempDir dir;
  std::string store = dir / "store";
  std::vector<std::string> env;

  CliStore() {
    ClearKlosetEnv();
    env = {std::string("KLOSETFS_PASSWORD=") + kPass, "KLOSETFS_TEST_FAST_KDF=1",
           "XDG_CACHE_HOME=" + dir / "cache"};
  }

  RunResult Run(const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env = {}) const {
    // Later entries do not override earlier ones for getenv, so extra_env
    // goes first.
    std::vector<std::string> e = extra_env;
    e.insert(e.end(), env.begin(), env.end());
    return RunKlosetfs(args, e);
  }

  // Runs and requires exit code `rc`, printing stderr when it differs.
  RunResult Expect(int rc, const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env = {}) const {
    RunResult r = Run(args, extra_env);
    INFO("klosetfs " << (args.empty() ? "" : args[0]) << " stderr: " << r.err);
    REQUIRE(r.exit_code == rc);
    return r;
  }

  void Init(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"init", store};
    args.insert(args.end(), extra.begin(), extra.end());
    Expect(0, args);
  }

  // Backs up `paths` and returns the new snapshot's JSON (backup --json).
  nlohmann::json Backup(const std::vector<std::string>& paths,
                        const std::vector<std::string>& extra = {}, int rc = 0) const {
    std::vector<std::string> args = {"backup", store};
    args.insert(args.end(), paths.begin(), paths.end());
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--json");
    RunResult r = Expect(rc, args);
    return nlohmann::json::parse(r.out);
  }
};

struct IsolatedOptions {
  bool drop_dac = false;  // drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (root can't read 0000)
  int send_signal = 0;    // sent `signal_after_ms` after the start
  int signal_after_ms = 0;
};

// RunIsolated's exit_code for a death by signal S is kKilledBy + S, so it
// cannot be mistaken for an exit code such as 130.
constexpr int kKilledBy = 256;

// argv (the klosetfs binary + args) and envp for execve, built before fork
// so the child makes no allocation.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& args, const std::vector<std::string>& env)
      : argv_s_{KLOSETFS_BINARY}, env_s_(env) {
    argv_s_.insert(argv_s_.end(), args.begin(), args.end());
    for (auto& a : argv_s_) argv_.push_back(a.data());
    argv_.push_back(nullptr);
    for (auto& e : env_s_) envp_.push_back(e.data());
    envp_.push_back(nullptr);
  }
  char** argv() { return argv_.data(); }
  char** envp() { return envp_.data(); }

 private:
  std::vector<std::string> argv_s_, env_s_;
  std::vector<char*> argv_, envp_;
};

// Runs klosetfs in a new session (so it has no controlling terminal) with
// exactly `env` as its environment and stdin from /dev/null. Returns
// exit code 126 if the capabilities could not be dropped.
inline RunResult RunIsolated(const std::vector<std::string>& args,
                             const std::vector<std::string>& env, IsolatedOptions opts = {}) {
  TempDir tmp;
  std::string out_path = tmp / "out", err_path = tmp / "err";
  ExecArgs exec(args, env);
  char** argv = exec.argv();
  char** envp = exec.envp();
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE((in >= 0 && out >= 0 && err >= 0));
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls from here on
    setsid();
    if (opts.drop_dac && geteuid() == 0 &&
        (prctl(PR_CAPBSET_DROP, 1 /*CAP_DAC_OVERRIDE*/, 0, 0, 0) != 0 ||
         prctl(PR_CAPBSET_DROP, 2 /*CAP_DAC_READ_SEARCH*/, 0, 0, 0) != 0)) {
      _exit(126);
    }
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  close(in);
  close(out);
  close(err);
  if (opts.send_signal != 0) {
    usleep(static_cast<useconds_t>(opts.signal_after_ms) * 1000);
    kill(pid, opts.send_signal);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : kKilledBy + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

struct PtyResult {
  int exit_code = -1;
  std::string tty;  // everything written to the terminal (prompts, progress, stderr)
  std::string out;  // stdout, which goes to a file
};

// Runs klosetfs in a new session whose controlling terminal (stdin and
// stderr) is a fresh pseudo-terminal, 120 columns wide. Each time a prompt
// ("Enter ...") appears, the next of `answers` is typed, followed by Enter.
inline PtyResult RunPty(const std::vector<std::string>& args, const std::vector<std::string>& env,
                        const std::vector<std::string>& answers = {}) {
  TempDir tmp;
  std::string out_path = tmp / "out";
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(master >= 0);
  REQUIRE(grantpt(master) == 0);
  REQUIRE(unlockpt(master) == 0);
  std::string slave = ptsname(master);
  ExecArgs exec(args, env);
  char** argv = exec.argv();
  char** envp = exec.envp();
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(out >= 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setsid();
    int s = open(slave.c_str(), O_RDWR);  // becomes the controlling terminal
    if (s < 0) _exit(125);
    struct winsize ws {};
    ws.ws_col = 120;
    ws.ws_row = 40;
    ioctl(s, TIOCSWINSZ, &ws);
    dup2(s, 0);
    dup2(s, 2);
    dup2(out, 1);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  close(out);
  PtyResult r;
  size_t sent = 0;
  for (;;) {
    char buf[4096];
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child has closed the terminal
    r.tty.append(buf, static_cast<size_t>(n));
    size_t prompts = 0;
    for (size_t pos = 0; (pos = r.tty.find("Enter ", pos)) != std::string::npos; pos++) prompts++;
    for (; sent < prompts && sent < answers.size(); sent++) {
      std::string line = answers[sent] + "\n";
      REQUIRE(write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    }
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  return r;
}

}  // namespace kloset::testing
