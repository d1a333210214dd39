// The writable ingest/ tree through KlosetFs, without a mount: the logic
// behind every write handler, commits, and recovery after a crash.
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "core/file_io.h"
#include "core/repository.h"
#include "core/snapshot.h"
#include "core/tree.h"
#include "fs/fuse_ops.h"  // FUSE_SET_ATTR_*
#include "fs/ingest.h"
#include "fs/kloset_fs.h"
#include "remotes/local_remote.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::fs;
using namespace kloset::testing;

namespace {

struct Store {
  TempDir dir;
  std::string path() const { return dir.path() + "/store"; }
  std::string cache() const { return dir.path() + "/cache"; }
};

OpenOptions Opts(const Store& st) {
  OpenOptions o;
  o.cache_dir = st.cache();
  o.spool_dir = "spool";
  return o;
}

std::unique_ptr<Repository> Init(const Store& st) {
  REQUIRE(InitCrypto());
  std::unique_ptr<Remote> remote;
  REQUIRE(OpenRemote(st.path(), true, &remote).ok());
  InitOptions io;
  io.kdf = KdfParams{1, 8 << 20};
  io.chunker.min_size = 16 << 10;
  io.chunker.avg_size = 64 << 10;
  io.chunker.max_size = 256 << 10;
  io.pack_size = 1 << 20;
  io.open = Opts(st);
  std::unique_ptr<Repository> repo;
  Status s = Repository::Init(std::move(remote), "pw", io, &repo);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return repo;
}

std::unique_ptr<Repository> Reopen(const Store& st) {
  std::unique_ptr<Remote> remote;
  REQUIRE(OpenRemote(st.path(), false, &remote).ok());
  std::unique_ptr<Repository> repo;
  Status s = Repository::Open(std::move(remote), "pw", Opts(st), &repo);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return repo;
}

IngestOptions Ingest() {
  IngestOptions o;
  o.commit_idle_s = 0;
  o.host = "testhost";
  o.journal.sync_interval_s = 0;
  return o;
}

// A KlosetFs with ingest/ enabled, as a mount's daemon has it.
struct IngestFs {
  KlosetFs fs;
  Entry ingest;
  explicit IngestFs(Repository* repo, const IngestOptions& opts = Ingest())
      : fs(repo, FsOptions{}) {
    REQUIRE(fs.Start().ok());
    Status s = fs.EnableIngest(opts);
    INFO(s.ToString());
    REQUIRE(s.ok());
    REQUIRE(fs.Lookup(kRootIno, "ingest", &ingest).ok());
  }
};

void WriteNew(KlosetFs* fs, uint64_t parent, const std::string& name, const std::string& data,
              Entry* e) {
  uint64_t fh = 0;
  Status s = fs->Create(parent, name, 0644, O_WRONLY | O_CREAT, 0, 0, e, &fh);
  INFO(s.ToString());
  REQUIRE(s.ok());
  for (size_t off = 0; off < data.size(); off += 128 << 10) {
    size_t n = std::min<size_t>(128 << 10, data.size() - off);
    REQUIRE(fs->Write(fh, off, std::string_view(data).substr(off, n)).ok());
  }
  REQUIRE(fs->Flush(fh).ok());
  fs->Release(fh);
}

std::string ReadBack(KlosetFs* fs, uint64_t ino) {
  uint64_t fh = 0;
  REQUIRE(fs->Open(ino, O_RDONLY, &fh).ok());
  std::string all, part;
  for (uint64_t off = 0;; off += part.size()) {
    REQUIRE(fs->Read(fh, off, 1 << 20, &part).ok());
    if (part.empty()) break;
    all += part;
  }
  fs->Release(fh);
  return all;
}

std::string SnapshotFile(Repository* repo, const Snapshot& snap, const std::string& path) {
  Node n;
  Status s = LookupPath(repo, snap.tree, path, &n);
  INFO(s.ToString());
  REQUIRE(s.ok());
  FileReader r(repo, n.chunks);
  std::string out;
  REQUIRE(r.ReadAt(0, r.size(), &out).ok());
  return out;
}

}  // namespace

TEST_CASE("files written into ingest/ become a snapshot on commit", "[ingest]") {
  Store st;
  auto repo = Init(st);
  IngestFs m(repo.get());
  KlosetFs& fs = m.fs;
  const Entry& ingest = m.ingest;
  REQUIRE(S_ISDIR(ingest.attr.st_mode));

  // The spool named "spool" lives in this store's cache folder.
  struct stat sp;
  REQUIRE(stat((repo->CacheDir() + "/spool").c_str(), &sp) == 0);
  CHECK(S_ISDIR(sp.st_mode));
  CHECK(repo->CacheDir().rfind(st.cache(), 0) == 0);

  // A missing name comes with a negative entry the kernel may cache (cp's
  // stat before its O_CREAT then costs one request).
  Entry none;
  CHECK(fs.Lookup(ingest.ino, "docs", &none).IsNotFound());
  CHECK(none.ino == 0);
  CHECK(none.entry_timeout > 0);

  Entry dir, file;
  REQUIRE(fs.Mknod(ingest.ino, "docs", S_IFDIR | 0750, 0, 0, 0, &dir).ok());
  std::string data = RandomData(3 << 20, 1);
  WriteNew(&fs, dir.ino, "big.bin", data, &file);
  CHECK(ReadBack(&fs, file.ino) == data);
  struct stat st_attr;
  double timeout;
  REQUIRE(fs.GetAttr(file.ino, &st_attr, &timeout).ok());
  CHECK(st_attr.st_size == static_cast<off_t>(data.size()));

  // An explicit mtime set after the writes survives the close.
  struct stat in {};
  in.st_mtim.tv_sec = 1234567890;
  in.st_mtim.tv_nsec = 987654321;
  REQUIRE(fs.SetAttr(file.ino, in, FUSE_SET_ATTR_MTIME, 0, &st_attr, &timeout).ok());

  CommitResult res;
  Status s = fs.ingest()->Commit(CommitRequest{{"t1"}, "msg"}, &res);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE_FALSE(res.nothing);
  CHECK(res.snapshot.origin == "ingest");
  CHECK(res.snapshot.tags == std::vector<std::string>{"t1"});
  CHECK(res.snapshot.summary.files == 1);
  CHECK(SnapshotFile(repo.get(), res.snapshot, "docs/big.bin") == data);
  Node n;
  REQUIRE(LookupPath(repo.get(), res.snapshot.tree, "docs/big.bin", &n).ok());
  CHECK(n.mtime_ns == 1234567890987654321);
  REQUIRE(LookupPath(repo.get(), res.snapshot.tree, "docs", &n).ok());
  CHECK(n.mode == 0750);

  // Nothing changed since: nothing to commit.
  REQUIRE(fs.ingest()->Commit(CommitRequest{}, &res).ok());
  CHECK(res.nothing);

  // The new snapshot shows under snapshots/ at once.
  Entry snaps;
  REQUIRE(fs.Lookup(kRootIno, "snapshots", &snaps).ok());
  int count = 0;
  uint64_t dfh = 0;
  REQUIRE(fs.OpenDir(snaps.ino, &dfh).ok());
  REQUIRE(
      fs.ReadDir(snaps.ino, dfh, 0, false, [&](const std::string& name, const Entry&, uint64_t) {
          if (name != "." && name != "..") count++;
          return true;
        }).ok());
  fs.ReleaseDir(dfh);
  CHECK(count == 1);
}

TEST_CASE("writes outside ingest/ are refused as read-only", "[ingest]") {
  Store st;
  auto repo = Init(st);
  IngestFs m(repo.get());
  KlosetFs& fs = m.fs;
  Entry e;
  uint64_t fh;
  CHECK(fs.Create(kRootIno, "x", 0644, O_WRONLY, 0, 0, &e, &fh).code() == Code::kReadOnly);
  CHECK(fs.Mknod(kSnapshotsIno, "d", S_IFDIR | 0755, 0, 0, 0, &e).code() == Code::kReadOnly);
  CHECK(fs.Unlink(kRootIno, "snapshots").code() == Code::kReadOnly);
  // A hard link may not join a snapshot and ingest/ (EXDEV, so ln says so).
  CHECK(fs.Link(kLatestIno, m.ingest.ino, "x", &e).code() == Code::kCrossDevice);
  // POSIX ACLs are refused so cp -a falls back to chmod (and keeps modes).
  WriteNew(&fs, m.ingest.ino, "f", "data", &e);
  CHECK(fs.SetXattr(e.ino, "system.posix_acl_access", "x", 0).code() == Code::kUnsupported);
  REQUIRE(fs.SetXattr(e.ino, "user.k", "v", 0).ok());
}

TEST_CASE("a draft left idle for --commit-idle seconds is committed by itself", "[ingest]") {
  Store st;
  auto repo = Init(st);
  IngestOptions opts = Ingest();
  opts.commit_idle_s = 0.5;
  IngestFs m(repo.get(), opts);
  Entry e;
  WriteNew(&m.fs, m.ingest.ino, "idle.txt", "idle", &e);
  std::vector<Snapshot> snaps;
  for (int i = 0; i < 100 && snaps.empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(ListSnapshots(repo.get(), &snaps).ok());
  }
  REQUIRE(snaps.size() == 1);
  CHECK(snaps[0].origin == "ingest");
  CHECK(SnapshotFile(repo.get(), snaps[0], "idle.txt") == "idle");
  CHECK_FALSE(m.fs.ingest()->Dirty());
}

TEST_CASE("closed files survive a crash of the daemon and are committed by the next mount",
          "[ingest]") {
  Store st;
  std::string a = RandomData(700 << 10, 2), b = RandomData(100, 3);
  {
    auto repo = Init(st);
    IngestFs m(repo.get());
    KlosetFs& fs = m.fs;
    const Entry& ingest = m.ingest;
    Entry e;
    WriteNew(&fs, ingest.ino, "a.bin", a, &e);
    WriteNew(&fs, ingest.ino, "b.txt", b, &e);
    REQUIRE(fs.Rename(ingest.ino, "b.txt", ingest.ino, "c.txt", 0).ok());
    // No commit, no Flush: the Repository and the draft are dropped as a
    // SIGKILL would drop them (the spool and journal files stay).
  }
  auto repo = Reopen(st);
  IngestFs m(repo.get());
  KlosetFs& fs = m.fs;
  const Entry& ingest = m.ingest;
  Entry e;
  REQUIRE(fs.Lookup(ingest.ino, "a.bin", &e).ok());
  CHECK(ReadBack(&fs, e.ino) == a);
  CHECK(fs.Lookup(ingest.ino, "b.txt", &e).IsNotFound());
  REQUIRE(fs.Lookup(ingest.ino, "c.txt", &e).ok());
  CHECK(ReadBack(&fs, e.ino) == b);
  CommitResult res;
  REQUIRE(fs.ingest()->Commit(CommitRequest{}, &res).ok());
  REQUIRE_FALSE(res.nothing);
  CHECK(SnapshotFile(repo.get(), res.snapshot, "a.bin") == a);
  CHECK(SnapshotFile(repo.get(), res.snapshot, "c.txt") == b);
}

TEST_CASE("a new mount starts from the last snapshot committed through ingest", "[ingest]") {
  Store st;
  std::string a = RandomData(5000, 4);
  {
    auto repo = Init(st);
    IngestFs m(repo.get());
    KlosetFs& fs = m.fs;
    const Entry& ingest = m.ingest;
    Entry e;
    WriteNew(&fs, ingest.ino, "a.bin", a, &e);
    REQUIRE(fs.ingest()->Shutdown().ok());
  }
  auto repo = Reopen(st);
  IngestFs m(repo.get());
  KlosetFs& fs = m.fs;
  const Entry& ingest = m.ingest;
  Entry e;
  REQUIRE(fs.Lookup(ingest.ino, "a.bin", &e).ok());
  CHECK(ReadBack(&fs, e.ino) == a);
  CommitResult res;
  REQUIRE(fs.ingest()->Commit(CommitRequest{}, &res).ok());
  CHECK(res.nothing);
  REQUIRE(fs.Unlink(ingest.ino, "a.bin").ok());
  REQUIRE(fs.ingest()->Commit(CommitRequest{}, &res).ok());
  REQUIRE_FALSE(res.nothing);
  CHECK(res.snapshot.has_parent);
  Node n;
  CHECK(LookupPath(repo.get(), res.snapshot.tree, "a.bin", &n).IsNotFound());
}

TEST_CASE("a large draft is written ahead and unloaded once the kernel forgets", "[ingest]") {
  Store st;
  auto repo = Init(st);
  IngestOptions o = Ingest();
  o.max_draft_nodes = 100;
  // The kernel's part: every entry handed out holds one lookup until the
  // tree asks for it to be dropped. Declared before the mount, so that they
  // outlive its background thread.
  std::mutex mu;
  std::map<std::pair<uint64_t, std::string>, uint64_t> kernel;
  size_t invalidated = 0;
  IngestFs m(repo.get(), o);
  KlosetFs& fs = m.fs;
  fs.ingest()->SetEntryInvalidator([&](uint64_t parent, const std::string& name) {
    std::lock_guard<std::mutex> l(mu);
    auto it = kernel.find({parent, name});
    if (it == kernel.end()) return;
    fs.Forget(it->second, 1);
    kernel.erase(it);
    invalidated++;
  });
  std::map<std::string, std::string> want;
  for (int i = 0; i < 8; i++) {
    Entry dir;
    const std::string dn = "d" + std::to_string(i);
    REQUIRE(fs.Mknod(m.ingest.ino, dn, S_IFDIR | 0755, 0, 0, 0, &dir).ok());
    {
      std::lock_guard<std::mutex> l(mu);
      kernel[{m.ingest.ino, dn}] = dir.ino;
    }
    for (int j = 0; j < 40; j++) {
      const std::string fn = "f" + std::to_string(j);
      Entry f;
      want[dn + "/" + fn] = "file " + dn + "/" + fn;
      WriteNew(&fs, dir.ino, fn, want[dn + "/" + fn], &f);
      std::lock_guard<std::mutex> l(mu);
      kernel[{dir.ino, fn}] = f.ino;
    }
  }
  fs.ingest()->ReleaseMemory();  // checkpoint, invalidate
  fs.ingest()->ReleaseMemory();  // what was forgotten goes (if the thread did not already)
  const MountStats::Ingest ms = fs.ingest()->MemoryStats();
  CHECK(ms.checkpoints >= 1);
  CHECK(invalidated == 8 + 8 * 40);
  CHECK(ms.entries_released >= invalidated);
  CHECK(ms.draft_nodes < 20);
  CHECK(ms.nodes_unloaded >= 8 * 40);
  CHECK(fs.ingest()->Dirty());

  // Everything reads back through lookups (directories load from the
  // written-ahead pages), a change lands, and the commit holds it all.
  Entry d3, f5, gone;
  REQUIRE(fs.Lookup(m.ingest.ino, "d3", &d3).ok());
  REQUIRE(fs.Lookup(d3.ino, "f5", &f5).ok());
  CHECK(ReadBack(&fs, f5.ino) == want["d3/f5"]);
  REQUIRE(fs.Unlink(d3.ino, "f6").ok());
  want.erase("d3/f6");
  CHECK(fs.Lookup(d3.ino, "f6", &gone).IsNotFound());
  CommitResult res;
  REQUIRE(fs.ingest()->Commit(CommitRequest{}, &res).ok());
  REQUIRE_FALSE(res.nothing);
  CHECK(res.snapshot.summary.files == want.size());
  for (const auto& [path, data] : want) CHECK(SnapshotFile(repo.get(), res.snapshot, path) == data);
  Node n;
  CHECK(LookupPath(repo.get(), res.snapshot.tree, "d3/f6", &n).IsNotFound());
}
