// Draft: the namespace mutations (create, link, unlink, rmdir, rename) with
// rename(2)'s rules and Linux's order of error checks.
#include "core/draft_internal.h"

namespace kloset {

namespace {

bool ValidType(NodeType t) {
  return static_cast<uint8_t>(t) >= static_cast<uint8_t>(NodeType::kFile) &&
         static_cast<uint8_t>(t) <= static_cast<uint8_t>(NodeType::kBlockDev);
}

}  // namespace

Status Draft::Impl::Create(DraftOpCtx* c, DraftId dir, std::string_view name, const Node& node,
                           DraftId* id, Node* attr) {
  DraftRec* d;
  KLOSET_RETURN_IF_ERROR(GetDir(dir, &d));
  KLOSET_RETURN_IF_ERROR(CheckNewName(name));
  if (!ValidType(node.type)) return Status::InvalidArgument("invalid node type");
  if (node.type == NodeType::kSymlink && node.symlink_target.empty()) {
    return Status::InvalidArgument("empty symlink target");
  }
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(dir, d));
  if (d->children.count(name)) return Status::Exists(DraftQuote(ChildPath(dir, name)));

  const bool is_dev = node.type == NodeType::kCharDev || node.type == NodeType::kBlockDev;
  Node n;
  n.name.assign(name);
  n.type = node.type;
  n.mode = node.mode & 07777;
  n.uid = node.uid;
  n.gid = node.gid;
  n.rdev = is_dev ? node.rdev : 0;
  if (node.type == NodeType::kSymlink) {
    n.symlink_target = node.symlink_target;
    n.size = n.symlink_target.size();
  }
  n.atime_ns = n.mtime_ns = n.ctime_ns = c->now;
  n.nlink = node.type == NodeType::kDir ? 2 : 1;
  if (c->op) {
    c->op->kind = DraftOp::Kind::kCreate;
    c->op->path = ChildPath(dir, name);
    c->op->node = n;
    c->op->node.name.clear();
    c->op->node.atime_ns = c->op->node.mtime_ns = c->op->node.ctime_ns = 0;
    c->op->node.nlink = 0;
    c->op->node.size = 0;
    c->report = true;
  }

  const uint64_t g = ++gen;
  const DraftId cid = next_id++;
  DraftRec& r = recs[cid];
  r.node = std::move(n);
  r.parent = dir;
  r.links = 1;
  r.mgen = g;
  if (r.is_dir()) {
    r.loaded = true;
    r.egen = g;
    d->subdirs++;
  }
  if (c->count_lookup) r.nlookup = 1;
  d->children.emplace(std::string(name), cid);
  TouchDir(d, g, c->now);
  CountEntry(r, +1);
  if (id) *id = cid;
  if (attr) FillAttr(r, name, attr);
  return Status::OK();
}

Status Draft::Impl::Link(DraftOpCtx* c, DraftId id, DraftId dir, std::string_view name,
                         Node* attr) {
  DraftRec* n = Get(id);
  if (!n) return Status::NotFound("no draft node " + std::to_string(id));
  DraftRec* d;
  KLOSET_RETURN_IF_ERROR(GetDir(dir, &d));
  KLOSET_RETURN_IF_ERROR(CheckNewName(name));
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(dir, d));
  if (d->children.count(name)) return Status::Exists(DraftQuote(ChildPath(dir, name)));
  if (n->is_dir()) return Status::Permission("cannot hard-link a directory");
  if (n->links == 0) return Status::NotFound("cannot link a removed file");
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));

  if (n->node.hardlink_id == 0) {
    uint64_t h = c->hardlink_id;
    while (h == 0) RandomBytes(&h, sizeof h);
    n->node.hardlink_id = h;
  }
  if (c->op) {
    c->op->kind = DraftOp::Kind::kLink;
    c->op->path = PathOf(id);
    c->op->path2 = ChildPath(dir, name);
    c->op->node.hardlink_id = n->node.hardlink_id;
    c->report = true;
  }
  const uint64_t g = ++gen;
  AddLink(id, n, dir, name);
  d->children.emplace(std::string(name), id);
  n->node.nlink = n->links;
  n->node.ctime_ns = c->now;
  n->mgen = g;
  if (c->count_lookup) n->nlookup++;
  TouchDir(d, g, c->now);
  CountEntry(*n, +1);
  if (attr) FillAttr(*n, name, attr);
  return Status::OK();
}

Status Draft::Impl::Unlink(DraftOpCtx* c, DraftId dir, std::string_view name) {
  DraftRec* d;
  DraftId id = 0;
  KLOSET_RETURN_IF_ERROR(FindChild(dir, name, &d, &id));
  DraftRec* n = &recs.at(id);
  if (n->is_dir()) return Status::IsDirectory(DraftQuote(ChildPath(dir, name)) + " is a directory");
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));
  if (c->op) {
    c->op->kind = DraftOp::Kind::kUnlink;
    c->op->path = ChildPath(dir, name);
    c->report = true;
  }
  const uint64_t g = ++gen;
  CountEntry(*n, -1);
  DropLink(id, n, dir, name);
  d->children.erase(d->children.find(name));
  n->node.nlink = n->links;
  n->node.ctime_ns = c->now;
  n->mgen = g;
  TouchDir(d, g, c->now);
  FreeIfUnused(id);
  return Status::OK();
}

Status Draft::Impl::Rmdir(DraftOpCtx* c, DraftId dir, std::string_view name) {
  DraftRec* d;
  DraftId id = 0;
  KLOSET_RETURN_IF_ERROR(FindChild(dir, name, &d, &id));
  DraftRec* n = &recs.at(id);
  if (!n->is_dir()) {
    return Status::NotDirectory(DraftQuote(ChildPath(dir, name)) + " is not a directory");
  }
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(id, n));
  if (!n->children.empty()) return Status::NotEmpty(DraftQuote(ChildPath(dir, name)));
  if (c->op) {
    c->op->kind = DraftOp::Kind::kRmdir;
    c->op->path = ChildPath(dir, name);
    c->report = true;
  }
  const uint64_t g = ++gen;
  CountEntry(*n, -1);
  d->children.erase(d->children.find(name));
  d->subdirs--;
  n->links = 0;
  n->parent = 0;
  n->node.nlink = 0;
  n->node.ctime_ns = c->now;
  TouchDir(d, g, c->now);
  FreeIfUnused(id);
  return Status::OK();
}

namespace {

// Whether directory `a` is `x` or one of x's ancestors.
bool IsAncestorOrSelf(Draft::Impl* impl, DraftId a, DraftId x) {
  while (x != 0) {
    if (x == a) return true;
    if (x == kDraftRootId) return false;
    x = impl->recs.at(x).parent;
  }
  return false;
}

}  // namespace

Status Draft::Impl::Rename(DraftOpCtx* c, DraftId dir, std::string_view name, DraftId newdir,
                           std::string_view newname, unsigned flags) {
  if ((flags & ~(kRenameNoReplace | kRenameExchange)) != 0 ||
      flags == (kRenameNoReplace | kRenameExchange)) {
    return Status::InvalidArgument("invalid rename flags");
  }
  const bool exchange = flags & kRenameExchange;
  DraftRec *d, *nd;
  KLOSET_RETURN_IF_ERROR(GetDir(dir, &d));
  KLOSET_RETURN_IF_ERROR(GetDir(newdir, &nd));
  if (!IsValidEntryName(name)) return Status::InvalidArgument("invalid name " + DraftQuote(name));
  KLOSET_RETURN_IF_ERROR(CheckNewName(newname));
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(dir, d));
  KLOSET_RETURN_IF_ERROR(EnsureLoaded(newdir, nd));
  auto sit = d->children.find(name);
  if (sit == d->children.end()) return Status::NotFound(DraftQuote(ChildPath(dir, name)));
  const DraftId sid = sit->second;
  auto tit = nd->children.find(newname);
  const DraftId tid = tit == nd->children.end() ? 0 : tit->second;
  if (tid && (flags & kRenameNoReplace)) {
    return Status::Exists(DraftQuote(ChildPath(newdir, newname)));
  }
  if (!tid && exchange) return Status::NotFound(DraftQuote(ChildPath(newdir, newname)));
  DraftRec* s = &recs.at(sid);
  DraftRec* t = tid ? &recs.at(tid) : nullptr;
  if (s->is_dir() && IsAncestorOrSelf(this, sid, newdir)) {
    return Status::InvalidArgument("cannot move a directory below itself");
  }
  if (t && t->is_dir() && IsAncestorOrSelf(this, tid, dir)) {
    if (exchange) return Status::InvalidArgument("cannot move a directory below itself");
    return Status::NotEmpty(DraftQuote(ChildPath(newdir, newname)));
  }
  if (sid == tid) return Status::OK();  // the same node: nothing to do (rename(2))
  if (t && !exchange) {
    if (s->is_dir() && !t->is_dir()) {
      return Status::NotDirectory(DraftQuote(ChildPath(newdir, newname)) + " is not a directory");
    }
    if (!s->is_dir() && t->is_dir()) {
      return Status::IsDirectory(DraftQuote(ChildPath(newdir, newname)) + " is a directory");
    }
    if (t->is_dir()) {
      KLOSET_RETURN_IF_ERROR(EnsureLoaded(tid, t));
      if (!t->children.empty()) return Status::NotEmpty(DraftQuote(ChildPath(newdir, newname)));
    } else {
      KLOSET_RETURN_IF_ERROR(PrepareMutation(*t));
    }
  }
  if (c->op) {
    c->op->kind = DraftOp::Kind::kRename;
    c->op->path = ChildPath(dir, name);
    c->op->path2 = ChildPath(newdir, newname);
    c->op->flags = flags;
    c->report = true;
  }

  const uint64_t g = ++gen;
  const std::string oldname(name), target(newname);  // `name` may alias a map key
  if (exchange) {
    sit->second = tid;
    tit->second = sid;
    if (s->is_dir()) {
      s->parent = newdir;
      s->node.name = target;
    } else {
      MoveLink(sid, s, dir, oldname, newdir, target);
    }
    if (t->is_dir()) {
      t->parent = dir;
      t->node.name = oldname;
    } else {
      MoveLink(tid, t, newdir, target, dir, oldname);
    }
    if (s->is_dir() != t->is_dir()) {  // a directory changes parent
      if (s->is_dir()) {
        d->subdirs--;
        nd->subdirs++;
      } else {
        d->subdirs++;
        nd->subdirs--;
      }
    }
  } else {
    if (t) {
      CountEntry(*t, -1);
      if (t->is_dir()) {
        nd->subdirs--;
        t->links = 0;
        t->parent = 0;
        t->node.nlink = 0;
      } else {
        DropLink(tid, t, newdir, target);
        t->node.nlink = t->links;
        t->mgen = g;
      }
      t->node.ctime_ns = c->now;
      nd->children.erase(tit);
    }
    d->children.erase(sit);
    nd->children.emplace(target, sid);
    if (s->is_dir()) {
      s->parent = newdir;
      s->node.name = target;
      d->subdirs--;
      nd->subdirs++;
    } else {
      MoveLink(sid, s, dir, oldname, newdir, target);
    }
  }
  TouchDir(d, g, c->now);
  TouchDir(nd, g, c->now);
  if (t) FreeIfUnused(tid);
  return Status::OK();
}

}  // namespace kloset
