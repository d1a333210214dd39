// Tests for Draft::Checkpoint (core/draft.h): pages written ahead of a
// commit change neither Dirty() nor what the next Freeze gives, make the
// checkpointed directories unloadable once the kernel forgets their entries,
// and load again on demand; a Checkpoint between Freeze and Committed keeps
// that commit's result; store errors leave the draft unchanged.
#include <algorithm>
#include <catch2/catch.hpp>

#include "core/draft.h"
#include "tests/draft_test_util.h"

namespace kloset {
namespace {

using testing::BuildTree;
using testing::DirNode;
using testing::FakeClock;
using testing::FileNode;
using testing::FreezeRoot;
using testing::Opts;
using testing::Resolve;
using testing::ResolvePath;
using testing::ScanDraft;

std::map<std::string, Node> SmallBase() {
  std::map<std::string, Node> base;
  base["old"] = DirNode();
  for (int j = 0; j < 5; j++) base["old/f" + std::to_string(j)] = FileNode(10 + j);
  return base;
}

// What `cp -a` of 4 folders of 50 files each does, keeping every id it got
// (as the kernel would hold them).
void CopyIn(Draft* d, std::vector<DraftId>* held) {
  Node dir;
  dir.type = NodeType::kDir;
  dir.mode = 0755;
  for (int i = 0; i < 4; i++) {
    DraftId did;
    Node attr;
    REQUIRE(d->Create(kDraftRootId, "new" + std::to_string(i), dir, &did, &attr).ok());
    held->push_back(did);
    for (int j = 0; j < 50; j++) {
      Node f;
      f.type = NodeType::kFile;
      f.mode = 0644;
      DraftId fid;
      REQUIRE(d->Create(did, "f" + std::to_string(j), f, &fid, &attr).ok());
      held->push_back(fid);
      ChunkRef c;
      c.id[0] = static_cast<uint8_t>(i);
      c.id[1] = static_cast<uint8_t>(j);
      c.size = 100 + static_cast<uint64_t>(j);
      REQUIRE(d->SetContent(fid, {c}, c.size).ok());
    }
  }
}

// An empty draft after CopyIn.
struct EmptyCopied {
  MemoryBlobStore store;
  FakeClock clock;
  Draft d{&store, nullptr, SnapshotSummary{}, Opts(&clock)};
  std::vector<DraftId> held_ids;
  EmptyCopied() { CopyIn(&d, &held_ids); }
};

TEST_CASE("checkpoint: written ahead, the draft stays dirty and freezes the same") {
  MemoryBlobStore store;
  const Hash base = BuildTree(&store, SmallBase());
  const SnapshotSummary bs = testing::CountStored(&store, base);
  FakeClock c1, c2;
  Draft ref(&store, &base, bs, Opts(&c1));
  Draft d(&store, &base, bs, Opts(&c2));
  std::vector<DraftId> ref_held, held_ids;
  CopyIn(&ref, &ref_held);
  CopyIn(&d, &held_ids);

  std::vector<std::pair<DraftId, std::string>> held;
  REQUIRE(d.Checkpoint(&held).ok());
  CHECK(d.Dirty());
  // Every new entry is held by a kernel lookup, in clean directories.
  CHECK(held.size() == 4 + 4 * 50);
  CHECK(std::count(held.begin(), held.end(), std::make_pair(kDraftRootId, std::string("new2"))) ==
        1);
  CHECK(d.Trim() == 0);  // all held
  const size_t full = d.NodeCount();

  // The kernel forgets: one Trim unloads the whole clean tree (the root's
  // entries old and new0..3, and the new files).
  for (DraftId id : held_ids) d.Forget(id, 1);
  CHECK(d.Trim() == 5 + 4 * 50);
  CHECK(d.NodeCount() == 1);
  CHECK(full == 1 + 5 + 4 * 50);

  // Freeze gives the same root as the draft that never checkpointed, and
  // what the draft lists (loaded again from the checkpoint's pages) is the
  // same too.
  SnapshotSummary s1, s2;
  const Hash r1 = FreezeRoot(&ref, &s1);
  const Hash r2 = FreezeRoot(&d, &s2);
  CHECK(r1 == r2);
  CHECK(s1.files == s2.files);
  CHECK(s1.dirs == s2.dirs);
  CHECK(s1.bytes == s2.bytes);
  CHECK(ScanDraft(&d).entries == ScanDraft(&ref).entries);

  // Changes after the checkpoint, in a directory that was unloaded, count.
  REQUIRE(ref.Unlink(Resolve(&ref, "new1"), "f7").ok());
  REQUIRE(d.Unlink(Resolve(&d, "new1"), "f7").ok());
  CHECK(FreezeRoot(&ref) == FreezeRoot(&d));
  CHECK(d.Dirty());
}

TEST_CASE("checkpoint: a commit's Freeze before it still commits") {
  MemoryBlobStore store;
  const Hash base = BuildTree(&store, SmallBase());
  FakeClock clock;
  Draft d(&store, &base, testing::CountStored(&store, base), Opts(&clock));
  std::vector<DraftId> held_ids;
  CopyIn(&d, &held_ids);
  uint64_t gen;
  SnapshotSummary sum;
  const Hash r = FreezeRoot(&d, &sum, &gen);
  // A change after the commit's Freeze, then a checkpoint, then Committed.
  REQUIRE(d.Unlink(Resolve(&d, "new0"), "f0").ok());
  REQUIRE(d.Checkpoint(nullptr).ok());
  d.Committed(gen);
  CHECK(d.Dirty());  // the unlink came after the commit's Freeze
  const Hash r2 = FreezeRoot(&d, &sum, &gen);
  CHECK(r2 != r);
  d.Committed(gen);
  CHECK(!d.Dirty());
  DraftId gone;
  CHECK(ResolvePath(&d, "new0/f0", &gone).code() == Code::kNotFound);
  CHECK(ResolvePath(&d, "new0/f1", &gone).ok());

  // A change below a directory that a commit froze, checkpointed before its
  // Committed: the checkpoint's newer pages stay the base (the commit's older
  // root would point at new3's old pages, and the next Freeze lose f2).
  Node file;
  file.type = NodeType::kFile;
  file.mode = 0644;
  DraftId top;
  REQUIRE(d.Create(kDraftRootId, "top", file, &top, nullptr).ok());  // the root is dirty
  FreezeRoot(&d, &sum, &gen);
  ChunkRef c;
  c.id[0] = 0xee;
  c.size = 7;
  REQUIRE(d.SetContent(Resolve(&d, "new3/f2"), {c}, 7).ok());
  REQUIRE(d.Checkpoint(nullptr).ok());
  d.Committed(gen);
  CHECK(d.Dirty());
  const Hash r3 = FreezeRoot(&d, &sum, &gen);
  d.Committed(gen);
  const testing::Tree stored = testing::ScanStored(&store, r3);
  REQUIRE(stored.entries.count("new3/f2") == 1);
  CHECK(stored.entries.at("new3/f2").size == 7);
  CHECK(stored.entries.count("top") == 1);

  // Without changes in between, Committed after a checkpoint ends the draft.
  REQUIRE(d.Unlink(Resolve(&d, "new0"), "f1").ok());
  FreezeRoot(&d, &sum, &gen);
  REQUIRE(d.Checkpoint(nullptr).ok());
  d.Committed(gen);
  CHECK(!d.Dirty());
}

TEST_CASE("checkpoint: open files, hardlinks and changed directories stay loaded") {
  EmptyCopied e;
  Draft& d = e.d;
  const std::vector<DraftId>& held_ids = e.held_ids;
  const DraftId open = Resolve(&d, "new0/f3");
  REQUIRE(d.Pin(open).ok());
  Node attr;
  REQUIRE(d.Link(Resolve(&d, "new1/f0"), Resolve(&d, "new2"), "link", &attr).ok());
  std::vector<std::pair<DraftId, std::string>> held;
  REQUIRE(d.Checkpoint(&held).ok());
  auto has = [&](const std::string& dir, const std::string& name) {
    return std::count(held.begin(), held.end(), std::make_pair(Resolve(&d, dir), name)) == 1;
  };
  CHECK(!has("new0", "f3"));  // pinned
  CHECK(has("new0", "f4"));
  CHECK(!has("new1", "f0"));  // a hardlink
  CHECK(!has("new2", "link"));
  CHECK(has("new3", "f0"));
  // A change after the checkpoint makes new3 dirty again: it stays.
  REQUIRE(d.Unlink(Resolve(&d, "new3"), "f9").ok());
  for (DraftId id : held_ids) d.Forget(id, 1);
  d.Trim();
  d.Trim();
  // Left: root, new0..3, and the entries of new0 (pinned file), new1 and
  // new2 (the hardlink, one node in both) and new3 (changed).
  CHECK(d.NodeCount() == 1 + 4 + 50 + 50 + 50 + 49);
  d.Unpin(open);
}

TEST_CASE("checkpoint: a store error changes nothing") {
  EmptyCopied e;
  Draft& d = e.d;
  const std::vector<DraftId>& held_ids = e.held_ids;
  e.store.FailSaves(Status::NoSpace("full"));
  std::vector<std::pair<DraftId, std::string>> held;
  CHECK(!d.Checkpoint(&held).ok());
  e.store.FailSaves(Status::OK());
  for (DraftId id : held_ids) d.Forget(id, 1);
  CHECK(d.Trim() == 0);  // nothing became clean
  CHECK(d.Dirty());
  REQUIRE(d.Checkpoint(&held).ok());
  CHECK(held.empty());  // the kernel holds nothing now
  CHECK(d.Trim() > 0);
}

}  // namespace
}  // namespace kloset
