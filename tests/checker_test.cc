// Tests for core/checker.h on real stores (local folder or memory:), built
// with DirectoryWriter/FileWriter and SaveSnapshot, then damaged on purpose.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/checker.h"
#include "core/file_io.h"
#include "core/snapshot.h"
#include "core/tree.h"
#include "remotes/fault_remote.h"
#include "remotes/local_remote.h"
#include "remotes/memory_remote.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::TempDir;
namespace fs = std::filesystem;

constexpr char kPass[] = "correct horse";

InitOptions SmallStore(uint32_t pack_size = 64 << 10) {
  InitOptions o;
  o.kdf.opslimit = 1;
  o.kdf.memlimit = 8 << 20;
  o.chunker.min_size = 4096;
  o.chunker.avg_size = 16384;
  o.chunker.max_size = 65536;
  o.pack_size = pack_size;
  o.open.no_cache = true;
  return o;
}

// A store in a local folder, and helpers to back up a set of files into it.
struct Store {
  TempDir tmp;
  std::string root = tmp / "store";
  std::unique_ptr<Repository> repo;

  // Takes over an open repository (e.g. on a memory: store).
  explicit Store(std::unique_ptr<Repository> r) : repo(std::move(r)) {}
  explicit Store(InitOptions opts = SmallStore()) {
    std::unique_ptr<Remote> remote;
    REQUIRE(LocalRemote::Open(root, true, &remote).ok());
    Status s = Repository::Init(std::move(remote), kPass, opts, &repo);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  // Drops the session and opens the store afresh, by default without a local
  // cache, as `klosetfs check` should.
  void Reopen(const std::string& cache_dir = "") {
    repo.reset();
    std::unique_ptr<Remote> remote;
    REQUIRE(LocalRemote::Open(root, false, &remote).ok());
    OpenOptions o;
    o.no_cache = cache_dir.empty();
    o.cache_dir = cache_dir;
    Status s = Repository::Open(std::move(remote), kPass, o, &repo);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  std::vector<ChunkRef> WriteContent(const std::string& data) {
    FileWriter w(repo.get(), repo->config().chunker, &repo->gear());
    REQUIRE(w.Write(data).ok());
    std::vector<ChunkRef> chunks;
    REQUIRE(w.Finish(&chunks).ok());
    return chunks;
  }

  // Saves a directory tree of files ("dir/name" paths, one level of
  // folders) and a snapshot naming it.
  Snapshot Backup(const std::map<std::string, std::string>& files, int64_t time_ns = 1) {
    std::map<std::string, std::vector<Node>> dirs;  // "" = root
    for (const auto& [path, data] : files) {
      size_t slash = path.rfind('/');
      Node n;
      n.name = slash == std::string::npos ? path : path.substr(slash + 1);
      n.type = NodeType::kFile;
      n.mode = 0644;
      n.size = data.size();
      n.chunks = WriteContent(data);
      dirs[slash == std::string::npos ? "" : path.substr(0, slash)].push_back(std::move(n));
    }
    DirectoryWriter root(repo.get());
    for (auto& [dir, nodes] : dirs) {
      if (dir.empty()) {
        for (Node& n : nodes) REQUIRE(root.Add(std::move(n)).ok());
        continue;
      }
      DirectoryWriter sub(repo.get());
      for (Node& n : nodes) REQUIRE(sub.Add(std::move(n)).ok());
      Node d;
      d.name = dir;
      d.type = NodeType::kDir;
      d.mode = 0755;
      REQUIRE(sub.Finish(&d.subtree, &d.subtree_entries).ok());
      REQUIRE(root.Add(std::move(d)).ok());
    }
    Snapshot snap;
    uint64_t entries = 0;
    REQUIRE(root.Finish(&snap.tree, &entries).ok());
    REQUIRE(repo->Flush().ok());
    snap.time_ns = time_ns;
    snap.host = "test";
    snap.paths = {"/src"};
    Status s = SaveSnapshot(repo.get(), &snap);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return snap;
  }

  CheckReport Check(bool read_data, Progress* progress = nullptr);

  IndexEntry Entry(const Hash& id, BlobType type) {
    IndexEntry e;
    REQUIRE(repo->LookupBlob(id, type, &e).ok());
    return e;
  }
  std::string PackFile(const IndexEntry& e) { return root + "/" + PackName(repo->PackId(e.pack)); }

  // Reads a file of a snapshot back; false if it cannot be read.
  bool ReadBack(const Snapshot& snap, const std::string& path, std::string* out) {
    Node node;
    if (!LookupPath(repo.get(), snap.tree, path, &node).ok()) return false;
    FileReader r(repo.get(), node.chunks);
    return r.ReadAt(0, node.size, out).ok();
  }

  std::vector<std::string> Objects(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(root + "/" + dir))
      if (e.is_regular_file()) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

void FlipByte(const std::string& path, uint64_t offset) {
  chmod(path.c_str(), 0644);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
}

std::string Short(const Snapshot& s) { return ToHex(s.id).substr(0, 8); }

std::string Describe(const CheckReport& r) {
  std::string out;
  for (const auto* list : {&r.problems, &r.notes}) {
    out += list == &r.problems ? "problems:\n" : "notes:\n";
    for (const CheckProblem& p : *list) {
      out += "  " + p.object + ": " + p.what + " [" + std::to_string(p.affected_total) + "]";
      for (const std::string& a : p.affected) out += " " + a;
      out += "\n";
    }
  }
  return out;
}

CheckReport Store::Check(bool read_data, Progress* progress) {
  CheckOptions o;
  o.read_data = read_data;
  CheckReport report;
  Status s = kloset::Check(repo.get(), o, progress, &report);
  INFO(s.ToString());
  REQUIRE(s.ok());
  // CHECKER_TEST_VERBOSE=1 shows every report, to read the messages.
  if (std::getenv("CHECKER_TEST_VERBOSE")) WARN(Describe(report));
  return report;
}

const CheckProblem* FindProblem(const CheckReport& r, const std::string& object) {
  for (const CheckProblem& p : r.problems)
    if (p.object == object) return &p;
  return nullptr;
}

bool Affects(const CheckReport& r, const std::string& ref) {
  for (const CheckProblem& p : r.problems)
    if (std::find(p.affected.begin(), p.affected.end(), ref) != p.affected.end()) return true;
  return false;
}

std::map<std::string, std::string> SampleFiles() {
  return {{"a.bin", RandomData(100 << 10, 1)},
          {"b.bin", RandomData(100 << 10, 2)},
          {"sub/c.bin", RandomData(60 << 10, 3)},
          {"sub/d.txt", std::string(30000, 'x')},
          {"empty", ""}};
}

TEST_CASE("check: a clean store has no problems, with and without read_data") {
  Store st;
  Snapshot s1 = st.Backup(SampleFiles(), 1);
  Snapshot s2 = st.Backup({{"a.bin", RandomData(100 << 10, 1)}, {"new.bin", RandomData(9000, 7)}},
                          2);
  st.Reopen();
  std::map<std::string, std::string> before;
  for (const std::string& f : st.Objects("")) before[f] = testing::ReadFile(f);

  CheckReport r = st.Check(false);
  INFO(Describe(r));
  CHECK(r.ok());
  CHECK(r.notes.empty());
  CHECK(r.snapshots == 2);
  CHECK(r.keys == 1);
  CHECK(r.indexes >= 1);
  CHECK(r.packs >= 3);
  CHECK(r.trees >= 3);  // two roots and sub/
  CHECK(r.blobs > 10);
  CHECK(r.bytes_read == 0);

  Progress progress;
  CheckReport rd = st.Check(true, &progress);
  INFO(Describe(rd));
  CHECK(rd.ok());
  uint64_t pack_bytes = 0;
  for (const std::string& f : st.Objects("packs")) pack_bytes += fs::file_size(f);
  CHECK(rd.bytes_read == pack_bytes);
  CHECK(progress.files_total == rd.packs);
  CHECK(progress.files_done == rd.packs);
  CHECK(progress.bytes_done == progress.bytes_total);

  // The check wrote nothing.
  std::map<std::string, std::string> after;
  for (const std::string& f : st.Objects("")) after[f] = testing::ReadFile(f);
  CHECK(before == after);
}

TEST_CASE("check: a flipped byte in a data pack names the blob, its pack and the file") {
  Store st;
  auto files = SampleFiles();
  Snapshot snap = st.Backup(files);
  Node a;
  REQUIRE(LookupPath(st.repo.get(), snap.tree, "/a.bin", &a).ok());
  IndexEntry e = st.Entry(a.chunks[1].id, BlobType::kData);
  std::string pack = PackName(st.repo->PackId(e.pack));
  FlipByte(st.PackFile(e), e.offset + 30);
  st.Reopen();

  // Without read_data the pack is not read: its size is still right.
  CHECK(st.Check(false).ok());

  CheckReport r = st.Check(true);
  INFO(Describe(r));
  REQUIRE_FALSE(r.ok());
  const CheckProblem* p = nullptr;
  for (const CheckProblem& q : r.problems)
    if (q.object == pack && q.what.find(ToHex(e.id).substr(0, 16)) != std::string::npos) p = &q;
  REQUIRE(p);
  CHECK(std::find(p->affected.begin(), p->affected.end(), Short(snap) + ":/a.bin") !=
        p->affected.end());
  for (const char* other : {"/b.bin", "/sub/c.bin", "/sub/d.txt"})
    CHECK_FALSE(Affects(r, Short(snap) + ":" + other));

  // Undamaged files still read back; the damaged one does not.
  std::string out;
  CHECK(st.ReadBack(snap, "/b.bin", &out));
  CHECK(out == files["b.bin"]);
  CHECK(st.ReadBack(snap, "/sub/c.bin", &out));
  CHECK(out == files["sub/c.bin"]);
  CHECK_FALSE(st.ReadBack(snap, "/a.bin", &out));
}

TEST_CASE("check: a deleted pack is reported without read_data, naming its files") {
  Store st;
  Snapshot snap = st.Backup(SampleFiles());
  Node c;
  REQUIRE(LookupPath(st.repo.get(), snap.tree, "/sub/c.bin", &c).ok());
  IndexEntry e = st.Entry(c.chunks[0].id, BlobType::kData);
  std::string pack = PackName(st.repo->PackId(e.pack));
  REQUIRE(fs::remove(st.PackFile(e)));
  st.Reopen();

  for (bool read_data : {false, true}) {
    CheckReport r = st.Check(read_data);
    INFO(Describe(r));
    const CheckProblem* p = FindProblem(r, pack);
    REQUIRE(p);
    CHECK(p->what.find("missing") != std::string::npos);
    CHECK(std::find(p->affected.begin(), p->affected.end(), Short(snap) + ":/sub/c.bin") !=
          p->affected.end());
    CHECK(p->affected_total == p->affected.size());
  }
}

TEST_CASE("check: a truncated pack is reported without read_data") {
  Store st;
  Snapshot snap = st.Backup(SampleFiles());
  Node b;
  REQUIRE(LookupPath(st.repo.get(), snap.tree, "/b.bin", &b).ok());
  IndexEntry e = st.Entry(b.chunks.back().id, BlobType::kData);
  std::string pack = PackName(st.repo->PackId(e.pack));
  fs::resize_file(st.PackFile(e), e.offset + 10);  // cuts into the blob
  st.Reopen();
  for (bool read_data : {false, true}) {
    CheckReport r = st.Check(read_data);
    INFO(Describe(r));
    const CheckProblem* p = FindProblem(r, pack);
    REQUIRE(p);
    CHECK(p->what.find("truncated") != std::string::npos);
    CHECK(std::find(p->affected.begin(), p->affected.end(), Short(snap) + ":/b.bin") !=
          p->affected.end());
  }
}

TEST_CASE("check: an interrupted check stops with kCancelled") {
  Store st;
  st.Backup(SampleFiles());
  Progress progress;
  progress.cancel = true;
  CheckReport report;
  CHECK(Check(st.repo.get(), CheckOptions{true, 0}, &progress, &report).code() ==
        Code::kCancelled);
}

TEST_CASE("check: a truncated index is reported, and the blobs only it described") {
  Store st;
  auto files = SampleFiles();
  Snapshot s1 = st.Backup(files, 1);
  std::vector<std::string> old_indexes = st.Objects("index");
  REQUIRE(old_indexes.size() == 1);
  files["late.bin"] = RandomData(50 << 10, 9);
  Snapshot s2 = st.Backup(files, 2);  // only late.bin and the root page are new
  std::string victim = old_indexes[0];
  fs::resize_file(victim, fs::file_size(victim) / 2);
  st.Reopen();
  std::string name = victim.substr(st.root.size() + 1);

  for (bool read_data : {false, true}) {
    CheckReport r = st.Check(read_data);
    INFO(Describe(r));
    REQUIRE(FindProblem(r, name));
    // s2 is walked first (newest): its old files and sub/ lost their index
    // entries; late.bin is intact. s1's root page is lost, so s1 is only
    // named by its root.
    CHECK(Affects(r, Short(s2) + ":/a.bin"));
    CHECK(Affects(r, Short(s2) + ":/sub/"));
    CHECK(Affects(r, Short(s1) + ":/"));
    CHECK_FALSE(Affects(r, Short(s2) + ":/late.bin"));
    // The packs it described are left over, which is only a note ...
    if (!read_data) CHECK_FALSE(r.notes.empty());
    if (read_data) {
      // ... and --read-data names the pack that still holds a lost blob.
      bool named = false;
      for (const CheckProblem& p : r.problems)
        named |= p.object.starts_with("packs/") && p.what.find("no index") != std::string::npos;
      CHECK(named);
    }
  }
  std::string out;
  CHECK(st.ReadBack(s2, "/late.bin", &out));
  CHECK(out == files["late.bin"]);
}

TEST_CASE("check: a damaged snapshot object is reported by name") {
  Store st;
  Snapshot s1 = st.Backup(SampleFiles(), 1);
  Snapshot s2 = st.Backup({{"x", "y"}}, 2);
  FlipByte(st.root + "/" + SnapshotName(s2.id), 40);
  st.Reopen();
  CheckReport r = st.Check(false);
  INFO(Describe(r));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].object == SnapshotName(s2.id));
  CHECK(r.snapshots == 2);
}

TEST_CASE("check: a damaged tree pack is reported and names the directory") {
  Store st;
  Snapshot snap = st.Backup(SampleFiles());
  IndexEntry e = st.Entry(snap.tree, BlobType::kTree);
  std::string pack = PackName(st.repo->PackId(e.pack));
  FlipByte(st.PackFile(e), e.offset + 30);
  st.Reopen();

  for (bool read_data : {false, true}) {
    CheckReport r = st.Check(read_data);
    INFO(Describe(r));
    const CheckProblem* p = nullptr;
    for (const CheckProblem& q : r.problems)
      if (q.object == pack && q.what.find("tree page") != std::string::npos) p = &q;
    REQUIRE(p);
    CHECK(std::find(p->affected.begin(), p->affected.end(), Short(snap) + ":/") !=
          p->affected.end());
  }
}

TEST_CASE("check: a local cache holding good copies does not hide damage") {
  Store st;
  Snapshot snap = st.Backup(SampleFiles());
  std::string cache = st.tmp / "cache";
  st.Reopen(cache);
  REQUIRE(st.Check(true).ok());  // fills the cache: index, snapshot, tree packs
  REQUIRE(fs::exists(cache));

  std::string index = st.Objects("index")[0].substr(st.root.size() + 1);
  IndexEntry e = st.Entry(snap.tree, BlobType::kTree);
  std::string tree_pack = PackName(st.repo->PackId(e.pack));
  FlipByte(st.root + "/" + SnapshotName(snap.id), 50);
  FlipByte(st.root + "/" + index, 50);
  FlipByte(st.PackFile(e), e.offset + 30);
  st.Reopen(cache);

  CheckReport r = st.Check(false);
  INFO(Describe(r));
  CHECK(FindProblem(r, SnapshotName(snap.id)));
  CHECK(FindProblem(r, index));
  // Tree pages come from the verified cache without --read-data ...
  CHECK_FALSE(FindProblem(r, tree_pack));
  // ... and from the store with it.
  r = st.Check(true);
  INFO(Describe(r));
  CHECK(FindProblem(r, tree_pack));
}

TEST_CASE("check: an unindexed pack is a note, not damage") {
  Store st;
  st.Backup(SampleFiles());
  std::string junk = RandomData(5000, 4);
  std::string name = PackName(PlainHash(junk));
  fs::create_directories(fs::path(st.root + "/" + name).parent_path());
  testing::WriteFile(st.root + "/" + name, junk);
  st.Reopen();
  CheckReport r = st.Check(true);
  INFO(Describe(r));
  CHECK(r.ok());
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0].object == name);
}

TEST_CASE("check: a damaged key slot is reported") {
  Store st;
  st.Backup({{"x", "y"}});
  std::string other;
  REQUIRE(st.repo->AddKey("second", KdfParams{1, 8 << 20}, "other", &other).ok());
  FlipByte(st.root + "/keys/" + other, 60);
  st.Reopen();
  CheckReport r = st.Check(false);
  INFO(Describe(r));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].object == "keys/" + other);
  CHECK(r.keys == 2);
}

TEST_CASE("check: read_data retries short reads and transient failures of packs") {
  MemoryRemote::DropNamed("checker-fault");
  {
    std::unique_ptr<Repository> repo;
    REQUIRE(Repository::Init(MemoryRemote::OpenNamed("checker-fault"), kPass, SmallStore(), &repo)
                .ok());
  }
  auto fault = std::make_unique<FaultRemote>(MemoryRemote::OpenNamed("checker-fault"));
  FaultRemote* faults = fault.get();
  OpenOptions o;
  o.no_cache = true;
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Open(std::move(fault), kPass, o, &repo).ok());
  Store st(std::move(repo));
  st.Backup(SampleFiles());
  // The first two whole-pack reads of every pack fail; the checker's third
  // attempt gets it (the Repository's own ranged reads are not disturbed).
  std::vector<std::string> packs;
  REQUIRE(faults->List("packs/", [&](const ObjectInfo& i) { packs.push_back(i.name); }).ok());
  for (const std::string& p : packs) {
    faults->FailReads(p, 1, Fault::kTransient);
    faults->FailReads(p, 1, Fault::kTruncate);
  }
  CheckReport r = st.Check(true);
  INFO(Describe(r));
  CHECK(r.ok());
  CHECK(faults->Counters().Faults(Fault::kTruncate) == packs.size());

  // A pack that always comes back short is damage.
  faults->FailReads(packs[0], 100, Fault::kTruncate);
  r = st.Check(true);
  INFO(Describe(r));
  CHECK(FindProblem(r, packs[0]));
  MemoryRemote::DropNamed("checker-fault");
}

TEST_CASE("check: read_data throughput on a 50 MiB store") {
  MemoryRemote::DropNamed("checker-big");
  InitOptions io = SmallStore(4 << 20);
  io.chunker = ChunkerParams{};  // default 256 KiB .. 4 MiB chunks
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(MemoryRemote::OpenNamed("checker-big"), kPass, io, &repo).ok());
  Store st(std::move(repo));
  std::map<std::string, std::string> files;
  for (int i = 0; i < 10; i++) files["f" + std::to_string(i)] = RandomData(5 << 20, 100 + i);
  st.Backup(files);

  auto t0 = std::chrono::steady_clock::now();
  CheckReport r = st.Check(true);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(Describe(r));
  CHECK(r.ok());
  CHECK(r.bytes_read >= 50u << 20);
  WARN("check --read-data of 50 MiB: " << secs << " s, " << (r.bytes_read / 1048576.0) / secs
                                       << " MiB/s");
  CHECK(secs < 60);
  MemoryRemote::DropNamed("checker-big");
}

}  // namespace
}  // namespace kloset
