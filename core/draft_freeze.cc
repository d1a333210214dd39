// Draft: Freeze (changed directories to tree pages), Committed (the frozen
// pages become the base), Checkpoint (the same before a commit) and Trim
// (unloading clean directories).
#include <algorithm>

#include "core/draft_internal.h"
#include "core/tree.h"

namespace kloset {

Status Draft::Impl::Freeze(Hash* root, SnapshotSummary* sum, uint64_t* generation) {
  struct Out {
    Hash subtree;
    uint64_t entries;
  };
  // Directories written by this Freeze. A loaded directory is written when
  // its entries or a child's stored metadata changed since its pages were
  // current, or when a child directory's pages came out different.
  std::unordered_map<DraftId, Out> written;
  struct Frame {
    DraftId id;
    DraftRec* d;
    std::map<std::string, DraftId, std::less<>>::const_iterator next;
    bool dirty;
  };
  std::vector<Frame> stack;  // explicit: trees may be deeper than the call stack allows
  auto push = [&](DraftId id) {
    DraftRec* d = &recs.at(id);
    stack.push_back({id, d, d->children.cbegin(), !d->has_base || d->egen > d->base_gen});
  };

  const DraftRec& r = recs.at(kDraftRootId);
  *root = r.node.subtree;
  if (r.loaded) push(kDraftRootId);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next != f.d->children.cend()) {
      const DraftId cid = f.next->second;
      const DraftRec& c = recs.at(cid);
      if (c.mgen > f.d->base_gen) f.dirty = true;
      ++f.next;
      if (c.is_dir() && c.loaded) push(cid);  // invalidates f
      continue;
    }
    const Frame done = f;
    stack.pop_back();
    if (!done.dirty) {
      if (stack.empty()) *root = done.d->node.subtree;
      continue;
    }
    DirectoryWriter w(store, opts.tree);
    for (const auto& [name, cid] : done.d->children) {
      const DraftRec& c = recs.at(cid);
      Node n = c.node;
      n.name = name;
      if (c.is_dir()) {
        auto it = written.find(cid);
        if (it != written.end()) {
          n.subtree = it->second.subtree;
          n.subtree_entries = it->second.entries;
        }
      } else if (n.nlink <= 1) {
        n.hardlink_id = 0;  // not (or no longer) a hardlink
      }
      KLOSET_RETURN_IF_ERROR(w.Add(std::move(n)));
    }
    Out out;
    Status s = w.Finish(&out.subtree, &out.entries);
    if (!s.ok()) return s.Annotate("writing directory " + DraftQuote(PathOf(done.id)));
    const bool changed = !done.d->has_base || out.subtree != done.d->node.subtree;
    written.emplace(done.id, out);
    if (stack.empty()) {
      *root = out.subtree;
    } else if (changed) {
      stack.back().dirty = true;
    }
  }

  *sum = SnapshotSummary{};
  sum->files = summary.files;
  sum->dirs = summary.dirs;
  sum->others = summary.others;
  sum->bytes = summary.bytes;
  *generation = gen;
  frozen.clear();
  frozen.reserve(written.size());
  for (const auto& [id, out] : written) frozen.push_back({id, out.subtree, out.entries});
  have_frozen = true;
  frozen_gen = gen;
  return Status::OK();
}

void Draft::Impl::AdoptFrozen(uint64_t generation) {
  // Every directory written by that Freeze held, at `generation`, what its
  // new pages hold; changes made since then have later generations, so they
  // still show as changes against the new base.
  for (const Frozen& f : frozen) {
    DraftRec* d = Get(f.id);
    if (!d || !d->is_dir()) continue;
    // A Checkpoint after that Freeze gave it newer pages: an older base would
    // point at older pages of directories below that the Checkpoint wrote.
    if (d->has_base && d->base_gen > generation) continue;
    d->node.subtree = f.subtree;
    d->node.subtree_entries = f.entries;
    d->has_base = true;
    d->base_gen = generation;
  }
}

void Draft::Impl::Committed(uint64_t generation) {
  if (!have_frozen || generation != frozen_gen) return;  // not the last Freeze: keep dirty
  AdoptFrozen(generation);
  frozen.clear();
  have_frozen = false;
  committed_gen = std::max(committed_gen, generation);
}

Status Draft::Impl::Checkpoint(std::vector<std::pair<DraftId, std::string>>* held) {
  // A commit's Freeze may be waiting for its Committed: keep its results.
  std::vector<Frozen> commit_frozen = std::move(frozen);
  const bool commit_have = have_frozen;
  const uint64_t commit_gen = frozen_gen;
  Hash root;
  SnapshotSummary sum;
  uint64_t g;
  Status s = Freeze(&root, &sum, &g);
  if (s.ok()) AdoptFrozen(g);
  frozen = std::move(commit_frozen);
  have_frozen = commit_have;
  frozen_gen = commit_gen;
  KLOSET_RETURN_IF_ERROR(s);
  if (!held) return Status::OK();
  held->clear();
  for (const DraftId id : LoadedDirs()) {
    const DraftRec& d = recs.at(id);
    const bool clean = d.has_base && d.egen <= d.base_gen;
    for (const auto& [name, cid] : d.children) {
      const DraftRec& c = recs.at(cid);
      // Directories too: a folder the kernel holds keeps its parent loaded.
      if (clean && c.nlookup > 0 && c.pins == 0 && c.mgen <= d.base_gen &&
          (c.is_dir() || (c.links == 1 && c.node.hardlink_id == 0))) {
        held->emplace_back(id, name);
      }
    }
  }
  return Status::OK();
}

std::vector<DraftId> Draft::Impl::LoadedDirs() const {
  std::vector<DraftId> order, stack{kDraftRootId};
  while (!stack.empty()) {
    const DraftId id = stack.back();
    stack.pop_back();
    const DraftRec& d = recs.at(id);
    if (!d.loaded) continue;
    order.push_back(id);
    for (const auto& [name, cid] : d.children) {
      if (recs.at(cid).is_dir()) stack.push_back(cid);
    }
  }
  return order;
}

size_t Draft::Impl::Trim() {
  // Visited in reverse pre-order, children come before their parents, so a
  // whole clean subtree unloads in one call.
  const std::vector<DraftId> order = LoadedDirs();
  size_t freed = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    DraftRec& d = recs.at(*it);
    if (!d.has_base || d.egen > d.base_gen) continue;
    bool clean = true;
    for (const auto& [name, cid] : d.children) {
      const DraftRec& c = recs.at(cid);
      // Hardlinked nodes stay: their links elsewhere refer to this record.
      if (c.nlookup > 0 || c.pins > 0 || c.mgen > d.base_gen ||
          (c.is_dir() ? c.loaded : c.links != 1 || c.node.hardlink_id != 0)) {
        clean = false;
        break;
      }
    }
    if (!clean) continue;
    for (const auto& [name, cid] : d.children) recs.erase(cid);
    freed += d.children.size();
    d.children.clear();
    d.subdirs = 0;
    d.loaded = false;
  }
  return freed;
}

}  // namespace kloset
