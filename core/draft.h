// Draft: the writable tree behind MOUNTPOINT/ingest/. A draft is an
// in-memory overlay on a base snapshot's tree (or on an empty tree): every
// POSIX namespace and metadata operation the FUSE layer needs, in terms of
// draft ids and Status, tested without mounting (tests/draft_test.cc).
//
// Base directories are loaded lazily, one directory at a time, the first
// time an operation needs their entries; a directory that was never loaded,
// or was loaded but not changed, is written back at commit by reusing its
// base subtree id, so an unchanged tree costs nothing to commit and its
// files are never read. An op that needs a base directory whose pages
// cannot be read fails with the store's error (kCorrupt for a page the store
// does not have, never kNotFound) and may be retried.
//
// Hardlinks from the base (entries sharing a hardlink_id) are one node; its
// links are found as their directories load, so until then its nlink is the
// stored one. The first change to such a node (its metadata, content or
// link count) first loads the whole base tree, so every directory holding
// a link of it is known and rewritten at commit. Base hardlinks are rare;
// other nodes never cause more than their own directory to load.
//
// File content is not handled here: a file's content is a chunk list that
// the FUSE layer sets with SetContent once it has chunked what was written
// (core/ingest_file.h). GetAttr reports the size of the last SetContent.
//
// Node lifetime (libfuse's protocol): a node lives while it is linked in the
// tree (nlink > 0), while the kernel holds lookups on it (every call that
// returns a DraftId to the kernel adds one: Lookup, Create, Link, and List
// with count_lookups), or while it is pinned by an open file handle. Forget
// and Unpin drop those; a node that reaches zero on all three is freed and
// its id is never reused. An id that is not alive gives kNotFound.
//
// Journal: every successful mutation is reported to the DraftObserver (if
// any) as a DraftOp, under the draft's lock and in the order applied. Ops
// name nodes by path at the time of the op, so replaying them in order with
// Apply on a draft over the same base rebuilds the same tree whatever order
// base directories were loaded in. Mutations of a node that is no longer
// linked anywhere (unlinked while open) are not reported: they cannot reach
// a commit. Times in ops are the times the draft stamped, so a replay
// reproduces them exactly.
//
// Thread safety: every method may be called from many threads; one mutex
// guards the draft, and it is held while a base directory is loaded from the
// BlobStore and while Freeze writes tree pages. Callbacks (List's fn, the
// observer) run under that mutex and must not call back into the Draft.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/blob_store.h"
#include "core/node.h"
#include "core/snapshot.h"
#include "core/tree.h"

namespace kloset {

using DraftId = uint64_t;
constexpr DraftId kDraftRootId = 1;

// rename(2) flags, as in renameat2.
constexpr unsigned kRenameNoReplace = 1;  // RENAME_NOREPLACE: kExists if the target exists
constexpr unsigned kRenameExchange = 2;   // RENAME_EXCHANGE: swap; both must exist

// What Lookup and GetAttr copy out: everything, or all but a file's chunk list.
enum class DraftAttr { kAll, kNoChunks };

// setattr without a size (size changes go through SetContent).
struct DraftAttrChange {
  std::optional<uint32_t> mode;  // permission bits only (no S_IFMT)
  std::optional<uint32_t> uid, gid;
  std::optional<int64_t> atime_ns, mtime_ns;
  // ctime is always set to the op's time by a successful change.
};

// setxattr flags. kCreate: kExists if present; kReplace: kNotFound (ENODATA
// at the edge) if absent.
enum class XattrMode { kAny, kCreate, kReplace };

// One mutation, as reported to the observer and accepted by Apply. Paths are
// relative to the draft root, '/'-separated, without a leading '/'; "" is
// the root itself.
struct DraftOp {
  enum class Kind : uint8_t {
    kCreate = 1,      // path: new entry; node: type, mode, uid, gid, rdev, symlink_target
    kLink = 2,        // path: existing non-directory; path2: new name; node.hardlink_id:
                      // the node's hardlink_id after the link (Apply gives it to a
                      // node that had none, so a replay writes the same tree)
    kUnlink = 3,      // path: non-directory entry to remove
    kRmdir = 4,       // path: empty directory to remove
    kRename = 5,      // path -> path2 with flags
    kSetAttr = 6,     // path; attr
    kSetContent = 7,  // path; node.chunks, node.size
    kSetXattr = 8,    // path; name, value, xattr_mode
    kRemoveXattr = 9  // path; name
  };
  Kind kind = Kind::kCreate;
  std::string path, path2;
  int64_t time_ns = 0;      // when it happened: becomes mtime/ctime as the op implies
  Node node;                // kCreate, kSetContent (name unused)
  DraftAttrChange attr;     // kSetAttr
  unsigned flags = 0;       // kRename
  std::string name, value;  // xattrs
  XattrMode xattr_mode = XattrMode::kAny;
};

class DraftObserver {
 public:
  virtual ~DraftObserver() = default;
  // Called under the draft's lock after each successful mutation.
  virtual void OnOp(const DraftOp& op) = 0;
};

struct DraftOptions {
  // Metadata of ingest/ itself (mode, uid, gid, times). The base snapshot's
  // root has no stored metadata of its own, so this is used in both cases.
  Node root;
  // Time source for ops (ns since epoch); default: the real clock.
  std::function<int64_t()> now_ns;
  TreeOptions tree;
};

class Draft {
 public:
  // `store` is not owned and must outlive the draft. `base_tree` is the root
  // page of the base snapshot's tree, or null for an empty draft;
  // `base_summary` is that snapshot's summary (counts are kept up to date
  // from it, so Freeze need not walk unchanged subtrees).
  Draft(BlobStore* store, const Hash* base_tree, const SnapshotSummary& base_summary,
        DraftOptions opts);
  ~Draft();
  Draft(const Draft&) = delete;
  Draft& operator=(const Draft&) = delete;

  void SetObserver(DraftObserver* observer);  // not owned; null to stop

  // --- Reads ---------------------------------------------------------------
  // *attr gets the node's metadata (name = the name looked up; for files the
  // chunk list of the last SetContent; for dirs subtree fields are not
  // meaningful). Adds one lookup. kNotFound if absent (or `dir` was
  // removed); kNotDirectory if `dir` is not a directory. nlink: for
  // directories 2 + subdirectories (as of the last change to the directory's
  // entries; the stored value before), for others the links in the draft
  // (see above for base hardlinks), 0 once unlinked.
  // With kNoChunks, a file's attr has no chunk list (which can be megabytes
  // for a large file) and, when its stored blocks is 0, blocks counts the
  // 512-byte units of its non-hole chunks.
  Status Lookup(DraftId dir, std::string_view name, DraftId* id, Node* attr,
                DraftAttr what = DraftAttr::kAll);
  // Like Lookup's attr without adding a lookup; attr->name is the node's
  // name in one of its directories ("" for the root).
  Status GetAttr(DraftId id, Node* attr, DraftAttr what = DraftAttr::kAll);
  Status ReadLink(DraftId id, std::string* target);  // kInvalidArgument if not a symlink
  // Entries of `dir` in name order whose names sort after `after` ("" = from
  // the start), until fn returns false. When count_lookups, every entry for
  // which fn returns true gets one lookup (readdirplus). fn runs under the
  // lock. `attr` is the node as held (not a copy): use `name`, not
  // attr.name, which for a hardlink may be another link's name.
  Status List(DraftId dir, std::string_view after, bool count_lookups,
              const std::function<bool(const std::string& name, DraftId id, const Node& attr)>& fn);
  // kNotFound: no such attribute.
  Status GetXattr(DraftId id, std::string_view name, std::string* value);
  Status ListXattr(DraftId id, std::vector<std::string>* names);

  // --- Lifetime ------------------------------------------------------------
  void Forget(DraftId id, uint64_t nlookup);
  Status Pin(DraftId id);  // an open handle
  void Unpin(DraftId id);

  // --- Mutations (each reported to the observer) ---------------------------
  // Creates a file, directory, symlink, fifo, socket or device named `name`
  // in `dir` from node.type, mode, uid, gid, rdev, symlink_target (other
  // fields ignored; times = now). Adds one lookup. kExists if the name is
  // taken; kInvalidArgument for an invalid name (IsValidEntryName) or type;
  // kNameTooLong for a name over 255 bytes.
  Status Create(DraftId dir, std::string_view name, const Node& node, DraftId* id, Node* attr);
  // Hard link: kPermission for a directory. Adds one lookup.
  Status Link(DraftId id, DraftId dir, std::string_view name, Node* attr);
  // kIsDirectory for a directory (use Rmdir).
  Status Unlink(DraftId dir, std::string_view name);
  // kNotDirectory for a non-directory, kNotEmpty unless empty.
  Status Rmdir(DraftId dir, std::string_view name);
  // POSIX rename with kRenameNoReplace / kRenameExchange. Replacing follows
  // rename(2): a directory may replace only an empty directory (kNotEmpty,
  // kNotDirectory) and a non-directory only a non-directory (kIsDirectory);
  // moving a directory below itself is kInvalidArgument; renaming an entry
  // onto itself (or onto another link of the same node) succeeds and changes
  // nothing (and is not reported). Errors come in Linux's order: kNotFound
  // (source), kExists (kRenameNoReplace), kNotFound (kRenameExchange without
  // a target), kInvalidArgument (a directory moved below itself, or with
  // kRenameExchange a target above the source), kNotEmpty (target above the
  // source), then the type and emptiness checks. Both parents get mtime =
  // ctime = now; the moved node's own times do not change.
  Status Rename(DraftId dir, std::string_view name, DraftId newdir, std::string_view newname,
                unsigned flags);
  Status SetAttr(DraftId id, const DraftAttrChange& change, Node* attr);
  // Sets a regular file's content (chunk sizes must sum to `size`; holes
  // allowed); mtime = ctime = now unless `mtime_ns` is given.
  Status SetContent(DraftId id, std::vector<ChunkRef> chunks, uint64_t size,
                    std::optional<int64_t> mtime_ns = std::nullopt);
  Status SetXattr(DraftId id, std::string_view name, std::string_view value, XattrMode mode);
  Status RemoveXattr(DraftId id, std::string_view name);  // kNotFound if absent

  // Replays an op (journal recovery) at op.time_ns. Does not call the
  // observer and adds no lookups (no kernel holds the ids). Errors as the
  // corresponding method, plus kNotFound / kNotDirectory from resolving the
  // paths.
  Status Apply(const DraftOp& op);

  // --- Commit --------------------------------------------------------------
  // True if anything changed since construction or the last Committed().
  bool Dirty() const;
  // Writes every changed directory as tree pages to the store (unchanged
  // ones reuse their subtree ids) and returns the root page id, the summary
  // of the whole tree (bytes_added etc. zero) and a generation for
  // Committed. The counts are the base summary's plus every change since,
  // counted as the archiver does: each link of a file counts as a file and
  // its size as bytes; the root is not counted. Non-directories with
  // nlink > 1 are written with their hardlink_id (a base one is kept, a new
  // one is random), others with 0. Does not Flush the store. The draft stays
  // usable and unchanged. Store errors pass through (the draft is unchanged).
  Status Freeze(Hash* root, SnapshotSummary* summary, uint64_t* generation);
  // Called once the snapshot naming Freeze's root is durable: the frozen
  // tree becomes the new base, and directories not changed since Freeze
  // become clean (Dirty() is false unless something changed meanwhile).
  // Only the last Freeze's generation counts; an older one is ignored (the
  // draft stays dirty and the next Freeze writes the changes again).
  void Committed(uint64_t generation);

  // Writes every changed directory as tree pages, as Freeze does, and makes
  // those pages the directories' base without ending the draft's changes:
  // Dirty() and the next Freeze's result are as without it (that Freeze
  // reuses these pages for directories not changed since). It lets Trim
  // unload directories long before a commit, so a draft of millions of new
  // entries need not stay in memory. The pages are written to the store but
  // named by no snapshot until a commit (an unreferenced page is garbage,
  // like the data of a file removed before a commit). `held` (optional)
  // gets the entries, as (directory, name), that only the kernel's lookups
  // keep loaded: once it forgets them, Trim can free their directories.
  // Store errors pass through and leave the draft unchanged. May be called
  // between Freeze and Committed (that Freeze's result is kept).
  Status Checkpoint(std::vector<std::pair<DraftId, std::string>>* held);

  // Unloads loaded directories that are clean (unchanged since their base
  // pages) and whose entries the kernel does not hold (no lookups, pins or
  // loaded subdirectories, no hardlinks), freeing their entries' nodes; they
  // load again when next needed. Call after Committed, or whenever NodeCount
  // grows large, to keep memory bounded. Returns the nodes freed.
  size_t Trim();

  // Nodes held in memory (tests check memory stays bounded).
  size_t NodeCount() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kloset
