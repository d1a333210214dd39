// Command-line tests about the store itself: damage (check, restore, cat),
// format versions, key slots, unreadable source files and interruption.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/cli_test_util.h"

using namespace kloset::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Object names ("packs/ab/ab12...") under `dir` of the store.
std::set<std::string> Objects(const std::string& store, const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(store + "/" + dir)) {
    if (e.is_regular_file()) names.insert(fs::relative(e.path(), store).string());
  }
  return names;
}

std::string Largest(const std::string& store, const std::set<std::string>& names) {
  std::string best;
  uintmax_t best_size = 0;
  for (const auto& n : names) {
    uintmax_t size = fs::file_size(store + "/" + n);
    if (size > best_size) best = n, best_size = size;
  }
  return best;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
}

// A store with one snapshot of `src` holding a.txt and sub/b.bin.
struct SmallStore : CliStore {
  std::string src = dir / "src";
  json snap;
  SmallStore() {
    Init();
    REQUIRE(mkdir(src.c_str(), 0755) == 0);
    REQUIRE(mkdir((src + "/sub").c_str(), 0755) == 0);
    WriteFile(src + "/a.txt", "alpha");
    WriteFile(src + "/sub/b.bin", RandomData(200000, 3));
    snap = Backup({src});
  }
};

}  // namespace

TEST_CASE("cli: a flipped byte in a pack: check names it, restore saves the rest") {
  CliStore s;
  s.Init({"--pack-size", "4KiB", "--chunk-avg", "4KiB"});
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  WriteFile(src + "/good.txt", "good content");
  s.Backup({src});
  std::set<std::string> before = Objects(s.store, "packs");
  std::string bad = RandomData(64 << 10, 11);
  WriteFile(src + "/bad.bin", bad);
  json snap = s.Backup({src});
  std::set<std::string> added;
  for (const auto& n : Objects(s.store, "packs")) {
    if (!before.count(n)) added.insert(n);
  }
  // The biggest new pack holds bad.bin's data (good.txt is deduplicated,
  // tree pages are small and packed apart).
  std::string pack = Largest(s.store, added);
  REQUIRE(!pack.empty());
  FlipByte(s.store + "/" + pack, fs::file_size(s.store + "/" + pack) / 2);

  RunResult c = s.Expect(4, {"check", s.store, "--read-data"});
  CHECK(Has(c.out, pack));
  std::string affected = snap["short_id"].get<std::string>() + ":" + src + "/bad.bin";
  CHECK(Has(c.out, affected));
  CHECK_FALSE(Has(c.out, "good.txt"));
  CHECK(Has(c.err, "klosetfs: check found"));

  json cj = json::parse(s.Expect(4, {"check", s.store, "--read-data", "--json"}).out);
  CHECK(cj["ok"] == false);
  bool named = false;
  for (const json& p : cj["problems"]) {
    if (p["object"] == pack) {
      for (const json& a : p["affected"]) named = named || a == affected;
    }
  }
  CHECK(named);

  RunResult r = s.Expect(4, {"restore", s.store, "latest:" + src, s.dir / "out"});
  CHECK(ReadFile(s.dir / "out/good.txt") == "good content");
  CHECK_FALSE(fs::exists(s.dir / "out/bad.bin"));  // never a file with wrong bytes
  CHECK(Has(r.err, "could not restore " + s.dir / "out/bad.bin"));
  json rj = json::parse(
      s.Expect(4, {"restore", s.store, "latest:" + src, s.dir / "out2", "--json"}).out);
  REQUIRE(rj["failed"].size() == 1);
  CHECK(rj["failed"][0]["path"] == s.dir / "out2/bad.bin");
  CHECK(rj["damage"] == true);

  s.Expect(4, {"cat", s.store, "latest:" + src + "/bad.bin"});
  CHECK(s.Expect(0, {"cat", s.store, "latest:" + src + "/good.txt"}).out == "good content");
}

TEST_CASE("cli: check reports a truncated index") {
  SmallStore s;
  std::string index = *Objects(s.store, "index").begin();
  fs::resize_file(s.store + "/" + index, fs::file_size(s.store + "/" + index) / 2);
  RunResult r = s.Run({"check", s.store, "--no-cache"});
  CHECK(r.exit_code == 4);
  CHECK(Has(r.out + r.err, index));
}

TEST_CASE("cli: check names a missing pack and what it held") {
  SmallStore s;
  s.Expect(0, {"check", s.store});
  std::string pack = Largest(s.store, Objects(s.store, "packs"));
  fs::remove(s.store + "/" + pack);
  RunResult r = s.Expect(4, {"check", s.store});
  CHECK(Has(r.out, pack));
  CHECK(Has(r.out, "missing"));
  CHECK(Has(r.out, s.src + "/sub/b.bin"));
}

TEST_CASE("cli: a newer store version exits 7 naming both versions") {
  SmallStore s;
  {
    std::fstream f(s.store + "/config", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put('\x02');  // the u32 format version at offset 8 becomes 2
  }
  RunResult r = s.Expect(7, {"snapshots", s.store});
  CHECK(Has(r.err, "version 2"));
  CHECK(Has(r.err, "version 1"));
  CHECK(r.err.rfind("klosetfs: ", 0) == 0);
  // Refused before any passphrase is asked for.
  RunResult iso = RunIsolated({"ls", s.store, "latest"}, {"PATH=/usr/bin:/bin"});
  CHECK(iso.exit_code == 7);
}

TEST_CASE("cli: key add, list and remove") {
  SmallStore s;
  std::string newpw = s.dir / "newpw";
  WriteFile(newpw, "second passphrase\n");
  CHECK(Has(s.Expect(0, {"key", "add", s.store, "--new-password-file", newpw, "--label", "lap"})
                .out,
            "added key"));
  const std::vector<std::string> second = {"KLOSETFS_PASSWORD=second passphrase"};
  json keys = json::parse(s.Expect(0, {"key", "list", s.store, "--json"}).out);
  REQUIRE(keys.size() == 2);
  std::string old_id, new_id;
  for (const json& k : keys) (k["current"] == true ? old_id : new_id) = k["id"];
  REQUIRE(!old_id.empty());
  REQUIRE(!new_id.empty());
  CHECK(Has(s.Expect(0, {"key", "list", s.store}).out, "lap"));

  s.Expect(0, {"snapshots", s.store}, second);
  keys = json::parse(s.Expect(0, {"key", "list", s.store, "--json"}, second).out);
  for (const json& k : keys) CHECK(k["current"] == (k["id"] == new_id));

  s.Expect(2, {"key", "remove", s.store, new_id.substr(0, 10)}, second);  // the slot in use
  s.Expect(0, {"key", "remove", s.store, old_id.substr(0, 10)}, second);
  s.Expect(3, {"snapshots", s.store});
  CHECK(json::parse(s.Expect(0, {"key", "list", s.store, "--json"}, second).out).size() == 1);
  s.Expect(0, {"key", "add", s.store}, {"KLOSETFS_PASSWORD=second passphrase",
                                        "KLOSETFS_NEW_PASSWORD=third passphrase"});
  s.Expect(0, {"ls", s.store, "latest"}, {"KLOSETFS_PASSWORD=third passphrase"});

  // No new passphrase and no terminal: a clear error.
  std::vector<std::string> env = s.env;
  env[0] = "KLOSETFS_PASSWORD=second passphrase";
  RunResult r = RunIsolated({"key", "add", s.store}, env);
  CHECK(r.exit_code == 2);
  CHECK(Has(r.err, "no new passphrase"));
}

TEST_CASE("cli: an unreadable file is skipped, recorded, and exits 5") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  WriteFile(src + "/ok.txt", "fine");
  WriteFile(src + "/secret.txt", "hidden");
  REQUIRE(chmod((src + "/secret.txt").c_str(), 0) == 0);
  std::vector<std::string> env = s.env;
  env.push_back("PATH=/usr/bin:/bin");
  IsolatedOptions no_dac;
  no_dac.drop_dac = true;  // as root, only this makes mode 0000 unreadable
  RunResult r = RunIsolated({"backup", s.store, src, "--json"}, env, no_dac);
  // A test that cannot run its real part fails rather than skipping.
  if (r.exit_code == 126) FAIL("cannot drop CAP_DAC_OVERRIDE here, so no file is unreadable");
  INFO(r.err);
  REQUIRE(r.exit_code == 5);
  CHECK(Has(r.err, "skipped " + src + "/secret.txt"));
  json b = json::parse(r.out);
  REQUIRE(b["skipped"].size() == 1);
  CHECK(b["skipped"][0]["path"] == src + "/secret.txt");

  json arr = json::parse(s.Expect(0, {"snapshots", s.store, "--json"}).out);
  REQUIRE(arr.size() == 1);
  CHECK(arr[0]["summary"]["skipped"] == 1);
  RunResult ls = s.Expect(0, {"ls", s.store, "latest:" + src + "/secret.txt", "--json"});
  CHECK(json::parse(ls.out).contains("error"));

  RunResult rr = s.Expect(5, {"restore", s.store, "latest:" + src, s.dir / "out"});
  CHECK(ReadFile(s.dir / "out/ok.txt") == "fine");
  CHECK(Has(rr.err, "secret.txt"));
}

TEST_CASE("cli: SIGINT during backup writes no snapshot and exits 130") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  for (int i = 0; i < 8; i++) WriteFile(src + "/f" + std::to_string(i), RandomData(8 << 20, i));
  std::vector<std::string> env = s.env;
  env.push_back("PATH=/usr/bin:/bin");
  IsolatedOptions opts;
  opts.send_signal = SIGINT;
  RunResult r;
  // A signal that lands before klosetfs has set up its handler kills it the
  // default way; then try again a little later.
  for (int delay_ms : {150, 400, 1000, 2000}) {
    opts.signal_after_ms = delay_ms;
    r = RunIsolated({"backup", s.store, src}, env, opts);
    if (r.exit_code != kKilledBy + SIGINT) break;
  }
  json arr = json::parse(s.Expect(0, {"snapshots", s.store, "--json"}).out);
  if (r.exit_code == 0) {
    WARN("the backup finished before the signal arrived");
    CHECK(arr.size() == 1);
    return;
  }
  INFO(r.err);
  CHECK(r.exit_code == 130);
  CHECK(Has(r.err, "interrupted; no snapshot was written"));
  CHECK(arr.empty());
  s.Expect(0, {"check", s.store});  // what was written before the stop is sound
}
