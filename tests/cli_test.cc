// End-to-end tests of the klosetfs command line, run as a user would: the
// built binary, arguments, environment, exit codes and output. Damage,
// versions and keys are in cli_store_test.cc.
#include <sodium.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <regex>

#include "core/version.h"
#include "tests/cli_test_util.h"
#include "tests/fs_tree_util.h"

using namespace kloset::testing;
using nlohmann::json;

namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One line, starting "klosetfs: ".
void CheckOneLineError(const RunResult& r) {
  INFO("stderr: " << r.err);
  CHECK(r.err.rfind("klosetfs: ", 0) == 0);
  CHECK(r.err.find('\n') == r.err.size() - 1);
}

void CheckNoProgressBar(const RunResult& r) {
  for (const std::string* s : {&r.out, &r.err}) {
    CHECK(s->find('\r') == std::string::npos);
    CHECK(s->find('\x1b') == std::string::npos);
  }
}

std::string Base64(const std::string& s) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);
  return out;
}

}  // namespace

TEST_CASE("cli: --version and help") {
  CliStore s;
  CHECK(s.Expect(0, {"--version"}).out == "klosetfs " KLOSETFS_VERSION " (store format 1)\n");
  RunResult h1 = s.Expect(0, {"help", "backup"});
  CHECK(h1.out == s.Expect(0, {"backup", "--help"}).out);
  CHECK(Has(h1.out, "--exclude"));
  CHECK(Has(s.Expect(0, {"help", "key", "add"}).out, "--new-password-file"));
  RunResult top = s.Expect(0, {"help"});
  CHECK(Has(top.out, "Exit codes"));
  CHECK(Has(top.out, "130"));
  CHECK(top.out == s.Expect(0, {"--help"}).out);
}

TEST_CASE("cli: usage errors exit 2 with one clear line") {
  CliStore s;
  s.Init();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"help", "nope"},
           {"ls"},
           {"backup", s.store},
           {"snapshots", s.store, "--bogus"},
           {"snapshots", s.store, "extra"},
           {"init", s.dir / "other", "--chunk-avg", "3000"},
           {"init", s.dir / "other", "--pack-size", "lots"},
           {"ls", s.store, "not-an-id!"},
           {"cat", s.store, "latest"},
           {"key", s.store},
       }) {
    INFO("args: " << (args.empty() ? "(none)" : args[0]) << " " << args.size());
    RunResult r = s.Expect(2, args);
    CheckOneLineError(r);
  }
  CHECK(Has(s.Run({"frobnicate"}).err, "unknown command 'frobnicate'"));
  CHECK(Has(s.Run({"ls", s.store, "not-an-id!"}).err, "invalid snapshot 'not-an-id!'"));
}

TEST_CASE("cli: init creates a store, a second init fails") {
  CliStore s;
  RunResult r = s.Expect(0, {"init", s.store});
  CHECK(Has(r.out, s.store));
  struct stat st;
  CHECK(stat((s.store + "/config").c_str(), &st) == 0);
  r = s.Expect(1, {"init", s.store});
  CHECK(r.err == "klosetfs: a store already exists at " + s.store + "\n");
  s.Expect(0, {"snapshots", s.store});
}

TEST_CASE("cli: backup and restore round-trip every kind of entry") {
  CliStore s;
  s.Init({"--chunk-avg", "64KiB"});
  std::string src = s.dir / "src";
  MakeFullTree(src);
  RunResult b = s.Expect(0, {"backup", s.store, src});
  CheckNoProgressBar(b);
  CHECK(Has(b.out, "snapshot "));

  RunResult r = s.Expect(0, {"restore", s.store, "latest:" + src, s.dir / "out"});
  CheckNoProgressBar(r);
  CompareTrees(src, s.dir / "out");

  // A subfolder restores its contents into the target; a file restores by name.
  s.Expect(0, {"restore", s.store, "latest:" + src + "/nested", s.dir / "nested"});
  CompareTrees(src + "/nested", s.dir / "nested", /*check_nlink=*/false);
  s.Expect(0, {"restore", s.store, "latest:" + src + "/random5m", s.dir / "one"});
  CHECK(ReadFile(s.dir / "one/random5m") == ReadFile(src + "/random5m"));

  RunResult j =
      s.Expect(0, {"restore", s.store, "latest:" + src + "/nested", s.dir / "j", "--json"});
  json rj = json::parse(j.out);
  CHECK(rj["failed"].empty());
  CHECK(rj["files"].get<uint64_t>() >= 1);
  CHECK(rj["dirs"].get<uint64_t>() >= 2);

  RunResult c = s.Expect(0, {"check", s.store, "--read-data"});
  CheckNoProgressBar(c);
  CHECK(Has(c.out, "no problems found"));
}

TEST_CASE("cli: snapshots --json has the documented fields and types") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  WriteFile(src + "/a.txt", "alpha");
  json first = s.Backup({src}, {"--tag", "daily", "--tag", "x", "--host", "hostA"});
  WriteFile(src + "/b.txt", RandomData(100000, 7));
  json second = s.Backup({src}, {"--host", "hostA"});
  CHECK(first["skipped"].empty());

  json arr = json::parse(s.Expect(0, {"snapshots", s.store, "--json"}).out);
  REQUIRE(arr.is_array());
  REQUIRE(arr.size() == 2);
  std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  for (const json& e : arr) {
    REQUIRE(e["id"].is_string());
    std::string id = e["id"];
    CHECK(std::regex_match(id, std::regex("[0-9a-f]{64}")));
    CHECK(e["short_id"] == id.substr(0, 8));
    CHECK(std::regex_match(e["time"].get<std::string>(), rfc3339));
    CHECK(e["host"] == "hostA");
    CHECK(e["tags"].is_array());
    CHECK(e["paths"] == json::array({src}));
    for (const char* k : {"files", "dirs", "bytes", "bytes_added", "stored_added"}) {
      INFO(k);
      CHECK(e["summary"][k].is_number_unsigned());
    }
  }
  CHECK(arr[0]["id"] == first["id"]);
  CHECK(arr[1]["id"] == second["id"]);
  CHECK(arr[0]["parent"].is_null());
  CHECK(arr[1]["parent"] == arr[0]["id"]);
  CHECK(arr[0]["tags"].size() == 2);
  CHECK(arr[0]["summary"]["files"] == 1);
  CHECK(arr[1]["summary"]["files"] == 2);
  CHECK(arr[1]["summary"]["bytes"] == 100005);
  CHECK(arr[1]["summary"]["bytes_added"].get<uint64_t>() >= 100000);

  RunResult plain = s.Expect(0, {"snapshots", s.store});
  CHECK(Has(plain.out, first["short_id"].get<std::string>()));
  CHECK(Has(plain.out, "hostA"));
  CHECK(Has(plain.out, "2 snapshots"));
  CHECK(plain.out.rfind("ID ", 0) == 0);
}

TEST_CASE("cli: ls and cat") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  REQUIRE(mkdir((src + "/sub").c_str(), 0755) == 0);
  WriteFile(src + "/a.txt", "alpha");
  REQUIRE(chmod((src + "/a.txt").c_str(), 0644) == 0);
  std::string big = RandomData(3 << 20, 9);
  WriteFile(src + "/sub/b.bin", big);
  WriteFile(src + "/new\nline", "x");
  const std::string odd("bad\xff.txt");
  WriteFile(src + "/" + odd, "y");
  REQUIRE(symlink("a.txt", (src + "/ln").c_str()) == 0);
  s.Backup({src});

  RunResult ls = s.Expect(0, {"ls", s.store, "latest"});
  for (const std::string& p : {src, src + "/a.txt", src + "/sub", src + "/sub/b.bin",
                               src + "/new\\x0aline", src + "/bad\\xff.txt", src + "/ln"}) {
    INFO(p);
    CHECK(HasLine(ls.out, p));
  }
  RunResult flat = s.Expect(0, {"ls", s.store, "latest:" + src, "--no-recursive"});
  CHECK(HasLine(flat.out, src + "/sub"));
  CHECK_FALSE(Has(flat.out, "b.bin"));

  RunResult lsl = s.Expect(0, {"ls", "-l", s.store, "latest:" + src});
  CHECK(std::regex_search(lsl.out, std::regex("-rw-r--r-- +root +root +5 .*/a\\.txt\n")));
  CHECK(Has(lsl.out, src + "/ln -> a.txt"));

  RunResult js = s.Expect(0, {"ls", s.store, "latest:" + src, "--json"});
  int seen = 0;
  for (size_t pos = 0, end; (end = js.out.find('\n', pos)) != std::string::npos; pos = end + 1) {
    json e = json::parse(js.out.substr(pos, end - pos));
    REQUIRE(e["path"].is_string());
    if (e["name"] == "a.txt") {
      CHECK(e["type"] == "file");
      CHECK(e["size"] == 5);
      CHECK(e["mode"] == 0644);
      CHECK(e["path"] == src + "/a.txt");
      seen++;
    }
    if (e.contains("name_base64")) {
      CHECK(e["name_base64"] == Base64(odd));
      CHECK(e["path_base64"] == Base64(src + "/" + odd));
      seen++;
    }
    if (e["name"] == "ln") {
      CHECK(e["type"] == "symlink");
      CHECK(e["symlink_target"] == "a.txt");
      seen++;
    }
  }
  CHECK(seen == 3);

  CHECK(s.Expect(0, {"cat", s.store, "latest:" + src + "/sub/b.bin"}).out == big);
  CHECK(s.Expect(0, {"cat", s.store, "latest:" + src + "/" + odd}).out == "y");
  RunResult dir = s.Expect(2, {"cat", s.store, "latest:" + src + "/sub"});
  CHECK(Has(dir.err, "is a directory"));
  RunResult missing = s.Expect(1, {"cat", s.store, "latest:" + src + "/nope"});
  CHECK(Has(missing.err, "/nope"));
  CheckOneLineError(missing);
}

TEST_CASE("cli: SNAPSHOT as full id, prefix or latest") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  WriteFile(src + "/a.txt", "version one");
  json first = s.Backup({src});
  WriteFile(src + "/a.txt", "version two, longer");
  json second = s.Backup({src});
  std::string id = first["id"], path = ":" + src + "/a.txt";
  CHECK(s.Expect(0, {"cat", s.store, "latest" + path}).out == "version two, longer");
  CHECK(s.Expect(0, {"cat", s.store, id + path}).out == "version one");
  CHECK(s.Expect(0, {"cat", s.store, id.substr(0, 8) + path}).out == "version one");
  std::string upper = id.substr(0, 10);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(s.Expect(0, {"cat", s.store, upper + path}).out == "version one");
  CHECK(s.Expect(0, {"cat", s.store, second["short_id"].get<std::string>() + path}).out ==
        "version two, longer");
  RunResult none = s.Expect(1, {"cat", s.store, std::string(64, '0') + path});
  CHECK(Has(none.err, "no snapshot matches"));
  s.Expect(2, {"cat", s.store, "zz" + path});
  s.Expect(2, {"ls", s.store, std::string(65, 'a')});
}

TEST_CASE("cli: wrong passphrase exits 3 and says so") {
  CliStore s;
  s.Init();
  RunResult r = s.Expect(3, {"snapshots", s.store}, {"KLOSETFS_PASSWORD=not it"});
  CHECK(r.err == "klosetfs: wrong passphrase for store " + s.store + "\n");
  CHECK_FALSE(Has(r.err + r.out, "not it"));
}

TEST_CASE("cli: without a passphrase source or terminal, a clear error") {
  CliStore s;
  s.Init();
  std::vector<std::string> env = {"KLOSETFS_TEST_FAST_KDF=1", "XDG_CACHE_HOME=" + s.dir / "cache",
                                  "PATH=/usr/bin:/bin"};
  RunResult r = RunIsolated({"snapshots", s.store}, env);
  CHECK(r.exit_code == 2);
  CheckOneLineError(r);
  CHECK(Has(r.err, "no passphrase for store " + s.store));
  CHECK(Has(r.err, "KLOSETFS_PASSWORD"));
  r = RunIsolated({"init", s.dir / "fresh"}, env);
  CHECK(r.exit_code == 2);
  CHECK(Has(r.err, "no passphrase"));
}

TEST_CASE("cli: --password-file, --password-command and their variables") {
  CliStore s;
  s.Init();
  std::string good = s.dir / "pw", bad = s.dir / "badpw";
  WriteFile(good, std::string(kPass) + "\nsecond line is ignored\n");
  WriteFile(bad, "nope\n");
  const std::vector<std::string> no_pw = {"KLOSETFS_PASSWORD="};  // empty counts as unset
  s.Expect(0, {"--password-file", good, "snapshots", s.store}, no_pw);
  s.Expect(0, {"snapshots", s.store, "--password-file", good}, no_pw);  // after the command too
  s.Expect(0, {"snapshots", s.store, "--password-command", std::string("echo '") + kPass + "'"},
           no_pw);
  s.Expect(0, {"snapshots", s.store}, {"KLOSETFS_PASSWORD=", "KLOSETFS_PASSWORD_FILE=" + good});
  s.Expect(0, {"snapshots", s.store},
           {"KLOSETFS_PASSWORD=", "KLOSETFS_PASSWORD_COMMAND=cat '" + good + "'"});
  // Options beat the environment.
  s.Expect(3, {"snapshots", s.store, "--password-file", bad});
  RunResult r = s.Expect(1, {"snapshots", s.store, "--password-command", "exit 7"}, no_pw);
  CHECK(Has(r.err, "password command failed (exit status 7)"));
  r = s.Expect(1, {"snapshots", s.store, "--password-file", s.dir / "missing"}, no_pw);
  CHECK(Has(r.err, s.dir / "missing"));
  CheckOneLineError(r);
}

TEST_CASE("cli: a missing store exits 6") {
  CliStore s;
  RunResult r = s.Expect(6, {"snapshots", s.dir / "nothing-here"});
  CHECK(Has(r.err, s.dir / "nothing-here"));
  CheckOneLineError(r);
  std::string empty = s.dir / "empty";
  REQUIRE(mkdir(empty.c_str(), 0755) == 0);
  r = s.Expect(6, {"ls", empty, "latest"});
  CHECK(Has(r.err, "klosetfs init"));
}

TEST_CASE("cli: KLOSETFS_STORE stands in for STORE") {
  CliStore s;
  s.Init();
  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  WriteFile(src + "/a.txt", "alpha");
  const std::vector<std::string> env = {"KLOSETFS_STORE=" + s.store};
  s.Expect(0, {"backup", src}, env);
  s.Expect(0, {"backup", s.store, src}, env);  // typing the store anyway does not back it up
  json arr = json::parse(s.Expect(0, {"snapshots", "--json"}, env).out);
  REQUIRE(arr.size() == 2);
  CHECK(arr[1]["paths"] == json::array({src}));
  CHECK(s.Expect(0, {"cat", "latest:" + src + "/a.txt"}, env).out == "alpha");
  CHECK(s.Expect(0, {"cat", s.store, "latest:" + src + "/a.txt"}, env).out == "alpha");
}

TEST_CASE("cli: on a terminal: prompts without echo, progress bar drawn and cleared") {
  CliStore s;
  const std::vector<std::string> env = {"KLOSETFS_TEST_FAST_KDF=1",
                                        "XDG_CACHE_HOME=" + s.dir / "cache", "PATH=/usr/bin:/bin",
                                        "TERM=xterm"};
  PtyResult bad = RunPty({"init", s.store}, env, {"first try", "second try"});
  CHECK(bad.exit_code == 2);
  CHECK(Has(bad.tty, "klosetfs: the passphrases do not match"));

  PtyResult init = RunPty({"init", s.store}, env, {"typed secret", "typed secret"});
  INFO(init.tty);
  REQUIRE(init.exit_code == 0);
  CHECK(Has(init.tty, "Enter the passphrase for the new store " + s.store));
  CHECK(Has(init.tty, "again"));
  CHECK_FALSE(Has(init.tty, "typed secret"));  // never echoed

  CHECK(RunPty({"snapshots", s.store}, env, {"typed secret"}).exit_code == 0);
  CHECK(RunPty({"snapshots", s.store}, env, {"wrong"}).exit_code == 3);

  std::string src = s.dir / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  for (int i = 0; i < 4; i++) WriteFile(src + "/f" + std::to_string(i), RandomData(8 << 20, i));
  std::vector<std::string> with_pw = env;
  with_pw.push_back("KLOSETFS_PASSWORD=typed secret");
  PtyResult b = RunPty({"backup", s.store, src}, with_pw);
  INFO(b.tty);
  REQUIRE(b.exit_code == 0);
  CHECK(Has(b.tty, "\r\x1b[K"));  // the bar's line is erased at the end
  CHECK(Has(b.out, "snapshot "));
  CHECK(b.out.find('\x1b') == std::string::npos);  // stdout is a file: no bar there
  PtyResult q = RunPty({"restore", s.store, "latest", s.dir / "out", "--quiet"}, with_pw);
  CHECK(q.exit_code == 0);
  CHECK(q.tty.empty());
}
