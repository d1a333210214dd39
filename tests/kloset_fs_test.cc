// KlosetFs without a mount: the node logic behind every FUSE handler.
#include "fs/kloset_fs.h"

#include <fcntl.h>

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_io.h"
#include "core/repository.h"
#include "core/snapshot.h"
#include "core/tree.h"
#include "fs/stats_file.h"
#include "remotes/metered_remote.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::fs;

namespace {

std::unique_ptr<Repository> NewRepo(const std::string& name) {
  REQUIRE(InitCrypto());
  std::unique_ptr<Remote> remote;
  REQUIRE(OpenRemote("memory:" + name, true, &remote).ok());
  InitOptions io;
  io.kdf = KdfParams{1, 8 << 20};
  io.chunker.min_size = 16 << 10;
  io.chunker.avg_size = 64 << 10;
  io.chunker.max_size = 256 << 10;
  std::unique_ptr<Repository> repo;
  Status s = Repository::Init(std::move(remote), "pw", io, &repo);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return repo;
}

Node FileNode(Repository* repo, const std::string& name, const std::string& data) {
  FileWriter w(repo, repo->config().chunker, &repo->gear());
  REQUIRE(w.Write(data).ok());
  Node n;
  n.name = name;
  n.type = NodeType::kFile;
  n.mode = 0644;
  n.size = data.size();
  n.mtime_ns = 1700000000123456789;
  REQUIRE(w.Finish(&n.chunks).ok());
  return n;
}

// Snapshot with /data/{big.bin, small.txt, link -> small.txt} and xattrs.
Hash SaveTree(Repository* repo, const std::string& big, int64_t time_ns, const std::string& host,
              std::vector<std::string> tags) {
  DirectoryWriter data(repo);
  REQUIRE(data.Add(FileNode(repo, "big.bin", big)).ok());
  Node small = FileNode(repo, "small.txt", "hello\n");
  small.xattrs = {{"user.color", "blue"}};
  REQUIRE(data.Add(small).ok());
  Node link;
  link.name = "link";
  link.type = NodeType::kSymlink;
  link.symlink_target = "small.txt";
  link.size = 9;
  REQUIRE(data.Add(link).ok());
  Node dir;
  dir.name = "data";
  dir.type = NodeType::kDir;
  dir.mode = 0750;
  REQUIRE(data.Finish(&dir.subtree, &dir.subtree_entries).ok());
  DirectoryWriter root(repo);
  REQUIRE(root.Add(dir).ok());
  Snapshot s;
  uint64_t n = 0;
  REQUIRE(root.Finish(&s.tree, &n).ok());
  REQUIRE(repo->Flush().ok());
  s.time_ns = time_ns;
  s.host = host;
  s.tags = std::move(tags);
  s.paths = {"/data"};
  REQUIRE(SaveSnapshot(repo, &s).ok());
  return s.id;
}

// Lists a directory in small batches, as the kernel asks with a small
// buffer, to test the cursor; with a handle from OpenDir, or without one
// (zero-message opendir: the cursor lives with the inode).
std::vector<std::string> List(KlosetFs& fs, uint64_t ino, bool plus, bool handle = true) {
  uint64_t fh = 0;
  if (handle) REQUIRE(fs.OpenDir(ino, &fh).ok());
  std::vector<std::string> names;
  uint64_t off = 0;
  for (;;) {
    size_t got = 0;
    REQUIRE(fs.ReadDir(ino, fh, off, plus, [&](const std::string& n, const Entry&, uint64_t next) {
                if (got == 2) return false;
                got++;
                names.push_back(n);
                off = next;
                return true;
              }).ok());
    if (got == 0) break;
  }
  if (handle) fs.ReleaseDir(fh);
  return names;
}
std::vector<std::string> ListNoHandle(KlosetFs& fs, uint64_t ino, bool plus) {
  return List(fs, ino, plus, false);
}

uint64_t Walk(KlosetFs& fs, const std::vector<std::string>& path) {
  uint64_t ino = kRootIno;
  for (auto& p : path) {
    Entry e;
    Status s = fs.Lookup(ino, p, &e);
    INFO(p << ": " << s.ToString());
    REQUIRE(s.ok());
    ino = e.ino;
  }
  return ino;
}

}  // namespace

TEST_CASE("layout names snapshots by time and short id, without colons", "[fs]") {
  Snapshot a;
  a.time_ns = 1700000000000000000;  // 2023-11-14T22:13:20Z
  a.id[0] = 0xab;
  a.id[1] = 0xcd;
  a.host = "h:1";
  a.tags = {"daily", "a/b"};
  std::string name = SnapshotDirName(a);
  CHECK(name == "2023-11-14T22-13-20Z_abcd0000");
  auto l = Layout::Build({a});
  CHECK(l->latest == name);
  CHECK(l->hosts.count("h_1") == 1);
  CHECK(l->tags.count("a_b") == 1);
  CHECK(SafeComponent("..") == "_..");
}

TEST_CASE("browse, read and stat snapshots without mounting", "[fs]") {
  auto repo = NewRepo("fs-browse");
  std::string big = kloset::testing::RandomData(3 << 20, 1);
  SaveTree(repo.get(), big, 1700000000000000000, "alpha", {"daily"});
  Hash second = SaveTree(repo.get(), big + "tail", 1700000100000000000, "beta", {});
  FsOptions opts;
  opts.cache_bytes = 1 << 20;  // smaller than the file: eviction is exercised
  KlosetFs fs(repo.get(), opts);
  REQUIRE(fs.Start().ok());

  CHECK(List(fs, kRootIno, true) == std::vector<std::string>{".", "..", kStatsFileName, "hosts",
                                                             "latest", "snapshots", "tags"});
  auto snaps = List(fs, kSnapshotsIno, false);
  REQUIRE(snaps.size() == 4);
  CHECK(snaps[2].substr(0, 21) == "2023-11-14T22-13-20Z_");
  CHECK(snaps[3].substr(21) == ToHex(second).substr(0, 8));

  std::string target;
  REQUIRE(fs.ReadLink(kLatestIno, &target).ok());
  CHECK(target == "snapshots/" + snaps[3]);
  CHECK(List(fs, kHostsIno, true) == std::vector<std::string>{".", "..", "alpha", "beta"});
  uint64_t alpha = Walk(fs, {"hosts", "alpha"});
  auto links = List(fs, alpha, true);
  REQUIRE(links.size() == 3);
  uint64_t link = Walk(fs, {"hosts", "alpha", links[2]});
  REQUIRE(fs.ReadLink(link, &target).ok());
  CHECK(target == "../../snapshots/" + snaps[2]);
  CHECK(List(fs, Walk(fs, {"tags"}), false) == std::vector<std::string>{".", "..", "daily"});
  // Only listings that can never change may stay in the kernel's readdir cache.
  auto cacheable = [&](uint64_t ino) {
    uint64_t fh = 0;
    bool c = true;
    REQUIRE(fs.OpenDir(ino, &fh, &c).ok());
    fs.ReleaseDir(fh);
    return c;
  };
  CHECK_FALSE(cacheable(kRootIno));
  CHECK_FALSE(cacheable(kSnapshotsIno));
  CHECK_FALSE(cacheable(alpha));
  CHECK(cacheable(Walk(fs, {"snapshots", snaps[2]})));

  uint64_t data = Walk(fs, {"snapshots", snaps[3], "data"});
  CHECK(List(fs, data, true) ==
        std::vector<std::string>{".", "..", "big.bin", "link", "small.txt"});
  CHECK(ListNoHandle(fs, data, true) == List(fs, data, true));
  CHECK(ListNoHandle(fs, data, false) == List(fs, data, false));
  CHECK(ListNoHandle(fs, kRootIno, true) == List(fs, kRootIno, true));
  // Once a listing reached its end, asking past it again finds nothing, and
  // a pass may start again anywhere (seekdir): offset 3 is after child 0.
  auto from = [&](uint64_t off) {
    std::vector<std::string> names;
    REQUIRE(fs.ReadDir(data, 0, off, true, [&](const std::string& n, const Entry&, uint64_t) {
                names.push_back(n);
                return true;
              }).ok());
    return names;
  };
  CHECK(from(5).empty());
  CHECK(from(5).empty());
  CHECK(from(3) == std::vector<std::string>{"link", "small.txt"});
  CHECK(from(0).size() == 5);
  CHECK(fs.ReadDir(Walk(fs, {"snapshots", snaps[3], "data", "small.txt"}), 0, 0, true,
                   [&](const std::string&, const Entry&, uint64_t) { return true; })
            .code() == Code::kInvalidArgument);
  struct stat st;
  double timeout;
  REQUIRE(fs.GetAttr(data, &st, &timeout).ok());
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0750);

  uint64_t bigino = Walk(fs, {"snapshots", snaps[3], "data", "big.bin"});
  REQUIRE(fs.GetAttr(bigino, &st, &timeout).ok());
  CHECK(st.st_size == static_cast<off_t>(big.size() + 4));
  CHECK(st.st_mtim.tv_nsec == 123456789);
  uint64_t fh;
  CHECK(fs.Open(bigino, O_WRONLY, &fh).code() == Code::kReadOnly);
  REQUIRE(fs.Open(bigino, O_RDONLY, &fh).ok());
  std::string want = big + "tail", got, piece;
  for (uint64_t off = 0; off < want.size(); off += 131072) {  // sequential, as the kernel reads
    REQUIRE(fs.Read(fh, off, 131072, &piece).ok());
    got += piece;
  }
  CHECK(got == want);
  for (uint64_t off :
       {uint64_t{5}, uint64_t{1000000}, uint64_t{3 << 20}, uint64_t{want.size() - 3}}) {
    REQUIRE(fs.Read(fh, off, 300000, &piece).ok());
    CHECK(piece == want.substr(off, 300000));
  }
  REQUIRE(fs.Read(fh, want.size() + 10, 100, &piece).ok());
  CHECK(piece.empty());
  fs.Release(fh);
  CHECK(fs.cache().bytes() <= (1u << 20) + (256u << 10));

  uint64_t small = Walk(fs, {"snapshots", snaps[3], "data", "small.txt"});
  std::vector<std::string> xnames;
  REQUIRE(fs.ListXattr(small, &xnames).ok());
  CHECK(xnames == std::vector<std::string>{"user.color"});
  std::string v;
  REQUIRE(fs.GetXattr(small, "user.color", &v).ok());
  CHECK(v == "blue");
  CHECK(fs.GetXattr(small, "user.none", &v).IsNotFound());
  REQUIRE(fs.ReadLink(Walk(fs, {"snapshots", snaps[3], "data", "link"}), &target).ok());
  CHECK(target == "small.txt");

  Entry e;
  CHECK(fs.Lookup(data, "missing", &e).IsNotFound());
  CHECK(fs.Lookup(kSnapshotsIno, "2023-01-01T00-00-00Z_00000000", &e).IsNotFound());
}

TEST_CASE("inodes are dropped when the kernel forgets them", "[fs]") {
  auto repo = NewRepo("fs-forget");
  SaveTree(repo.get(), "x", 1700000000000000000, "h", {});
  KlosetFs fs(repo.get(), FsOptions{});
  REQUIRE(fs.Start().ok());
  size_t base = fs.InodeCount();
  auto snaps = List(fs, kSnapshotsIno, false);
  Entry a, b;
  REQUIRE(fs.Lookup(kSnapshotsIno, snaps[2], &a).ok());
  REQUIRE(fs.Lookup(kSnapshotsIno, snaps[2], &b).ok());
  CHECK(a.ino == b.ino);  // one inode per name while referenced
  CHECK(fs.InodeCount() == base + 1);
  fs.Forget(a.ino, 1);
  CHECK(fs.InodeCount() == base + 1);
  fs.Forget(a.ino, 1);
  CHECK(fs.InodeCount() == base);
}

TEST_CASE("new snapshots appear on refresh and removed ones disappear", "[fs]") {
  auto repo = NewRepo("fs-refresh");
  SaveTree(repo.get(), "x", 1700000000000000000, "h", {});
  std::vector<Snapshot> visible;
  REQUIRE(ListSnapshots(repo.get(), &visible).ok());
  FsOptions opts;
  opts.refresh_interval_s = 0;  // every listing rereads
  auto loader = [&](std::vector<Snapshot>* out) {
    *out = visible;
    return Status::OK();
  };
  KlosetFs fs(repo.get(), opts, loader);
  REQUIRE(fs.Start().ok());
  CHECK(List(fs, kSnapshotsIno, true).size() == 3);
  // A listing the kernel caches is dropped when the mtime changes: GetAttr
  // rereads the list, and the mtime moves only when the names change.
  auto mtime = [&](uint64_t ino) {
    struct stat st;
    double timeout;
    REQUIRE(fs.GetAttr(ino, &st, &timeout).ok());
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  };
  const int64_t m0 = mtime(kSnapshotsIno);
  CHECK(mtime(kSnapshotsIno) == m0);
  CHECK(mtime(kTagsIno) == m0);
  SaveTree(repo.get(), "y", 1700000200000000000, "h", {"new"});
  REQUIRE(ListSnapshots(repo.get(), &visible).ok());
  // A lookup sees the new name without a listing first.
  Entry found;
  REQUIRE(fs.Lookup(kSnapshotsIno, SnapshotDirName(visible.back()), &found).ok());
  const int64_t m1 = mtime(kSnapshotsIno);
  CHECK(m1 > m0);
  CHECK(mtime(kRootIno) == m1);
  CHECK(mtime(kLatestIno) == m1);
  CHECK(ListNoHandle(fs, kTagsIno, true) == std::vector<std::string>{".", "..", "new"});
  auto names = ListNoHandle(fs, kSnapshotsIno, true);
  REQUIRE(names.size() == 4);
  CHECK(List(fs, kSnapshotsIno, true) == names);
  std::string target;
  REQUIRE(fs.ReadLink(kLatestIno, &target).ok());
  CHECK(target == "snapshots/" + names[3]);
  visible.erase(visible.begin());
  CHECK(List(fs, kSnapshotsIno, true).size() == 3);
  Entry e;
  CHECK(fs.Lookup(kSnapshotsIno, names[2], &e).IsNotFound());
}

TEST_CASE("lean listings: names only until a file is looked up", "[fs]") {
  auto repo = NewRepo("fs-lean");
  SaveTree(repo.get(), kloset::testing::RandomData(100000, 3), 1700000000000000000, "alpha", {});
  SaveTree(repo.get(), kloset::testing::RandomData(100, 4), 1700000100000000000, "beta", {});
  KlosetFs fs(repo.get(), FsOptions{});
  std::vector<std::vector<uint64_t>> invalidated;
  fs.SetListingInvalidator([&](std::vector<uint64_t> dirs) { invalidated.push_back(dirs); });
  REQUIRE(fs.Start().ok());
  REQUIRE(fs.lean_listings());
  auto snaps = List(fs, kSnapshotsIno, false);
  uint64_t root = Walk(fs, {"snapshots", snaps[2]});
  uint64_t data = Walk(fs, {"snapshots", snaps[2], "data"});  // folders keep it lean
  REQUIRE(fs.lean_listings());
  // name -> ino handed to the kernel, for a readdirplus from the start
  auto plus = [&](uint64_t dir) {
    std::map<std::string, uint64_t> got;
    REQUIRE(fs.ReadDir(dir, 0, 0, true, [&](const std::string& n, const Entry& e, uint64_t) {
                got[n] = e.ino;
                return true;
              }).ok());
    return got;
  };
  auto inodes = [&] { return nlohmann::json::parse(fs.StatsText())["inodes"].get<uint64_t>(); };
  const uint64_t before = inodes();
  auto lean = plus(data);
  REQUIRE(lean.size() == 5);
  CHECK(lean["big.bin"] == 0);  // no inode: the kernel keeps the name and type
  CHECK(lean["small.txt"] == 0);
  CHECK(lean["link"] == 0);
  CHECK(inodes() == before);
  CHECK(plus(root)["data"] == data);  // a folder: an inode, so walks need no lookup
  // A folder listed lean, then forgotten by the kernel: nothing to drop.
  uint64_t other = Walk(fs, {"snapshots", snaps[3]});
  plus(other);
  fs.Forget(other, 1);
  CHECK(invalidated.empty());

  // A file looked up (a stat): listings are full from now on, and the ones
  // the kernel may hold lean are handed over once to be dropped.
  uint64_t small = Walk(fs, {"snapshots", snaps[2], "data", "small.txt"});
  CHECK_FALSE(fs.lean_listings());
  REQUIRE(invalidated.size() == 1);
  CHECK(std::set<uint64_t>(invalidated[0].begin(), invalidated[0].end()) ==
        std::set<uint64_t>{data, root});
  auto full = plus(data);
  CHECK(full["small.txt"] == small);
  CHECK(full["big.bin"] != 0);
  CHECK(inodes() > before);
  Walk(fs, {"snapshots", snaps[2], "data", "big.bin"});
  CHECK(invalidated.size() == 1);

  // Off by option: full listings from the start.
  FsOptions off;
  off.lean_listings = false;
  KlosetFs fs2(repo.get(), off);
  REQUIRE(fs2.Start().ok());
  CHECK_FALSE(fs2.lean_listings());
  uint64_t data2 = Walk(fs2, {"snapshots", snaps[2], "data"});
  bool all = true;
  REQUIRE(fs2.ReadDir(data2, 0, 0, true,
                      [&](const std::string& n, const Entry& e, uint64_t) {
                        if (n != "." && n != "..") all = all && e.ino != 0;
                        return true;
                      })
              .ok());
  CHECK(all);
}

TEST_CASE("files read without an open handle, as with zero-message opens", "[fs]") {
  auto repo = NewRepo("fs-no-handle");
  std::string big = kloset::testing::RandomData(3 << 20, 3);
  SaveTree(repo.get(), big, 1700000000000000000, "alpha", {});
  FsOptions opts;
  opts.cache_bytes = 16 << 20;  // holds everything: the prefetch is not evicted
  opts.prefetch_files = 2;
  opts.lean_listings = false;  // listings intern every entry, as after a stat
  KlosetFs fs(repo.get(), opts);
  REQUIRE(fs.Start().ok());
  auto snaps = List(fs, kSnapshotsIno, false);
  uint64_t data = Walk(fs, {"snapshots", snaps[2], "data"});
  REQUIRE(List(fs, data, true).size() == 5);  // interned, as readdirplus does
  uint64_t bigino = Walk(fs, {"snapshots", snaps[2], "data", "big.bin"});
  std::string got, piece;
  for (uint64_t off = 0; off < big.size(); off += 131072) {
    REQUIRE(fs.ReadInode(bigino, off, 131072, &piece).ok());
    got += piece;
  }
  CHECK(got == big);
  for (uint64_t off : {uint64_t{7}, uint64_t{2000000}, uint64_t{big.size() - 5}}) {
    REQUIRE(fs.ReadInode(bigino, off, 300000, &piece).ok());
    CHECK(piece == big.substr(off, 300000));
  }
  REQUIRE(fs.ReadInode(bigino, big.size(), 100, &piece).ok());
  CHECK(piece.empty());
  // Reading big.bin from offset 0 started its following file (small.txt;
  // link is no file): reading that costs no fetch of its own.
  uint64_t misses = fs.cache().misses();
  uint64_t small = Walk(fs, {"snapshots", snaps[2], "data", "small.txt"});
  REQUIRE(fs.ReadInode(small, 0, 4096, &piece).ok());
  CHECK(piece == "hello\n");
  CHECK(fs.cache().misses() == misses);

  // A second pass from offset 0 reads ahead again, though the first pass
  // went to the end: its early chunks were dropped from a small cache since.
  FsOptions small_cache = opts;
  small_cache.cache_bytes = 1 << 20;  // a third of big.bin
  small_cache.readahead_chunks = 4;
  KlosetFs fs2(repo.get(), small_cache);
  REQUIRE(fs2.Start().ok());
  REQUIRE(List(fs2, Walk(fs2, {"snapshots", snaps[2], "data"}), true).size() == 5);
  uint64_t big2 = Walk(fs2, {"snapshots", snaps[2], "data", "big.bin"});
  for (uint64_t off = 0; off < big.size(); off += 131072)
    REQUIRE(fs2.ReadInode(big2, off, 131072, &piece).ok());
  uint64_t before = fs2.cache().misses();
  REQUIRE(fs2.ReadInode(big2, 0, 65536, &piece).ok());
  CHECK(piece == big.substr(0, 65536));
  CHECK(fs2.cache().misses() >= before + 1 + 4);  // its chunk and the read-ahead window

  CHECK(fs.ReadInode(data, 0, 10, &piece).code() == Code::kInvalidArgument);
  CHECK(fs.ReadInode(Walk(fs, {"snapshots", snaps[2], "data", "link"}), 0, 10, &piece).code() ==
        Code::kInvalidArgument);
  CHECK(fs.ReadInode(999999, 0, 10, &piece).IsNotFound());
}

TEST_CASE("opening a file prefetches the next files of its directory", "[fs]") {
  auto repo = NewRepo("fs-prefetch");
  DirectoryWriter dir(repo.get());
  for (int i = 0; i < 6; i++) {
    std::string n = std::to_string(i);
    REQUIRE(dir.Add(FileNode(repo.get(), "f" + n, "content " + n)).ok());
  }
  Node sub;
  sub.name = "sub";
  sub.type = NodeType::kDir;
  REQUIRE(dir.Add(sub).ok());  // not a file: skipped, and sorts after them
  DirectoryWriter root(repo.get());
  Node d;
  d.name = "d";
  d.type = NodeType::kDir;
  d.mode = 0755;
  REQUIRE(dir.Finish(&d.subtree, &d.subtree_entries).ok());
  REQUIRE(root.Add(d).ok());
  Snapshot s;
  uint64_t n = 0;
  REQUIRE(root.Finish(&s.tree, &n).ok());
  REQUIRE(repo->Flush().ok());
  s.time_ns = 1700000000000000000;
  REQUIRE(SaveSnapshot(repo.get(), &s).ok());

  FsOptions opts;
  opts.lean_listings = false;  // listings intern every entry, as after a stat
  opts.prefetch_files = 3;
  KlosetFs fs(repo.get(), opts);
  REQUIRE(fs.Start().ok());
  auto snaps = List(fs, kSnapshotsIno, false);
  uint64_t dino = Walk(fs, {"snapshots", snaps[2], "d"});
  // readdirplus interns every entry, as the kernel's listing before tar does.
  REQUIRE(List(fs, dino, true).size() == 2 + 7);
  auto ino = [&](int i) { return Walk(fs, {"snapshots", snaps[2], "d", "f" + std::to_string(i)}); };
  uint64_t fh = 0;
  REQUIRE(fs.Open(ino(0), O_RDONLY, &fh).ok());
  fs.Release(fh);
  CHECK(fs.cache().misses() == 3);  // f1, f2, f3 started; f4 is beyond the window
  for (int i = 1; i <= 3; i++) {
    std::string got;
    REQUIRE(fs.Open(ino(i), O_RDONLY, &fh).ok());
    REQUIRE(fs.Read(fh, 0, 100, &got).ok());
    CHECK(got == "content " + std::to_string(i));
    fs.Release(fh);
  }
  // Reading f1..f3 fetched nothing itself; opening them moved the window to f4, f5.
  CHECK(fs.cache().misses() == 5);
  std::string got;
  REQUIRE(fs.Open(ino(5), O_RDONLY, &fh).ok());
  REQUIRE(fs.Read(fh, 0, 100, &got).ok());
  CHECK(got == "content 5");
  fs.Release(fh);
  CHECK(fs.cache().misses() == 5);
}

TEST_CASE("the statistics file shows the store's requests and the caches", "[fs]") {
  REQUIRE(InitCrypto());
  std::unique_ptr<Remote> base;
  REQUIRE(OpenRemote("memory:fs-stats", true, &base).ok());
  auto metered = std::make_unique<MeteredRemote>(std::move(base));
  MeteredRemote* counters = metered.get();
  InitOptions io;
  io.kdf = KdfParams{1, 8 << 20};
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(std::move(metered), "pw", io, &repo).ok());
  std::string big = kloset::testing::RandomData(1 << 20, 7);
  SaveTree(repo.get(), big, 1700000000000000000, "h", {});
  KlosetFs fs(repo.get(), FsOptions());
  fs.set_store_name("memory:fs-stats");
  REQUIRE(fs.Start().ok());

  Entry e;
  REQUIRE(fs.Lookup(kRootIno, kStatsFileName, &e).ok());
  CHECK(e.ino == kStatsIno);
  CHECK(KlosetFs::IsGeneratedFile(e.ino));
  CHECK(S_ISREG(e.attr.st_mode));
  CHECK((e.attr.st_mode & 07777) == 0444);
  CHECK(e.attr.st_size > 100);
  CHECK(fs.Lookup(kStatsIno, "x", &e).code() == Code::kInvalidArgument);  // ENOTDIR
  uint64_t fh = 0;
  CHECK(fs.OpenDir(kStatsIno, &fh).code() == Code::kInvalidArgument);
  CHECK(fs.Open(kStatsIno, O_WRONLY, &fh).code() == Code::kReadOnly);
  fs.Forget(kStatsIno, 1);  // lives for the whole mount
  struct stat st;
  double timeout;
  REQUIRE(fs.GetAttr(kStatsIno, &st, &timeout).ok());

  auto read_all = [&](uint64_t h) {
    std::string text, piece;
    for (uint64_t off = 0;; off += piece.size()) {  // small reads, as a reader may make
      REQUIRE(fs.Read(h, off, 100, &piece).ok());
      if (piece.empty()) return text;
      text += piece;
    }
  };
  uint64_t before_fh = 0;
  REQUIRE(fs.Open(kStatsIno, O_RDONLY, &before_fh).ok());
  const std::string before_text = read_all(before_fh);
  auto before = nlohmann::json::parse(before_text);
  CHECK(before["store"] == "memory:fs-stats");
  CHECK(before["remote"] == counters->Describe());
  CHECK(before["requests"]["requests"]["list"]["calls"].get<uint64_t>() ==
        counters->Stats().ops[static_cast<int>(RemoteOp::kList)].calls);
  CHECK(before["memory_cache"]["misses"] == 0);
  CHECK(before["disk_cache"].is_null());

  // Reading a file costs requests, which the next open shows.
  auto snaps = List(fs, kSnapshotsIno, false);
  uint64_t ino = Walk(fs, {"snapshots", snaps[2], "data", "big.bin"});
  REQUIRE(fs.Open(ino, O_RDONLY, &fh).ok());
  std::string got;
  REQUIRE(fs.Read(fh, 0, big.size(), &got).ok());
  CHECK(got == big);
  fs.Release(fh);
  REQUIRE(fs.Open(kStatsIno, O_RDONLY, &fh).ok());
  auto after = nlohmann::json::parse(read_all(fh));
  fs.Release(fh);
  const auto& r0 = before["requests"]["requests"]["read"];
  const auto& r1 = after["requests"]["requests"]["read"];
  CHECK(r1["calls"].get<uint64_t>() > r0["calls"].get<uint64_t>());
  CHECK(r1["bytes"].get<uint64_t>() >= r0["bytes"].get<uint64_t>() + big.size());
  CHECK(after["memory_cache"]["misses"].get<uint64_t>() > 0);
  // The walk to big.bin made three inodes; the first stats handle is still open.
  CHECK(after["inodes"].get<uint64_t>() >= before["inodes"].get<uint64_t>() + 3);
  CHECK(before["open_files"] == 0);
  CHECK(after["open_files"] == 1);
  CHECK(after["process"]["threads"].get<uint64_t>() >= 1);
  CHECK(after["process"].contains("heap_in_use"));
  // An open handle keeps the text of its open.
  CHECK(read_all(before_fh) == before_text);
  fs.Release(before_fh);

  // Without a handle (zero-message opens), a pass from offset 0 reads a new
  // text, and later offsets of that pass read the same text.
  auto read_no_handle = [&] {
    std::string text, piece;
    for (uint64_t off = 0;; off += piece.size()) {
      REQUIRE(fs.ReadInode(kStatsIno, off, 100, &piece).ok());
      if (piece.empty()) return text;
      text += piece;
    }
  };
  const std::string pass1 = read_no_handle();
  REQUIRE(fs.Open(ino, O_RDONLY, &fh).ok());
  REQUIRE(fs.Read(fh, 0, 10, &got).ok());  // counted between the two passes
  fs.Release(fh);
  const std::string pass2 = read_no_handle();
  auto j1 = nlohmann::json::parse(pass1), j2 = nlohmann::json::parse(pass2);
  CHECK(j2["uptime_s"].get<double>() > j1["uptime_s"].get<double>());
  CHECK(j2["memory_cache"]["hits"].get<uint64_t>() > j1["memory_cache"]["hits"].get<uint64_t>());
  // Its size holds the text of a later read, and its attributes are never
  // cached: a new mtime at every stat drops the kernel's pages of it.
  struct stat st1, st2;
  REQUIRE(fs.GetAttr(kStatsIno, &st1, &timeout).ok());
  CHECK(timeout == 0);
  CHECK(pass2.size() <= static_cast<size_t>(st1.st_size));
  CHECK(pass2.find_last_not_of(" \n") + 1024 < pass2.size());  // the slack
  REQUIRE(fs.GetAttr(kStatsIno, &st2, &timeout).ok());
  CHECK((st2.st_mtim.tv_sec != st1.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec));

  // The requests the kernel sent, as the FUSE edge counts them.
  fs.fuse_counters().Add(FuseOp::kReaddirplus);
  fs.fuse_counters().Add(FuseOp::kRead);
  fs.fuse_counters().Add(FuseOp::kRead);
  auto counted = nlohmann::json::parse(read_no_handle())["fuse_requests"];
  CHECK(counted["read"] == 2);
  CHECK(counted["readdirplus"] == 1);
  CHECK(counted["open"] == 0);
  CHECK(counted.size() == static_cast<size_t>(FuseOp::kCount));

  // A store without counters says so rather than inventing them.
  auto plain = NewRepo("fs-stats-plain");
  KlosetFs fs2(plain.get(), FsOptions());
  REQUIRE(fs2.Start().ok());
  CHECK(nlohmann::json::parse(fs2.StatsText())["requests"].is_null());
}
