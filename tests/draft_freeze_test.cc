// Tests for Draft::Freeze, Committed, Trim and Apply (core/draft.h): reuse
// of unchanged pages, rewriting only the changed path, journal replay giving
// the same root, summary counts, store errors, memory kept bounded, a base
// made by the archiver, and concurrent callers.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/archiver.h"
#include "core/counting_blob_store.h"
#include "core/draft.h"
#include "tests/draft_test_util.h"
#include "tests/fs_tree_util.h"

namespace kloset {
namespace {

using testing::BuildTree;
using testing::DirNode;
using testing::FakeClock;
using testing::FileNode;
using testing::FreezeRoot;
using testing::Opts;
using testing::Recorder;
using testing::Resolve;
using testing::ResolvePath;
using testing::ScanDraft;

// A base: top/d0..d9/ each with 20 files, plus a deep path a/b/c/file.
std::map<std::string, Node> WideBase() {
  std::map<std::string, Node> base;
  base["top"] = DirNode();
  for (int i = 0; i < 10; i++) {
    const std::string d = "top/d" + std::to_string(i);
    base[d] = DirNode();
    for (int j = 0; j < 20; j++) base[d + "/f" + std::to_string(j)] = FileNode(100 + j);
  }
  base["a"] = DirNode();
  base["a/b"] = DirNode();
  base["a/b/c"] = DirNode(0700);
  base["a/b/c/file"] = FileNode(5);
  base["a/b/c/sibling"] = FileNode(6);
  base["a/b/other"] = FileNode(7);
  return base;
}

TEST_CASE("freeze: an untouched draft gives the base root; only changed paths are written") {
  MemoryBlobStore mem;
  const Hash base = BuildTree(&mem, WideBase());
  const SnapshotSummary bs = testing::CountStored(&mem, base);
  CountingBlobStore store(&mem);
  FakeClock clock;
  Draft d(&store, &base, bs, Opts(&clock));
  mem.ResetCounters();
  SnapshotSummary sum;
  CHECK(FreezeRoot(&d, &sum) == base);
  CHECK(mem.load_count() == 0);  // nothing loaded, nothing written
  CHECK(mem.save_count() == 0);
  CHECK(sum.files == bs.files);
  CHECK(sum.dirs == bs.dirs);
  CHECK(sum.bytes == bs.bytes);
  // Loading everything changes nothing either.
  testing::Tree all = ScanDraft(&d);
  CHECK(all.entries.size() == 1 + 10 + 200 + 6);
  CHECK(FreezeRoot(&d) == base);
  CHECK(mem.save_count() == 0);
  CHECK(!d.Dirty());

  // A deep change rewrites exactly the pages on its path: c, b, a, root.
  DraftId file = Resolve(&d, "a/b/c/file");
  DraftAttrChange ch;
  ch.mode = 0600;
  Node attr;
  REQUIRE(d.SetAttr(file, ch, &attr).ok());
  CHECK(d.Dirty());
  mem.ResetCounters();
  uint64_t gen;
  const Hash r1 = FreezeRoot(&d, &sum, &gen);
  CHECK(r1 != base);
  CHECK(mem.save_count() == 4);
  CHECK(store.tree_blobs_added() == 4);
  Node stored;
  REQUIRE(LookupPath(&mem, r1, "a/b/c/file", &stored).ok());
  CHECK(stored.mode == 0600);
  Node c_new, c_old;
  REQUIRE(LookupPath(&mem, r1, "top/d3", &c_new).ok());
  REQUIRE(LookupPath(&mem, base, "top/d3", &c_old).ok());
  CHECK(c_new.subtree == c_old.subtree);

  // Freeze leaves the draft as it was: the same again, and still dirty.
  mem.ResetCounters();
  CHECK(FreezeRoot(&d) == r1);
  CHECK(d.Dirty());
  d.Committed(gen);
  CHECK(!d.Dirty());
  mem.ResetCounters();
  CHECK(FreezeRoot(&d) == r1);
  CHECK(mem.save_count() == 0);

  // After the commit, a change elsewhere rewrites only its own path.
  DraftId d7 = Resolve(&d, "top/d7");
  REQUIRE(d.Unlink(d7, "f3").ok());
  mem.ResetCounters();
  const Hash r2 = FreezeRoot(&d, &sum);
  CHECK(mem.save_count() == 3);  // d7, top, root
  CHECK(sum.files == bs.files - 1);
  CHECK(sum.bytes == bs.bytes - 103);
  {
    Draft fresh(&store, &r2, sum, Opts(&clock));
    CHECK(ScanDraft(&fresh) == ScanDraft(&d));
  }
}

TEST_CASE("committed: changes after Freeze stay dirty; an old generation is ignored") {
  MemoryBlobStore store;
  FakeClock clock;
  Draft d(&store, nullptr, SnapshotSummary{}, Opts(&clock));
  CHECK(!d.Dirty());
  const Hash empty = FreezeRoot(&d);
  DraftId id;
  Node attr;
  REQUIRE(d.Create(kDraftRootId, "a", DirNode(), &id, &attr).ok());
  CHECK(d.Dirty());
  uint64_t g1;
  SnapshotSummary sum;
  const Hash r1 = FreezeRoot(&d, &sum, &g1);
  CHECK(r1 != empty);
  DraftId f;
  REQUIRE(d.Create(id, "f", FileNode(), &f, &attr).ok());  // after Freeze
  d.Committed(g1);
  CHECK(d.Dirty());
  uint64_t g2;
  const Hash r2 = FreezeRoot(&d, &sum, &g2);
  CHECK(r2 != r1);
  Node stored;
  CHECK(LookupPath(&store, r2, "a/f", &stored).ok());
  CHECK(LookupPath(&store, r1, "a/f", &stored).code() == Code::kNotFound);

  // Freeze twice; committing the older generation keeps the draft dirty.
  REQUIRE(d.Unlink(id, "f").ok());
  uint64_t g3, g4;
  FreezeRoot(&d, &sum, &g3);
  REQUIRE(d.Create(id, "g", FileNode(), &f, &attr).ok());
  const Hash r4 = FreezeRoot(&d, &sum, &g4);
  CHECK(g4 > g3);
  d.Committed(g3);
  CHECK(d.Dirty());
  d.Committed(g4);
  CHECK(!d.Dirty());
  store.ResetCounters();
  CHECK(FreezeRoot(&d) == r4);
  CHECK(store.save_count() == 0);
  CHECK(sum.files == 1);
  CHECK(sum.dirs == 1);
}

TEST_CASE("freeze: a store error fails it and leaves the draft as it was") {
  MemoryBlobStore store;
  FakeClock clock;
  Draft d(&store, nullptr, SnapshotSummary{}, Opts(&clock));
  DraftId id;
  Node attr;
  REQUIRE(d.Create(kDraftRootId, "a", DirNode(), &id, &attr).ok());
  store.FailSaves(Status::NoSpace("full"));
  Hash root;
  SnapshotSummary sum;
  uint64_t gen;
  CHECK(d.Freeze(&root, &sum, &gen).code() == Code::kNoSpace);
  CHECK(d.Dirty());
  store.FailSaves(Status::OK());
  REQUIRE(d.Freeze(&root, &sum, &gen).ok());
  Node stored;
  CHECK(LookupPath(&store, root, "a", &stored).ok());
}

TEST_CASE("apply: a recorded journal rebuilds the same tree and root") {
  MemoryBlobStore store;
  const Hash base = BuildTree(&store, WideBase());
  const SnapshotSummary bs = testing::CountStored(&store, base);
  FakeClock clock;
  Draft d(&store, &base, bs, Opts(&clock));
  Recorder rec;
  d.SetObserver(&rec);
  Node attr;
  DraftId x, y, z;
  DraftId c = Resolve(&d, "a/b/c");
  REQUIRE(d.Create(c, "new", FileNode(), &x, &attr).ok());
  Hash h{};
  h.fill(3);
  REQUIRE(d.SetContent(x, {{h, 10, false}, {Hash{}, 90, true}}, 100).ok());
  REQUIRE(d.SetContent(Resolve(&d, "a/b/c/file"), {}, 0, int64_t{123}).ok());
  REQUIRE(d.SetXattr(x, "user.k", "v", XattrMode::kCreate).ok());
  REQUIRE(d.SetXattr(c, "user.dir", "1", XattrMode::kAny).ok());
  REQUIRE(d.RemoveXattr(c, "user.dir").ok());
  DraftAttrChange ch;
  ch.uid = 7;
  ch.atime_ns = 11;
  REQUIRE(d.SetAttr(x, ch, &attr).ok());
  DraftId top = Resolve(&d, "top");
  REQUIRE(d.Link(x, top, "hard", &attr).ok());
  REQUIRE(d.Create(top, "dir", DirNode(), &y, &attr).ok());
  Node sym;
  sym.type = NodeType::kSymlink;
  sym.symlink_target = "../x";
  REQUIRE(d.Create(y, "sym", sym, &z, &attr).ok());
  REQUIRE(d.Rename(top, "d1", y, "moved", 0).ok());
  REQUIRE(d.Rename(top, "d2", y, "moved", kRenameExchange).ok());
  REQUIRE(d.Unlink(Resolve(&d, "top/dir/moved"), "f0").ok());
  REQUIRE(d.Rename(c, "new", top, "d3", kRenameNoReplace).code() == Code::kExists);
  REQUIRE(d.Rename(c, "new", top, "hard2", kRenameNoReplace).ok());
  REQUIRE(d.Rmdir(top, "d4").code() == Code::kNotEmpty);
  // A file unlinked while open: its later changes are not journaled.
  REQUIRE(d.Pin(x).ok());
  REQUIRE(d.Unlink(c, "sibling").ok());
  DraftId b = Resolve(&d, "a/b");
  REQUIRE(d.Rename(b, "other", top, "hard", 0).ok());
  REQUIRE(d.Unlink(top, "hard2").ok());
  const size_t before = rec.ops.size();
  REQUIRE(d.SetContent(x, {}, 0).ok());
  CHECK(rec.ops.size() == before);
  d.Unpin(x);

  SnapshotSummary sum1, sum2;
  const Hash r1 = FreezeRoot(&d, &sum1);
  Draft replay(&store, &base, bs, Opts(nullptr));
  for (const DraftOp& op : rec.ops) {
    Status s = replay.Apply(op);
    INFO(int(op.kind) << " " << op.path << " -> " << op.path2 << ": " << s.ToString());
    REQUIRE(s.ok());
  }
  CHECK(FreezeRoot(&replay, &sum2) == r1);
  CHECK(ScanDraft(&replay) == ScanDraft(&d));
  CHECK(sum2.files == sum1.files);
  CHECK(sum2.bytes == sum1.bytes);
  const SnapshotSummary walk = testing::CountStored(&store, r1);
  CHECK(sum1.files == walk.files);
  CHECK(sum1.dirs == walk.dirs);
  CHECK(sum1.others == walk.others);
  CHECK(sum1.bytes == walk.bytes);
}

TEST_CASE("trim: memory stays bounded by what the kernel holds") {
  MemoryBlobStore store;
  const Hash base = BuildTree(&store, WideBase());
  FakeClock clock;
  Draft d(&store, &base, testing::CountStored(&store, base), Opts(&clock));
  // readdirplus over everything, as `ls -lR` would, then the kernel forgets.
  std::vector<DraftId> held;
  std::function<void(DraftId)> walk = [&](DraftId dir) {
    std::vector<DraftId> dirs;
    REQUIRE(d.List(dir, "", true, [&](const std::string&, DraftId id, const Node& a) {
               held.push_back(id);
               if (a.type == NodeType::kDir) dirs.push_back(id);
               return true;
             }).ok());
    for (DraftId sub : dirs) walk(sub);
  };
  walk(kDraftRootId);
  CHECK(d.NodeCount() == 1 + 217);
  CHECK(d.Trim() == 0);  // all held
  DraftId keep = Resolve(&d, "top/d5/f5");
  Node attr;
  DraftId again;
  REQUIRE(d.Lookup(Resolve(&d, "top/d5"), "f5", &again, &attr).ok());
  for (DraftId id : held) d.Forget(id, 1);
  d.Trim();
  // Left: the root's entries, top's, and d5's (f5 is looked up); below a
  // everything is gone.
  CHECK(d.NodeCount() == 1 + 2 + 10 + 20);
  d.Forget(keep, 1);
  d.Trim();
  CHECK(d.NodeCount() == 1);
  CHECK(FreezeRoot(&d) == base);
  // Everything loads again on demand.
  CHECK(ScanDraft(&d).entries.size() == 217);

  // Changed directories stay until committed.
  d.Trim();
  DraftId d2 = Resolve(&d, "top/d2");
  REQUIRE(d.Unlink(d2, "f1").ok());
  d.Trim();
  CHECK(d.NodeCount() == 1 + 2 + 10 + 19);  // root, its entries, top's, d2's
  uint64_t gen;
  SnapshotSummary sum;
  const Hash r = FreezeRoot(&d, &sum, &gen);
  d.Committed(gen);
  d.Trim();
  CHECK(d.NodeCount() == 1);
  CHECK(FreezeRoot(&d) == r);
  DraftId gone;
  CHECK(ResolvePath(&d, "top/d2/f1", &gone).code() == Code::kNotFound);
  CHECK(ResolvePath(&d, "top/d2/f2", &gone).ok());
}

TEST_CASE("a draft over a tree made by the archiver") {
  testing::TempDir tmp;
  const std::string src = tmp / "src";
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  testing::WriteFile(src + "/file", "hello");
  REQUIRE(mkdir((src + "/dir").c_str(), 0750) == 0);
  testing::WriteFile(src + "/dir/h1", testing::RandomData(70000, 1));
  REQUIRE(link((src + "/dir/h1").c_str(), (src + "/h2").c_str()) == 0);
  REQUIRE(symlink("file", (src + "/sym").c_str()) == 0);
  REQUIRE(mkfifo((src + "/fifo").c_str(), 0600) == 0);
  REQUIRE(setxattr((src + "/file").c_str(), "user.k", "v", 1, 0) == 0);

  MemoryBlobStore store;
  ChunkerParams params;
  params.min_size = 16 * 1024;
  params.avg_size = 64 * 1024;
  params.max_size = 256 * 1024;
  static const GearTable gear = GearTable::FromKey(Key{});
  BackupOptions o;
  o.paths = {src};
  o.count_totals = false;
  ArchiveResult ar;
  REQUIRE(ArchiveTree(&store, params, gear, nullptr, o, nullptr, &ar).ok());
  FakeClock clock;
  Draft d(&store, &ar.tree, ar.summary, Opts(&clock));
  CHECK(FreezeRoot(&d) == ar.tree);
  const std::string rel = ar.paths[0].substr(1);  // the tree holds the absolute path
  DraftId srcid = Resolve(&d, rel);
  DraftId h2 = Resolve(&d, rel + "/h2");
  Node attr;
  REQUIRE(d.GetAttr(h2, &attr).ok());
  CHECK(attr.nlink == 2);
  CHECK(attr.size == 70000);
  std::string v;
  REQUIRE(d.GetXattr(Resolve(&d, rel + "/file"), "user.k", &v).ok());
  CHECK(v == "v");
  REQUIRE(d.ReadLink(Resolve(&d, rel + "/sym"), &v).ok());
  CHECK(v == "file");

  // Unlink one link of the hardlink: the other, in a directory not loaded
  // yet, gets the new count.
  REQUIRE(d.Unlink(srcid, "h2").ok());
  SnapshotSummary sum;
  const Hash r = FreezeRoot(&d, &sum);
  Node stored;
  REQUIRE(LookupPath(&store, r, ar.paths[0] + "/dir/h1", &stored).ok());
  CHECK(stored.nlink == 1);
  CHECK(stored.hardlink_id == 0);
  CHECK(stored.chunks.size() >= 1);
  const SnapshotSummary walk = testing::CountStored(&store, r);
  CHECK(sum.files == walk.files);
  CHECK(sum.dirs == walk.dirs);
  CHECK(sum.others == walk.others);
  CHECK(sum.bytes == walk.bytes);
  CHECK(ar.summary.files == walk.files + 1);
}

TEST_CASE("concurrent callers") {
  MemoryBlobStore store;
  const Hash base = BuildTree(&store, WideBase());
  // The real clock: FakeClock is not thread-safe. Catch's assertions are
  // not either: threads count failures.
  Draft d(&store, &base, testing::CountStored(&store, base), Opts(nullptr));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&d, &failures, t] {
      DraftId dir;
      if (!ResolvePath(&d, "top/d" + std::to_string(t), &dir).ok()) {
        failures++;
        return;
      }
      for (int i = 0; i < 200; i++) {
        const std::string name = "n" + std::to_string(i % 7);
        DraftId id;
        Node attr;
        if (d.Create(dir, name, FileNode(), &id, &attr).ok()) d.Forget(id, 1);
        (void)d.Rename(dir, name, dir, "r" + std::to_string(i % 5), 0);
        (void)d.Unlink(dir, "r" + std::to_string(i % 3));
        Hash r;
        SnapshotSummary s;
        uint64_t g;
        if (!d.Freeze(&r, &s, &g).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  SnapshotSummary sum;
  const Hash r = FreezeRoot(&d, &sum);
  const SnapshotSummary walk = testing::CountStored(&store, r);
  CHECK(sum.files == walk.files);
  Draft fresh(&store, &r, sum, Opts(nullptr));
  CHECK(ScanDraft(&fresh) == ScanDraft(&d));
}

}  // namespace
}  // namespace kloset
