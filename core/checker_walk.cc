// The checker's tree walk: every tree page reachable from a snapshot must
// load, match its id and decode; every data blob a file names must be in the
// index. Files and directories whose blobs were found damaged or lost (by the
// pack checks before the walk) are added to those problems here.
//
// Each distinct page is visited once across all snapshots (snapshots share
// most of their pages), so the walk costs what the distinct trees cost.
#include <algorithm>
#include <condition_variable>
#include <thread>

#include "core/checker_internal.h"
#include "core/tree.h"

namespace kloset::check_internal {
namespace {

struct Pending {
  Hash page;
  std::string path;  // of the directory, "" for the snapshot's root
};

class Walker {
 public:
  explicit Walker(Context* ctx) : ctx_(ctx) {}

  // Walks one snapshot with ctx->parallel workers sharing a stack of pages
  // to visit (each page is a remote read without a cache, so latency, not
  // CPU, bounds a sequential walk).
  Status Walk(const SnapshotState& st) {
    std::vector<Pending> stack{{st.snap.tree, ""}};
    size_t active = 0;
    Status first;
    std::condition_variable cv;
    auto worker = [&] {
      std::unique_lock<std::mutex> l(mu_);
      for (;;) {
        cv.wait(l, [&] { return !stack.empty() || active == 0 || !first.ok(); });
        if (!first.ok() || stack.empty()) return;  // failed, or nothing left anywhere
        Pending cur = std::move(stack.back());
        stack.pop_back();
        if (!visited_.insert(cur.page).second) continue;
        active++;
        l.unlock();
        std::vector<Pending> more;
        Status s = ctx_->Cancelled();
        if (s.ok()) s = Visit(st.id, cur, &more);
        l.lock();
        active--;
        if (!s.ok() && first.ok()) first = s;
        for (Pending& m : more) stack.push_back(std::move(m));
        cv.notify_all();
      }
    };
    std::vector<std::thread> threads;
    for (int i = 1; i < ctx_->parallel; i++) threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads) t.join();
    return first;
  }

  uint64_t trees() const { return trees_; }

 private:
  std::string PackOf(const IndexEntry& e) const {
    return e.pack < ctx_->packs.size() ? ctx_->packs[e.pack].name : "index";
  }

  // Records that no index names blob `id`. The object blamed is the
  // unindexed pack holding it when --read-data found one (a damaged index
  // may have described it), else the index.
  size_t NotIndexed(const Hash& id, const std::string& item) {
    Findings& f = ctx_->findings;
    auto it = ctx_->unindexed_blobs.find(id);
    size_t p;
    if (it == ctx_->unindexed_blobs.end()) {
      p = f.Problem(kNoIndexKey, "index", "");
      f.AddBlob(p, id, "blobs in no index", item);
    } else {
      p = f.Problem(kNoIndexKey + it->second, it->second, "");
      f.AddBlob(p, id, "blobs in no index, which this pack (named by no intact index) holds",
                item);
    }
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
    std::string bad, detail;
    if (!s.ok()) {
      if (!IsObjectDamage(s)) return s;
      bad = "does not load";
      detail = s.ToString();
    } else if (ctx_->repo->HashBlob(plain) != id) {
      bad = "does not match its id";
    } else if (Status d = DecodeTreePage(plain, page); !d.ok()) {
      bad = "does not decode";
      detail = d.ToString();
    }
    if (bad.empty()) {
      *ok = true;
    } else if (known < 0) {
      size_t p = f.Problem(PackOf(e), PackOf(e), "");
      f.AddBlob(p, id, kBadBlobs, what + " (" + bad + ")", detail);
      f.Affect(p, ref);
    }
    return Status::OK();
  }

  // Checks one page; directories below it go to *more.
  Status Visit(const Hash& snap, const Pending& cur, std::vector<Pending>* more) {
    TreePage page;
    bool ok = false;
    KLOSET_RETURN_IF_ERROR(LoadPage(snap, cur.page, cur.path, &page, &ok));
    if (!ok) return Status::OK();
    trees_++;
    if (!page.leaf) {
      for (auto& [first, child] : page.children) more->push_back({child, cur.path});
      return Status::OK();
    }
    for (const Node& node : page.nodes) {
      std::string path = cur.path + "/" + node.name;
      if (node.type == NodeType::kDir) {
        more->push_back({node.subtree, std::move(path)});
      } else if (node.type == NodeType::kFile) {
        KLOSET_RETURN_IF_ERROR(CheckFile(snap, node, path));
      }
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
        size_t p = f.Problem("size:" + PackOf(e), PackOf(e), "");
        f.AddBlob(p, c.id, "blobs whose size disagrees with a file's chunk list",
                  "data blob " + ShortHex(c.id) + " (" + std::to_string(e.raw_size) +
                      " bytes, the file expects " + std::to_string(c.size) + ")");
        hit.push_back(p);
      }
    }
    std::sort(hit.begin(), hit.end());
    hit.erase(std::unique(hit.begin(), hit.end()), hit.end());
    for (size_t p : hit) f.Affect(p, FileRef(snap, path));
    return Status::OK();
  }

  Context* ctx_;
  std::mutex mu_;
  HashSet visited_;  // pages claimed by a worker, across snapshots
  std::atomic<uint64_t> trees_{0};
};

}  // namespace

Status WalkTrees(Context* ctx) {
  Walker walker(ctx);
  for (const SnapshotState& st : ctx->snapshots) {
    if (!st.loaded) continue;
    ctx->progress->SetCurrent(st.name);
    Status s = walker.Walk(st);
    ctx->report->trees = walker.trees();
    KLOSET_RETURN_IF_ERROR(s);
  }
  return Status::OK();
}

}  // namespace kloset::check_internal
