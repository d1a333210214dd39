// IngestTree: keeping the draft's memory bounded. A copy of a million files
// into ingest/ would otherwise hold a million draft nodes until the commit,
// and the kernel a lookup on each (so Draft::Trim could free none).
//
// Each round, once the draft holds more than max_draft_nodes nodes:
//   1. Draft::Checkpoint writes the changed directories as tree pages and
//      makes them their base, so they are clean without a commit;
//   2. Trim unloads what nothing holds;
//   3. the kernel is asked to drop its entries of clean directories
//      (fuse_lowlevel_notify_inval_entry), with no lock held that a request
//      takes: the kernel takes the parent directory's lock, which a request
//      in flight may hold while it waits for a reply from this process. It
//      unhashes a folder's entry even when the folder is in use: a process
//      whose working directory it is sees getcwd() fail (ENOENT) until the
//      folder's path is looked up again (docs/INGEST.md);
//   4. the next round (half a second later) trims what the kernel forgot.
// Open files stay (they are pinned); a later lookup of an unloaded
// directory loads it again from its pages. When a round frees
// little (one huge directory being written), the threshold doubles so that
// the tree is not rewritten every half second.
#include <chrono>

#include "fs/ingest.h"
#include "fs/log.h"

namespace kloset::fs {

void IngestTree::SetEntryInvalidator(EntryInvalidator fn) {
  std::lock_guard<std::mutex> l(invalidate_mu_);
  invalidate_ = fn ? std::make_shared<EntryInvalidator>(std::move(fn)) : nullptr;
  invalidate_stopped_ = false;
}

bool IngestTree::StopInvalidating(double wait_s) {
  std::unique_lock<std::mutex> l(invalidate_mu_);
  invalidate_stopped_ = true;
  invalidate_.reset();
  // A call in flight may wait for a directory lock that a request the
  // stopped session will never answer holds: wait a while, not forever.
  return invalidate_cv_.wait_for(l, std::chrono::duration<double>(wait_s),
                                 [this] { return invalidating_ == 0; });
}

MountStats::Ingest IngestTree::MemoryStats() {
  MountStats::Ingest s;
  s.draft_nodes = draft_->NodeCount();
  s.checkpoints = checkpoints_.load();
  s.entries_released = entries_released_.load();
  s.nodes_unloaded = nodes_unloaded_.load();
  return s;
}

size_t IngestTree::ReleaseMemory() {
  // Serializes rounds; no request ever takes it.
  std::lock_guard<std::mutex> l(release_mu_);
  if (opts_.max_draft_nodes == 0) return 0;
  size_t freed = 0;
  if (trim_pending_) {
    trim_pending_ = false;
    freed += draft_->Trim();
    nodes_unloaded_ += freed;
    // Rewrite the tree again only once it has grown well past what stays.
    release_at_ = std::max<uint64_t>(opts_.max_draft_nodes, 2 * draft_->NodeCount());
  }
  const uint64_t limit = release_at_ ? release_at_ : opts_.max_draft_nodes;
  if (draft_->NodeCount() <= limit) return freed;
  std::shared_ptr<EntryInvalidator> fn;
  {
    std::lock_guard<std::mutex> il(invalidate_mu_);
    fn = invalidate_;
  }
  std::vector<std::pair<DraftId, std::string>> held;
  {
    // Not inside a commit (its Freeze, Flush and Committed stay one unit);
    // a commit running now makes the tree clean anyway, so skip the round.
    std::unique_lock<std::mutex> c(commit_mu_, std::try_to_lock);
    if (!c.owns_lock()) return freed;
    Status s = draft_->Checkpoint(fn ? &held : nullptr);
    if (!s.ok()) {
      Log(LogLevel::kWarning, "ingest: could not write directories ahead of the commit: " +
                                  s.ToString() + " (memory stays in use until then)");
      release_at_ = 2 * draft_->NodeCount();
      return freed;
    }
  }
  const size_t now_freed = draft_->Trim();
  freed += now_freed;
  nodes_unloaded_ += now_freed;
  checkpoints_++;
  size_t sent = 0;
  for (const auto& [dir, name] : held) {
    {
      std::lock_guard<std::mutex> il(invalidate_mu_);
      if (invalidate_stopped_) break;
      invalidating_++;
    }
    (*fn)(ToIno(dir), name);
    sent++;
    {
      std::lock_guard<std::mutex> il(invalidate_mu_);
      invalidating_--;
    }
    invalidate_cv_.notify_all();
  }
  entries_released_ += sent;
  trim_pending_ = true;
  Log(LogLevel::kDebug, "ingest: checkpoint; " + std::to_string(sent) +
                            " kernel entries released, " + std::to_string(freed) +
                            " nodes unloaded");
  return freed;
}

}  // namespace kloset::fs
