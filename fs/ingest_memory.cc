// IngestTree: keeping the draft's memory bounded. A copy of a million files
// into ingest/ would otherwise hold a million draft nodes until the commit,
// and the kernel a lookup on each (so Draft::Trim could free none).
//
// Each round, once the draft holds more than max_draft_nodes nodes:
//   1. Draft::Checkpoint writes the changed directories as tree pages and
//      makes them their base, so they are clean without a commit;
//   2. Trim unloads what nothing holds;
//   3. the kernel is asked to drop its entries of clean directories
//      (fuse_lowlevel_notify_inval_entry), with no lock held: the kernel
//      takes the parent directory's lock, which a request in flight may hold
//      while it waits for a reply from this process;
//   4. the next round (half a second later) trims what the kernel forgot.
// Entries in use (open files, working directories) stay; a later lookup of
// an unloaded directory loads it again from its pages. When a round frees
// little (one huge directory being written), the threshold doubles so that
// the tree is not rewritten every half second.
#include "fs/ingest.h"
#include "fs/log.h"

namespace kloset::fs {

void IngestTree::SetEntryInvalidator(EntryInvalidator fn) {
  std::lock_guard<std::mutex> l(release_mu_);
  invalidate_ = std::move(fn);
}

MountStats::Ingest IngestTree::MemoryStats() {
  std::lock_guard<std::mutex> l(release_mu_);
  MountStats::Ingest s = released_;
  s.draft_nodes = draft_->NodeCount();
  return s;
}

size_t IngestTree::ReleaseMemory() {
  std::lock_guard<std::mutex> l(release_mu_);
  if (opts_.max_draft_nodes == 0) return 0;
  size_t freed = 0;
  if (trim_pending_) {
    trim_pending_ = false;
    freed += draft_->Trim();
    released_.nodes_unloaded += freed;
    // Rewrite the tree again only once it has grown well past what stays.
    release_at_ = std::max<uint64_t>(opts_.max_draft_nodes, 2 * draft_->NodeCount());
  }
  const uint64_t limit = release_at_ ? release_at_ : opts_.max_draft_nodes;
  if (draft_->NodeCount() <= limit) return freed;
  std::vector<std::pair<DraftId, std::string>> held;
  {
    // Not inside a commit: its Freeze, Flush and Committed stay one unit.
    std::lock_guard<std::mutex> c(commit_mu_);
    Status s = draft_->Checkpoint(invalidate_ ? &held : nullptr);
    if (!s.ok()) {
      Log(LogLevel::kWarning, "ingest: could not write directories ahead of the commit: " +
                                  s.ToString() + " (memory stays in use until then)");
      release_at_ = 2 * draft_->NodeCount();
      return freed;
    }
  }
  const size_t now_freed = draft_->Trim();
  freed += now_freed;
  for (const auto& [dir, name] : held) invalidate_(ToIno(dir), name);
  trim_pending_ = true;
  released_.checkpoints++;
  released_.entries_released += held.size();
  released_.nodes_unloaded += now_freed;
  Log(LogLevel::kDebug, "ingest: checkpoint; " + std::to_string(held.size()) +
                            " kernel entries released, " + std::to_string(freed) +
                            " nodes unloaded");
  return freed;
}

}  // namespace kloset::fs
