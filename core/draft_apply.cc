// Draft::Apply: replays a journaled op, naming nodes by path.
#include "core/draft_internal.h"

namespace kloset {

Status Draft::Impl::Resolve(std::string_view path, DraftId* id) {
  DraftId cur = kDraftRootId;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty()) continue;
    DraftRec* d = Get(cur);
    if (!d->is_dir()) {
      return Status::NotDirectory(DraftQuote(PathOf(cur)) + " is not a directory");
    }
    KLOSET_RETURN_IF_ERROR(EnsureLoaded(cur, d));
    auto it = d->children.find(comp);
    if (it == d->children.end()) return Status::NotFound(DraftQuote(ChildPath(cur, comp)));
    cur = it->second;
  }
  *id = cur;
  return Status::OK();
}

Status Draft::Impl::ResolveParent(std::string_view path, DraftId* dir, std::string_view* name) {
  const size_t slash = path.rfind('/');
  *name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (name->empty()) return Status::InvalidArgument("op path " + DraftQuote(path) + " has no name");
  return Resolve(slash == std::string_view::npos ? std::string_view() : path.substr(0, slash), dir);
}

Status Draft::Impl::Apply(const DraftOp& op) {
  DraftOpCtx c;
  c.now = op.time_ns;
  DraftId id, dir, dir2;
  std::string_view name, name2;
  switch (op.kind) {
    case DraftOp::Kind::kCreate:
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path, &dir, &name));
      return Create(&c, dir, name, op.node, nullptr, nullptr);
    case DraftOp::Kind::kLink:
      c.hardlink_id = op.node.hardlink_id;
      KLOSET_RETURN_IF_ERROR(Resolve(op.path, &id));
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path2, &dir, &name));
      return Link(&c, id, dir, name, nullptr);
    case DraftOp::Kind::kUnlink:
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path, &dir, &name));
      return Unlink(&c, dir, name);
    case DraftOp::Kind::kRmdir:
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path, &dir, &name));
      return Rmdir(&c, dir, name);
    case DraftOp::Kind::kRename:
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path, &dir, &name));
      KLOSET_RETURN_IF_ERROR(ResolveParent(op.path2, &dir2, &name2));
      return Rename(&c, dir, name, dir2, name2, op.flags);
    case DraftOp::Kind::kSetAttr:
      KLOSET_RETURN_IF_ERROR(Resolve(op.path, &id));
      return SetAttr(&c, id, op.attr, nullptr);
    case DraftOp::Kind::kSetContent:
      KLOSET_RETURN_IF_ERROR(Resolve(op.path, &id));
      return SetContent(&c, id, op.node.chunks, op.node.size, op.node.mtime_ns);
    case DraftOp::Kind::kSetXattr:
      KLOSET_RETURN_IF_ERROR(Resolve(op.path, &id));
      return SetXattr(&c, id, op.name, op.value, op.xattr_mode);
    case DraftOp::Kind::kRemoveXattr:
      KLOSET_RETURN_IF_ERROR(Resolve(op.path, &id));
      return RemoveXattr(&c, id, op.name);
  }
  return Status::InvalidArgument("unknown draft op kind " +
                                 std::to_string(static_cast<int>(op.kind)));
}

}  // namespace kloset
