// Directory listing for KlosetFs: virtual directories from the Layout, and
// snapshot directories streamed from their tree pages with a cursor, so a
// directory of a million entries is listed without holding it in memory.
#include <algorithm>

#include "core/tree.h"
#include "fs/ingest.h"
#include "fs/kloset_fs_internal.h"
#include "fs/log.h"
#include "fs/stats_file.h"

namespace kloset::fs {

bool KlosetFs::IsDirectory(const Inode& n) {
  return n.kind == Kind::kEntry
             ? n.node.type == NodeType::kDir
             : n.kind != Kind::kLink && n.kind != Kind::kLatest && n.kind != Kind::kStatsFile;
}

Status KlosetFs::OpenDir(uint64_t ino, uint64_t* fh, bool* cacheable) {
  if (cacheable) *cacheable = false;
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->OpenDir(ino, fh);
  InodePtr n = Get(ino);
  if (!n) return Status::NotFound("stale inode");
  if (!IsDirectory(*n)) return Status::InvalidArgument("not a directory");
  if (n->kind != Kind::kEntry) Refresh(false).ok();  // a failure keeps the last list
  if (cacheable) *cacheable = n->kind == Kind::kEntry;
  std::lock_guard<std::mutex> l(handles_mu_);
  *fh = next_fh_++;
  dirs_[*fh] = std::make_shared<DirHandle>();
  return Status::OK();
}

void KlosetFs::ReleaseDir(uint64_t fh) {
  if (ingest_ && IngestTree::OwnsFh(fh)) return ingest_->ReleaseDir(fh);
  std::lock_guard<std::mutex> l(handles_mu_);
  dirs_.erase(fh);
}

Status KlosetFs::ListChildren(const InodePtr& dir, DirHandle* h, uint64_t index,
                              const std::function<bool(const std::string&, const InodePtr&)>& fn) {
  if (dir->kind == Kind::kEntry) {
    if (index >= h->end_index) return Status::OK();
    // Continue from the cursor when the kernel asks for the next entries (the
    // usual case); otherwise skip `index` entries from the start.
    std::string after;
    uint64_t skip = index;
    if (index != 0 && index == h->next_index) {
      after = h->last_name;
      skip = 0;
    }
    uint64_t i = index - skip;
    bool stopped = false;
    auto snap = dir->snap;
    Status s = DirectoryReader(repo_, dir->node.subtree).List(after, [&](Node& node) {
      if (skip > 0) {
        skip--;
        return true;
      }
      auto n = MakeEntry(snap, std::move(node));
      n->name = n->node.name;
      if (!fn(n->name, n)) {
        stopped = true;
        return false;
      }
      h->next_index = ++i;
      h->last_name = n->name;
      return true;
    });
    if (s.ok() && !stopped) h->end_index = i;
    if (!s.ok())
      Log(LogLevel::kError, "listing inode " + std::to_string(dir->ino) + " of snapshot " +
                                ToHex(dir->snap->id).substr(0, 8) + " failed: " + s.ToString());
    return s;
  }
  auto layout = CurrentLayout();
  std::vector<std::pair<std::string, InodePtr>> kids;
  auto add = [&](const std::string& name, Kind k, const std::string& key) {
    auto n = std::make_shared<Inode>();
    n->kind = k;
    n->key = key;
    n->name = name;
    kids.emplace_back(name, n);
  };
  switch (dir->kind) {
    case Kind::kRoot:
      kids.emplace_back(kStatsFileName, Get(kStatsIno));
      kids.emplace_back("hosts", Get(kHostsIno));
      if (ingest_) kids.emplace_back("ingest", Get(kIngestIno));
      if (!layout->latest.empty()) kids.emplace_back("latest", Get(kLatestIno));
      kids.emplace_back("snapshots", Get(kSnapshotsIno));
      kids.emplace_back("tags", Get(kTagsIno));
      break;
    case Kind::kSnapshotsDir:
      for (auto& [name, snap] : layout->snapshots) {
        Node root;
        root.type = NodeType::kDir;
        root.mode = 0755;
        root.mtime_ns = root.ctime_ns = root.atime_ns = snap->time_ns;
        root.subtree = snap->tree;
        auto n = MakeEntry(snap, root);
        n->name = name;
        n->snapshot_root = true;
        kids.emplace_back(name, n);
      }
      break;
    case Kind::kHostsDir:
      for (auto& [name, v] : layout->hosts) add(name, Kind::kHostDir, name);
      break;
    case Kind::kTagsDir:
      for (auto& [name, v] : layout->tags) add(name, Kind::kTagDir, name);
      break;
    case Kind::kHostDir:
    case Kind::kTagDir: {
      auto& m = dir->kind == Kind::kHostDir ? layout->hosts : layout->tags;
      auto it = m.find(dir->key);
      if (it != m.end())
        for (auto& name : it->second) add(name, Kind::kLink, "../../snapshots/" + name);
      break;
    }
    default:
      break;
  }
  for (uint64_t i = index; i < kids.size(); i++)
    if (!fn(kids[i].first, kids[i].second)) break;
  return Status::OK();
}

Status KlosetFs::ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                         const DirFiller& fill) {
  if (ingest_ && IngestTree::Owns(ino)) return ingest_->ReadDir(ino, fh, offset, plus, fill);
  InodePtr dir = Get(ino);
  if (!dir) return Status::NotFound("stale inode");
  std::shared_ptr<DirHandle> h;
  if (fh == 0) {
    if (!IsDirectory(*dir)) return Status::InvalidArgument("not a directory");
    if (dir->kind != Kind::kEntry && offset == 0) Refresh(false).ok();  // as OpenDir does
    std::lock_guard<std::mutex> l(inodes_mu_);
    if (!dir->lister) dir->lister = std::make_shared<DirHandle>();
    h = dir->lister;
  } else {
    std::lock_guard<std::mutex> l(handles_mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return Status::InvalidArgument("bad directory handle");
    h = it->second;
  }
  std::lock_guard<std::mutex> hl(h->mu);
  // Offsets: 1 after ".", 2 after "..", 3 + i after child i.
  if (offset < 1) {
    Entry e;
    FillEntry(dir, &e);
    if (!fill(".", e, 1)) return Status::OK();
  }
  if (offset < 2) {
    Entry e;
    InodePtr parent = Get(dir->parent);
    FillEntry(parent ? parent : dir, &e);
    if (!fill("..", e, 2)) return Status::OK();
  }
  uint64_t index = offset < 2 ? 0 : offset - 2;
  uint64_t next = index;
  bool lean = plus && dir->kind == Kind::kEntry && lean_.load();
  if (lean) {
    std::lock_guard<std::mutex> l(inodes_mu_);
    if (lean_.load()) {
      if (offset == 0) lean_dirs_.insert(dir->ino);
    } else {
      lean = false;  // ended meanwhile: this listing would not be invalidated
    }
  }
  return ListChildren(dir, h.get(), index, [&](const std::string& name, const InodePtr& cand) {
    Entry e;
    next++;
    if (!plus || (lean && !IsDirectory(*cand))) {
      // The name and type only: no inode for the kernel to hold (ino 0).
      Stat(*cand, &e.attr);
      e.attr.st_ino = kUnknownIno;
      return fill(name, e, next + 2);
    }
    // readdirplus hands the kernel a reference, exactly like a lookup.
    InodePtr n = cand;
    if (n->ino == 0) n = Intern(dir->ino, name, [&] { return cand; });
    FillEntry(n, &e);
    if (fill(name, e, next + 2)) return true;
    if (n->ino > kLatestIno) Forget(n->ino, 1);
    return false;
  });
}

}  // namespace kloset::fs
