// Draft: metadata and content mutations (setattr, content, xattrs).
#include <algorithm>

#include "core/draft_internal.h"

namespace kloset {

namespace {

// Stamps a metadata change: ctime, and a generation when the node is in
// the tree (the root's own metadata and unlinked nodes never reach a
// commit).
void Touch(Draft::Impl* impl, DraftId id, DraftRec* n, int64_t now) {
  n->node.ctime_ns = now;
  if (id != kDraftRootId && n->links > 0) n->mgen = ++impl->gen;
}

// Fills the common part of an op on node `id`; reported only while the node
// is linked.
void Describe(Draft::Impl* impl, DraftOpCtx* c, DraftId id, const DraftRec& n, DraftOp::Kind kind) {
  if (!c->op || (id != kDraftRootId && n.links == 0)) return;
  c->op->kind = kind;
  c->op->path = impl->PathOf(id);
  c->report = true;
}

Status NoNode(DraftId id) { return Status::NotFound("no draft node " + std::to_string(id)); }

}  // namespace

Status Draft::Impl::SetAttr(DraftOpCtx* c, DraftId id, const DraftAttrChange& change, Node* attr) {
  DraftRec* n = Get(id);
  if (!n) return NoNode(id);
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));
  Describe(this, c, id, *n, DraftOp::Kind::kSetAttr);
  if (c->report) c->op->attr = change;
  if (change.mode) n->node.mode = *change.mode & 07777;  // S_IFMT bits, if any, are ignored
  if (change.uid) n->node.uid = *change.uid;
  if (change.gid) n->node.gid = *change.gid;
  if (change.atime_ns) n->node.atime_ns = *change.atime_ns;
  if (change.mtime_ns) n->node.mtime_ns = *change.mtime_ns;
  Touch(this, id, n, c->now);
  if (attr) FillAttr(*n, n->node.name, attr);
  return Status::OK();
}

Status Draft::Impl::SetContent(DraftOpCtx* c, DraftId id, std::vector<ChunkRef> chunks,
                               uint64_t size, std::optional<int64_t> mtime_ns) {
  DraftRec* n = Get(id);
  if (!n) return NoNode(id);
  if (n->is_dir()) return Status::IsDirectory("cannot set the content of a directory");
  if (n->node.type != NodeType::kFile) return Status::InvalidArgument("not a regular file");
  uint64_t sum = 0, data = 0;
  for (const ChunkRef& ch : chunks) {
    sum += ch.size;
    if (!ch.is_hole) data += ch.size;
  }
  if (sum != size) {
    return Status::InvalidArgument("chunk sizes sum to " + std::to_string(sum) + ", not " +
                                   std::to_string(size));
  }
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));
  const int64_t mtime = mtime_ns ? *mtime_ns : c->now;
  Describe(this, c, id, *n, DraftOp::Kind::kSetContent);
  if (c->report) {
    c->op->node.chunks = chunks;
    c->op->node.size = size;
    c->op->node.mtime_ns = mtime;
  }
  summary.bytes += (size - n->node.size) * n->links;  // modulo 2^64, like the counts
  n->node.chunks = std::move(chunks);
  n->node.size = size;
  n->node.blocks = (data + 511) / 512;
  n->node.mtime_ns = mtime;
  n->node.error.clear();  // whatever made the backup skip it, the content is known now
  Touch(this, id, n, c->now);
  return Status::OK();
}

Status Draft::Impl::SetXattr(DraftOpCtx* c, DraftId id, std::string_view name,
                             std::string_view value, XattrMode mode) {
  DraftRec* n = Get(id);
  if (!n) return NoNode(id);
  if (name.empty()) return Status::InvalidArgument("empty attribute name");
  auto& xs = n->node.xattrs;
  auto it = std::lower_bound(xs.begin(), xs.end(), name,
                             [](const auto& x, std::string_view k) { return x.first < k; });
  const bool found = it != xs.end() && it->first == name;
  if (found && mode == XattrMode::kCreate) {
    return Status::Exists("attribute " + DraftQuote(name) + " exists");
  }
  if (!found && mode == XattrMode::kReplace) {
    return Status::NotFound("no attribute " + DraftQuote(name));
  }
  const size_t pos = static_cast<size_t>(it - xs.begin());
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));  // may load: `it` is recomputed from pos
  Describe(this, c, id, *n, DraftOp::Kind::kSetXattr);
  if (c->report) {
    c->op->name.assign(name);
    c->op->value.assign(value);
    c->op->xattr_mode = mode;
  }
  if (found) {
    xs[pos].second.assign(value);
  } else {
    xs.insert(xs.begin() + static_cast<std::ptrdiff_t>(pos),
              {std::string(name), std::string(value)});
  }
  Touch(this, id, n, c->now);
  return Status::OK();
}

Status Draft::Impl::RemoveXattr(DraftOpCtx* c, DraftId id, std::string_view name) {
  DraftRec* n = Get(id);
  if (!n) return NoNode(id);
  auto& xs = n->node.xattrs;
  auto it = std::find_if(xs.begin(), xs.end(), [&](const auto& x) { return x.first == name; });
  if (it == xs.end()) return Status::NotFound("no attribute " + DraftQuote(name));
  const size_t pos = static_cast<size_t>(it - xs.begin());
  KLOSET_RETURN_IF_ERROR(PrepareMutation(*n));
  Describe(this, c, id, *n, DraftOp::Kind::kRemoveXattr);
  if (c->report) c->op->name.assign(name);
  xs.erase(xs.begin() + static_cast<std::ptrdiff_t>(pos));
  Touch(this, id, n, c->now);
  return Status::OK();
}

}  // namespace kloset
