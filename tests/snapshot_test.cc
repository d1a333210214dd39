// Snapshots: the JSON codec (byte-exact round trips of non-UTF-8 strings,
// strict parsing), time formatting, and save/load/list/resolve on a store.
#include "core/snapshot.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "tests/repo_test_util.h"

namespace kloset {
namespace {

Hash H(uint8_t b) {
  Hash h;
  h.fill(b);
  return h;
}

Snapshot Sample() {
  Snapshot s;
  s.time_ns = 1795000000123456789;
  s.host = "host-1";
  s.username = "r\xc3\xa9mi";  // valid UTF-8 stays a string
  s.tags = {"daily", std::string("t\xff", 2)};
  s.paths = {"/home/a", std::string("/srv/\xff\xfe\0x", 9), "/with\nnewline"};
  s.has_parent = true;
  s.parent = H(0xab);
  s.tree = H(0x12);
  s.message = "hello \"world\"";
  s.summary = {10, 2, 3, 12345, 999, 1111, 1, 1.25};
  s.skipped = {{std::string("/bad\x80name"), "open: Permission denied"}};
  s.program_version = "0.1.0";
  s.origin = "ingest";
  return s;
}

void ExpectEqual(const Snapshot& a, const Snapshot& b) {
  CHECK(a.format == b.format);
  CHECK(a.time_ns == b.time_ns);
  CHECK(a.host == b.host);
  CHECK(a.username == b.username);
  CHECK(a.tags == b.tags);
  CHECK(a.paths == b.paths);
  CHECK(a.has_parent == b.has_parent);
  CHECK(a.parent == b.parent);
  CHECK(a.tree == b.tree);
  CHECK(a.message == b.message);
  CHECK(a.summary.files == b.summary.files);
  CHECK(a.summary.dirs == b.summary.dirs);
  CHECK(a.summary.others == b.summary.others);
  CHECK(a.summary.bytes == b.summary.bytes);
  CHECK(a.summary.bytes_added == b.summary.bytes_added);
  CHECK(a.summary.stored_added == b.summary.stored_added);
  CHECK(a.summary.skipped == b.summary.skipped);
  CHECK(a.summary.duration_s == b.summary.duration_s);
  REQUIRE(a.skipped.size() == b.skipped.size());
  for (size_t i = 0; i < a.skipped.size(); i++) {
    CHECK(a.skipped[i].path == b.skipped[i].path);
    CHECK(a.skipped[i].error == b.skipped[i].error);
  }
  CHECK(a.program_version == b.program_version);
  CHECK(a.origin == b.origin);
}

TEST_CASE("snapshot JSON round-trips every field, non-UTF-8 bytes exactly") {
  Snapshot s = Sample();
  std::string json = SnapshotToJson(s);
  Snapshot back;
  REQUIRE(SnapshotFromJson(json, &back).ok());
  ExpectEqual(s, back);
  CHECK(SnapshotToJson(back) == json);

  auto j = nlohmann::json::parse(json);
  CHECK(j["paths"][0] == "/home/a");
  CHECK(j["paths"][1]["hex"] == "2f7372762ffffe0078");
  CHECK(j["username"] == "r\xc3\xa9mi");
  CHECK(j["time"] == "2026-11-18T11:06:40.123456789Z");
  CHECK(j["time_ns"] == 1795000000123456789);
  CHECK(j["parent"] == ToHex(H(0xab)));
  CHECK(!j.contains("id"));
}

TEST_CASE("snapshot JSON: no parent is null, optional fields may be absent") {
  Snapshot s;
  s.host = "h";
  s.paths = {"/"};
  std::string json = SnapshotToJson(s);
  CHECK(nlohmann::json::parse(json)["parent"].is_null());
  Snapshot back;
  REQUIRE(SnapshotFromJson(json, &back).ok());
  CHECK(!back.has_parent);

  std::string minimal = R"({"format":1,"time_ns":-5,"host":"h","paths":[],"tree":")" +
                        ToHex(H(1)) + R"(","future_field":[1,2]})";
  REQUIRE(SnapshotFromJson(minimal, &back).ok());
  CHECK(back.time_ns == -5);
  CHECK(back.tree == H(1));
  CHECK(back.tags.empty());
  CHECK(back.skipped.empty());
}

TEST_CASE("snapshot JSON: malformed input is kCorrupt, newer format kVersion") {
  Snapshot s = Sample();
  auto good = nlohmann::json::parse(SnapshotToJson(s));
  auto with = [&](const char* key, nlohmann::json v) {
    auto j = good;
    if (v.is_discarded()) {
      j.erase(key);
    } else {
      j[key] = v;
    }
    return j.dump();
  };
  const nlohmann::json gone(nlohmann::json::value_t::discarded);
  Snapshot out;
  out.host = "untouched";
  for (const std::string& bad : {
           std::string(""), std::string("[]"), std::string("{"), std::string("null"),
           with("tree", gone), with("tree", "abc"), with("tree", 5), with("paths", gone),
           with("paths", "/x"), with("paths", {1}), with("host", gone), with("time_ns", gone),
           with("time_ns", "1"), with("time_ns", 1.5), with("time_ns", 18446744073709551615ull),
           with("format", gone), with("format", 0), with("summary", 3),
           with("summary", {{"files", -1}}), with("summary", {{"duration_s", "x"}}),
           with("skipped", {{{"error", "no path"}}}), with("skipped", {1}),
           with("tags", {{{"hex", "zz"}}}), with("tags", {{{"hex", "abc"}}}),
           with("tags", {{{"hex", "AB"}}}), with("tags", {{{"hex", "ab"}, {"x", 1}}}),
           with("parent", "nothex"), with("message", 7)}) {
    INFO(bad);
    Status st = SnapshotFromJson(bad, &out);
    CHECK(st.code() == Code::kCorrupt);
    CHECK(out.host == "untouched");
  }
  CHECK(SnapshotFromJson(with("format", 2), &out).code() == Code::kVersion);
}

TEST_CASE("snapshot JSON: a NaN duration still serializes to loadable JSON") {
  Snapshot s = Sample();
  s.summary.duration_s = std::nan("");
  Snapshot back;
  REQUIRE(SnapshotFromJson(SnapshotToJson(s), &back).ok());
  CHECK(back.summary.duration_s == 0);
}

TEST_CASE("RFC 3339 formatting") {
  CHECK(FormatTimeRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatTimeRfc3339Nano(0) == "1970-01-01T00:00:00.000000000Z");
  CHECK(FormatTimeRfc3339(1795000000999999999) == "2026-11-18T11:06:40Z");
  CHECK(FormatTimeRfc3339Nano(-1) == "1969-12-31T23:59:59.999999999Z");
  CHECK(FormatTimeRfc3339(-1) == "1969-12-31T23:59:59Z");
}

class StoreFixture {
 public:
  StoreFixture() : name_(testing::UniqueStore()) {
    REQUIRE(Repository::Init(testing::Mem(name_), "pw", testing::FastInit(), &repo_).ok());
  }
  ~StoreFixture() { MemoryRemote::DropNamed(name_); }
  Repository* repo() { return repo_.get(); }

  Snapshot Save(int64_t time_ns, const std::string& host = "h") {
    Snapshot s;
    s.time_ns = time_ns;
    s.host = host;
    s.paths = {"/p"};
    s.tree = H(static_cast<uint8_t>(time_ns));
    REQUIRE(SaveSnapshot(repo(), &s).ok());
    return s;
  }

 private:
  std::string name_;
  std::unique_ptr<Repository> repo_;
};

TEST_CASE("snapshots save, load and list sorted by time") {
  StoreFixture f;
  Snapshot b = f.Save(200), a = f.Save(100), c = f.Save(300);
  CHECK(a.id != b.id);
  Snapshot loaded;
  REQUIRE(LoadSnapshot(f.repo(), b.id, &loaded).ok());
  CHECK(loaded.id == b.id);
  CHECK(loaded.time_ns == 200);

  std::vector<Snapshot> all;
  REQUIRE(ListSnapshots(f.repo(), &all).ok());
  REQUIRE(all.size() == 3);
  CHECK(all[0].id == a.id);
  CHECK(all[1].id == b.id);
  CHECK(all[2].id == c.id);

  CHECK(LoadSnapshot(f.repo(), H(7), &loaded).IsNotFound());
}

TEST_CASE("ListSnapshots loads many in parallel and reports damaged ones") {
  StoreFixture f;
  for (int i = 0; i < 12; i++) f.Save(1000 - i);
  // A well-named object whose bytes do not authenticate.
  std::string junk = "not a sealed snapshot";
  REQUIRE(f.repo()->remote()->Write(SnapshotName(PlainHash(junk)), junk).ok());
  std::vector<Snapshot> all;
  std::vector<std::string> damaged;
  REQUIRE(ListSnapshots(f.repo(), &all, &damaged).ok());
  CHECK(all.size() == 12);
  for (size_t i = 1; i < all.size(); i++) CHECK(all[i - 1].time_ns < all[i].time_ns);
  REQUIRE(damaged.size() == 1);
  CHECK(damaged[0] == SnapshotName(PlainHash(junk)));
  CHECK(ListSnapshots(f.repo(), &all).code() == Code::kCorrupt);
}

TEST_CASE("ResolveSnapshot: latest, full id, prefixes") {
  StoreFixture f;
  Snapshot out;
  CHECK(ResolveSnapshot(f.repo(), "latest", &out).IsNotFound());

  // 17 snapshots: two must share a first hex digit (pigeonhole).
  std::vector<Snapshot> saved;
  for (int i = 0; i < 17; i++) saved.push_back(f.Save(i + 1));
  REQUIRE(ResolveSnapshot(f.repo(), "latest", &out).ok());
  CHECK(out.time_ns == 17);

  const std::string full = ToHex(saved[3].id);
  REQUIRE(ResolveSnapshot(f.repo(), full, &out).ok());
  CHECK(out.id == saved[3].id);

  std::map<char, int> first;
  std::set<std::string> prefixes;
  for (const Snapshot& s : saved) {
    first[ToHex(s.id)[0]]++;
    prefixes.insert(ToHex(s.id).substr(0, 3));
  }
  for (const auto& [digit, n] : first) {
    Status st = ResolveSnapshot(f.repo(), std::string(1, digit), &out);
    if (n > 1) {
      CHECK(st.code() == Code::kInvalidArgument);
      CHECK(st.message().find("ambiguous") != std::string::npos);
    } else {
      CHECK(st.ok());
    }
  }
  // A unique 12-digit prefix, in upper case.
  std::string pre = full.substr(0, 12);
  for (char& c : pre) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  REQUIRE(ResolveSnapshot(f.repo(), pre, &out).ok());
  CHECK(out.id == saved[3].id);

  std::string missing;
  for (int i = 0; i < 4096 && missing.empty(); i++) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03x", i);
    if (!prefixes.count(buf)) missing = buf;
  }
  CHECK(ResolveSnapshot(f.repo(), missing, &out).IsNotFound());
  CHECK(ResolveSnapshot(f.repo(), "xyz", &out).code() == Code::kInvalidArgument);
  CHECK(ResolveSnapshot(f.repo(), "", &out).code() == Code::kInvalidArgument);
  CHECK(ResolveSnapshot(f.repo(), ToHex(H(9)), &out).IsNotFound());
}

}  // namespace
}  // namespace kloset
