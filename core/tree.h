// Trees: how a directory is stored. A directory is a B-tree of tree blobs
// ("pages"): leaf pages hold Nodes sorted by name (bytewise), interior pages
// hold (first name, child page id) pairs. Looking up one name in a directory
// of a million entries loads O(log n) pages of a bounded size, never the
// whole directory. Byte layout: docs/FORMAT.md, "Tree pages".
//
// Page boundaries are chosen from the entry names (content-defined), so the
// same set of entries always gives the same page ids, and adding or changing
// one entry of a large directory rewrites only the pages on one root-to-leaf
// path (plus rarely a neighbour): unchanged parts dedup across snapshots.
//
// Thread safety: DirectoryWriter is single-threaded. DirectoryReader is
// immutable after construction and safe to share between threads (the
// BlobStore is thread-safe). LookupPath and the page codec are reentrant.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/blob_store.h"
#include "core/node.h"

namespace kloset {

struct TreeOptions {
  // Target encoded size of one page. Pages stay at or under it unless one
  // entry alone is bigger (a page always holds at least one entry, an
  // interior page at least two when there are two to hold). Typical pages
  // are 1/2 to 3/4 of it.
  size_t page_bytes = 64 * 1024;
};

// Longest root-to-leaf path a reader follows before declaring the tree
// corrupt (guards against cycles planted in a damaged store).
constexpr int kMaxTreeDepth = 64;

// Validates an entry name: non-empty, not "." or "..", no '/' or NUL,
// at most 4096 bytes.
bool IsValidEntryName(std::string_view name);

// Builds one directory. Entries may be added in any order.
class DirectoryWriter {
 public:
  explicit DirectoryWriter(BlobStore* store, TreeOptions opts = {});
  // kInvalidArgument (naming the entry) for an invalid name. Sorts the
  // node's xattrs by name, as Node requires.
  Status Add(Node node);
  size_t size() const { return nodes_.size(); }
  // Sorts, rejects duplicate names (kInvalidArgument naming the entry), saves
  // all pages as BlobType::kTree blobs and returns the root page id and entry
  // count. An empty directory is one empty leaf page. Store errors pass
  // through. After Finish the writer is spent (further calls:
  // kInvalidArgument).
  Status Finish(Hash* root, uint64_t* entries);

 private:
  BlobStore* store_;
  TreeOptions opts_;
  std::vector<Node> nodes_;
  bool finished_ = false;
};

// Reads one directory given its root page id. Every page is checked as it is
// loaded: it must decode, and its names must lie in the range its parent
// assigns it (kCorrupt naming the page otherwise). Store errors pass through
// annotated with the page id.
class DirectoryReader {
 public:
  DirectoryReader(BlobStore* store, const Hash& root) : store_(store), root_(root) {}
  // *found = false (and OK) when no entry has this name. Loads one page per
  // tree level.
  Status Lookup(std::string_view name, Node* out, bool* found) const;
  // Calls fn for each entry in name order whose name sorts after `after`
  // (all entries when `after` is empty), until fn returns false. Pages
  // wholly before `after` are not loaded, so paging through a huge directory
  // with the last name seen costs O(log n) extra page loads per call. fn
  // may move from the node it is given (it is this call's decoded copy).
  Status List(std::string_view after, const std::function<bool(Node&)>& fn) const;

 private:
  Status ListPage(const Hash& id, std::string_view after, std::string_view lo, std::string_view hi,
                  int depth, const std::function<bool(Node&)>& fn, bool* stop) const;

  BlobStore* store_;
  Hash root_;
};

// Resolves a '/'-separated path below the directory `root`. Empty components
// (repeated slashes) and "." are skipped; ".." is kInvalidArgument. "" and
// "/" give a synthetic directory node named "" whose subtree is root (its
// other fields are zero). Symlinks are not followed. kNotFound names the
// first missing component; kInvalidArgument when a non-final component is
// not a directory.
Status LookupPath(BlobStore* store, const Hash& root, std::string_view path, Node* out);

// Page codec (exposed for the checker, tests and fuzzers).
struct TreePage {
  bool leaf = true;
  std::vector<Node> nodes;                             // leaf
  std::vector<std::pair<std::string, Hash>> children;  // interior: first name, page id
};
// Encodes a page as is (no validation: the writer validates).
std::string EncodeTreePage(const TreePage& page);
// kCorrupt on any malformed input; never reads out of bounds and never
// allocates more than the input can describe. Besides the layout it enforces:
// version 1, valid names (IsValidEntryName), names strictly increasing within
// the page, interior pages non-empty, known node types and chunk flags,
// 32-bit fields in range, canonical varints and no trailing bytes. Hence a
// page that decodes re-encodes to the same bytes.
Status DecodeTreePage(std::string_view bytes, TreePage* page);

// One node in its page encoding (appended to *dst), and its decoder, which
// consumes one node from the front of *in with the checks above.
void EncodeNode(const Node& node, std::string* dst);
Status DecodeNode(std::string_view* in, Node* node);

}  // namespace kloset
