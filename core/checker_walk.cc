// The checker's tree walk: every tree page reachable from a snapshot must
// load, match its id and decode; every data blob a file names must be in the
// index. Files and directories whose blobs were found damaged or lost (by the
// pack checks before the walk) are added to those problems here.
//
// Each distinct page is visited once across all snapshots (snapshots share
// most of their pages), so the walk costs what the distinct trees cost.
#include <algorithm>

#include "core/checker_internal.h"
#include "core/tree.h"

namespace kloset::check_internal {
namespace {

class Walker {
 public:
  explicit Walker(Context* ctx) : ctx_(ctx) {}

  Status Walk(const SnapshotState& st) {
    struct Pending {
      Hash page;
      std::string path;  // of the directory, "" for the snapshot's root
    };
    std::vector<Pending> stack{{st.snap.tree, ""}};
    while (!stack.empty()) {
      KLOSET_RETURN_IF_ERROR(ctx_->Cancelled());
      Pending cur = std::move(stack.back());
      stack.pop_back();
      if (!visited_.insert(cur.page).second) continue;
      TreePage page;
      bool ok = false;
      KLOSET_RETURN_IF_ERROR(LoadPage(st.id, cur.page, cur.path, &page, &ok));
      if (!ok) continue;
      ctx_->report->trees++;
      if (!page.leaf) {
        for (auto& [first, child] : page.children) stack.push_back({child, cur.path});
        continue;
      }
      for (const Node& node : page.nodes) {
        std::string path = cur.path + "/" + node.name;
        if (node.type == NodeType::kDir) {
          stack.push_back({node.subtree, std::move(path)});
        } else if (node.type == NodeType::kFile) {
          KLOSET_RETURN_IF_ERROR(CheckFile(st.id, node, path));
        }
      }
    }
    return Status::OK();
  }

 private:
  std::string PackOf(const IndexEntry& e) const {
    return e.pack < ctx_->packs.size() ? ctx_->packs[e.pack].name : "index";
  }

  // Records that no index names blob `id`. The object blamed is the
  // unindexed pack holding it when --read-data found one (a damaged index
  // may have described it), else the index.
  size_t NotIndexed(const Hash& id, const std::string& what) {
    auto it = ctx_->unindexed_blobs.find(id);
    size_t p = it == ctx_->unindexed_blobs.end()
                   ? ctx_->findings.Problem("blob:" + ToHex(id), "index", what + " is in no index")
                   : ctx_->findings.Problem("blob:" + ToHex(id), it->second,
                                            what + " is in no index, but this pack holds it");
    ctx_->findings.MarkBlob(id, p);
    return p;
  }

  // Loads and decodes one page; *ok false (with the problem recorded) when
  // it is damaged or lost.
  Status LoadPage(const Hash& snap, const Hash& id, const std::string& dir, TreePage* page,
                  bool* ok) {
    Findings& f = ctx_->findings;
    const std::string ref = FileRef(snap, dir + "/");
    const std::string what = "tree page " + ShortHex(id);
    // Known damaged (its pack is missing or failed --read-data): the page may
    // still load from a local cache, but the store's copy is bad.
    long known = f.BlobProblem(id);
    if (known >= 0) f.Affect(static_cast<size_t>(known), ref);

    IndexEntry e;
    Status s = ctx_->repo->LookupBlob(id, BlobType::kTree, &e);
    if (s.IsNotFound()) {
      f.Affect(NotIndexed(id, what), ref);
      return Status::OK();
    }
    if (!s.ok()) return s;

    std::string plain;
    s = ctx_->repo->LoadBlob(BlobType::kTree, id, &plain);
    std::string bad;
    if (!s.ok()) {
      if (!IsObjectDamage(s)) return s;
      bad = what + " does not load: " + s.ToString();
    } else if (ctx_->repo->HashBlob(plain) != id) {
      bad = what + " does not match its id";
    } else if (Status d = DecodeTreePage(plain, page); !d.ok()) {
      bad = what + " does not decode: " + d.ToString();
    }
    if (bad.empty()) {
      *ok = true;
    } else if (known < 0) {
      size_t p = f.Problem("blob:" + ToHex(id), PackOf(e), bad);
      f.MarkBlob(id, p);
      f.Affect(p, ref);
    }
    return Status::OK();
  }

  Status CheckFile(const Hash& snap, const Node& node, const std::string& path) {
    Findings& f = ctx_->findings;
    std::vector<size_t> hit;  // problems this file belongs to
    for (const ChunkRef& c : node.chunks) {
      if (c.is_hole) continue;
      long known = f.BlobProblem(c.id);
      if (known >= 0) {
        hit.push_back(static_cast<size_t>(known));
        continue;
      }
      IndexEntry e;
      Status s = ctx_->repo->LookupBlob(c.id, BlobType::kData, &e);
      if (s.IsNotFound()) {
        hit.push_back(NotIndexed(c.id, "data blob " + ShortHex(c.id)));
      } else if (!s.ok()) {
        return s;
      } else if (e.raw_size != c.size) {
        hit.push_back(f.Problem("size:" + ToHex(c.id), PackOf(e),
                                "data blob " + ShortHex(c.id) + " holds " +
                                    std::to_string(e.raw_size) + " bytes, a file expects " +
                                    std::to_string(c.size)));
      }
    }
    std::sort(hit.begin(), hit.end());
    hit.erase(std::unique(hit.begin(), hit.end()), hit.end());
    for (size_t p : hit) f.Affect(p, FileRef(snap, path));
    return Status::OK();
  }

  Context* ctx_;
  HashSet visited_;
};

}  // namespace

Status WalkTrees(Context* ctx) {
  Walker walker(ctx);
  for (const SnapshotState& st : ctx->snapshots) {
    if (!st.loaded) continue;
    ctx->progress->SetCurrent(st.name);
    KLOSET_RETURN_IF_ERROR(walker.Walk(st));
  }
  return Status::OK();
}

}  // namespace kloset::check_internal
