// Backup and restore round trips at the library level: every kind of entry
// (sparse and >4 GiB files, hardlinks, devices, xattrs, odd names, ns
// times), parent reuse, skipped and changed files, cancel, excludes, damaged
// data on restore, subtree restores.
#include "core/archiver.h"

#include <catch2/catch.hpp>

#include <atomic>

#include "core/lock.h"
#include "core/memory_blob_store.h"
#include "core/restorer.h"
#include "core/tree.h"
#include "tests/fs_tree_util.h"
#include "tests/repo_test_util.h"

namespace kloset {
namespace {

using testing::CompareTrees;
using testing::MakeFullTree;
using testing::TempDir;
using testing::WriteFile;

ChunkerParams SmallParams() {
  ChunkerParams p;
  p.min_size = 16 * 1024;
  p.avg_size = 64 * 1024;
  p.max_size = 256 * 1024;
  return p;
}

const GearTable& Gear() {
  static const GearTable table = GearTable::FromKey(Key{});
  return table;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// The snapshot node at an absolute local path.
Node At(BlobStore* store, const Hash& tree, const std::string& path) {
  Node n;
  Status s = LookupPath(store, tree, path, &n);
  INFO(path << ": " << s.ToString());
  REQUIRE(s.ok());
  return n;
}

struct MemFixture {
  TempDir tmp;
  std::string src = tmp / "src";
  MemoryBlobStore store;

  ArchiveResult Archive(BackupOptions o = {}, Progress* progress = nullptr,
                        const Hash* parent = nullptr) {
    if (o.paths.empty()) o.paths = {src};
    ArchiveResult r;
    Status s = ArchiveTree(&store, SmallParams(), Gear(), parent, o, progress, &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return r;
  }
  RestoreResult RestoreTo(const Hash& tree, const std::string& target,
                          const std::string& path_in_snapshot) {
    RestoreOptions o;
    o.target = target;
    o.path_in_snapshot = path_in_snapshot;
    RestoreResult r;
    Status s = RestoreTree(&store, tree, o, nullptr, &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return r;
  }
};

TEST_CASE("archive and restore every kind of entry (MemoryBlobStore)") {
  MemFixture f;
  MakeFullTree(f.src);
  Progress progress;
  ArchiveResult ar = f.Archive({}, &progress);
  CHECK(ar.skipped.empty());
  CHECK(ar.changed.empty());
  CHECK(ar.paths == std::vector<std::string>{f.src});
  CHECK(ar.summary.bytes > testing::kHugeSize);
  CHECK(ar.stats.bytes_read < (40u << 20));  // holes are not read
  CHECK(progress.files_done == progress.files_total);
  CHECK(progress.bytes_done == progress.bytes_total);

  Node huge = At(&f.store, ar.tree, f.src + "/huge");
  CHECK(huge.size == testing::kHugeSize);
  bool has_hole = false;
  for (const ChunkRef& c : huge.chunks) has_hole |= c.is_hole && c.size > (4ull << 30);
  CHECK(has_hole);
  Node h1 = At(&f.store, ar.tree, f.src + "/hardlink1");
  Node h3 = At(&f.store, ar.tree, f.src + "/nested/a/hardlink3");
  CHECK(h1.hardlink_id != 0);
  CHECK(h1.hardlink_id == h3.hardlink_id);
  CHECK(h1.chunks == h3.chunks);
  CHECK(At(&f.store, ar.tree, f.src + "/dangling").symlink_target ==
        "/nonexistent/dangling/target");

  // Directories above the source: real metadata, only the path down.
  Node top = At(&f.store, ar.tree, f.tmp.path());
  struct stat st;
  REQUIRE(lstat(f.tmp.path().c_str(), &st) == 0);
  CHECK(top.type == NodeType::kDir);
  CHECK(top.mode == (st.st_mode & 07777));
  CHECK(top.mtime_ns == st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec);
  CHECK(top.subtree_entries == 1);

  std::string dst = f.tmp / "restored";
  RestoreResult rr = f.RestoreTo(ar.tree, dst, f.src);
  std::string failures;
  for (auto& e : rr.failed) failures += e.path + ": " + e.error + "\n";
  CHECK(failures == "");
  CHECK(rr.files == ar.summary.files);
  CompareTrees(f.src, dst);
  struct stat a, b;
  REQUIRE(lstat(f.src.c_str(), &a) == 0);
  REQUIRE(lstat(dst.c_str(), &b) == 0);
  CHECK((a.st_mode & 07777) == (b.st_mode & 07777));  // restore made dst: src metadata

  // The whole snapshot from "/": the full path appears below the target.
  std::string all = f.tmp / "all";
  RestoreResult rall = f.RestoreTo(ar.tree, all, "/");
  CHECK(rall.failed.empty());
  CompareTrees(f.src, all + f.src);
}

TEST_CASE("restore of a single file and of a subdirectory; overwrite off") {
  MemFixture f;
  MakeFullTree(f.src);
  ArchiveResult ar = f.Archive();
  std::string dst = f.tmp / "one";
  RestoreResult r = f.RestoreTo(ar.tree, dst, f.src + "/nested/a/b/deep.txt");
  CHECK(r.files == 1);
  CHECK(testing::ReadFile(dst + "/deep.txt") == testing::ReadFile(f.src + "/nested/a/b/deep.txt"));

  std::string sub = f.tmp / "sub";
  r = f.RestoreTo(ar.tree, sub, f.src + "/nested");
  CHECK(r.failed.empty());
  CompareTrees(f.src + "/nested", sub, /*check_nlink=*/false);

  // overwrite = false: existing entries are kept and reported.
  WriteFile(dst + "/deep.txt", "local edit");
  RestoreOptions o;
  o.target = dst;
  o.path_in_snapshot = f.src + "/nested/a/b/deep.txt";
  o.overwrite = false;
  RestoreResult r2;
  REQUIRE(RestoreTree(&f.store, ar.tree, o, nullptr, &r2).ok());
  REQUIRE(r2.failed.size() == 1);
  CHECK(testing::ReadFile(dst + "/deep.txt") == "local edit");
  o.overwrite = true;
  REQUIRE(RestoreTree(&f.store, ar.tree, o, nullptr, &r2).ok());
  CHECK(testing::ReadFile(dst + "/deep.txt") == testing::ReadFile(f.src + "/nested/a/b/deep.txt"));

  o.path_in_snapshot = f.src + "/missing";
  CHECK(RestoreTree(&f.store, ar.tree, o, nullptr, &r2).IsNotFound());
}

TEST_CASE("restore: damaged or missing data fails only that file, leaves no partial file") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  WriteFile(f.src + "/good", testing::RandomData(300000, 7));
  WriteFile(f.src + "/lost", testing::RandomData(300000, 8));
  WriteFile(f.src + "/short", testing::RandomData(300000, 9));
  ArchiveResult ar = f.Archive();
  Node lost = At(&f.store, ar.tree, f.src + "/lost");
  Node shrt = At(&f.store, ar.tree, f.src + "/short");
  REQUIRE(lost.chunks.size() > 1);
  REQUIRE(f.store.Erase(BlobType::kData, lost.chunks.back().id));
  f.store.Put(BlobType::kData, shrt.chunks[0].id, "wrong size");

  std::string dst = f.tmp / "dst";
  RestoreResult r = f.RestoreTo(ar.tree, dst, f.src);
  REQUIRE(r.failed.size() == 2);
  CHECK(r.failed[0].path == dst + "/lost");
  CHECK(r.failed[1].path == dst + "/short");
  CHECK(!Exists(dst + "/lost"));
  CHECK(!Exists(dst + "/short"));
  CHECK(testing::ReadFile(dst + "/good") == testing::ReadFile(f.src + "/good"));
  std::map<std::string, testing::EntryInfo> left;
  testing::Scan(dst, "", &left);
  CHECK(left.size() == 1);  // no temporary files left behind
}

TEST_CASE("unreadable files are recorded as skipped and the walk goes on") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  WriteFile(f.src + "/ok", "fine");
  WriteFile(f.src + "/secret", "cannot read me");
  WriteFile(f.src + "/big-secret", testing::RandomData(3 << 20, 1));
  BackupOptions o;
  o.test_open_hook = [](const std::string& p) {
    return p.find("secret") != std::string::npos ? EACCES : 0;
  };
  Progress progress;
  ArchiveResult ar = f.Archive(o, &progress);
  REQUIRE(ar.skipped.size() == 2);
  CHECK(ar.skipped[0].path == f.src + "/big-secret");
  CHECK(ar.skipped[1].path == f.src + "/secret");
  CHECK(ar.skipped[1].error.find("Permission denied") != std::string::npos);
  CHECK(ar.summary.skipped == 2);
  CHECK(progress.errors == 2);
  Node n = At(&f.store, ar.tree, f.src + "/secret");
  CHECK(!n.error.empty());
  CHECK(n.chunks.empty());
  CHECK(n.size == 0);

  std::string dst = f.tmp / "dst";
  RestoreResult r = f.RestoreTo(ar.tree, dst, f.src);
  CHECK(r.failed.size() == 2);
  CHECK(!Exists(dst + "/secret"));
  CHECK(testing::ReadFile(dst + "/ok") == "fine");
}

TEST_CASE("an unreadable directory is stored empty with its error") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  REQUIRE(mkdir((f.src + "/locked").c_str(), 0700) == 0);
  WriteFile(f.src + "/locked/inside", "x");
  WriteFile(f.src + "/after", "y");
  BackupOptions o;
  o.test_open_hook = [&](const std::string& p) { return p == f.src + "/locked" ? EACCES : 0; };
  ArchiveResult ar = f.Archive(o);
  REQUIRE(ar.skipped.size() == 1);
  CHECK(ar.skipped[0].path == f.src + "/locked");
  Node d = At(&f.store, ar.tree, f.src + "/locked");
  CHECK(d.type == NodeType::kDir);
  CHECK(!d.error.empty());
  CHECK(d.subtree_entries == 0);
  CHECK(ar.summary.files == 1);

  std::string dst = f.tmp / "dst";
  RestoreResult r = f.RestoreTo(ar.tree, dst, f.src);
  REQUIRE(r.failed.size() == 1);
  CHECK(r.failed[0].path == dst + "/locked");
  CHECK(Exists(dst + "/locked"));
  CHECK(testing::ReadFile(dst + "/after") == "y");
}

TEST_CASE("many small files are read in parallel and reused from the parent") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  for (int d = 0; d < 6; d++) {
    std::string dir = f.src + "/d" + std::to_string(d);
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    for (int i = 0; i < 60; i++) {
      WriteFile(dir + "/f" + std::to_string(i), testing::RandomData(100 + i * 997, d * 100 + i));
    }
  }
  WriteFile(f.src + "/big", testing::RandomData(3 << 20, 77));
  BackupOptions o;
  o.threads = 4;
  ArchiveResult a1 = f.Archive(o);
  CHECK(a1.stats.files_read == 361);
  ArchiveResult a2 = f.Archive(o, nullptr, &a1.tree);
  CHECK(a2.stats.files_read == 0);
  CHECK(a2.stats.files_reused == 361);
  CHECK(At(&f.store, a2.tree, f.src).subtree == At(&f.store, a1.tree, f.src).subtree);

  // A parent whose blobs are gone is not trusted: those files are read again.
  Node gone = At(&f.store, a1.tree, f.src + "/d3/f7");
  REQUIRE(f.store.Erase(BlobType::kData, gone.chunks[0].id));
  ArchiveResult a3 = f.Archive(o, nullptr, &a1.tree);
  CHECK(a3.stats.files_read == 1);
  CHECK(f.store.HasBlob(BlobType::kData, gone.chunks[0].id));

  RestoreOptions ro;
  ro.target = f.tmp / "dst";
  ro.path_in_snapshot = f.src;
  ro.threads = 4;
  RestoreResult r;
  REQUIRE(RestoreTree(&f.store, a3.tree, ro, nullptr, &r).ok());
  CHECK(r.failed.empty());
  CHECK(r.files == 361);
  CompareTrees(f.src, ro.target);
}

TEST_CASE("a file that changes while read is reported and still stored") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  WriteFile(f.src + "/growing", "abc");
  WriteFile(f.src + "/steady", "xyz");
  BackupOptions o;
  o.test_after_read_hook = [](const std::string& p) {
    if (p.find("growing") != std::string::npos) {
      int fd = open(p.c_str(), O_WRONLY | O_APPEND);
      REQUIRE(write(fd, "more", 4) == 4);
      close(fd);
    }
  };
  ArchiveResult ar = f.Archive(o);
  REQUIRE(ar.changed.size() == 1);
  CHECK(ar.changed[0].path == f.src + "/growing");
  CHECK(ar.skipped.empty());
  CHECK(At(&f.store, ar.tree, f.src + "/growing").size == 3);
}

TEST_CASE("excludes match the full path or the base name") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  REQUIRE(mkdir((f.src + "/cache").c_str(), 0755) == 0);
  REQUIRE(mkdir((f.src + "/keep").c_str(), 0755) == 0);
  WriteFile(f.src + "/cache/x", "x");
  WriteFile(f.src + "/keep/a.tmp", "t");
  WriteFile(f.src + "/keep/a.txt", "t");
  BackupOptions o;
  o.excludes = {"*.tmp", f.src + "/cache"};
  ArchiveResult ar = f.Archive(o);
  Node n;
  CHECK(LookupPath(&f.store, ar.tree, f.src + "/cache", &n).IsNotFound());
  CHECK(LookupPath(&f.store, ar.tree, f.src + "/keep/a.tmp", &n).IsNotFound());
  CHECK(LookupPath(&f.store, ar.tree, f.src + "/keep/a.txt", &n).ok());
  CHECK(ar.summary.files == 1);
}

TEST_CASE("source paths: normalized, nested ones dropped, final symlink kept") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  REQUIRE(mkdir((f.src + "/d").c_str(), 0755) == 0);
  WriteFile(f.src + "/d/file", "data");
  REQUIRE(symlink("d", (f.src + "/via").c_str()) == 0);
  std::vector<std::string> out;
  REQUIRE(NormalizeSourcePaths({f.src + "/d/", f.src + "/via/file", f.src + "/via",
                                f.src + "/d/./file", f.src + "/d/file"},
                               &out)
              .ok());
  // via/file resolves to d/file (inside d); via itself stays a symlink.
  CHECK(out == std::vector<std::string>{f.src + "/d", f.src + "/via"});
  CHECK(NormalizeSourcePaths({f.src + "/nope"}, &out).IsNotFound());
  CHECK(NormalizeSourcePaths({}, &out).code() == Code::kInvalidArgument);

  BackupOptions o;
  o.paths = {f.src + "/via", f.src + "/d/file"};
  ArchiveResult ar = f.Archive(o);
  CHECK(At(&f.store, ar.tree, f.src + "/via").type == NodeType::kSymlink);
  CHECK(At(&f.store, ar.tree, f.src).subtree_entries == 2);  // d and via
  CHECK(At(&f.store, ar.tree, f.src + "/d").subtree_entries == 1);
}

TEST_CASE("cancel stops the walk with kCancelled") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  for (int i = 0; i < 50; i++) WriteFile(f.src + "/f" + std::to_string(i), "x");
  Progress progress;
  BackupOptions o;
  o.paths = {f.src};
  std::atomic<int> opened{0};
  o.test_open_hook = [&](const std::string&) {
    if (++opened == 5) progress.cancel = true;
    return 0;
  };
  ArchiveResult ar;
  Status s = ArchiveTree(&f.store, SmallParams(), Gear(), nullptr, o, &progress, &ar);
  CHECK(s.code() == Code::kCancelled);
}

TEST_CASE("a store error aborts the walk with that error") {
  MemFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  for (int i = 0; i < 40; i++) WriteFile(f.src + "/f" + std::to_string(i), std::to_string(i));
  WriteFile(f.src + "/big", testing::RandomData(2 << 20, 3));
  f.store.FailSaves(Status::NoSpace("store full"));
  BackupOptions o;
  o.paths = {f.src};
  o.threads = 3;
  ArchiveResult ar;
  Status s = ArchiveTree(&f.store, SmallParams(), Gear(), nullptr, o, nullptr, &ar);
  CHECK(s.code() == Code::kNoSpace);
}

// --- Through a Repository ---------------------------------------------------

struct RepoFixture {
  TempDir tmp;
  std::string src = tmp / "src";
  std::string name = testing::UniqueStore();
  std::unique_ptr<Repository> repo;

  RepoFixture() {
    InitOptions io = testing::FastInit(4 << 20);
    io.chunker = SmallParams();
    REQUIRE(Repository::Init(testing::Mem(name), "pw", io, &repo).ok());
  }
  ~RepoFixture() { MemoryRemote::DropNamed(name); }

  BackupResult Run(BackupOptions o = {}) {
    if (o.paths.empty()) o.paths = {src};
    o.host = "testhost";
    BackupResult r;
    Status s = Backup(repo.get(), o, nullptr, &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return r;
  }
};

TEST_CASE("Backup and Restore through a Repository; the parent's chunks are reused") {
  RepoFixture f;
  MakeFullTree(f.src);
  BackupResult b1 = f.Run();
  CHECK(!b1.snapshot.has_parent);
  CHECK(b1.snapshot.host == "testhost");
  CHECK(b1.snapshot.paths == std::vector<std::string>{f.src});
  CHECK(b1.snapshot.summary.files >= 12);
  CHECK(b1.snapshot.summary.bytes_added > (5u << 20));
  CHECK(b1.snapshot.summary.stored_added > 0);
  CHECK(b1.stats.files_read == b1.snapshot.summary.files - 2);  // 2 later hardlinks

  // Unchanged: nothing read, no new data, the source subtree identical
  // (before anything else reads the source and changes atimes).
  BackupResult b2 = f.Run();
  CHECK(b2.snapshot.has_parent);
  CHECK(b2.snapshot.parent == b1.snapshot.id);
  CHECK(b2.stats.files_read == 0);
  CHECK(b2.stats.bytes_read == 0);
  CHECK(b2.stats.data_blobs_added == 0);
  CHECK(b2.snapshot.summary.bytes_added == 0);
  CHECK(b2.snapshot.summary.bytes == b1.snapshot.summary.bytes);
  CHECK(At(f.repo.get(), b2.snapshot.tree, f.src).subtree ==
        At(f.repo.get(), b1.snapshot.tree, f.src).subtree);

  // A fresh Open sees the snapshot and can restore it.
  std::unique_ptr<Repository> again;
  REQUIRE(Repository::Open(testing::Mem(f.name), "pw", testing::NoCache(), &again).ok());
  Snapshot latest;
  REQUIRE(ResolveSnapshot(again.get(), "latest", &latest).ok());
  CHECK(latest.id == b2.snapshot.id);
  RestoreOptions ro;
  ro.target = f.tmp / "dst";
  ro.path_in_snapshot = f.src;
  RestoreResult rr;
  REQUIRE(Restore(again.get(), latest, ro, nullptr, &rr).ok());
  CHECK(rr.failed.empty());
  CompareTrees(f.src, ro.target);

  // One file changed: only it is read.
  WriteFile(f.src + "/regular.txt", "changed content");
  BackupResult b3 = f.Run();
  CHECK(b3.snapshot.parent == b2.snapshot.id);
  CHECK(b3.stats.files_read == 1);

  // Different paths: no parent.
  BackupOptions other;
  other.paths = {f.src + "/nested"};
  BackupResult b4 = f.Run(other);
  CHECK(!b4.snapshot.has_parent);

  std::vector<Snapshot> all;
  REQUIRE(ListSnapshots(f.repo.get(), &all).ok());
  CHECK(all.size() == 4);
}

TEST_CASE("Backup holds a shared lock: released after, refused under an exclusive one") {
  RepoFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  WriteFile(f.src + "/a", "a");
  f.Run();
  CHECK(testing::ListAll(f.repo->remote(), "locks/").empty());

  std::unique_ptr<StoreLock> exclusive;
  REQUIRE(StoreLock::Acquire(f.repo.get(), LockKind::kExclusive, &exclusive).ok());
  BackupOptions o;
  o.paths = {f.src};
  BackupResult r;
  CHECK(Backup(f.repo.get(), o, nullptr, &r).code() == Code::kBusy);
  REQUIRE(exclusive->Release().ok());
  CHECK(Backup(f.repo.get(), o, nullptr, &r).ok());
}

TEST_CASE("Backup: cancel writes no snapshot; skipped entries are saved in the snapshot") {
  RepoFixture f;
  REQUIRE(mkdir(f.src.c_str(), 0755) == 0);
  for (int i = 0; i < 20; i++) WriteFile(f.src + "/f" + std::to_string(i), "x");
  Progress progress;
  BackupOptions o;
  o.paths = {f.src};
  o.test_open_hook = [&](const std::string&) {
    progress.cancel = true;
    return 0;
  };
  BackupResult r;
  CHECK(Backup(f.repo.get(), o, &progress, &r).code() == Code::kCancelled);
  std::vector<Snapshot> all;
  REQUIRE(ListSnapshots(f.repo.get(), &all).ok());
  CHECK(all.empty());

  o.test_open_hook = [](const std::string& p) {
    return p.size() >= 3 && p.compare(p.size() - 3, 3, "/f7") == 0 ? EIO : 0;
  };
  progress.cancel = false;
  REQUIRE(Backup(f.repo.get(), o, &progress, &r).ok());
  Snapshot loaded;
  REQUIRE(LoadSnapshot(f.repo.get(), r.snapshot.id, &loaded).ok());
  REQUIRE(loaded.skipped.size() == 1);
  CHECK(loaded.skipped[0].path == f.src + "/f7");
  CHECK(loaded.summary.skipped == 1);
}

}  // namespace
}  // namespace kloset
