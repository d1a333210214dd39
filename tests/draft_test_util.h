// Helpers for the Draft tests: building base trees, walking a draft or a
// stored tree into comparable maps, recording ops, resolving paths.
#pragma once

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/draft.h"
#include "core/memory_blob_store.h"
#include "core/tree.h"

namespace kloset::testing {

// A clock that advances 1000 ns per call.
struct FakeClock {
  int64_t t = 1700000000000000000;
  std::function<int64_t()> Fn() {
    return [this] { return t += 1000; };
  }
};

inline DraftOptions Opts(FakeClock* clock) {
  DraftOptions o;
  o.root.type = NodeType::kDir;
  o.root.mode = 0755;
  o.root.nlink = 2;
  if (clock) o.now_ns = clock->Fn();
  return o;
}

// Builds a stored tree from entries keyed by '/'-separated path; directories
// listed as kDir nodes get their subtree from the entries below them.
inline Hash BuildTree(BlobStore* store, const std::map<std::string, Node>& entries,
                      const std::string& prefix = "") {
  DirectoryWriter w(store);
  for (const auto& [path, node] : entries) {
    if (path.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rest = path.substr(prefix.size());
    if (rest.empty() || rest.find('/') != std::string::npos) continue;
    Node n = node;
    n.name = rest;
    if (n.type == NodeType::kDir) n.subtree = BuildTree(store, entries, path + "/");
    REQUIRE(w.Add(std::move(n)).ok());
  }
  Hash root;
  uint64_t count;
  REQUIRE(w.Finish(&root, &count).ok());
  // subtree_entries are not checked by readers; fine to leave them 0.
  return root;
}

inline Node FileNode(uint64_t size = 0, uint32_t mode = 0644) {
  Node n;
  n.type = NodeType::kFile;
  n.mode = mode;
  n.size = size;
  if (size) n.chunks = {{Hash{}, size, true}};
  return n;
}
inline Node DirNode(uint32_t mode = 0755) {
  Node n;
  n.type = NodeType::kDir;
  n.mode = mode;
  n.nlink = 2;
  return n;
}

// Comparable view of an entry: its node without ids that legitimately differ
// (subtrees, hardlink ids: replaced by a group number for nlink > 1).
struct Tree {
  std::map<std::string, Node> entries;
  bool operator==(const Tree&) const = default;
};

inline void Canonicalize(Tree* t, const std::map<std::string, uint64_t>& group_key) {
  std::map<uint64_t, uint64_t> groups;
  for (auto& [path, n] : t->entries) {
    n.name.clear();
    n.subtree = Hash{};
    n.subtree_entries = 0;
    if (n.type != NodeType::kDir && n.nlink > 1) {
      auto [it, fresh] = groups.emplace(group_key.at(path), groups.size() + 1);
      n.hardlink_id = it->second;
    } else {
      n.hardlink_id = 0;
    }
  }
}

inline void WalkDraft(Draft* d, DraftId dir, const std::string& prefix, Tree* t,
                      std::map<std::string, uint64_t>* keys) {
  std::vector<std::pair<std::string, DraftId>> dirs;
  Status s = d->List(dir, "", false, [&](const std::string& name, DraftId id, const Node& a) {
    const std::string p = prefix.empty() ? name : prefix + "/" + name;
    t->entries[p] = a;
    (*keys)[p] = id;
    if (a.type == NodeType::kDir) dirs.emplace_back(p, id);
    return true;
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
  for (auto& [p, id] : dirs) WalkDraft(d, id, p, t, keys);
}

inline Tree ScanDraft(Draft* d) {
  Tree t;
  std::map<std::string, uint64_t> keys;
  WalkDraft(d, kDraftRootId, "", &t, &keys);
  Canonicalize(&t, keys);
  return t;
}

inline void WalkStored(BlobStore* store, const Hash& root, const std::string& prefix, Tree* t,
                       std::map<std::string, uint64_t>* keys) {
  std::vector<std::pair<std::string, Hash>> dirs;
  Status s = DirectoryReader(store, root).List("", [&](const Node& n) {
    const std::string p = prefix.empty() ? n.name : prefix + "/" + n.name;
    t->entries[p] = n;
    (*keys)[p] = n.hardlink_id;
    if (n.type == NodeType::kDir) dirs.emplace_back(p, n.subtree);
    return true;
  });
  REQUIRE(s.ok());
  for (auto& [p, h] : dirs) WalkStored(store, h, p, t, keys);
}

inline Tree ScanStored(BlobStore* store, const Hash& root) {
  Tree t;
  std::map<std::string, uint64_t> keys;
  WalkStored(store, root, "", &t, &keys);
  Canonicalize(&t, keys);
  return t;
}

// The counts the archiver would report for a stored tree.
inline SnapshotSummary CountStored(BlobStore* store, const Hash& root) {
  SnapshotSummary s;
  Tree t;
  std::map<std::string, uint64_t> keys;
  WalkStored(store, root, "", &t, &keys);
  for (const auto& [p, n] : t.entries) {
    if (n.type == NodeType::kFile) {
      s.files++;
      s.bytes += n.size;
    } else if (n.type == NodeType::kDir) {
      s.dirs++;
    } else {
      s.others++;
    }
  }
  return s;
}

class Recorder : public DraftObserver {
 public:
  void OnOp(const DraftOp& op) override { ops.push_back(op); }
  std::vector<DraftOp> ops;
};

// Resolves a '/'-separated path with Lookup, forgetting the lookups again.
inline Status ResolvePath(Draft* d, const std::string& path, DraftId* id) {
  DraftId cur = kDraftRootId;
  std::vector<DraftId> looked;
  Status s;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    Node attr;
    DraftId next;
    s = d->Lookup(cur, path.substr(pos, end - pos), &next, &attr);
    if (!s.ok()) break;
    looked.push_back(next);
    cur = next;
    pos = end + 1;
  }
  for (DraftId l : looked) d->Forget(l, 1);
  if (s.ok()) *id = cur;
  return s;
}

// ResolvePath that must succeed.
inline DraftId Resolve(Draft* d, const std::string& path) {
  DraftId id = 0;
  Status s = ResolvePath(d, path, &id);
  INFO(path << ": " << s.ToString());
  REQUIRE(s.ok());
  return id;
}

// Splits "a/b/c" into the resolved "a/b" and "c".
inline Status ResolveParentPath(Draft* d, const std::string& path, DraftId* dir,
                                std::string* name) {
  size_t slash = path.rfind('/');
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  KLOSET_RETURN_IF_ERROR(
      ResolvePath(d, slash == std::string::npos ? "" : path.substr(0, slash), dir));
  // As the kernel does before any op reaches the file system.
  Node attr;
  KLOSET_RETURN_IF_ERROR(d->GetAttr(*dir, &attr));
  if (attr.type != NodeType::kDir) return Status::NotDirectory("parent is not a directory");
  return Status::OK();
}

inline Hash FreezeRoot(Draft* d, SnapshotSummary* sum = nullptr, uint64_t* gen = nullptr) {
  Hash root;
  SnapshotSummary s;
  uint64_t g;
  Status st = d->Freeze(&root, &s, &g);
  INFO(st.ToString());
  REQUIRE(st.ok());
  if (sum) *sum = s;
  if (gen) *gen = g;
  return root;
}

}  // namespace kloset::testing
