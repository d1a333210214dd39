// Helpers shared by tests: temporary folders that clean up after themselves,
// file helpers, and running the klosetfs binary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kloset::testing {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, std::string_view data);
std::string ReadFile(const std::string& path);
// Deterministic pseudo-random bytes (xorshift) for test data.
std::string RandomData(size_t len, uint64_t seed);

// Sets an environment variable for the life of the object, then puts back
// what was there before (or unsets it). Not thread-safe (setenv is not).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs the built klosetfs binary with `args` (shell-quoted by the caller is
// NOT needed: each arg is passed as-is) and environment additions in `env`
// ("NAME=value" entries), with stdin from /dev/null.
RunResult RunKlosetfs(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {});

}  // namespace kloset::testing
