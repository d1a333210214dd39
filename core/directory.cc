// DirectoryWriter, DirectoryReader and LookupPath: the B-tree over tree pages.
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "core/encoding.h"
#include "core/tree.h"

namespace kloset {

namespace {

// Names in messages: printable ASCII as is, other bytes as \xNN.
std::string Quote(std::string_view name) {
  std::string out = "'";
  for (unsigned char c : name) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

std::string PageName(const Hash& id) { return "tree page " + ToHex(id); }

// Packs the entries of one tree level into pages. Each entry is appended
// with Add; the packer decides where pages end and saves them.
//
// Boundaries are content-defined: after an entry, the page ends if it has
// reached a quarter of page_bytes and a hash of the entry's name (seeded by
// the level, so levels cut independently) falls under a threshold
// proportional to the entry's size, i.e. about one cut per page_bytes/2
// further bytes. A page also ends before an entry that would push it over
// page_bytes. Because the decision depends on the names, an insert shifts
// boundaries only until the next name-chosen cut.
class PagePacker {
 public:
  PagePacker(BlobStore* store, size_t page_bytes, bool leaf, uint64_t level)
      : store_(store),
        page_bytes_(page_bytes),
        leaf_(leaf),
        level_(level),
        min_entries_(leaf ? 1 : 2) {}

  Status Add(std::string_view name, std::string_view encoded) {
    size_t next_size = PageSize(count_ + 1, body_.size() + encoded.size());
    if (count_ >= min_entries_ && next_size > page_bytes_) KLOSET_RETURN_IF_ERROR(Cut());
    if (count_ == 0) first_.assign(name.data(), name.size());
    body_.append(encoded.data(), encoded.size());
    count_++;
    if (count_ >= min_entries_ && PageSize(count_, body_.size()) >= page_bytes_ / 4 &&
        NameCut(name, encoded.size())) {
      KLOSET_RETURN_IF_ERROR(Cut());
    }
    return Status::OK();
  }

  // Saves the last page (an empty leaf if nothing was added) and returns
  // the (first name, page id) of every page of this level.
  Status Finish(std::vector<std::pair<std::string, Hash>>* pages) {
    if (count_ > 0 || pages_.empty()) KLOSET_RETURN_IF_ERROR(Cut());
    *pages = std::move(pages_);
    return Status::OK();
  }

 private:
  static size_t PageSize(size_t count, size_t body) { return 2 + VarintLength(count) + body; }

  bool NameCut(std::string_view name, size_t entry_bytes) const {
    // Clamped so the products below fit in 64 bits.
    uint64_t spacing = std::clamp<uint64_t>(page_bytes_ / 2, 1, uint64_t{1} << 31);
    if (entry_bytes >= spacing) return true;
    // Probability entry_bytes / spacing, from the top 32 bits of the hash.
    uint64_t h = XXH3_64bits_withSeed(name.data(), name.size(), level_) >> 32;
    return h * spacing < (static_cast<uint64_t>(entry_bytes) << 32);
  }

  Status Cut() {
    std::string page;
    page.reserve(PageSize(count_, body_.size()));
    PutU8(&page, 1);  // version
    PutU8(&page, leaf_ ? 0 : 1);
    PutVarint(&page, count_);
    page += body_;
    Hash id = store_->HashBlob(page);
    Status s = store_->SaveBlob(BlobType::kTree, id, page);
    if (!s.ok()) return s.Annotate("saving " + PageName(id));
    pages_.emplace_back(std::move(first_), id);
    first_.clear();
    body_.clear();
    count_ = 0;
    return Status::OK();
  }

  BlobStore* store_;
  size_t page_bytes_;
  bool leaf_;
  uint64_t level_;
  size_t min_entries_;
  std::string first_, body_;
  size_t count_ = 0;
  std::vector<std::pair<std::string, Hash>> pages_;
};

std::string_view FirstName(const TreePage& p) {
  return p.leaf ? std::string_view(p.nodes.front().name) : p.children.front().first;
}
std::string_view LastName(const TreePage& p) {
  return p.leaf ? std::string_view(p.nodes.back().name) : p.children.back().first;
}
bool Empty(const TreePage& p) { return p.leaf ? p.nodes.empty() : p.children.empty(); }

// Loads and decodes a page, and checks that its names lie in the range its
// parent gave it: the first name equals `lo` and every name sorts before
// `hi` (empty: unbounded). The root (is_root) has no range and may be empty.
Status LoadPage(BlobStore* store, const Hash& id, bool is_root, std::string_view lo,
                std::string_view hi, TreePage* page) {
  std::string bytes;
  Status s = store->LoadBlob(BlobType::kTree, id, &bytes);
  // A page its parent names but the store lacks is damage, not a missing path.
  if (s.IsNotFound()) s = Status::Corrupt("missing from the store (" + s.message() + ")");
  if (s.ok()) s = DecodeTreePage(bytes, page);
  if (!s.ok()) return s.Annotate(PageName(id));
  if (is_root) return Status::OK();
  if (Empty(*page) || FirstName(*page) != lo || (!hi.empty() && LastName(*page) >= hi)) {
    return Status::Corrupt(PageName(id) + ": names outside the range its parent assigns");
  }
  return Status::OK();
}

// Index of the child whose range holds `name`: the last child whose first
// name is <= name, or -1 if name sorts before every child.
ptrdiff_t ChildFor(const TreePage& p, std::string_view name) {
  auto it = std::upper_bound(p.children.begin(), p.children.end(), name,
                             [](std::string_view n, const auto& c) { return n < c.first; });
  return (it - p.children.begin()) - 1;
}

}  // namespace

DirectoryWriter::DirectoryWriter(BlobStore* store, TreeOptions opts) : store_(store), opts_(opts) {}

Status DirectoryWriter::Add(Node node) {
  if (finished_) return Status::InvalidArgument("DirectoryWriter used after Finish");
  if (!IsValidEntryName(node.name)) {
    return Status::InvalidArgument("invalid entry name " + Quote(node.name));
  }
  std::stable_sort(node.xattrs.begin(), node.xattrs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  nodes_.push_back(std::move(node));
  return Status::OK();
}

Status DirectoryWriter::Finish(Hash* root, uint64_t* entries) {
  if (finished_) return Status::InvalidArgument("DirectoryWriter used after Finish");
  finished_ = true;
  std::vector<Node> nodes = std::move(nodes_);
  nodes_.clear();
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  for (size_t i = 1; i < nodes.size(); i++) {
    if (nodes[i - 1].name == nodes[i].name) {
      return Status::InvalidArgument("duplicate entry name " + Quote(nodes[i].name));
    }
  }

  std::vector<std::pair<std::string, Hash>> level;
  {
    PagePacker leaves(store_, opts_.page_bytes, /*leaf=*/true, 0);
    std::string enc;
    for (const Node& n : nodes) {
      enc.clear();
      EncodeNode(n, &enc);
      KLOSET_RETURN_IF_ERROR(leaves.Add(n.name, enc));
    }
    KLOSET_RETURN_IF_ERROR(leaves.Finish(&level));
  }
  // Interior pages hold at least two children each, so every level is
  // smaller than the one below and this ends.
  for (uint64_t depth = 1; level.size() > 1; depth++) {
    PagePacker interior(store_, opts_.page_bytes, /*leaf=*/false, depth);
    std::string enc;
    for (const auto& [name, id] : level) {
      enc.clear();
      PutStr(&enc, name);
      PutHash(&enc, id);
      KLOSET_RETURN_IF_ERROR(interior.Add(name, enc));
    }
    KLOSET_RETURN_IF_ERROR(interior.Finish(&level));
  }
  *root = level.front().second;
  *entries = nodes.size();
  return Status::OK();
}

Status DirectoryReader::Lookup(std::string_view name, Node* out, bool* found) const {
  *found = false;
  Hash id = root_;
  std::string lo, hi;  // range of the page being loaded (copied: parents die)
  for (int depth = 0; depth < kMaxTreeDepth; depth++) {
    TreePage page;
    KLOSET_RETURN_IF_ERROR(LoadPage(store_, id, depth == 0, lo, hi, &page));
    if (page.leaf) {
      auto it = std::lower_bound(page.nodes.begin(), page.nodes.end(), name,
                                 [](const Node& n, std::string_view v) { return n.name < v; });
      if (it != page.nodes.end() && it->name == name) {
        *out = std::move(*it);
        *found = true;
      }
      return Status::OK();
    }
    ptrdiff_t i = ChildFor(page, name);
    if (i < 0) return Status::OK();
    if (static_cast<size_t>(i) + 1 < page.children.size()) hi = page.children[i + 1].first;
    lo = std::move(page.children[i].first);
    id = page.children[i].second;
  }
  return Status::Corrupt(PageName(root_) + ": directory tree deeper than " +
                         std::to_string(kMaxTreeDepth) + " levels");
}

Status DirectoryReader::List(std::string_view after, const std::function<bool(Node&)>& fn) const {
  bool stop = false;
  return ListPage(root_, after, "", "", 0, fn, &stop);
}

Status DirectoryReader::ListPage(const Hash& id, std::string_view after, std::string_view lo,
                                 std::string_view hi, int depth,
                                 const std::function<bool(Node&)>& fn, bool* stop) const {
  if (depth >= kMaxTreeDepth) {
    return Status::Corrupt(PageName(root_) + ": directory tree deeper than " +
                           std::to_string(kMaxTreeDepth) + " levels");
  }
  TreePage page;
  KLOSET_RETURN_IF_ERROR(LoadPage(store_, id, depth == 0, lo, hi, &page));
  if (page.leaf) {
    // Names are never empty, so after = "" starts at the first entry.
    auto it = std::upper_bound(page.nodes.begin(), page.nodes.end(), after,
                               [](std::string_view v, const Node& n) { return v < n.name; });
    for (; it != page.nodes.end(); ++it) {
      if (!fn(*it)) {
        *stop = true;
        break;
      }
    }
    return Status::OK();
  }
  // Children left of the one holding `after` hold only names <= after.
  size_t i = static_cast<size_t>(std::max<ptrdiff_t>(ChildFor(page, after), 0));
  for (; i < page.children.size() && !*stop; i++) {
    std::string_view child_hi = i + 1 < page.children.size() ? page.children[i + 1].first : hi;
    KLOSET_RETURN_IF_ERROR(ListPage(page.children[i].second, after, page.children[i].first,
                                    child_hi, depth + 1, fn, stop));
  }
  return Status::OK();
}

Status LookupPath(BlobStore* store, const Hash& root, std::string_view path, Node* out) {
  Node cur;
  cur.name = "";
  cur.type = NodeType::kDir;
  cur.subtree = root;
  std::string walked;  // components resolved so far, for messages
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view comp = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return Status::InvalidArgument("'..' in path " + Quote(walked));
    if (cur.type != NodeType::kDir) {
      return Status::InvalidArgument(Quote(walked) + " is not a directory");
    }
    walked += "/";
    walked.append(comp.data(), comp.size());
    if (!IsValidEntryName(comp)) return Status::InvalidArgument("invalid name " + Quote(walked));
    Node next;
    bool found;
    KLOSET_RETURN_IF_ERROR(DirectoryReader(store, cur.subtree).Lookup(comp, &next, &found));
    if (!found) return Status::NotFound("no such entry " + Quote(walked));
    cur = std::move(next);
  }
  *out = std::move(cur);
  return Status::OK();
}

}  // namespace kloset
