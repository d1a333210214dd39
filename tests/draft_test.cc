// Tests for core/draft.h: POSIX semantics and error cases of every op, node
// lifetime, times, the observer, lazy loading and base hardlinks. Freeze,
// Committed, replay and the randomized model test: draft_model_test.cc.
#include "core/draft.h"

#include <catch2/catch.hpp>

#include "core/memory_blob_store.h"
#include "tests/draft_test_util.h"

namespace kloset {
namespace {

using testing::BuildTree;
using testing::DirNode;
using testing::FakeClock;
using testing::FileNode;
using testing::Opts;
using testing::Recorder;

struct Fixture {
  MemoryBlobStore store;
  FakeClock clock;
  Recorder rec;
  Draft d{&store, nullptr, SnapshotSummary{}, Opts(&clock)};
  Fixture() { d.SetObserver(&rec); }

  DraftId Make(DraftId dir, const std::string& name, NodeType type, uint32_t mode = 0644) {
    Node n;
    n.type = type;
    n.mode = mode;
    if (type == NodeType::kSymlink) n.symlink_target = "target/of/" + name;
    DraftId id;
    Node attr;
    Status s = d.Create(dir, name, n, &id, &attr);
    INFO(name << ": " << s.ToString());
    REQUIRE(s.ok());
    return id;
  }
  Node Attr(DraftId id) {
    Node a;
    REQUIRE(d.GetAttr(id, &a).ok());
    return a;
  }
  // Looks up without keeping the lookup.
  Status Find(DraftId dir, const std::string& name, DraftId* id = nullptr) {
    DraftId x;
    Node a;
    Status s = d.Lookup(dir, name, &x, &a);
    if (s.ok()) {
      d.Forget(x, 1);
      if (id) *id = x;
    }
    return s;
  }
  std::vector<std::string> Names(DraftId dir) {
    std::vector<std::string> out;
    REQUIRE(d.List(dir, "", false, [&](const std::string& n, DraftId, const Node&) {
               out.push_back(n);
               return true;
             }).ok());
    return out;
  }
};

TEST_CASE("create, lookup, getattr, list and readlink") {
  Fixture f;
  DraftId a = f.Make(kDraftRootId, "a", NodeType::kDir, 0750);
  DraftId file = f.Make(a, "file", NodeType::kFile, 0640);
  DraftId link = f.Make(a, "sym", NodeType::kSymlink, 0777);
  f.Make(a, "fifo", NodeType::kFifo);
  Node dev;
  dev.type = NodeType::kCharDev;
  dev.mode = 0600;
  dev.rdev = 0x0103;
  DraftId dev_id;
  Node attr;
  REQUIRE(f.d.Create(a, "dev", dev, &dev_id, &attr).ok());
  CHECK(attr.rdev == 0x0103);
  CHECK(attr.name == "dev");

  DraftId got;
  REQUIRE(f.d.Lookup(a, "file", &got, &attr).ok());
  CHECK(got == file);
  CHECK(attr.name == "file");
  CHECK(attr.type == NodeType::kFile);
  CHECK(attr.mode == 0640);
  CHECK(attr.nlink == 1);
  CHECK(f.Attr(a).nlink == 2);
  CHECK(f.Attr(kDraftRootId).nlink == 3);  // 2 + the subdirectory a
  CHECK(f.Names(a) == std::vector<std::string>{"dev", "fifo", "file", "sym"});
  CHECK(f.Names(kDraftRootId) == std::vector<std::string>{"a"});

  std::string target;
  REQUIRE(f.d.ReadLink(link, &target).ok());
  CHECK(target == "target/of/sym");
  CHECK(f.Attr(link).size == target.size());
  CHECK(f.d.ReadLink(file, &target).code() == Code::kInvalidArgument);

  // List from a name on, and stopping early.
  std::vector<std::string> seen;
  REQUIRE(f.d.List(a, "fifo", false,
                   [&](const std::string& n, DraftId, const Node&) {
                     seen.push_back(n);
                     return seen.size() < 1;
                   })
              .ok());
  CHECK(seen == std::vector<std::string>{"file"});

  // Errors.
  Node fnode = FileNode();
  DraftId x;
  CHECK(f.d.Lookup(a, "missing", &x, &attr).code() == Code::kNotFound);
  CHECK(f.d.Lookup(file, "x", &x, &attr).code() == Code::kNotDirectory);
  CHECK(f.d.Lookup(12345, "x", &x, &attr).code() == Code::kNotFound);
  CHECK(f.d.Create(a, "file", fnode, &x, &attr).code() == Code::kExists);
  CHECK(f.d.Create(a, "file", DirNode(), &x, &attr).code() == Code::kExists);
  CHECK(f.d.Create(file, "x", fnode, &x, &attr).code() == Code::kNotDirectory);
  CHECK(f.d.Create(a, std::string(256, 'n'), fnode, &x, &attr).code() == Code::kNameTooLong);
  REQUIRE(f.d.Create(a, std::string(255, 'n'), fnode, &x, &attr).ok());
  for (const char* bad : {"", ".", "..", "a/b"}) {
    CHECK(f.d.Create(a, bad, fnode, &x, &attr).code() == Code::kInvalidArgument);
  }
  CHECK(f.d.Create(a, std::string("nul\0", 4), fnode, &x, &attr).code() == Code::kInvalidArgument);
  Node bad_type;
  bad_type.type = static_cast<NodeType>(9);
  CHECK(f.d.Create(a, "t", bad_type, &x, &attr).code() == Code::kInvalidArgument);
  Node empty_link;
  empty_link.type = NodeType::kSymlink;
  CHECK(f.d.Create(a, "t", empty_link, &x, &attr).code() == Code::kInvalidArgument);
  // Mode bits beyond 07777 are dropped.
  Node typed = FileNode(0, 0100644);
  REQUIRE(f.d.Create(a, "typed", typed, &x, &attr).ok());
  CHECK(attr.mode == 0644);
}

TEST_CASE("times: creation, entries, metadata and content") {
  Fixture f;
  const int64_t t0 = f.clock.t;
  DraftId a = f.Make(kDraftRootId, "a", NodeType::kDir);
  Node attr = f.Attr(a);
  CHECK(attr.mtime_ns == t0 + 1000);
  CHECK(attr.ctime_ns == t0 + 1000);
  CHECK(attr.atime_ns == t0 + 1000);
  CHECK(f.Attr(kDraftRootId).mtime_ns == t0 + 1000);

  DraftId file = f.Make(a, "file", NodeType::kFile);
  const int64_t t_file = f.clock.t;
  CHECK(f.Attr(a).mtime_ns == t_file);
  CHECK(f.Attr(a).ctime_ns == t_file);
  CHECK(f.Attr(kDraftRootId).mtime_ns == t0 + 1000);  // only the direct parent

  DraftAttrChange ch;
  ch.mode = 0600;
  ch.mtime_ns = 42;
  ch.atime_ns = 43;
  REQUIRE(f.d.SetAttr(file, ch, &attr).ok());
  CHECK(attr.mode == 0600);
  CHECK(attr.mtime_ns == 42);
  CHECK(attr.atime_ns == 43);
  CHECK(attr.ctime_ns == f.clock.t);
  CHECK(f.Attr(a).mtime_ns == t_file);  // metadata changes leave the parent alone

  REQUIRE(f.d.SetContent(file, {{Hash{}, 10, true}}, 10).ok());
  attr = f.Attr(file);
  CHECK(attr.mtime_ns == f.clock.t);
  CHECK(attr.ctime_ns == f.clock.t);
  CHECK(attr.size == 10);
  REQUIRE(f.d.SetContent(file, {}, 0, int64_t{77}).ok());
  attr = f.Attr(file);
  CHECK(attr.mtime_ns == 77);
  CHECK(attr.ctime_ns == f.clock.t);

  REQUIRE(f.d.SetXattr(file, "user.x", "1", XattrMode::kAny).ok());
  CHECK(f.Attr(file).ctime_ns == f.clock.t);
  CHECK(f.Attr(file).mtime_ns == 77);

  DraftId b = f.Make(kDraftRootId, "b", NodeType::kDir);
  REQUIRE(f.d.Rename(a, "file", b, "moved", 0).ok());
  const int64_t t_mv = f.clock.t;
  CHECK(f.Attr(a).mtime_ns == t_mv);
  CHECK(f.Attr(b).mtime_ns == t_mv);
  CHECK(f.Attr(b).ctime_ns == t_mv);

  // Every reported op carries the time it stamped.
  REQUIRE(!f.rec.ops.empty());
  CHECK(f.rec.ops.back().kind == DraftOp::Kind::kRename);
  CHECK(f.rec.ops.back().time_ns == t_mv);
}

TEST_CASE("setcontent, setattr and summary bytes") {
  Fixture f;
  DraftId file = f.Make(kDraftRootId, "f", NodeType::kFile);
  DraftId dir = f.Make(kDraftRootId, "d", NodeType::kDir);
  DraftId sym = f.Make(kDraftRootId, "s", NodeType::kSymlink);
  Hash h{};
  h.fill(7);
  CHECK(f.d.SetContent(file, {{h, 5, false}}, 6).code() == Code::kInvalidArgument);
  CHECK(f.d.SetContent(dir, {}, 0).code() == Code::kIsDirectory);
  CHECK(f.d.SetContent(sym, {}, 0).code() == Code::kInvalidArgument);
  CHECK(f.d.SetContent(999, {}, 0).code() == Code::kNotFound);
  REQUIRE(f.d.SetContent(file, {{h, 1000, false}, {Hash{}, 5000, true}}, 6000).ok());
  Node a = f.Attr(file);
  CHECK(a.size == 6000);
  CHECK(a.blocks == 2);  // 1000 data bytes
  CHECK(a.chunks.size() == 2);
  // Attributes alone: no chunk list, the same blocks; the node keeps it.
  Node lean;
  REQUIRE(f.d.GetAttr(file, &lean, DraftAttr::kNoChunks).ok());
  CHECK(lean.chunks.empty());
  CHECK(lean.size == 6000);
  CHECK(lean.blocks == 2);
  DraftId again;
  REQUIRE(f.d.Lookup(kDraftRootId, "f", &again, &lean, DraftAttr::kNoChunks).ok());
  f.d.Forget(again, 1);
  CHECK(again == file);
  CHECK(lean.chunks.empty());
  CHECK(lean.name == "f");
  CHECK(f.Attr(file).chunks == a.chunks);
  REQUIRE(f.d.Link(file, dir, "f2", &a).ok());
  f.d.Forget(file, 1);

  Hash root;
  SnapshotSummary sum;
  uint64_t gen;
  REQUIRE(f.d.Freeze(&root, &sum, &gen).ok());
  CHECK(sum.files == 2);
  CHECK(sum.dirs == 1);
  CHECK(sum.others == 1);
  CHECK(sum.bytes == 12000);
  REQUIRE(f.d.SetContent(file, {{h, 10, false}}, 10).ok());
  REQUIRE(f.d.Freeze(&root, &sum, &gen).ok());
  CHECK(sum.bytes == 20);

  DraftAttrChange ch;
  ch.uid = 12;
  ch.gid = 34;
  REQUIRE(f.d.SetAttr(dir, ch, &a).ok());
  CHECK(a.uid == 12);
  CHECK(a.gid == 34);
  CHECK(a.mode == 0644);
  CHECK(f.d.SetAttr(999, ch, &a).code() == Code::kNotFound);
}

TEST_CASE("xattrs: create and replace modes") {
  Fixture f;
  DraftId file = f.Make(kDraftRootId, "f", NodeType::kFile);
  std::string v;
  CHECK(f.d.GetXattr(file, "user.a", &v).code() == Code::kNotFound);
  CHECK(f.d.SetXattr(file, "user.a", "1", XattrMode::kReplace).code() == Code::kNotFound);
  REQUIRE(f.d.SetXattr(file, "user.a", "1", XattrMode::kCreate).ok());
  CHECK(f.d.SetXattr(file, "user.a", "2", XattrMode::kCreate).code() == Code::kExists);
  REQUIRE(f.d.SetXattr(file, "user.a", "3", XattrMode::kReplace).ok());
  REQUIRE(f.d.SetXattr(file, "user.0", std::string("\0bin", 4), XattrMode::kAny).ok());
  REQUIRE(f.d.SetXattr(file, "user.z", "", XattrMode::kAny).ok());
  REQUIRE(f.d.SetXattr(file, "user.z", "zz", XattrMode::kAny).ok());
  CHECK(f.d.SetXattr(file, "", "x", XattrMode::kAny).code() == Code::kInvalidArgument);
  REQUIRE(f.d.GetXattr(file, "user.a", &v).ok());
  CHECK(v == "3");
  REQUIRE(f.d.GetXattr(file, "user.0", &v).ok());
  CHECK(v == std::string("\0bin", 4));
  std::vector<std::string> names;
  REQUIRE(f.d.ListXattr(file, &names).ok());
  CHECK(names == std::vector<std::string>{"user.0", "user.a", "user.z"});
  CHECK(f.d.RemoveXattr(file, "user.nope").code() == Code::kNotFound);
  REQUIRE(f.d.RemoveXattr(file, "user.0").ok());
  REQUIRE(f.d.ListXattr(file, &names).ok());
  CHECK(names == std::vector<std::string>{"user.a", "user.z"});
  const auto& ops = f.rec.ops;
  REQUIRE(ops.size() == 7);  // create + 5 successful sets + 1 remove
  CHECK(ops[2].kind == DraftOp::Kind::kSetXattr);
  CHECK(ops[2].xattr_mode == XattrMode::kReplace);
  CHECK(ops[6].kind == DraftOp::Kind::kRemoveXattr);
  CHECK(ops[6].name == "user.0");
  CHECK(ops[6].path == "f");
}

TEST_CASE("unlink, rmdir and their errors") {
  Fixture f;
  DraftId a = f.Make(kDraftRootId, "a", NodeType::kDir);
  f.Make(a, "file", NodeType::kFile);
  DraftId sub = f.Make(a, "sub", NodeType::kDir);
  CHECK(f.d.Rmdir(kDraftRootId, "a").code() == Code::kNotEmpty);
  CHECK(f.d.Rmdir(a, "file").code() == Code::kNotDirectory);
  CHECK(f.d.Unlink(a, "sub").code() == Code::kIsDirectory);
  CHECK(f.d.Unlink(a, "missing").code() == Code::kNotFound);
  CHECK(f.d.Rmdir(a, "missing").code() == Code::kNotFound);
  CHECK(f.Attr(a).nlink == 3);
  REQUIRE(f.d.Rmdir(a, "sub").ok());
  CHECK(f.Attr(a).nlink == 2);
  // The kernel still holds a lookup on sub: it stays, empty and unlinked.
  CHECK(f.Attr(sub).nlink == 0);
  DraftId x;
  Node attr;
  CHECK(f.d.Create(sub, "new", FileNode(), &x, &attr).code() == Code::kNotFound);
  CHECK(f.d.Lookup(sub, "new", &x, &attr).code() == Code::kNotFound);
  f.d.Forget(sub, 1);
  CHECK(f.d.GetAttr(sub, &attr).code() == Code::kNotFound);
  REQUIRE(f.d.Unlink(a, "file").ok());
  REQUIRE(f.d.Rmdir(kDraftRootId, "a").ok());
  CHECK(f.Names(kDraftRootId).empty());
  std::vector<DraftOp::Kind> kinds;
  for (const DraftOp& op : f.rec.ops) kinds.push_back(op.kind);
  using K = DraftOp::Kind;
  CHECK(kinds ==
        std::vector<K>{K::kCreate, K::kCreate, K::kCreate, K::kRmdir, K::kUnlink, K::kRmdir});
  CHECK(f.rec.ops[3].path == "a/sub");
}

TEST_CASE("node lifetime: lookups, pins, unlink while open") {
  Fixture f;
  const size_t base_count = f.d.NodeCount();
  DraftId file = f.Make(kDraftRootId, "f", NodeType::kFile);  // one lookup
  DraftId x;
  Node attr;
  REQUIRE(f.d.Lookup(kDraftRootId, "f", &x, &attr).ok());  // two
  REQUIRE(f.d.Pin(file).ok());
  REQUIRE(f.d.Unlink(kDraftRootId, "f").ok());
  CHECK(f.Attr(file).nlink == 0);
  f.d.Forget(file, 2);
  CHECK(f.d.NodeCount() == base_count + 1);  // pinned
  // An open, unlinked file can still change, but nothing is reported or
  // dirtied: it cannot reach a commit.
  const size_t nops = f.rec.ops.size();
  REQUIRE(f.d.SetContent(file, {{Hash{}, 3, true}}, 3).ok());
  DraftAttrChange ch;
  ch.mode = 0600;
  REQUIRE(f.d.SetAttr(file, ch, &attr).ok());
  REQUIRE(f.d.SetXattr(file, "user.a", "b", XattrMode::kAny).ok());
  CHECK(f.rec.ops.size() == nops);
  CHECK(f.Attr(file).size == 3);
  // A removed file cannot be linked back.
  CHECK(f.d.Link(file, kDraftRootId, "back", &attr).code() == Code::kNotFound);
  f.d.Unpin(file);
  CHECK(f.d.NodeCount() == base_count);
  CHECK(f.d.GetAttr(file, &attr).code() == Code::kNotFound);
  CHECK(f.d.Pin(file).code() == Code::kNotFound);
  f.d.Unpin(file);      // harmless
  f.d.Forget(file, 1);  // harmless

  // Forget more than held; lookups counted by List's readdirplus.
  DraftId g = f.Make(kDraftRootId, "g", NodeType::kFile);
  f.d.Forget(g, 100);
  CHECK(f.d.GetAttr(g, &attr).ok());  // still linked
  REQUIRE(f.d.List(kDraftRootId, "", true,
                   [](const std::string&, DraftId, const Node&) { return true; })
              .ok());
  REQUIRE(f.d.Unlink(kDraftRootId, "g").ok());
  CHECK(f.d.GetAttr(g, &attr).ok());  // readdirplus lookup
  f.d.Forget(g, 1);
  CHECK(f.d.GetAttr(g, &attr).code() == Code::kNotFound);
  // Ids are never reused.
  DraftId h = f.Make(kDraftRootId, "h", NodeType::kFile);
  CHECK(h > g);
}

TEST_CASE("hard links: counts, errors, frozen hardlink ids") {
  Fixture f;
  DraftId a = f.Make(kDraftRootId, "a", NodeType::kDir);
  DraftId file = f.Make(kDraftRootId, "f", NodeType::kFile);
  Node attr;
  CHECK(f.d.Link(a, kDraftRootId, "dirlink", &attr).code() == Code::kPermission);
  CHECK(f.d.Link(file, kDraftRootId, "a", &attr).code() == Code::kExists);
  CHECK(f.d.Link(file, file, "x", &attr).code() == Code::kNotDirectory);
  CHECK(f.d.Link(file, a, std::string(256, 'x'), &attr).code() == Code::kNameTooLong);
  REQUIRE(f.d.Link(file, a, "l1", &attr).ok());
  CHECK(attr.nlink == 2);
  CHECK(attr.name == "l1");
  REQUIRE(f.d.Link(file, a, "l2", &attr).ok());
  CHECK(f.Attr(file).nlink == 3);
  const uint64_t hid = f.Attr(file).hardlink_id;
  CHECK(hid != 0);
  CHECK(f.rec.ops.back().kind == DraftOp::Kind::kLink);
  CHECK(f.rec.ops.back().path == "f");
  CHECK(f.rec.ops.back().path2 == "a/l2");
  CHECK(f.rec.ops.back().node.hardlink_id == hid);

  // The same node under three names.
  DraftId x;
  REQUIRE(f.Find(a, "l2", &x).ok());
  CHECK(x == file);
  // Unlinking the primary link keeps the node reachable by path.
  REQUIRE(f.d.Unlink(kDraftRootId, "f").ok());
  CHECK(f.Attr(file).nlink == 2);
  DraftAttrChange ch;
  ch.mode = 0611;
  REQUIRE(f.d.SetAttr(file, ch, &attr).ok());
  CHECK((f.rec.ops.back().path == "a/l1" || f.rec.ops.back().path == "a/l2"));

  Hash root = testing::FreezeRoot(&f.d);
  Node stored;
  REQUIRE(LookupPath(&f.store, root, "a/l1", &stored).ok());
  CHECK(stored.nlink == 2);
  CHECK(stored.hardlink_id == hid);
  CHECK(stored.mode == 0611);
  REQUIRE(f.d.Unlink(a, "l2").ok());
  CHECK(f.Attr(file).nlink == 1);
  root = testing::FreezeRoot(&f.d);
  REQUIRE(LookupPath(&f.store, root, "a/l1", &stored).ok());
  CHECK(stored.nlink == 1);
  CHECK(stored.hardlink_id == 0);  // no longer a hardlink
}

TEST_CASE("rename: moves, replaces and the rename(2) errors") {
  Fixture f;
  using testing::DirNode;
  DraftId a = f.Make(kDraftRootId, "a", NodeType::kDir);
  DraftId b = f.Make(kDraftRootId, "b", NodeType::kDir);
  DraftId ab = f.Make(a, "ab", NodeType::kDir);
  DraftId f1 = f.Make(a, "f1", NodeType::kFile);
  DraftId f2 = f.Make(b, "f2", NodeType::kFile);
  f.Make(b, "empty", NodeType::kDir);
  DraftId full = f.Make(b, "full", NodeType::kDir);
  f.Make(full, "x", NodeType::kFile);

  SECTION("move across directories and replace a file") {
    REQUIRE(f.d.Rename(a, "f1", b, "f2", 0).ok());
    DraftId x;
    REQUIRE(f.Find(b, "f2", &x).ok());
    CHECK(x == f1);
    CHECK(f.Find(a, "f1").code() == Code::kNotFound);
    Node attr;
    CHECK(f.Attr(f2).nlink == 0);  // replaced, still looked up
    f.d.Forget(f2, 1);
    CHECK(f.d.GetAttr(f2, &attr).code() == Code::kNotFound);
    CHECK(f.rec.ops.back().path == "a/f1");
    CHECK(f.rec.ops.back().path2 == "b/f2");
  }
  SECTION("noreplace") {
    CHECK(f.d.Rename(a, "f1", b, "f2", kRenameNoReplace).code() == Code::kExists);
    REQUIRE(f.d.Rename(a, "f1", b, "new", kRenameNoReplace).ok());
    CHECK(f.Find(b, "new").ok());
  }
  SECTION("exchange a file and a directory") {
    CHECK(f.d.Rename(a, "f1", b, "none", kRenameExchange).code() == Code::kNotFound);
    CHECK(f.Attr(a).nlink == 3);
    CHECK(f.Attr(b).nlink == 4);
    REQUIRE(f.d.Rename(a, "f1", b, "full", kRenameExchange).ok());
    DraftId x;
    REQUIRE(f.Find(a, "f1", &x).ok());
    CHECK(x == full);
    REQUIRE(f.Find(b, "full", &x).ok());
    CHECK(x == f1);
    CHECK(f.Attr(a).nlink == 4);
    CHECK(f.Attr(b).nlink == 3);
    REQUIRE(f.Find(full, "x").ok());
    CHECK(f.rec.ops.back().flags == kRenameExchange);
  }
  SECTION("onto itself and onto another link of the same node") {
    const size_t nops = f.rec.ops.size();
    REQUIRE(f.d.Rename(a, "f1", a, "f1", 0).ok());
    REQUIRE(f.d.Rename(a, "ab", a, "ab", 0).ok());
    Node attr;
    REQUIRE(f.d.Link(f1, b, "f1b", &attr).ok());
    REQUIRE(f.d.Rename(a, "f1", b, "f1b", 0).ok());
    CHECK(f.Find(a, "f1").ok());  // both names stay
    CHECK(f.Find(b, "f1b").ok());
    CHECK(f.Attr(f1).nlink == 2);
    CHECK(f.rec.ops.size() == nops + 1);  // only the link was reported
  }
  SECTION("directories") {
    CHECK(f.d.Rename(kDraftRootId, "a", ab, "x", 0).code() == Code::kInvalidArgument);
    CHECK(f.d.Rename(kDraftRootId, "a", a, "x", 0).code() == Code::kInvalidArgument);
    CHECK(f.d.Rename(a, "ab", b, "full", 0).code() == Code::kNotEmpty);
    CHECK(f.d.Rename(a, "ab", b, "f2", 0).code() == Code::kNotDirectory);
    CHECK(f.d.Rename(a, "f1", b, "empty", 0).code() == Code::kIsDirectory);
    CHECK(f.d.Rename(ab, "..", kDraftRootId, "a", 0).code() == Code::kInvalidArgument);
    // A target above the source: not empty (it holds the source).
    DraftId abc = f.Make(ab, "c", NodeType::kFile);
    CHECK(f.d.Rename(ab, "c", kDraftRootId, "a", 0).code() == Code::kNotEmpty);
    CHECK(f.d.Rename(ab, "c", kDraftRootId, "a", kRenameExchange).code() == Code::kInvalidArgument);
    CHECK(f.d.Rename(ab, "c", kDraftRootId, "a", kRenameNoReplace).code() == Code::kExists);
    (void)abc;
    // Over an empty directory.
    REQUIRE(f.d.Rename(a, "ab", b, "empty", 0).ok());
    CHECK(f.Attr(a).nlink == 2);
    CHECK(f.Attr(b).nlink == 4);
    DraftId x;
    REQUIRE(f.Find(b, "empty", &x).ok());
    CHECK(x == ab);
    REQUIRE(f.Find(x, "c").ok());
    CHECK(f.rec.ops.back().path == "a/ab");
  }
  SECTION("bad arguments") {
    CHECK(f.d.Rename(a, "f1", b, "x", 4).code() == Code::kInvalidArgument);
    CHECK(f.d.Rename(a, "f1", b, "x", kRenameExchange | kRenameNoReplace).code() ==
          Code::kInvalidArgument);
    CHECK(f.d.Rename(a, "nope", b, "x", 0).code() == Code::kNotFound);
    CHECK(f.d.Rename(a, "f1", f2, "x", 0).code() == Code::kNotDirectory);
    CHECK(f.d.Rename(a, "f1", b, std::string(256, 'x'), 0).code() == Code::kNameTooLong);
    CHECK(f.d.Rename(a, "f1", b, "x/y", 0).code() == Code::kInvalidArgument);
    CHECK(f.d.Rename(777, "f1", b, "x", 0).code() == Code::kNotFound);
  }
}

TEST_CASE("lazy loading reads only the directories an op needs") {
  MemoryBlobStore store;
  std::map<std::string, Node> base;
  for (std::string top : {"p", "q", "r"}) {
    base[top] = DirNode();
    for (std::string sub : {"1", "2", "3"}) {
      base[top + "/" + sub] = DirNode();
      base[top + "/" + sub + "/file"] = FileNode(100);
    }
  }
  base["r/only_r"] = FileNode(7);  // r's page differs from p's and q's
  Hash root = BuildTree(&store, base);
  FakeClock clock;
  Draft d(&store, &root, SnapshotSummary{}, Opts(&clock));
  store.ResetCounters();
  DraftId id;
  REQUIRE(testing::ResolvePath(&d, "q/2/file", &id).ok());
  CHECK(store.load_count() == 3);  // root, q, q/2: one page each
  Node attr;
  REQUIRE(d.GetAttr(id, &attr).ok());
  CHECK(attr.size == 100);
  CHECK(d.NodeCount() == 1 + 3 + 3 + 1);
  REQUIRE(testing::ResolvePath(&d, "q/2/file", &id).ok());
  CHECK(store.load_count() == 3);  // loaded once
  CHECK(!d.Dirty());
  CHECK(testing::FreezeRoot(&d) == root);

  // A damaged base directory fails the ops that need it (as damage, not as
  // a missing name), and only those.
  Node p;
  REQUIRE(LookupPath(&store, root, "r", &p).ok());
  REQUIRE(store.Erase(BlobType::kTree, p.subtree));
  CHECK(testing::ResolvePath(&d, "r/1", &id).code() == Code::kCorrupt);
  DraftId r;
  REQUIRE(testing::ResolvePath(&d, "r", &r).ok());
  CHECK(d.Create(r, "x", FileNode(), &id, &attr).code() == Code::kCorrupt);
  CHECK(d.List(r, "", false, [](const std::string&, DraftId, const Node&) {
           return true;
         }).code() == Code::kCorrupt);
  REQUIRE(testing::ResolvePath(&d, "p/1/file", &id).ok());
}

TEST_CASE("base hardlinks: one node, whole tree loaded before the first change") {
  MemoryBlobStore store;
  std::map<std::string, Node> base;
  Node h = FileNode(500, 0640);
  h.hardlink_id = 1;
  h.nlink = 3;
  base["d1"] = DirNode();
  base["d2"] = DirNode();
  base["d3"] = DirNode();
  base["d1/h"] = h;
  base["d2/h"] = h;
  base["d3/h"] = h;
  base["d3/other"] = FileNode(1);
  Hash root = BuildTree(&store, base);
  FakeClock clock;
  SnapshotSummary bs = testing::CountStored(&store, root);
  CHECK(bs.files == 4);
  Draft d(&store, &root, bs, Opts(&clock));
  DraftId h1, h2;
  REQUIRE(testing::ResolvePath(&d, "d1/h", &h1).ok());
  Node attr;
  REQUIRE(d.GetAttr(h1, &attr).ok());
  CHECK(attr.nlink == 3);  // stored: d2 and d3 are not loaded
  REQUIRE(testing::ResolvePath(&d, "d2/h", &h2).ok());
  CHECK(h1 == h2);
  CHECK(testing::FreezeRoot(&d) == root);  // loading changes nothing

  // Unlinking one link loads everything, then counts exactly.
  DraftId d1;
  REQUIRE(testing::ResolvePath(&d, "d1", &d1).ok());
  REQUIRE(d.Unlink(d1, "h").ok());
  REQUIRE(d.GetAttr(h1, &attr).ok());
  CHECK(attr.nlink == 2);
  SnapshotSummary sum;
  Hash r2 = testing::FreezeRoot(&d, &sum);
  Node stored;
  REQUIRE(LookupPath(&store, r2, "d3/h", &stored).ok());
  CHECK(stored.nlink == 2);
  CHECK(stored.hardlink_id == 1);  // the base id is kept
  CHECK(sum.files == 3);
  CHECK(sum.bytes == 1001);
  CHECK(testing::CountStored(&store, r2).files == sum.files);
  CHECK(testing::CountStored(&store, r2).bytes == sum.bytes);

  // A metadata change of a base hardlink rewrites every directory holding it.
  Draft e(&store, &root, bs, Opts(&clock));
  DraftId eh;
  REQUIRE(testing::ResolvePath(&e, "d2/h", &eh).ok());
  DraftAttrChange ch;
  ch.mode = 0600;
  REQUIRE(e.SetAttr(eh, ch, &attr).ok());
  Hash r3 = testing::FreezeRoot(&e);
  for (const char* p : {"d1/h", "d2/h", "d3/h"}) {
    REQUIRE(LookupPath(&store, r3, p, &stored).ok());
    CHECK(stored.mode == 0600);
    CHECK(stored.nlink == 3);
  }
}

TEST_CASE("apply rejects ops that do not fit the tree") {
  Fixture f;
  DraftOp op;
  op.kind = DraftOp::Kind::kUnlink;
  op.path = "missing";
  CHECK(f.d.Apply(op).code() == Code::kNotFound);
  op.kind = DraftOp::Kind::kCreate;
  op.path = "";
  CHECK(f.d.Apply(op).code() == Code::kInvalidArgument);
  op.path = "dir/x";
  CHECK(f.d.Apply(op).code() == Code::kNotFound);
  f.Make(kDraftRootId, "file", NodeType::kFile);
  op.path = "file/x";
  CHECK(f.d.Apply(op).code() == Code::kNotDirectory);
  op.path = "new";
  op.time_ns = 5;
  op.node.type = NodeType::kDir;
  op.node.mode = 0700;
  REQUIRE(f.d.Apply(op).ok());
  DraftId id;
  REQUIRE(f.Find(kDraftRootId, "new", &id).ok());
  CHECK(f.Attr(id).mtime_ns == 5);
  CHECK(f.Attr(id).mode == 0700);
  CHECK(f.Attr(kDraftRootId).mtime_ns == 5);
  op.kind = static_cast<DraftOp::Kind>(99);
  CHECK(f.d.Apply(op).code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace kloset
