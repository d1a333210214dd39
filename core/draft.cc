// Draft: construction, lazy loading, link bookkeeping, reads and node
// lifetime; the public methods, which take the lock and report mutations.
#include <chrono>
#include <cstdio>

#include "core/draft_internal.h"
#include "core/system_info.h"
#include "core/tree.h"

namespace kloset {

std::string DraftQuote(std::string_view s) {
  std::string out = "'";
  for (unsigned char ch : s) {
    if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'') {
      out.push_back(static_cast<char>(ch));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  return out + "'";
}

Status CheckNewName(std::string_view name) {
  if (name.size() > 255) return Status::NameTooLong("name longer than 255 bytes");
  if (!IsValidEntryName(name)) return Status::InvalidArgument("invalid name " + DraftQuote(name));
  return Status::OK();
}

Draft::Impl::Impl(BlobStore* s, const Hash* base_tree, const SnapshotSummary& base_summary,
                  DraftOptions o)
    : store(s), opts(std::move(o)) {
  DraftRec& root = recs[kDraftRootId];
  root.node = opts.root;
  root.node.name.clear();
  root.node.type = NodeType::kDir;
  root.links = 1;
  if (base_tree) {
    root.node.subtree = *base_tree;
    root.has_base = true;
  } else {
    root.node.subtree = Hash{};
    root.loaded = true;
  }
  summary.files = base_summary.files;
  summary.dirs = base_summary.dirs;
  summary.others = base_summary.others;
  summary.bytes = base_summary.bytes;
}

int64_t Draft::Impl::Now() const { return opts.now_ns ? opts.now_ns() : NowNs(); }

DraftRec* Draft::Impl::Get(DraftId id) {
  auto it = recs.find(id);
  return it == recs.end() ? nullptr : &it->second;
}

Status Draft::Impl::GetDir(DraftId id, DraftRec** dir) {
  DraftRec* d = Get(id);
  if (!d) return Status::NotFound("no draft node " + std::to_string(id));
  if (!d->is_dir()) return Status::NotDirectory(DraftQuote(PathOf(id)) + " is not a directory");
  if (d->links == 0) return Status::NotFound("directory was removed");
  *dir = d;
  return Status::OK();
}

Status Draft::Impl::EnsureLoaded(DraftId id, DraftRec* d) {
  if (d->loaded) return Status::OK();
  std::vector<Node> nodes;
  Status s = DirectoryReader(store, d->node.subtree).List("", [&](const Node& n) {
    nodes.push_back(n);
    return true;
  });
  if (!s.ok()) {
    // A page the base names but the store lacks is damage, not a missing
    // name: the edge must not turn it into ENOENT.
    if (s.IsNotFound()) s = Status::Corrupt(s.message());
    return s.Annotate("loading directory " + DraftQuote(PathOf(id)));
  }
  for (Node& n : nodes) {
    const bool hardlink = n.type != NodeType::kDir && n.hardlink_id != 0;
    if (hardlink) {
      auto it = base_hardlinks.find(n.hardlink_id);
      DraftRec* x = it == base_hardlinks.end() ? nullptr : Get(it->second);
      if (x && x->links > 0 && x->node.type == n.type) {
        d->children.emplace_hint(d->children.end(), n.name, it->second);
        x->links++;
        extra_links[it->second].emplace_back(id, std::move(n.name));
        continue;
      }
    }
    const DraftId cid = next_id++;
    DraftRec& c = recs[cid];
    c.node = std::move(n);
    c.parent = id;
    c.links = 1;
    if (c.is_dir()) {
      c.has_base = true;
      d->subdirs++;
    }
    if (hardlink) {
      c.base_hardlink = true;
      base_hardlinks[c.node.hardlink_id] = cid;
    }
    d->children.emplace_hint(d->children.end(), c.node.name, cid);
  }
  d->loaded = true;
  return Status::OK();
}

Status Draft::Impl::LoadAll() {
  std::vector<DraftId> stack{kDraftRootId};
  while (!stack.empty()) {
    DraftId id = stack.back();
    stack.pop_back();
    DraftRec* d = Get(id);
    KLOSET_RETURN_IF_ERROR(EnsureLoaded(id, d));
    for (const auto& [name, cid] : d->children) {
      if (recs.at(cid).is_dir()) stack.push_back(cid);
    }
  }
  full_loaded = true;
  return Status::OK();
}

Status Draft::Impl::PrepareMutation(const DraftRec& n) {
  if (!n.base_hardlink || full_loaded) return Status::OK();
  return LoadAll();
}

std::string Draft::Impl::PathOf(DraftId id) {
  std::vector<const std::string*> parts;
  while (id != kDraftRootId && id != 0) {
    const DraftRec* r = Get(id);
    if (!r) break;
    parts.push_back(&r->node.name);
    id = r->parent;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out.push_back('/');
    out += **it;
  }
  return out;
}

std::string Draft::Impl::ChildPath(DraftId dir, std::string_view name) {
  std::string p = PathOf(dir);
  if (!p.empty()) p.push_back('/');
  p.append(name);
  return p;
}

void Draft::Impl::FillAttr(DraftRec& r, std::string_view name, Node* out, DraftAttr what) const {
  if (what == DraftAttr::kAll || r.node.chunks.empty()) {
    *out = r.node;
  } else {
    // Copy all but the chunk list: moved aside and back (even if the copy
    // throws), under the lock.
    struct Aside {
      std::vector<ChunkRef>& slot;
      std::vector<ChunkRef> chunks;
      ~Aside() { slot = std::move(chunks); }
    } aside{r.node.chunks, std::move(r.node.chunks)};
    *out = r.node;
    if (out->blocks == 0) out->blocks = DataBlocks(aside.chunks);
  }
  out->name.assign(name);
}

void Draft::Impl::FreeIfUnused(DraftId id) {
  if (id == kDraftRootId) return;
  auto it = recs.find(id);
  if (it == recs.end()) return;
  const DraftRec& r = it->second;
  if (r.links > 0 || r.nlookup > 0 || r.pins > 0) return;
  if (r.base_hardlink) {
    auto h = base_hardlinks.find(r.node.hardlink_id);
    if (h != base_hardlinks.end() && h->second == id) base_hardlinks.erase(h);
  }
  extra_links.erase(id);
  recs.erase(it);  // an unlinked directory is empty: nothing below it to free
}

void Draft::Impl::AddLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name) {
  if (n->links == 0) {
    n->parent = dir;
    n->node.name.assign(name);
  } else {
    extra_links[id].emplace_back(dir, std::string(name));
  }
  n->links++;
}

void Draft::Impl::DropLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name) {
  n->links--;
  auto it = extra_links.find(id);
  if (n->parent == dir && n->node.name == name) {
    if (it == extra_links.end()) {
      n->parent = 0;  // last link gone: kept by lookups or pins only
      return;
    }
    n->parent = it->second.back().first;
    n->node.name = std::move(it->second.back().second);
    it->second.pop_back();
  } else if (it != extra_links.end()) {
    auto& v = it->second;
    for (size_t i = 0; i < v.size(); i++) {
      if (v[i].first == dir && v[i].second == name) {
        v[i] = std::move(v.back());
        v.pop_back();
        break;
      }
    }
  }
  if (it != extra_links.end() && it->second.empty()) extra_links.erase(it);
}

void Draft::Impl::MoveLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name,
                           DraftId newdir, std::string_view newname) {
  if (n->parent == dir && n->node.name == name) {
    n->parent = newdir;
    n->node.name.assign(newname);
    return;
  }
  auto it = extra_links.find(id);
  if (it == extra_links.end()) return;
  for (auto& [d, nm] : it->second) {
    if (d == dir && nm == name) {
      d = newdir;
      nm.assign(newname);
      return;
    }
  }
}

void Draft::Impl::CountEntry(const DraftRec& n, int sign) {
  const uint64_t one = sign > 0 ? 1 : ~uint64_t{0};  // +1 or -1, modulo 2^64
  switch (n.node.type) {
    case NodeType::kFile:
      summary.files += one;
      summary.bytes += one * n.node.size;
      break;
    case NodeType::kDir:
      summary.dirs += one;
      break;
    default:
      summary.others += one;
      break;
  }
}

void Draft::Impl::TouchDir(DraftRec* d, uint64_t g, int64_t now) {
  d->node.mtime_ns = d->node.ctime_ns = now;
  d->node.nlink = 2 + d->subdirs;
  d->egen = d->mgen = g;
}

// --- Public methods ----------------------------------------------------------

Draft::Draft(BlobStore* store, const Hash* base_tree, const SnapshotSummary& base_summary,
             DraftOptions opts)
    : impl_(std::make_unique<Impl>(store, base_tree, base_summary, std::move(opts))) {}

Draft::~Draft() = default;

void Draft::SetObserver(DraftObserver* observer) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->observer = observer;
}

Status Draft::Impl::FindChild(DraftId dir, std::string_view name, DraftRec** d, DraftId* id) {
  KLOSET_RETURN_IF_ERROR(GetDir(dir, d));
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(dir, *d));
  auto it = (*d)->children.find(name);
  if (it == (*d)->children.end()) return Status::NotFound(DraftQuote(ChildPath(dir, name)));
  *id = it->second;
  return Status::OK();
}

Status Draft::Lookup(DraftId dir, std::string_view name, DraftId* id, Node* attr, DraftAttr what) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* d;
  KLOSET_RETURN_IF_ERROR(impl_->FindChild(dir, name, &d, id));
  DraftRec& c = impl_->recs.at(*id);
  c.nlookup++;
  if (attr) impl_->FillAttr(c, name, attr, what);
  return Status::OK();
}

Status Draft::GetAttr(DraftId id, Node* attr, DraftAttr what) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* r = impl_->Get(id);
  if (!r) return Status::NotFound("no draft node " + std::to_string(id));
  impl_->FillAttr(*r, r->node.name, attr, what);
  return Status::OK();
}

Status Draft::ReadLink(DraftId id, std::string* target) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const DraftRec* r = impl_->Get(id);
  if (!r) return Status::NotFound("no draft node " + std::to_string(id));
  if (r->node.type != NodeType::kSymlink) return Status::InvalidArgument("not a symlink");
  *target = r->node.symlink_target;
  return Status::OK();
}

Status Draft::List(
    DraftId dir, std::string_view after, bool count_lookups,
    const std::function<bool(const std::string& name, DraftId id, const Node& attr)>& fn) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* d = impl_->Get(dir);
  if (!d) return Status::NotFound("no draft node " + std::to_string(dir));
  if (!d->is_dir()) return Status::NotDirectory("not a directory");
  KLOSET_RETURN_IF_ERROR(impl_->EnsureLoaded(dir, d));
  auto it = after.empty() ? d->children.begin() : d->children.upper_bound(after);
  for (; it != d->children.end(); ++it) {
    DraftRec& c = impl_->recs.at(it->second);
    if (!fn(it->first, it->second, c.node)) break;
    if (count_lookups) c.nlookup++;
  }
  return Status::OK();
}

Status Draft::GetXattr(DraftId id, std::string_view name, std::string* value) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const DraftRec* r = impl_->Get(id);
  if (!r) return Status::NotFound("no draft node " + std::to_string(id));
  for (const auto& [k, v] : r->node.xattrs) {
    if (k == name) {
      *value = v;
      return Status::OK();
    }
  }
  return Status::NotFound("no attribute " + DraftQuote(name));
}

Status Draft::ListXattr(DraftId id, std::vector<std::string>* names) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const DraftRec* r = impl_->Get(id);
  if (!r) return Status::NotFound("no draft node " + std::to_string(id));
  names->clear();
  for (const auto& [k, v] : r->node.xattrs) names->push_back(k);
  return Status::OK();
}

void Draft::Forget(DraftId id, uint64_t nlookup) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* r = impl_->Get(id);
  if (!r) return;
  r->nlookup -= std::min(r->nlookup, nlookup);
  impl_->FreeIfUnused(id);
}

Status Draft::Pin(DraftId id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* r = impl_->Get(id);
  if (!r) return Status::NotFound("no draft node " + std::to_string(id));
  r->pins++;
  return Status::OK();
}

void Draft::Unpin(DraftId id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  DraftRec* r = impl_->Get(id);
  if (!r || r->pins == 0) return;
  r->pins--;
  impl_->FreeIfUnused(id);
}

namespace {

// Runs one mutation under the lock with the clock's time and reports it.
template <typename F>
Status Mutate(Draft::Impl* impl, F&& f) {
  std::lock_guard<std::mutex> l(impl->mu);
  DraftOp op;
  DraftOpCtx c;
  c.now = impl->Now();
  c.count_lookup = true;
  c.op = impl->observer ? &op : nullptr;
  Status s = f(&c);
  if (s.ok() && c.report && impl->observer) {
    op.time_ns = c.now;
    impl->observer->OnOp(op);
  }
  return s;
}

}  // namespace

Status Draft::Create(DraftId dir, std::string_view name, const Node& node, DraftId* id,
                     Node* attr) {
  return Mutate(impl_.get(),
                [&](DraftOpCtx* c) { return impl_->Create(c, dir, name, node, id, attr); });
}

Status Draft::Link(DraftId id, DraftId dir, std::string_view name, Node* attr) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) { return impl_->Link(c, id, dir, name, attr); });
}

Status Draft::Unlink(DraftId dir, std::string_view name) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) { return impl_->Unlink(c, dir, name); });
}

Status Draft::Rmdir(DraftId dir, std::string_view name) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) { return impl_->Rmdir(c, dir, name); });
}

Status Draft::Rename(DraftId dir, std::string_view name, DraftId newdir, std::string_view newname,
                     unsigned flags) {
  return Mutate(impl_.get(),
                [&](DraftOpCtx* c) { return impl_->Rename(c, dir, name, newdir, newname, flags); });
}

Status Draft::SetAttr(DraftId id, const DraftAttrChange& change, Node* attr) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) { return impl_->SetAttr(c, id, change, attr); });
}

Status Draft::SetContent(DraftId id, std::vector<ChunkRef> chunks, uint64_t size,
                         std::optional<int64_t> mtime_ns) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) {
    return impl_->SetContent(c, id, std::move(chunks), size, mtime_ns);
  });
}

Status Draft::SetXattr(DraftId id, std::string_view name, std::string_view value, XattrMode mode) {
  return Mutate(impl_.get(),
                [&](DraftOpCtx* c) { return impl_->SetXattr(c, id, name, value, mode); });
}

Status Draft::RemoveXattr(DraftId id, std::string_view name) {
  return Mutate(impl_.get(), [&](DraftOpCtx* c) { return impl_->RemoveXattr(c, id, name); });
}

Status Draft::Apply(const DraftOp& op) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->Apply(op);
}

bool Draft::Dirty() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->gen > impl_->committed_gen;
}

Status Draft::Freeze(Hash* root, SnapshotSummary* summary, uint64_t* generation) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->Freeze(root, summary, generation);
}

void Draft::Committed(uint64_t generation) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->Committed(generation);
}

Status Draft::Checkpoint(std::vector<std::pair<DraftId, std::string>>* held) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->Checkpoint(held);
}

size_t Draft::Trim() {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->Trim();
}

size_t Draft::NodeCount() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->recs.size();
}

}  // namespace kloset
