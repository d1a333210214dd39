// Randomized model test of core/draft.h against a real directory: thousands
// of random namespace ops applied to both, comparing every error code and the
// final trees; with Freeze / Committed / Trim rounds, journal replay (Apply)
// giving the same root id, and the summary counts checked against a walk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

#include "core/draft.h"
#include "tests/draft_test_util.h"
#include "tests/fs_tree_util.h"

namespace kloset {
namespace {

using testing::FakeClock;
using testing::Opts;
using testing::Recorder;
using testing::TempDir;

Code CodeOfErrno(int e) {
  switch (e) {
    case 0:
      return Code::kOk;
    case ENOENT:
      return Code::kNotFound;
    case EEXIST:
      return Code::kExists;
    case ENOTDIR:
      return Code::kNotDirectory;
    case EISDIR:
      return Code::kIsDirectory;
    case ENOTEMPTY:
      return Code::kNotEmpty;
    case EINVAL:
      return Code::kInvalidArgument;
    case EPERM:
    case EACCES:
      return Code::kPermission;
    case ENAMETOOLONG:
      return Code::kNameTooLong;
    default:
      return Code::kIOError;
  }
}

// What the comparison looks at: type, permission bits (not for symlinks),
// link count.
struct Shape {
  NodeType type;
  uint32_t mode;
  uint64_t nlink;
  bool operator==(const Shape&) const = default;
};
std::string Describe(const Shape* s) {
  if (!s) return "absent";
  char buf[64];
  std::snprintf(buf, sizeof buf, "type %d mode %o nlink %llu", int(s->type), s->mode,
                static_cast<unsigned long long>(s->nlink));
  return buf;
}

// Equal, or the first few differences are printed.
void CheckSame(const std::map<std::string, Shape>& got, const std::map<std::string, Shape>& want) {
  std::string diffs;
  int n = 0;
  std::set<std::string> paths;
  for (const auto& [p, s] : got) paths.insert(p);
  for (const auto& [p, s] : want) paths.insert(p);
  for (const std::string& p : paths) {
    auto g = got.find(p), w = want.find(p);
    const Shape* gs = g == got.end() ? nullptr : &g->second;
    const Shape* ws = w == want.end() ? nullptr : &w->second;
    if (gs && ws && *gs == *ws) continue;
    if (n++ < 5) diffs += p + ": got " + Describe(gs) + ", want " + Describe(ws) + "\n";
  }
  INFO(diffs);
  CHECK(n == 0);
}

NodeType TypeOf(mode_t m) {
  if (S_ISDIR(m)) return NodeType::kDir;
  if (S_ISLNK(m)) return NodeType::kSymlink;
  if (S_ISFIFO(m)) return NodeType::kFifo;
  return NodeType::kFile;
}

std::map<std::string, Shape> RealShape(const std::string& root) {
  std::map<std::string, testing::EntryInfo> scan;
  testing::Scan(root, "", &scan);
  std::map<std::string, Shape> out;
  for (const auto& [p, e] : scan) {
    NodeType t = TypeOf(e.st.st_mode);
    out[p] = {t, t == NodeType::kSymlink ? 0 : uint32_t(e.st.st_mode & 07777),
              uint64_t(e.st.st_nlink)};
  }
  return out;
}

std::map<std::string, Shape> ShapeOf(const testing::Tree& t) {
  std::map<std::string, Shape> out;
  for (const auto& [p, n] : t.entries) {
    out[p] = {n.type, n.type == NodeType::kSymlink ? 0 : n.mode, n.nlink};
  }
  return out;
}

// The base tree a backup of `root` would hold (metadata only; files empty).
Hash MirrorTree(BlobStore* store, const std::string& root, const std::string& rel,
                std::map<ino_t, uint64_t>* hardlinks) {
  std::map<std::string, testing::EntryInfo> all;
  testing::Scan(root, "", &all);
  DirectoryWriter w(store);
  for (const auto& [p, e] : all) {
    const bool direct = rel.empty() ? p.find('/') == std::string::npos
                                    : p.compare(0, rel.size() + 1, rel + "/") == 0 &&
                                          p.find('/', rel.size() + 1) == std::string::npos;
    if (!direct) continue;
    Node n;
    n.name = rel.empty() ? p : p.substr(rel.size() + 1);
    n.type = TypeOf(e.st.st_mode);
    n.mode = e.st.st_mode & 07777;
    n.nlink = static_cast<uint32_t>(e.st.st_nlink);
    n.mtime_ns = e.st.st_mtim.tv_sec * 1000000000ll + e.st.st_mtim.tv_nsec;
    n.inode = e.st.st_ino;
    n.symlink_target = e.target;
    n.size = n.type == NodeType::kSymlink ? e.target.size() : 0;
    if (n.type == NodeType::kDir) {
      n.subtree = MirrorTree(store, root, p, hardlinks);
    } else if (e.st.st_nlink > 1) {
      n.hardlink_id = hardlinks->emplace(e.st.st_ino, hardlinks->size() + 1).first->second;
    }
    REQUIRE(w.Add(std::move(n)).ok());
  }
  Hash h;
  uint64_t count;
  REQUIRE(w.Finish(&h, &count).ok());
  return h;
}

// Applies random ops to a real directory and to a draft.
class Model {
 public:
  Model(uint32_t seed, const std::string& real, Draft* draft) : rng_(seed), real_(real), d_(draft) {
    mode_t um = umask(0);
    umask(um);
    umask_ = um;
  }

  // One random op on both sides (draft may be null: real side only).
  void Step() {
    const int kind = Pick(10);
    const std::vector<std::string> existing = Existing();
    // The source usually exists; the target half the time.
    const std::string p1 = Pick(4) ? RandomPath(existing) : RandomPath({});
    const std::string p2 = RandomPath(Pick(2) ? existing : std::vector<std::string>());
    const uint32_t mode = 0700 | Pick(0100);
    int real_err = 0;
    Status ds;
    std::string what;
    bool noop = false;  // an op that succeeds without changing anything
    auto real = [&](int rc) { real_err = rc == 0 ? 0 : errno; };
    switch (kind) {
      case 0:
        what = "mkdir " + p1;
        real(mkdir(Full(p1).c_str(), mode));
        ds = CreateIn(p1, NodeType::kDir, mode & ~umask_);
        break;
      case 1: {
        what = "creat " + p1;
        int fd = open(Full(p1).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0666);
        if (fd >= 0) close(fd);
        real(fd >= 0 ? 0 : -1);
        ds = CreateIn(p1, NodeType::kFile, 0666 & ~umask_);
        break;
      }
      case 2:
        what = "symlink " + p1;
        // Through /dev/null a path resolves to ENOTDIR, as in the draft.
        real(symlink("/dev/null", Full(p1).c_str()));
        ds = CreateIn(p1, NodeType::kSymlink, 0777, "/dev/null");
        break;
      case 3:
        what = "mkfifo " + p1;
        real(mkfifo(Full(p1).c_str(), 0640));
        ds = CreateIn(p1, NodeType::kFifo, 0640 & ~umask_);
        break;
      case 4:
      case 5:
        what = "unlink " + p1;
        real(unlink(Full(p1).c_str()));
        ds = OnParent(p1, [&](DraftId dir, const std::string& n) { return d_->Unlink(dir, n); });
        break;
      case 6:
        what = "rmdir " + p1;
        real(rmdir(Full(p1).c_str()));
        ds = OnParent(p1, [&](DraftId dir, const std::string& n) { return d_->Rmdir(dir, n); });
        break;
      case 7:
      case 8: {
        static const unsigned kFlags[] = {0, 0, kRenameNoReplace, kRenameExchange};
        const unsigned flags = kFlags[Pick(4)];
        what = "rename " + p1 + " " + p2 + " flags " + std::to_string(flags);
        {
          // rename(2) between two links of one inode succeeds and does nothing.
          struct stat a, b;
          noop = lstat(Full(p1).c_str(), &a) == 0 && lstat(Full(p2).c_str(), &b) == 0 &&
                 a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        }
        real(renameat2(AT_FDCWD, Full(p1).c_str(), AT_FDCWD, Full(p2).c_str(), flags));
        ds = OnParent(p1, [&](DraftId dir, const std::string& n) {
          return OnParent(p2, [&](DraftId dir2, const std::string& n2) {
            return d_->Rename(dir, n, dir2, n2, flags);
          });
        });
        break;
      }
      case 9: {
        if (Pick(2)) {
          what = "link " + p1 + " " + p2;
          real(linkat(AT_FDCWD, Full(p1).c_str(), AT_FDCWD, Full(p2).c_str(), 0));
          DraftId id;
          ds = testing::ResolvePath(d_, p1, &id);
          if (ds.ok()) {
            ds = OnParent(p2, [&](DraftId dir, const std::string& n) {
              Node attr;
              Status s = d_->Link(id, dir, n, &attr);
              if (s.ok()) d_->Forget(id, 1);
              return s;
            });
          }
        } else {
          struct stat st;
          if (lstat(Full(p1).c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return;  // follows
          what = "chmod " + p1;
          const uint32_t m = 0700 | Pick(0100) | (Pick(4) == 0 ? 01000 : 0);
          real(chmod(Full(p1).c_str(), m));
          DraftId id;
          ds = testing::ResolvePath(d_, p1, &id);
          if (ds.ok()) {
            DraftAttrChange ch;
            ch.mode = m;
            Node attr;
            ds = d_->SetAttr(id, ch, &attr);
          }
        }
        break;
      }
    }
    INFO(what << ": real " << std::strerror(real_err) << ", draft " << ds.ToString());
    REQUIRE(CodeOfErrno(real_err) == ds.code());
    if (real_err == 0) {
      successes++;
      if (!noop) changes++;
      done.insert(what.substr(0, what.find(' ')) +
                  (kind == 7 || kind == 8 ? what.substr(what.size() - 1) : ""));
    }
  }

  void SetDraft(Draft* d) { d_ = d; }

  size_t successes = 0;
  size_t changes = 0;  // successes that changed the tree (not a rename between links of one inode)
  std::set<std::string> done;  // kinds of op that succeeded (renames by flags)

 private:
  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  // Entries of the real tree (relative paths).
  std::vector<std::string> Existing() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(real_)) {
      out.push_back(e.path().string().substr(real_.size() + 1));
    }
    std::sort(out.begin(), out.end());  // iteration order is not stable across runs
    return out;
  }
  // One of `from`, or (from empty) a random path of few names, shallow.
  std::string RandomPath(const std::vector<std::string>& from) {
    if (!from.empty()) return from[Pick(static_cast<uint32_t>(from.size()))];
    static const char* kNames[] = {"a", "b", "c"};
    static const int kDepth[] = {1, 1, 2, 2, 2, 3, 3};
    std::string p;
    const int depth = kDepth[Pick(7)];
    for (int i = 0; i < depth; i++) {
      if (i) p += "/";
      p += kNames[Pick(3)];
    }
    return p;
  }
  std::string Full(const std::string& p) const { return real_ + "/" + p; }

  template <typename F>
  Status OnParent(const std::string& path, F&& f) {
    DraftId dir;
    std::string name;
    KLOSET_RETURN_IF_ERROR(testing::ResolveParentPath(d_, path, &dir, &name));
    return f(dir, name);
  }
  Status CreateIn(const std::string& path, NodeType type, uint32_t mode,
                  const std::string& target = "") {
    return OnParent(path, [&](DraftId dir, const std::string& name) {
      Node n;
      n.type = type;
      n.mode = mode;
      n.symlink_target = target;
      DraftId id;
      Node attr;
      Status s = d_->Create(dir, name, n, &id, &attr);
      if (s.ok()) d_->Forget(id, 1);
      return s;
    });
  }

  std::mt19937 rng_;
  std::string real_;
  Draft* d_;
  uint32_t umask_;
};

void CheckSummary(BlobStore* store, const Hash& root, const SnapshotSummary& sum) {
  SnapshotSummary walk = testing::CountStored(store, root);
  CHECK(sum.files == walk.files);
  CHECK(sum.dirs == walk.dirs);
  CHECK(sum.others == walk.others);
  CHECK(sum.bytes == walk.bytes);
  CHECK(sum.bytes_added == 0);
}

// `rounds` rounds of `steps` random ops, each round ending with the checks,
// a Freeze and Committed. With `restart`, every round starts from a fresh
// draft over the last frozen root (as a remount would), so ops meet base
// directories that are not loaded yet.
// A real tree whose files are almost all hardlinked across directories.
void MakeLinkedTree(const std::string& real) {
  for (const char* d : {"a", "b", "a/a", "b/a"})
    REQUIRE(mkdir((real + "/" + d).c_str(), 0755) == 0);
  const std::vector<std::vector<std::string>> groups = {{"c", "a/b", "b/a/c"},
                                                        {"a/c", "b/b"},
                                                        {"a/a/a", "b/a/a", "a/a/b"},
                                                        {"b/c", "a/a/c"},
                                                        {"b/a/b"}};
  for (const auto& g : groups) {
    testing::WriteFile(real + "/" + g[0], "");
    for (size_t i = 1; i < g.size(); i++) {
      REQUIRE(link((real + "/" + g[0]).c_str(), (real + "/" + g[i]).c_str()) == 0);
    }
  }
}

enum class Start { kEmpty, kRandom, kLinked };

void RunModel(uint32_t seed, Start start, int rounds, int steps, bool restart) {
  const bool with_base = start != Start::kEmpty;
  INFO("seed " << seed << " start " << int(start));
  TempDir tmp;
  const std::string real = tmp / "real";
  REQUIRE(mkdir(real.c_str(), 0755) == 0);
  MemoryBlobStore store;
  FakeClock clock;
  Hash base{};
  SnapshotSummary base_sum;
  if (with_base) {
    // A starting tree, mirrored as the base.
    if (start == Start::kLinked) {
      MakeLinkedTree(real);
    } else {
      Draft scratch(&store, nullptr, SnapshotSummary{}, Opts(&clock));
      Model warmup(seed + 1000, real, &scratch);
      for (int i = 0; i < 300; i++) warmup.Step();
    }
    std::map<ino_t, uint64_t> hl;
    base = MirrorTree(&store, real, "", &hl);
    base_sum = testing::CountStored(&store, base);
  }
  const Hash* basep = with_base ? &base : nullptr;
  auto draftp = std::make_unique<Draft>(&store, basep, base_sum, Opts(&clock));
  auto replayp = std::make_unique<Draft>(&store, basep, base_sum, Opts(&clock));
  Recorder rec;
  draftp->SetObserver(&rec);
  size_t replayed = 0;
  Model model(seed, real, draftp.get());
  for (int round = 0; round < rounds; round++) {
    INFO("round " << round);
    if (restart && round > 0) {
      draftp = std::make_unique<Draft>(&store, &base, base_sum, Opts(&clock));
      replayp = std::make_unique<Draft>(&store, &base, base_sum, Opts(&clock));
      draftp->SetObserver(&rec);
      rec.ops.clear();
      replayed = 0;
      model.SetDraft(draftp.get());
    }
    Draft& draft = *draftp;
    Draft& replay = *replayp;
    const size_t changes_before = model.changes;
    for (int i = 0; i < steps; i++) model.Step();
    CHECK(draft.Dirty() == (model.changes > changes_before));

    // The draft's tree is the real one.
    CheckSame(ShapeOf(testing::ScanDraft(&draft)), RealShape(real));

    // Frozen, it reads back as the same tree, with matching counts.
    SnapshotSummary sum;
    uint64_t gen;
    const Hash root = testing::FreezeRoot(&draft, &sum, &gen);
    CheckSame(ShapeOf(testing::ScanStored(&store, root)), RealShape(real));
    CheckSummary(&store, root, sum);
    Draft fresh(&store, &root, sum, Opts(&clock));
    CHECK(testing::ScanDraft(&fresh) == testing::ScanDraft(&draft));
    CHECK(testing::FreezeRoot(&fresh) == root);

    // The journal replayed over the same base gives the same root.
    for (; replayed < rec.ops.size(); replayed++) {
      Status s = replay.Apply(rec.ops[replayed]);
      INFO("op " << replayed << " " << rec.ops[replayed].path << ": " << s.ToString());
      REQUIRE(s.ok());
    }
    CHECK(testing::FreezeRoot(&replay) == root);

    // Committed: clean; unchanged Freeze reuses everything; Trim frees the
    // directories nobody holds and changes nothing either.
    draft.Committed(gen);
    CHECK(!draft.Dirty());
    store.ResetCounters();
    CHECK(testing::FreezeRoot(&draft) == root);
    CHECK(store.save_count() == 0);
    const size_t before = draft.NodeCount();
    const size_t freed = draft.Trim();
    CHECK(draft.NodeCount() == before - freed);
    CHECK(testing::FreezeRoot(&draft) == root);
    CHECK(!draft.Dirty());
    base = root;  // for the next restart
    base_sum = sum;
  }
  if (rounds * steps < 2000) return;  // too short to expect every kind of op
  CHECK(model.successes > size_t(rounds * steps / 8));
  CHECK(model.done == std::set<std::string>{"chmod", "creat", "link", "mkdir", "mkfifo", "rename0",
                                            "rename1", "rename2", "rmdir", "symlink", "unlink"});
}

TEST_CASE("random ops: draft over an empty tree matches a real directory") {
  for (uint32_t seed : {1u, 2u}) RunModel(seed, Start::kEmpty, 4, 1500, false);
}

TEST_CASE("random ops: draft over a base tree matches a real directory") {
  for (uint32_t seed : {3u, 4u}) RunModel(seed, Start::kRandom, 4, 1500, false);
}

TEST_CASE("random ops: short-lived drafts over bases, mostly not loaded") {
  for (uint32_t seed : {5u, 6u}) RunModel(seed, Start::kRandom, 60, 40, true);
  RunModel(7, Start::kEmpty, 60, 40, true);
  // Short rounds over hardlinks: most changes to a hardlink happen while
  // some of its links are in directories not loaded yet.
  for (uint32_t seed = 8; seed < 48; seed++) RunModel(seed, Start::kLinked, 3, 10, true);
}

}  // namespace
}  // namespace kloset
