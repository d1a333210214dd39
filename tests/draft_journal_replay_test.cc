// The journal with a real Draft: every mutation a draft reports is recorded,
// recovered and applied to a fresh draft over the same base, which must then
// freeze to the same root; also across a commit with Rotate carrying the ops
// that came in meanwhile.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "core/draft.h"
#include "core/draft_journal.h"
#include "core/memory_blob_store.h"
#include "tests/draft_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using kloset::testing::BuildTree;
using kloset::testing::CountStored;
using kloset::testing::DirNode;
using kloset::testing::FakeClock;
using kloset::testing::FileNode;
using kloset::testing::FreezeRoot;
using kloset::testing::Opts;
using kloset::testing::TempDir;

namespace {

struct Env {
  Env() { REQUIRE(InitCrypto()); }
  TempDir tmp;
  std::string dir = tmp / "journal";
  Key key = RandomKey();
  Hash store_id{};
  MemoryBlobStore store;
  JournalOptions opts{0, nullptr};

  DraftId Make(Draft* d, DraftId dir, const std::string& name, NodeType type, uint32_t mode) {
    Node n;
    n.type = type;
    n.mode = mode;
    n.uid = 1000, n.gid = 1000;
    if (type == NodeType::kSymlink) n.symlink_target = "../" + name;
    if (type == NodeType::kCharDev) n.rdev = 0x0103;
    DraftId id;
    Node attr;
    Status s = d->Create(dir, name, n, &id, &attr);
    INFO(name << ": " << s.ToString());
    REQUIRE(s.ok());
    return id;
  }

  // A fresh draft over `base` (null = empty) with the ops of the journal
  // applied; returns its frozen root.
  Hash Replay(const Hash* base_tree, const JournalContents& c) {
    SnapshotSummary sum = base_tree ? CountStored(&store, *base_tree) : SnapshotSummary{};
    FakeClock clock;
    clock.t = 42;  // replay must not depend on the clock
    Draft d(&store, base_tree, sum, Opts(&clock));
    for (size_t i = 0; i < c.ops.size(); i++) {
      Status s = d.Apply(c.ops[i]);
      INFO("op " << i << " kind " << int(c.ops[i].kind) << " " << c.ops[i].path << ": "
                 << s.ToString());
      REQUIRE(s.ok());
    }
    return FreezeRoot(&d);
  }
};

// Mutations of every kind on a draft whose base holds docs/{a,b}, a
// hardlinked pair and a subdirectory.
void Mutate(Env& e, Draft* d, int round) {
  std::string r = std::to_string(round);
  DraftId docs, sub;
  Node attr;
  REQUIRE(d->Lookup(kDraftRootId, "docs", &docs, &attr).ok());
  DraftId dir = e.Make(d, kDraftRootId, "new" + r, NodeType::kDir, 0750);
  DraftId f = e.Make(d, dir, "file", NodeType::kFile, 0640);
  Hash h1 = e.store.HashBlob("one" + r), h2 = e.store.HashBlob("two" + r);
  REQUIRE(d->SetContent(f, {{h1, 100, false}, {Hash{}, 4096, true}, {h2, 7, false}}, 4203).ok());
  REQUIRE(d->SetContent(f, {{h1, 100, false}}, 100, int64_t{1234567}).ok());
  DraftAttrChange ch;
  ch.mode = 0600;
  ch.uid = 0;
  ch.mtime_ns = -1;
  REQUIRE(d->SetAttr(f, ch, &attr).ok());
  DraftAttrChange ch2;
  ch2.atime_ns = 99;
  ch2.gid = 5;
  REQUIRE(d->SetAttr(docs, ch2, &attr).ok());
  REQUIRE(d->SetXattr(f, "user.x", std::string("\0v", 2), XattrMode::kCreate).ok());
  REQUIRE(d->SetXattr(f, "user.x", "w", XattrMode::kReplace).ok());
  REQUIRE(d->SetXattr(f, "user.y", "", XattrMode::kAny).ok());
  REQUIRE(d->RemoveXattr(f, "user.y").ok());
  REQUIRE(d->SetXattr(kDraftRootId, "user.root", r, XattrMode::kAny).ok());
  e.Make(d, dir, "link", NodeType::kSymlink, 0777);
  e.Make(d, dir, "fifo", NodeType::kFifo, 0644);
  e.Make(d, dir, "sock", NodeType::kSocket, 0644);
  e.Make(d, dir, "dev", NodeType::kCharDev, 0600);
  REQUIRE(d->Link(f, docs, "hard" + r, &attr).ok());  // a new hardlink
  REQUIRE(d->Lookup(docs, "a", &sub, &attr).ok());
  REQUIRE(d->Link(sub, dir, "a-link", &attr).ok());  // a base file gets linked
  // Round 1 moves a base file, round 2 the new hardlink.
  REQUIRE(d->Rename(docs, round == 1 ? "b" : "hard" + r, dir, "moved", 0).ok());
  REQUIRE(d->Rename(dir, "fifo", dir, "sock", kRenameExchange).ok());
  CHECK(d->Rename(dir, "sock", dir, "dev", kRenameNoReplace).code() == Code::kExists);
  REQUIRE(d->Rename(dir, "link", dir, "dev", 0).ok());  // replaces
  REQUIRE(d->Unlink(dir, "sock").ok());
  DraftId gone = e.Make(d, dir, "gone", NodeType::kDir, 0700);
  REQUIRE(d->Rmdir(dir, "gone").ok());
  (void)gone;
  // Unlinked while open: its later changes are not reported.
  DraftId open = e.Make(d, dir, "open", NodeType::kFile, 0644);
  REQUIRE(d->Pin(open).ok());
  REQUIRE(d->Unlink(dir, "open").ok());
  REQUIRE(d->SetContent(open, {{h2, 7, false}}, 7).ok());
  d->Unpin(open);
}

}  // namespace

TEST_CASE("a recovered journal replays to the same tree", "[journal][draft]") {
  Env e;
  std::map<std::string, Node> base_entries = {
      {"docs", DirNode()},         {"docs/a", FileNode(10)},     {"docs/b", FileNode(20)},
      {"docs/sub", DirNode(0700)}, {"docs/sub/c", FileNode(30)}, {"other", DirNode()},
  };
  Hash base_tree = BuildTree(&e.store, base_entries);
  FakeClock clock;
  Draft d(&e.store, &base_tree, CountStored(&e.store, base_tree), Opts(&clock));
  std::unique_ptr<DraftJournal> j;
  // The journal names base snapshots; here the base tree stands in for one.
  REQUIRE(DraftJournal::Create(e.dir, e.key, e.store_id, &base_tree, e.opts, &j).ok());
  d.SetObserver(j.get());
  Mutate(e, &d, 1);
  REQUIRE(j->status().ok());
  Hash want = FreezeRoot(&d);

  JournalContents c;
  REQUIRE(DraftJournal::Recover(e.dir, e.key, e.store_id, &c).ok());
  REQUIRE(c.has_base);
  CHECK(c.base_snapshot == base_tree);
  CHECK_FALSE(c.truncated_tail);
  CHECK(c.ops.size() > 20);
  CHECK(e.Replay(&c.base_snapshot, c) == want);

  // A commit: freeze with a mark, ops come in while it "uploads", then the
  // journal rotates over the committed tree and carries them.
  uint64_t gen;
  JournalMark mark = j->Mark();
  Hash committed = FreezeRoot(&d, nullptr, &gen);
  Mutate(e, &d, 2);
  d.Committed(gen);
  REQUIRE(j->Rotate(committed, mark).ok());
  DraftId n2;
  Node attr;
  REQUIRE(d.Lookup(kDraftRootId, "new2", &n2, &attr).ok());
  e.Make(&d, n2, "after-rotate", NodeType::kFile, 0644);
  want = FreezeRoot(&d);

  REQUIRE(DraftJournal::Recover(e.dir, e.key, e.store_id, &c).ok());
  CHECK(c.base_snapshot == committed);
  CHECK(c.ops.size() > 20);  // round 2 was carried over
  CHECK(e.Replay(&committed, c) == want);
}

TEST_CASE("a journal of an empty draft replays to the same tree", "[journal][draft]") {
  Env e;
  FakeClock clock;
  Draft d(&e.store, nullptr, SnapshotSummary{}, Opts(&clock));
  std::unique_ptr<DraftJournal> j;
  REQUIRE(DraftJournal::Create(e.dir, e.key, e.store_id, nullptr, e.opts, &j).ok());
  d.SetObserver(j.get());
  e.Make(&d, kDraftRootId, "docs", NodeType::kDir, 0755);
  Node attr;
  DraftId docs;
  REQUIRE(d.Lookup(kDraftRootId, "docs", &docs, &attr).ok());
  e.Make(&d, docs, "a", NodeType::kFile, 0644);
  e.Make(&d, docs, "b", NodeType::kFile, 0644);
  Mutate(e, &d, 1);
  Hash want = FreezeRoot(&d);
  JournalContents c;
  REQUIRE(DraftJournal::Recover(e.dir, e.key, e.store_id, &c).ok());
  CHECK_FALSE(c.has_base);
  CHECK(e.Replay(nullptr, c) == want);
}
