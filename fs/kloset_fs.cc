#include "fs/kloset_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/tree.h"
#include "fs/ingest.h"
#include "fs/kloset_fs_internal.h"
#include "fs/log.h"
#include "fs/stats_file.h"

namespace kloset::fs {

namespace {
mode_t TypeBits(NodeType t) {
  switch (t) {
    case NodeType::kFile:
      return S_IFREG;
    case NodeType::kDir:
      return S_IFDIR;
    case NodeType::kSymlink:
      return S_IFLNK;
    case NodeType::kFifo:
      return S_IFIFO;
    case NodeType::kSocket:
      return S_IFSOCK;
    case NodeType::kCharDev:
      return S_IFCHR;
    case NodeType::kBlockDev:
      return S_IFBLK;
  }
  return S_IFREG;
}

int64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Whether two layouts show the same names (snapshots, hosts, tags, latest).
bool SameNames(const Layout& a, const Layout& b) {
  if (a.latest != b.latest || a.hosts != b.hosts || a.tags != b.tags ||
      a.snapshots.size() != b.snapshots.size())
    return false;
  return std::equal(a.snapshots.begin(), a.snapshots.end(), b.snapshots.begin(),
                    [](const auto& x, const auto& y) { return x.first == y.first; });
}

void SetTime(struct timespec* ts, int64_t ns) {
  ts->tv_sec = static_cast<time_t>(ns / 1000000000);
  ts->tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts->tv_nsec < 0) {
    ts->tv_sec--;
    ts->tv_nsec += 1000000000;
  }
}
}  // namespace

void NodeToStat(const Node& d, uint64_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_blksize = 128 * 1024;  // encourages large reads
  st->st_mode = TypeBits(d.type) | (d.mode & 07777);
  // Directories report one link like btrfs does: the true count of
  // subdirectories is unknown without listing them, and 1 tells find(1)
  // not to rely on it.
  st->st_nlink = d.type == NodeType::kDir ? 1 : std::max<uint32_t>(d.nlink, 1);
  st->st_uid = d.uid;
  st->st_gid = d.gid;
  st->st_size = static_cast<off_t>(d.type == NodeType::kSymlink ? d.symlink_target.size()
                                   : d.type == NodeType::kDir   ? 0
                                                                : d.size);
  st->st_blocks = static_cast<blkcnt_t>(d.blocks);
  st->st_rdev = static_cast<dev_t>(d.rdev);
  SetTime(&st->st_mtim, d.mtime_ns);
  SetTime(&st->st_ctim, d.ctime_ns);
  SetTime(&st->st_atim, d.atime_ns);
}

KlosetFs::KlosetFs(Repository* repo, FsOptions opts, SnapshotLoader loader)
    : repo_(repo), opts_(opts), loader_(std::move(loader)) {
  lean_ = opts_.lean_listings;
  if (!loader_) loader_ = [this](std::vector<Snapshot>* out) { return ListSnapshots(repo_, out); };
  pool_ = std::make_unique<ThreadPool>(static_cast<size_t>(std::max(1, opts_.fetch_threads)));
  cache_ = std::make_unique<ChunkCache>(repo_, opts_.cache_bytes, pool_.get());
  mount_time_ = time(nullptr);
  layout_changed_ns_ = RealtimeNs();
  auto fixed = [this](uint64_t ino, Kind k, const char* name) {
    auto n = std::make_shared<Inode>();
    n->kind = k;
    n->ino = ino;
    n->parent = kRootIno;
    n->name = name;
    inodes_[ino] = n;
  };
  fixed(kRootIno, Kind::kRoot, "");
  fixed(kSnapshotsIno, Kind::kSnapshotsDir, "snapshots");
  fixed(kHostsIno, Kind::kHostsDir, "hosts");
  fixed(kTagsIno, Kind::kTagsDir, "tags");
  fixed(kLatestIno, Kind::kLatest, "latest");
  fixed(6, Kind::kIngestRoot, "ingest");
  fixed(kStatsIno, Kind::kStatsFile, kStatsFileName);
}

KlosetFs::~KlosetFs() {
  ingest_.reset();  // uses the pool
  cache_.reset();   // waits for prefetches that use the pool
  pool_.reset();
}

Status KlosetFs::Start() { return Refresh(true); }

Status KlosetFs::StartWritable(const IngestOptions& opts) {
  // A failed lock is taken again by EnableIngest, which explains the failure.
  std::thread locker([this] {
    if (!StoreLock::Acquire(repo_, LockKind::kShared, &ingest_lock_).ok()) ingest_lock_.reset();
  });
  Status s = Start();
  locker.join();
  if (!s.ok()) {
    ingest_lock_.reset();
    return s;
  }
  return EnableIngest(opts).Annotate("ingest/");
}

Status KlosetFs::Refresh(bool force) {
  std::lock_guard<std::mutex> r(refresh_mu_);
  if (!force) {
    std::lock_guard<std::mutex> l(layout_mu_);
    auto age = std::chrono::steady_clock::now() - layout_time_;
    if (layout_ && age < std::chrono::duration<double>(opts_.refresh_interval_s))
      return Status::OK();
  }
  // Index first: a snapshot listed must find its blobs.
  if (layout_) KLOSET_RETURN_IF_ERROR(repo_->RefreshIndex());
  std::vector<Snapshot> snaps;
  Status s = loader_(&snaps);
  if (!s.ok()) {
    Log(LogLevel::kError, "cannot list snapshots: " + s.ToString());
    return s;
  }
  auto layout = Layout::Build(snaps);
  std::lock_guard<std::mutex> l(layout_mu_);
  if (layout_ && !SameNames(*layout_, *layout)) layout_changed_ns_ = RealtimeNs();
  layout_ = std::move(layout);
  layout_time_ = std::chrono::steady_clock::now();
  return Status::OK();
}

std::shared_ptr<const Layout> KlosetFs::CurrentLayout() {
  std::lock_guard<std::mutex> l(layout_mu_);
  return layout_;
}

KlosetFs::InodePtr KlosetFs::Get(uint64_t ino) const {
  std::lock_guard<std::mutex> l(inodes_mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : it->second;
}

size_t KlosetFs::InodeCount() const {
  std::lock_guard<std::mutex> l(inodes_mu_);
  return inodes_.size();
}

KlosetFs::InodePtr KlosetFs::Intern(uint64_t parent, const std::string& name,
                                    const std::function<InodePtr()>& make) {
  std::lock_guard<std::mutex> l(inodes_mu_);
  auto key = std::make_pair(parent, name);
  // One search serves both the hit and, as the insert hint, the miss: a cold
  // listing interns every entry it hands the kernel.
  auto it = by_name_.lower_bound(key);
  if (it != by_name_.end() && it->first == key) {
    auto& n = inodes_.at(it->second);
    n->nlookup++;
    return n;
  }
  InodePtr n = make();
  n->ino = next_ino_++;
  n->parent = parent;
  if (n->name != name) n->name = name;
  n->nlookup = 1;
  inodes_.emplace(n->ino, n);
  by_name_.emplace_hint(it, std::move(key), n->ino);
  return n;
}

void KlosetFs::Forget(uint64_t ino, uint64_t nlookup) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->Forget(ino, nlookup);
  if (ino <= kStatsIno) return;  // fixed inodes live for the whole mount
  std::lock_guard<std::mutex> l(inodes_mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  auto& n = it->second;
  n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
  if (n->nlookup == 0) {
    by_name_.erase(std::make_pair(n->parent, n->name));
    lean_dirs_.erase(ino);  // the kernel holds no listing of it any more
    inodes_.erase(it);      // open handles keep their own reference
  }
}

KlosetFs::InodePtr KlosetFs::MakeEntry(const std::shared_ptr<const Snapshot>& snap, Node node) {
  auto n = std::make_shared<Inode>();
  n->kind = Kind::kEntry;
  n->snap = snap;
  n->node = std::move(node);
  return n;
}

KlosetFs::InodePtr KlosetFs::MakeLink(const std::string& target) {
  auto n = std::make_shared<Inode>();
  n->kind = Kind::kLink;
  n->key = target;
  return n;
}

KlosetFs::InodePtr KlosetFs::MakeVirtualDir(int kind, const std::string& key) {
  auto n = std::make_shared<Inode>();
  n->kind = static_cast<Kind>(kind);
  n->key = key;
  return n;
}

// A snapshot's root as a directory node: the tree has no entry for "/".
static Node SnapshotRootNode(const Snapshot& s) {
  Node n;
  n.type = NodeType::kDir;
  n.mode = 0755;
  n.mtime_ns = n.ctime_ns = n.atime_ns = s.time_ns;
  n.subtree = s.tree;
  n.nlink = 1;
  return n;
}

Status KlosetFs::Child(const InodePtr& dir, const std::string& name, InodePtr* out) {
  if (dir->kind == Kind::kEntry) {
    if (dir->node.type != NodeType::kDir) return Status::InvalidArgument("not a directory");
    Node node;
    bool found = false;
    Status s = DirectoryReader(repo_, dir->node.subtree).Lookup(name, &node, &found);
    if (!s.ok()) {
      // Names stay out of the log: it is plaintext on disk, the store is not.
      Log(LogLevel::kError, "lookup in inode " + std::to_string(dir->ino) + " of snapshot " +
                                ToHex(dir->snap->id).substr(0, 8) + " failed: " + s.ToString());
      return s;
    }
    if (!found) return Status::NotFound(name);
    auto snap = dir->snap;
    *out = Intern(dir->ino, name, [&] { return MakeEntry(snap, node); });
    return Status::OK();
  }
  if (dir->kind == Kind::kLink || dir->kind == Kind::kLatest || dir->kind == Kind::kStatsFile)
    return Status::InvalidArgument("not a directory");
  if (dir->kind == Kind::kRoot) {
    static const std::pair<const char*, uint64_t> kFixed[] = {{"snapshots", kSnapshotsIno},
                                                              {"hosts", kHostsIno},
                                                              {"tags", kTagsIno},
                                                              {"latest", kLatestIno},
                                                              {kStatsFileName, kStatsIno}};
    for (auto& [n, ino] : kFixed) {
      if (name != n) continue;
      if (ino == kLatestIno) {
        Refresh(false).ok();  // a failed refresh keeps the last good list
        if (CurrentLayout()->latest.empty()) return Status::NotFound(name);
      }
      *out = Get(ino);
      return Status::OK();
    }
    return Status::NotFound(name);
  }
  Refresh(false).ok();
  auto layout = CurrentLayout();
  switch (dir->kind) {
    case Kind::kSnapshotsDir: {
      auto it = layout->snapshots.find(name);
      if (it == layout->snapshots.end()) return Status::NotFound(name);
      auto snap = it->second;
      *out = Intern(dir->ino, name, [&] {
        auto n = MakeEntry(snap, SnapshotRootNode(*snap));
        n->snapshot_root = true;
        return n;
      });
      return Status::OK();
    }
    case Kind::kHostsDir:
    case Kind::kTagsDir: {
      bool hosts = dir->kind == Kind::kHostsDir;
      auto& m = hosts ? layout->hosts : layout->tags;
      if (!m.count(name)) return Status::NotFound(name);
      int kind = static_cast<int>(hosts ? Kind::kHostDir : Kind::kTagDir);
      *out = Intern(dir->ino, name, [&] { return MakeVirtualDir(kind, name); });
      return Status::OK();
    }
    case Kind::kHostDir:
    case Kind::kTagDir: {
      auto& m = dir->kind == Kind::kHostDir ? layout->hosts : layout->tags;
      auto it = m.find(dir->key);
      if (it == m.end() ||
          std::find(it->second.begin(), it->second.end(), name) == it->second.end())
        return Status::NotFound(name);
      *out = Intern(dir->ino, name, [&] { return MakeLink("../../snapshots/" + name); });
      return Status::OK();
    }
    default:
      return Status::NotFound(name);
  }
}

void KlosetFs::Stat(const Inode& n, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = n.ino;
  st->st_blksize = 128 * 1024;  // encourages large reads
  if (n.kind == Kind::kEntry) {
    NodeToStat(n.node, n.ino, st);
    return;
  }
  st->st_uid = getuid();
  st->st_gid = getgid();
  // Virtual directories and `latest` change with the snapshot list.
  SetTime(&st->st_mtim, layout_changed_ns_);
  st->st_ctim = st->st_mtim;
  st->st_atim.tv_sec = mount_time_;
  if (n.kind == Kind::kLink || n.kind == Kind::kLatest) {
    st->st_mode = S_IFLNK | 0777;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(n.key.size());
    return;
  }
  if (n.kind == Kind::kStatsFile) {
    // The size of the text as it would be now (padded with slack, so a text
    // made moments later still fits); reads with a handle (direct_io) see the
    // text made at their open, whatever its size. The mtime changes at every
    // stat, which makes the kernel drop the file's pages when it is read
    // without a handle (ReadInode).
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(StatsText().size());
    clock_gettime(CLOCK_REALTIME, &st->st_mtim);
    st->st_ctim = st->st_atim = st->st_mtim;
    return;
  }
  st->st_mode = S_IFDIR | 0555;
  st->st_nlink = 2;
}

double KlosetFs::AttrTimeout(const Inode& n) const {
  if (n.kind == Kind::kEntry) return opts_.immutable_timeout_s;
  // The statistics file's size and mtime are as of each stat.
  return n.kind == Kind::kStatsFile ? 0 : opts_.virtual_timeout_s;
}

void KlosetFs::FillEntry(const InodePtr& n, Entry* e) const {
  if (n->kind == Kind::kIngestRoot && ingest_ && ingest_->RootEntry(e).ok()) return;
  e->ino = n->ino;
  Stat(*n, &e->attr);
  bool immutable = n->kind == Kind::kEntry;
  e->attr_timeout = AttrTimeout(*n);
  // snapshots/<name> itself may vanish (forget): keep its name short-lived.
  e->entry_timeout =
      immutable && !n->snapshot_root ? opts_.immutable_timeout_s : opts_.virtual_timeout_s;
}

Status KlosetFs::Lookup(uint64_t parent, const std::string& name, Entry* out) {
  if (ingest_ && IngestTree::Owns(parent)) return ingest_->Lookup(parent, name, out);
  if (ingest_ && parent == kRootIno && name == "ingest") return ingest_->RootEntry(out);
  InodePtr dir = Get(parent);
  if (!dir) return Status::NotFound("stale inode");
  // Names under the virtual directories come from the snapshot list, and
  // the attributes a lookup returns are those a cached listing is checked
  // against (GetAttr): both as of a list no older than the refresh interval.
  if (dir->kind != Kind::kEntry) Refresh(false).ok();  // a failure keeps the last list
  InodePtr child;
  KLOSET_RETURN_IF_ERROR(Child(dir, name, &child));
  // A file looked up inside a snapshot: something stats files, so listings
  // carry inodes again (ReadDir, "Lean listings").
  if (child->kind == Kind::kEntry && !IsDirectory(*child) && lean_.load()) EndLeanListings();
  FillEntry(child, out);
  return Status::OK();
}

void KlosetFs::EndLeanListings() {
  std::vector<uint64_t> dirs;
  {
    std::lock_guard<std::mutex> l(inodes_mu_);
    if (!lean_.exchange(false)) return;  // another lookup ended them first
    dirs.assign(lean_dirs_.begin(), lean_dirs_.end());
    lean_dirs_.clear();
  }
  // A lean listing still on its way to the kernel when this runs may stay
  // cached lean: its files then cost a lookup each, nothing worse.
  if (listing_invalidator_ && !dirs.empty()) listing_invalidator_(std::move(dirs));
}

Status KlosetFs::GetAttr(uint64_t ino, struct stat* st, double* timeout) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->GetAttr(ino, st, timeout);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  // The kernel asks before it lists a directory whose listing it cached:
  // a new mtime (the snapshot list changed) makes it list again.
  if (n->kind != Kind::kEntry && IsDirectory(*n))
    Refresh(false).ok();  // a failure keeps the last list
  if (n->kind == Kind::kLatest) {
    n = std::make_shared<Inode>(*n);
    n->key = "snapshots/" + CurrentLayout()->latest;
  }
  Stat(*n, st);
  *timeout = AttrTimeout(*n);
  return Status::OK();
}

Status KlosetFs::ReadLink(uint64_t ino, std::string* target) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->ReadLink(ino, target);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  if (n->kind == Kind::kLatest) {
    Refresh(false).ok();
    auto layout = CurrentLayout();
    if (layout->latest.empty()) return Status::NotFound("no snapshots");
    *target = "snapshots/" + layout->latest;
    return Status::OK();
  }
  if (n->kind == Kind::kLink) {
    *target = n->key;
    return Status::OK();
  }
  if (n->kind == Kind::kEntry && n->node.type == NodeType::kSymlink) {
    *target = n->node.symlink_target;
    return Status::OK();
  }
  return Status::InvalidArgument("not a symlink");
}

}  // namespace kloset::fs
