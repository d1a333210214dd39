// Tree page codec: docs/FORMAT.md, "Tree pages". Decoding is strict so that
// a page that decodes has exactly one encoding (the fuzzer checks this).
#include <cstring>
#include <string>

#include "core/encoding.h"
#include "core/tree.h"

namespace kloset {

namespace {

constexpr uint8_t kPageVersion = 1;
constexpr uint8_t kKindLeaf = 0;
constexpr uint8_t kKindInterior = 1;
constexpr uint8_t kChunkHole = 1;

// Smallest possible encoded node: a 1-byte name (2), type (1), mode/uid/gid
// (3), user/group (2), three times (3), six varints (6), symlink target (1),
// xattr count (1), chunk count (1), error (1). Caps hostile node counts.
constexpr size_t kMinNodeBytes = 21;
// Smallest interior entry: a 1-byte name (2) and a hash (32).
constexpr size_t kMinChildBytes = 34;
// Smallest xattr (two empty strs) and chunk (flags + size of a hole).
constexpr size_t kMinXattrBytes = 2;
constexpr size_t kMinChunkBytes = 2;

Status Truncated(const char* what) {
  return Status::Corrupt(std::string("tree page: bad or truncated ") + what);
}

}  // namespace

bool IsValidEntryName(std::string_view name) {
  if (name.empty() || name.size() > 4096 || name == "." || name == "..") return false;
  return std::memchr(name.data(), '/', name.size()) == nullptr &&
         std::memchr(name.data(), '\0', name.size()) == nullptr;
}

void EncodeNode(const Node& n, std::string* dst) {
  PutStr(dst, n.name);
  PutU8(dst, static_cast<uint8_t>(n.type));
  PutVarint(dst, n.mode);
  PutVarint(dst, n.uid);
  PutVarint(dst, n.gid);
  PutStr(dst, n.user);
  PutStr(dst, n.group);
  PutSvarint(dst, n.mtime_ns);
  PutSvarint(dst, n.ctime_ns);
  PutSvarint(dst, n.atime_ns);
  PutVarint(dst, n.size);
  PutVarint(dst, n.blocks);
  PutVarint(dst, n.rdev);
  PutVarint(dst, n.nlink);
  PutVarint(dst, n.hardlink_id);
  PutVarint(dst, n.inode);
  PutStr(dst, n.symlink_target);
  PutVarint(dst, n.xattrs.size());
  for (const auto& [name, value] : n.xattrs) {
    PutStr(dst, name);
    PutStr(dst, value);
  }
  PutVarint(dst, n.chunks.size());
  for (const ChunkRef& c : n.chunks) {
    PutU8(dst, c.is_hole ? kChunkHole : 0);
    if (!c.is_hole) PutHash(dst, c.id);
    PutVarint(dst, c.size);
  }
  if (n.type == NodeType::kDir) {
    PutHash(dst, n.subtree);
    PutVarint(dst, n.subtree_entries);
  }
  PutStr(dst, n.error);
}

Status DecodeNode(std::string_view* in, Node* n) {
  *n = Node();
  uint8_t type;
  if (!GetStr(in, &n->name)) return Truncated("node name");
  if (!IsValidEntryName(n->name)) return Status::Corrupt("tree page: invalid entry name");
  if (!GetU8(in, &type)) return Truncated("node type");
  if (type < static_cast<uint8_t>(NodeType::kFile) ||
      type > static_cast<uint8_t>(NodeType::kBlockDev)) {
    return Status::Corrupt("tree page: unknown node type " + std::to_string(type));
  }
  n->type = static_cast<NodeType>(type);
  if (!GetVarint32(in, &n->mode) || !GetVarint32(in, &n->uid) || !GetVarint32(in, &n->gid) ||
      !GetStr(in, &n->user) || !GetStr(in, &n->group) || !GetSvarint(in, &n->mtime_ns) ||
      !GetSvarint(in, &n->ctime_ns) || !GetSvarint(in, &n->atime_ns) ||
      !GetVarint(in, &n->size) || !GetVarint(in, &n->blocks) || !GetVarint(in, &n->rdev) ||
      !GetVarint32(in, &n->nlink) || !GetVarint(in, &n->hardlink_id) ||
      !GetVarint(in, &n->inode) || !GetStr(in, &n->symlink_target)) {
    return Truncated("node attributes");
  }
  uint64_t count;
  if (!GetVarint(in, &count) || count > in->size() / kMinXattrBytes) return Truncated("xattrs");
  n->xattrs.resize(count);
  for (auto& [name, value] : n->xattrs) {
    if (!GetStr(in, &name) || !GetStr(in, &value)) return Truncated("xattr");
  }
  if (!GetVarint(in, &count) || count > in->size() / kMinChunkBytes) return Truncated("chunks");
  n->chunks.resize(count);
  for (ChunkRef& c : n->chunks) {
    uint8_t flags;
    if (!GetU8(in, &flags)) return Truncated("chunk");
    if (flags & ~kChunkHole) return Status::Corrupt("tree page: unknown chunk flags");
    c.is_hole = flags & kChunkHole;
    if (!c.is_hole && !GetHash(in, &c.id)) return Truncated("chunk id");
    if (!GetVarint(in, &c.size)) return Truncated("chunk size");
  }
  if (n->type == NodeType::kDir &&
      (!GetHash(in, &n->subtree) || !GetVarint(in, &n->subtree_entries))) {
    return Truncated("subtree");
  }
  if (!GetStr(in, &n->error)) return Truncated("node error");
  return Status::OK();
}

std::string EncodeTreePage(const TreePage& page) {
  std::string out;
  PutU8(&out, kPageVersion);
  PutU8(&out, page.leaf ? kKindLeaf : kKindInterior);
  if (page.leaf) {
    PutVarint(&out, page.nodes.size());
    for (const Node& n : page.nodes) EncodeNode(n, &out);
  } else {
    PutVarint(&out, page.children.size());
    for (const auto& [name, id] : page.children) {
      PutStr(&out, name);
      PutHash(&out, id);
    }
  }
  return out;
}

Status DecodeTreePage(std::string_view in, TreePage* page) {
  page->nodes.clear();
  page->children.clear();
  uint8_t version, kind;
  uint64_t count;
  if (!GetU8(&in, &version) || !GetU8(&in, &kind) || !GetVarint(&in, &count)) {
    return Truncated("page header");
  }
  if (version != kPageVersion) {
    return Status::Corrupt("tree page: unknown version " + std::to_string(version));
  }
  if (kind == kKindLeaf) {
    page->leaf = true;
    if (count > in.size() / kMinNodeBytes) return Truncated("node count");
    page->nodes.resize(count);
    for (size_t i = 0; i < count; i++) {
      KLOSET_RETURN_IF_ERROR(DecodeNode(&in, &page->nodes[i]));
      if (i > 0 && page->nodes[i - 1].name >= page->nodes[i].name) {
        return Status::Corrupt("tree page: entry names not sorted or not unique");
      }
    }
  } else if (kind == kKindInterior) {
    page->leaf = false;
    if (count == 0) return Status::Corrupt("tree page: empty interior page");
    if (count > in.size() / kMinChildBytes) return Truncated("child count");
    page->children.resize(count);
    for (size_t i = 0; i < count; i++) {
      auto& [name, id] = page->children[i];
      if (!GetStr(&in, &name) || !GetHash(&in, &id)) return Truncated("child");
      if (!IsValidEntryName(name)) return Status::Corrupt("tree page: invalid child name");
      if (i > 0 && page->children[i - 1].first >= name) {
        return Status::Corrupt("tree page: child names not sorted or not unique");
      }
    }
  } else {
    return Status::Corrupt("tree page: unknown page kind " + std::to_string(kind));
  }
  if (!in.empty()) return Status::Corrupt("tree page: trailing bytes");
  return Status::OK();
}

}  // namespace kloset
