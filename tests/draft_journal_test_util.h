// DraftOps for the journal tests: a valid sequence of every kind (it applies
// to an empty draft) and ops with every field set, plus field-by-field
// comparison (DraftOp has no operator==).
#pragma once

#include <string>
#include <vector>

#include "core/draft.h"

namespace kloset::journal_test {

inline Hash FillHash(uint8_t b) {
  Hash h;
  h.fill(b);
  return h;
}

inline DraftOp Op(DraftOp::Kind kind, std::string path, int64_t time_ns) {
  DraftOp op;
  op.kind = kind;
  op.path = std::move(path);
  op.time_ns = time_ns;
  return op;
}

inline DraftOp CreateOp(std::string path, NodeType type, uint32_t mode, int64_t t) {
  DraftOp op = Op(DraftOp::Kind::kCreate, std::move(path), t);
  op.node.type = type;
  op.node.mode = mode;
  op.node.uid = 1000;
  op.node.gid = 100;
  return op;
}

// Every kind, in an order an empty draft accepts.
inline std::vector<DraftOp> SampleOps() {
  using K = DraftOp::Kind;
  std::vector<DraftOp> v;
  int64_t t = 1'700'000'000'000'000'000;
  v.push_back(CreateOp("docs", NodeType::kDir, 0755, ++t));
  v.push_back(CreateOp("docs/a.txt", NodeType::kFile, 0644, ++t));
  DraftOp c = Op(K::kSetContent, "docs/a.txt", ++t);
  c.node.chunks = {{FillHash(7), 100, false}, {Hash{}, 50, true}, {FillHash(9), 25, false}};
  c.node.size = 175;
  v.push_back(c);
  DraftOp a = Op(K::kSetAttr, "docs/a.txt", ++t);
  a.attr.mode = 0600;
  a.attr.uid = 0;
  a.attr.gid = 7;
  a.attr.atime_ns = -5;
  a.attr.mtime_ns = 1'600'000'000'123'456'789;
  v.push_back(a);
  DraftOp x = Op(K::kSetXattr, "docs/a.txt", ++t);
  x.name = "user.k";
  x.value = std::string("v\0w", 3);
  x.xattr_mode = XattrMode::kCreate;
  v.push_back(x);
  DraftOp l = CreateOp("docs/l", NodeType::kSymlink, 0777, ++t);
  l.node.symlink_target = "a.txt";
  l.node.size = 5;
  v.push_back(l);
  DraftOp ln = Op(K::kLink, "docs/a.txt", ++t);
  ln.path2 = "docs/b.txt";
  v.push_back(ln);
  DraftOp r = Op(K::kRename, "docs/b.txt", ++t);
  r.path2 = "c.txt";
  v.push_back(r);
  DraftOp rx = Op(K::kRemoveXattr, "docs/a.txt", ++t);
  rx.name = "user.k";
  v.push_back(rx);
  v.push_back(Op(K::kUnlink, "c.txt", ++t));
  v.push_back(CreateOp("docs/p", NodeType::kFifo, 0640, ++t));
  DraftOp dev = CreateOp("docs/dev", NodeType::kCharDev, 0600, ++t);
  dev.node.rdev = (1 << 8) | 3;
  v.push_back(dev);
  v.push_back(CreateOp("empty", NodeType::kDir, 0700, ++t));
  v.push_back(Op(K::kRmdir, "empty", ++t));
  DraftOp ex = Op(K::kRename, "docs/l", ++t);
  ex.path2 = "docs/p";
  ex.flags = kRenameExchange;
  v.push_back(ex);
  DraftOp x2 = Op(K::kSetXattr, "", ++t);  // on the root
  x2.name = "user.root";
  x2.value = "1";
  v.push_back(x2);
  DraftOp x3 = x2;
  x3.value = "2";
  x3.xattr_mode = XattrMode::kReplace;
  x3.time_ns = ++t;
  v.push_back(x3);
  return v;
}

// An op of `kind` with every field set to something other than its default.
inline DraftOp FullOp(DraftOp::Kind kind) {
  DraftOp op;
  op.kind = kind;
  op.path = "dir/\xff name";
  op.path2 = "other/path";
  op.time_ns = -123456789;
  Node& n = op.node;
  n.name = "node-name";
  n.type = NodeType::kDir;
  n.mode = 07777;
  n.uid = 4'000'000'000u;
  n.gid = 65534;
  n.user = "user";
  n.group = "group";
  n.mtime_ns = 1, n.ctime_ns = -2, n.atime_ns = INT64_MIN;
  n.size = UINT64_MAX;
  n.blocks = 8;
  n.rdev = 259;
  n.nlink = 3;
  n.hardlink_id = 42;
  n.inode = 1234567;
  n.symlink_target = "target";
  n.xattrs = {{"security.a", std::string("\0\1", 2)}, {"user.b", ""}};
  n.chunks = {{FillHash(1), 1, false}, {Hash{}, 1 << 20, true}};
  n.subtree = FillHash(2);
  n.subtree_entries = 17;
  n.error = "err";
  op.attr.mode = 0;
  op.attr.uid = 1, op.attr.gid = 2;
  op.attr.atime_ns = INT64_MAX, op.attr.mtime_ns = 0;
  op.flags = 3;
  op.name = "user.name";
  op.value = std::string(300, '\0');
  op.xattr_mode = XattrMode::kReplace;
  return op;
}

inline bool SameOp(const DraftOp& a, const DraftOp& b) {
  return a.kind == b.kind && a.path == b.path && a.path2 == b.path2 && a.time_ns == b.time_ns &&
         a.node == b.node && a.attr.mode == b.attr.mode && a.attr.uid == b.attr.uid &&
         a.attr.gid == b.attr.gid && a.attr.atime_ns == b.attr.atime_ns &&
         a.attr.mtime_ns == b.attr.mtime_ns && a.flags == b.flags && a.name == b.name &&
         a.value == b.value && a.xattr_mode == b.xattr_mode;
}

inline bool OpsEqual(const std::vector<DraftOp>& a, const std::vector<DraftOp>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (!SameOp(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace kloset::journal_test
