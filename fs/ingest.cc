// IngestTree: opening (journal recovery or a fresh draft over the chosen
// base), commits, and the idle-commit thread. Namespace and file operations
// are in fs/ingest_ops.cc.
#include "fs/ingest.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/fs_scan.h"
#include "core/system_info.h"
#include "core/version.h"
#include "fs/ingest_internal.h"
#include "fs/log.h"

namespace kloset::fs {

namespace {

// The newest snapshot committed through ingest from `host`.
Status FindIngestBase(Repository* repo, const IngestOptions& opts, bool* found, Snapshot* out) {
  const std::string& host = opts.host;
  std::vector<Snapshot> all;
  std::vector<std::string> damaged;  // a damaged snapshot cannot be a base
  if (opts.list_snapshots) {
    KLOSET_RETURN_IF_ERROR(opts.list_snapshots(&all));
  } else {
    KLOSET_RETURN_IF_ERROR(ListSnapshots(repo, &all, &damaged));
  }
  *found = false;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->origin == "ingest" && it->host == host) {
      *out = *it;
      *found = true;
      return Status::OK();
    }
  }
  return Status::OK();
}

}  // namespace

IngestTree::IngestTree(Repository* repo, ThreadPool* pool, IngestOptions opts)
    : repo_(repo), pool_(pool), opts_(std::move(opts)) {
  if (opts_.host.empty()) opts_.host = HostName();
}

IngestTree::~IngestTree() {
  {
    std::lock_guard<std::mutex> l(idle_mu_);
    stopping_ = true;
  }
  idle_cv_.notify_all();
  if (idle_thread_.joinable()) idle_thread_.join();
  if (draft_) draft_->SetObserver(nullptr);
}

Status IngestTree::Open(Repository* repo, ThreadPool* pool, const IngestOptions& opts,
                        std::function<void()> after_commit, std::unique_ptr<IngestTree>* out) {
  std::unique_ptr<IngestTree> t(new IngestTree(repo, pool, opts));
  KLOSET_RETURN_IF_ERROR(t->Init(std::move(after_commit)));
  *out = std::move(t);
  return Status::OK();
}

Status IngestTree::Init(std::function<void()> after_commit) {
  after_commit_ = std::move(after_commit);
  if (repo_->CacheDir().empty()) {
    return Status::InvalidArgument(
        "ingest/ needs the local cache (for its journal and staging area): drop --no-cache or "
        "mount with --read-only");
  }
  dir_ = repo_->CacheDir() + "/ingest";
  const Key& key = repo_->LocalKey();
  const auto& sid = repo_->config().store_id;
  const Hash store_id =
      PlainHash(std::string_view(reinterpret_cast<const char*>(sid.data()), sid.size()));

  Node root;
  root.type = NodeType::kDir;
  root.mode = 0755;
  root.uid = getuid();
  root.gid = getgid();
  root.mtime_ns = root.ctime_ns = root.atime_ns = NowNs();
  DraftOptions dopts;
  dopts.root = root;

  auto make_draft = [&] {
    draft_ = std::make_unique<Draft>(repo_, has_base_ ? &base_snap_.tree : nullptr,
                                     has_base_ ? base_snap_.summary : SnapshotSummary{}, dopts);
  };
  // A journal with changes in it wins over --ingest-base (nothing
  // acknowledged is dropped); an empty one is only the last commit's. Its
  // ops are applied as they are read, never held all at once.
  JournalContents jc;
  bool recovered = false, replay_failed = false;
  size_t applied = 0, failed = 0;
  // As in ReleaseMemory: past what stays after a round, rewrite only once
  // the draft has doubled (one huge folder would be rewritten every round).
  uint64_t replay_limit = opts_.max_draft_nodes;
  Status s = DraftJournal::Recover(
      dir_, key, store_id,
      [&](DraftOp&& op) -> Status {
        Status r;
        if (!recovered) {
          recovered = true;
          has_base_ = jc.has_base;
          if (has_base_) r = LoadSnapshot(repo_, jc.base_snapshot, &base_snap_);
          if (!r.ok()) {
            replay_failed = true;
            return r.Annotate("base snapshot of the ingest journal in " + dir_);
          }
          make_draft();
        }
        if (!draft_->Apply(op).ok()) failed++;
        // No kernel holds these nodes yet: what is checkpointed can go.
        if (replay_limit > 0 && ++applied % 1024 == 0 && draft_->NodeCount() > replay_limit) {
          r = draft_->Checkpoint(nullptr);
          if (r.ok()) {
            draft_->Trim();
            replay_limit = std::max<uint64_t>(opts_.max_draft_nodes, 2 * draft_->NodeCount());
          } else {
            // Only memory is at stake: replay on, holding everything.
            Log(LogLevel::kWarning,
                "ingest: could not write directories ahead while replaying "
                "the journal: " +
                    r.ToString());
            replay_limit = 0;
          }
        }
        return Status::OK();
      },
      &jc);
  if (replay_failed) return s;
  if (!s.ok() && !s.IsNotFound()) return s.Annotate("ingest journal in " + dir_);
  if (recovered) {
    Log(LogLevel::kInfo, "ingest: recovered " + std::to_string(applied) + " journaled changes" +
                             (jc.truncated_tail ? " (a torn tail was dropped)" : "") +
                             (failed ? ", " + std::to_string(failed) + " did not apply" : ""));
    KLOSET_RETURN_IF_ERROR(DraftJournal::Append(dir_, key, store_id, opts_.journal, &journal_));
  } else {
    if (opts_.base == "empty") {
      has_base_ = false;
    } else if (opts_.base == "latest") {
      KLOSET_RETURN_IF_ERROR(FindIngestBase(repo_, opts_, &has_base_, &base_snap_));
    } else {
      s = ResolveSnapshot(repo_, opts_.base, &base_snap_);
      if (s.IsNotFound()) s = Status::InvalidArgument(s.message());
      if (!s.ok()) return s.Annotate("--ingest-base " + opts_.base);
      has_base_ = true;
    }
    make_draft();
    KLOSET_RETURN_IF_ERROR(DraftJournal::Create(
        dir_, key, store_id, has_base_ ? &base_snap_.id : nullptr, opts_.journal, &journal_));
  }
  journal_->set_before_sync([repo = repo_] { return repo->SyncSpool(); });
  draft_->SetObserver(journal_.get());
  KLOSET_RETURN_IF_ERROR(StagingArea::Open(dir_ + "/staging", key, opts_.staging_bytes, &staging_));
  last_change_ns_ = NowNs();
  raw_mark_ = repo_->stats().bytes_added_raw;
  stored_mark_ = repo_->stats().bytes_added_stored;
  if (opts_.commit_idle_s > 0 || opts_.max_draft_nodes > 0) {
    idle_thread_ = std::thread([this] { IdleLoop(); });
  }
  return Status::OK();
}

bool IngestTree::Dirty() const {
  if (draft_->Dirty()) return true;
  std::lock_guard<std::mutex> l(files_mu_);
  for (auto& [id, f] : by_id_)
    if (f->file->dirty()) return true;
  return false;
}

void IngestTree::Touch() { last_change_ns_ = NowNs(); }

Status IngestTree::Commit(const CommitRequest& req, CommitResult* result) {
  std::lock_guard<std::mutex> commit(commit_mu_);
  // Namespace changes wait while open files are saved and the tree frozen,
  // so the journal mark taken with the freeze splits the ops exactly: those
  // before are in the snapshot, those after are carried into the new journal.
  std::unique_lock<std::shared_mutex> gate(gate_);
  std::vector<std::shared_ptr<OpenFile>> open;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    for (auto& [id, f] : by_id_) open.push_back(f);
  }
  for (auto& f : open) KLOSET_RETURN_IF_ERROR(SaveContentLocked(f, std::nullopt));
  *result = CommitResult{};
  if (!draft_->Dirty()) {
    result->nothing = true;
    return Status::OK();
  }
  int64_t start = NowNs();
  Hash root{};
  SnapshotSummary sum;
  uint64_t gen = 0;
  KLOSET_RETURN_IF_ERROR(draft_->Freeze(&root, &sum, &gen));
  JournalMark mark = journal_->Mark();
  gate.unlock();
  KLOSET_RETURN_IF_ERROR(repo_->Flush().Annotate("commit"));
  Snapshot s;
  s.time_ns = start;
  s.host = opts_.host;
  s.username = UserNames().User(geteuid());
  s.tags = req.tags;
  s.paths = {"/"};
  s.has_parent = has_base_;
  if (has_base_) s.parent = base_snap_.id;
  s.tree = root;
  s.message = req.message;
  s.origin = "ingest";
  s.summary = sum;
  // Data blobs were added as files were written, since the last commit.
  uint64_t raw = repo_->stats().bytes_added_raw, stored = repo_->stats().bytes_added_stored;
  s.summary.bytes_added = raw - raw_mark_;
  s.summary.stored_added = stored - stored_mark_;
  s.summary.duration_s = static_cast<double>(NowNs() - start) / 1e9;
  s.program_version = KLOSETFS_VERSION;
  KLOSET_RETURN_IF_ERROR(SaveSnapshot(repo_, &s).Annotate("commit"));
  draft_->Committed(gen);
  base_snap_ = s;
  has_base_ = true;
  Status r = journal_->Rotate(s.id, mark);
  if (!r.ok()) Log(LogLevel::kError, "ingest: could not start a new journal: " + r.ToString());
  raw_mark_ = raw;
  stored_mark_ = stored;
  result->snapshot = s;
  Log(LogLevel::kInfo, "ingest: committed snapshot " + ToHex(s.id).substr(0, 8));
  if (after_commit_) after_commit_();
  return r;
}

Status IngestTree::Shutdown() {
  {
    std::lock_guard<std::mutex> l(idle_mu_);
    stopping_ = true;
  }
  idle_cv_.notify_all();
  if (idle_thread_.joinable()) idle_thread_.join();
  CommitResult res;
  Status s = Commit(CommitRequest{{}, "committed at unmount"}, &res);
  if (!s.ok()) {
    Log(LogLevel::kError, "ingest: the commit at unmount failed: " + s.ToString() +
                              "; the changes stay in the journal for the next mount");
  }
  return s;
}

void IngestTree::IdleLoop() {
  std::unique_lock<std::mutex> l(idle_mu_);
  while (!stopping_) {
    idle_cv_.wait_for(l, std::chrono::milliseconds(500));
    if (stopping_) break;
    l.unlock();
    ReleaseMemory();
    if (opts_.commit_idle_s > 0) IdleCommit();
    l.lock();
  }
}

void IngestTree::IdleCommit() {
  int64_t idle_ns = NowNs() - last_change_ns_.load();
  if (idle_ns < static_cast<int64_t>(opts_.commit_idle_s * 1e9)) return;
  {
    std::lock_guard<std::mutex> f(files_mu_);
    if (!by_id_.empty()) return;  // writers
  }
  if (!Dirty()) return;
  CommitResult res;
  Status s =
      Commit(CommitRequest{{},
                           "committed after " +
                               std::to_string(static_cast<int>(opts_.commit_idle_s)) + " s idle"},
             &res);
  if (!s.ok()) Log(LogLevel::kError, "ingest: idle commit failed: " + s.ToString());
  Touch();  // do not retry at once
}

}  // namespace kloset::fs
