// Internals of Draft (core/draft.h), shared by core/draft*.cc. Not part of
// any API.
//
// Every node is one Rec in Impl::recs. A directory keeps its entries
// (name -> id, bytewise order) once loaded; an unloaded directory's entries
// are its base subtree. A non-directory may have several links: the first
// is its "primary" link (Rec::parent, Node::name), kept so ops on the node
// can be reported by path; the others are listed in Impl::extra_links
// (hardlinks are rare, so ordinary nodes carry no list).
//
// Change tracking uses generations: every mutation that can reach a commit
// takes gen = ++Impl::gen. A directory's pages are current as of
// Rec::base_gen; it must be rewritten at Freeze when its entries changed
// after that (egen > base_gen), when a child's stored metadata changed after
// that (child mgen > base_gen), or when a child directory's pages were
// rewritten to a different id. Freeze only visits loaded directories.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/draft.h"

namespace kloset {

struct DraftRec {
  Node node;             // metadata; name = the primary link's name
  DraftId parent = 0;    // dirs: parent; others: primary link's dir; 0 = unlinked
  uint64_t nlookup = 0;  // kernel lookups
  uint64_t mgen = 0;     // generation of the last change to `node` as stored
  uint32_t links = 0;    // links in the draft (dirs: 1 while linked)
  uint32_t pins = 0;     // open handles
  // Directories only.
  uint64_t egen = 0;      // generation of the last change to the entries
  uint64_t base_gen = 0;  // node.subtree holds the entries as of this generation
  uint32_t subdirs = 0;   // loaded: entries that are directories
  bool loaded = false;    // children is the full entry list
  bool has_base = false;  // node.subtree / subtree_entries name stored pages
  // Non-directories only: came from the base with a hardlink_id, so links
  // may be in directories not loaded yet (see Impl::PrepareMutation).
  bool base_hardlink = false;
  std::map<std::string, DraftId, std::less<>> children;

  bool is_dir() const { return node.type == NodeType::kDir; }
};

// Per-op context: the time to stamp, whether the kernel gets a lookup, and
// where to describe the op for the observer.
struct DraftOpCtx {
  int64_t now = 0;
  bool count_lookup = false;  // false in Apply (no kernel behind a replay)
  uint64_t hardlink_id = 0;   // Apply: the id the journal gave a new hardlink
  DraftOp* op = nullptr;      // non-null: fill for the observer
  bool report = false;        // set when *op describes a mutation to report
};

struct Draft::Impl {
  Impl(BlobStore* s, const Hash* base_tree, const SnapshotSummary& base_summary, DraftOptions o);

  BlobStore* store;
  DraftOptions opts;
  mutable std::mutex mu;
  DraftObserver* observer = nullptr;

  std::unordered_map<DraftId, DraftRec> recs;
  DraftId next_id = kDraftRootId + 1;
  // Links of a non-directory other than its primary one: (dir, name).
  std::unordered_map<DraftId, std::vector<std::pair<DraftId, std::string>>> extra_links;
  // Base hardlink_id -> the node loaded for it.
  std::unordered_map<uint64_t, DraftId> base_hardlinks;
  bool full_loaded = false;  // every directory reachable from the root was loaded once

  uint64_t gen = 0;            // last mutation's generation
  uint64_t committed_gen = 0;  // Dirty() is gen > committed_gen
  SnapshotSummary summary;     // counts of the current tree

  // Results of the last Freeze: directories written (id, pages, entries).
  struct Frozen {
    DraftId id;
    Hash subtree;
    uint64_t entries;
  };
  bool have_frozen = false;
  uint64_t frozen_gen = 0;
  std::vector<Frozen> frozen;

  // --- draft.cc -----------------------------------------------------------
  int64_t Now() const;
  DraftRec* Get(DraftId id);
  // A directory that can hold new entries: kNotFound if absent or removed,
  // kNotDirectory if not a directory.
  Status GetDir(DraftId id, DraftRec** dir);
  Status EnsureLoaded(DraftId id, DraftRec* dir);
  // The entry `name` of directory `dir`, loading the directory first:
  // kNotFound naming the path if there is none; GetDir's errors.
  Status FindChild(DraftId dir, std::string_view name, DraftRec** d, DraftId* id);
  // Loads every directory reachable from the root (rare: see
  // PrepareMutation).
  Status LoadAll();
  // Before a node's stored metadata or link count changes: a base hardlink
  // may have links in directories not loaded yet, which would keep its old
  // metadata, so the whole base tree is loaded first and every link is known.
  Status PrepareMutation(const DraftRec& n);
  std::string PathOf(DraftId id);
  std::string ChildPath(DraftId dir, std::string_view name);
  void FillAttr(DraftRec& r, std::string_view name, Node* out,
                DraftAttr what = DraftAttr::kAll) const;
  void FreeIfUnused(DraftId id);
  // Link bookkeeping for non-directories.
  void AddLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name);
  void DropLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name);
  void MoveLink(DraftId id, DraftRec* n, DraftId dir, std::string_view name, DraftId newdir,
                std::string_view newname);
  void CountEntry(const DraftRec& n, int sign);
  // Stamps a directory whose entries changed.
  void TouchDir(DraftRec* d, uint64_t g, int64_t now);

  // --- draft_ops.cc -------------------------------------------------------
  Status Create(DraftOpCtx* c, DraftId dir, std::string_view name, const Node& node, DraftId* id,
                Node* attr);
  Status Link(DraftOpCtx* c, DraftId id, DraftId dir, std::string_view name, Node* attr);
  Status Unlink(DraftOpCtx* c, DraftId dir, std::string_view name);
  Status Rmdir(DraftOpCtx* c, DraftId dir, std::string_view name);
  Status Rename(DraftOpCtx* c, DraftId dir, std::string_view name, DraftId newdir,
                std::string_view newname, unsigned flags);

  // --- draft_attr.cc ------------------------------------------------------
  Status SetAttr(DraftOpCtx* c, DraftId id, const DraftAttrChange& change, Node* attr);
  Status SetContent(DraftOpCtx* c, DraftId id, std::vector<ChunkRef> chunks, uint64_t size,
                    std::optional<int64_t> mtime_ns);
  Status SetXattr(DraftOpCtx* c, DraftId id, std::string_view name, std::string_view value,
                  XattrMode mode);
  Status RemoveXattr(DraftOpCtx* c, DraftId id, std::string_view name);

  // --- draft_freeze.cc ----------------------------------------------------
  Status Freeze(Hash* root, SnapshotSummary* summary, uint64_t* generation);
  void Committed(uint64_t generation);
  // The last Freeze's directories take its pages as their base.
  void AdoptFrozen(uint64_t generation);
  Status Checkpoint(std::vector<std::pair<DraftId, std::string>>* held);
  // Loaded directories reachable from the root, in pre-order.
  std::vector<DraftId> LoadedDirs() const;
  size_t Trim();

  // --- draft_apply.cc -----------------------------------------------------
  Status Apply(const DraftOp& op);
  Status Resolve(std::string_view path, DraftId* id);
  Status ResolveParent(std::string_view path, DraftId* dir, std::string_view* name);
};

// Names for messages: printable ASCII as is, other bytes as \xNN.
std::string DraftQuote(std::string_view s);
// Validates the name of a new entry (kNameTooLong over 255 bytes,
// kInvalidArgument unless IsValidEntryName).
Status CheckNewName(std::string_view name);

}  // namespace kloset
