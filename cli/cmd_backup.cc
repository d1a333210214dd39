// Long-running data commands: backup and restore.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "core/archiver.h"
#include "core/restorer.h"
#include "core/tree.h"

namespace kloset::cli {

namespace {

nlohmann::json EntriesJson(const std::vector<SkippedEntry>& entries) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json j;
    SetJsonBytes(j, "path", e.path);
    SetJsonBytes(j, "error", e.error);
    arr.push_back(std::move(j));
  }
  return arr;
}

struct BackupArgs {
  std::string store;
  std::vector<std::string> paths, tags, excludes;
  std::string host;
  bool json = false;
};

// With KLOSETFS_STORE set, every positional is a PATH, except a first one
// equal to KLOSETFS_STORE (so typing the store anyway does not back it up).
void ResolveBackupPositionals(BackupArgs& a) {
  const char* env = std::getenv("KLOSETFS_STORE");
  if (env && *env && a.store != env) {
    if (!a.store.empty()) a.paths.insert(a.paths.begin(), a.store);
    a.store = env;
  }
  if (a.store.empty() || a.paths.empty()) {
    Die(kExitUsage, "backup needs STORE and at least one PATH (STORE may come from "
                    "KLOSETFS_STORE); see 'klosetfs help backup'");
  }
  for (const auto& p : a.paths) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) {
      Die(kExitUsage, "cannot back up " + EscapeForTerminal(p) + ": " + std::strerror(errno));
    }
  }
}

int RunBackup(const GlobalOptions& g, BackupArgs& a) {
  ResolveBackupPositionals(a);
  // Handlers go in before the store is opened, so an early Ctrl-C also ends
  // with "no snapshot was written" and exit 130.
  Progress progress;
  InterruptScope scope(&progress);
  auto repo = OpenStore(g, a.store);
  BackupOptions opts;
  opts.paths = a.paths;
  opts.tags = a.tags;
  opts.excludes = a.excludes;
  opts.host = a.host;
  BackupResult result;
  Status s = Status::Cancelled("backup cancelled");
  if (!progress.cancel.load()) {
    ProgressBar bar(&progress, "backup", g.quiet);
    s = Backup(repo.get(), opts, &progress, &result);
  }
  if (s.code() == Code::kCancelled || (!s.ok() && InterruptScope::interrupted())) {
    Die(kExitInterrupted, "backup to store " + a.store + " interrupted; no snapshot was written");
  }
  if (!s.ok()) DieStatus(s, "backup to store " + a.store + " failed, no snapshot was written");

  const Snapshot& snap = result.snapshot;
  for (const auto& e : snap.skipped) {
    Warn("skipped " + EscapeForTerminal(e.path) + ": " + EscapeForTerminal(e.error));
  }
  for (const auto& e : result.changed) {
    Warn("changed while being read: " + EscapeForTerminal(e.path) + ": " +
         EscapeForTerminal(e.error));
  }
  if (a.json) {
    nlohmann::json j = SnapshotJson(snap);
    j["skipped"] = EntriesJson(snap.skipped);
    j["changed"] = EntriesJson(result.changed);
    std::printf("%s\n", DumpJson(j).c_str());
  } else if (!g.quiet) {
    const SnapshotSummary& m = snap.summary;
    std::printf("snapshot %s saved: %llu files, %llu dirs, %s; added %s (%s stored) in %.1f s\n",
                ShortId(snap.id).c_str(), static_cast<unsigned long long>(m.files),
                static_cast<unsigned long long>(m.dirs), HumanBytes(m.bytes).c_str(),
                HumanBytes(m.bytes_added).c_str(), HumanBytes(m.stored_added).c_str(),
                m.duration_s);
  }
  size_t partial = snap.skipped.size() + result.changed.size();
  if (partial == 0) return kExitOk;
  Warn(std::to_string(partial) + " entr" + (partial == 1 ? "y was" : "ies were") +
       " skipped or changed; snapshot " + ShortId(snap.id) + " records them");
  return kExitPartial;
}

struct RestoreArgs {
  std::string store, ref, target;
  bool json = false;
};

// Whether a failed entry failed because of damaged store data: maps its
// target path back into the snapshot, re-reads its chunks and asks the store
// (kCorrupt, or a blob or pack gone missing).
bool HitDamage(Repository* repo, const Snapshot& snap, const SnapshotRef& ref, const Node& top,
               const std::string& target, const SkippedEntry& e) {
  std::string path = ref.path;
  if (top.type == NodeType::kDir) {
    std::string prefix = target.back() == '/' ? target : target + "/";  // as the restorer joins
    if (e.path.compare(0, prefix.size(), prefix) != 0) return false;  // a directory's metadata
    path = (ref.path == "/" ? "" : ref.path) + "/" + e.path.substr(prefix.size());
  }
  Node node;
  Status ls = LookupPath(repo, snap.tree, path, &node);
  if (ls.IsCorrupt()) return true;  // a tree page on the way is damaged or missing
  if (!ls.ok()) return false;
  if (node.type == NodeType::kDir) {
    return DirectoryReader(repo, node.subtree)
        .List("", [](const Node&) { return true; })
        .IsCorrupt();
  }
  std::string buf;
  for (const ChunkRef& c : node.chunks) {
    if (c.is_hole) continue;
    Status s = repo->LoadBlob(BlobType::kData, c.id, &buf);
    if (s.code() == Code::kCorrupt || s.IsNotFound()) return true;
  }
  return false;
}

int RunRestore(const GlobalOptions& g, RestoreArgs& a) {
  ResolvePositionals("restore", "STORE SNAPSHOT[:PATH] TARGET_DIR",
                     {&a.store, &a.ref, &a.target});
  SnapshotRef ref = ParseSnapshotRef(a.ref);
  Progress progress;
  InterruptScope scope(&progress);
  auto repo = OpenStore(g, a.store);
  Snapshot snap = ResolveOrDie(repo.get(), a.store, ref);
  Node root;
  Status s = LookupPath(repo.get(), snap.tree, ref.path, &root);
  if (s.IsNotFound()) {
    Die(kExitError, "no " + EscapeForTerminal(ref.path) + " in snapshot " + ShortId(snap.id));
  }
  if (!s.ok()) DieStatus(s, "cannot look up " + EscapeForTerminal(ref.path));
  RestoreOptions opts;
  opts.path_in_snapshot = ref.path;
  opts.target = a.target;
  RestoreResult result;
  if (!progress.cancel.load()) {
    ProgressBar bar(&progress, "restore", g.quiet);
    s = Restore(repo.get(), snap, opts, &progress, &result);
  }
  std::string what = "restore of snapshot " + ShortId(snap.id) + " into " + a.target;
  if (s.code() == Code::kCancelled || InterruptScope::interrupted()) {
    Die(kExitInterrupted, what + " interrupted");
  }
  if (s.IsNotFound()) {
    Die(kExitError, "cannot restore: " + s.message());
  }
  if (!s.ok()) DieStatus(s, what + " failed");

  // Damage outranks other failures (exit 4 over 5); checking a few entries
  // is enough to know.
  bool damage = false;
  for (size_t i = 0; i < result.failed.size(); i++) {
    const auto& e = result.failed[i];
    Warn("could not restore " + EscapeForTerminal(e.path) + ": " + EscapeForTerminal(e.error));
    if (!damage && i < 20) damage = HitDamage(repo.get(), snap, ref, root, a.target, e);
  }
  if (a.json) {
    nlohmann::json j;
    j["snapshot"] = ToHex(snap.id);
    SetJsonBytes(j, "target", a.target);
    j["files"] = result.files;
    j["dirs"] = result.dirs;
    j["others"] = result.others;
    j["bytes"] = result.bytes;
    j["failed"] = EntriesJson(result.failed);
    j["damage"] = damage;
    std::printf("%s\n", DumpJson(j).c_str());
  } else if (!g.quiet) {
    std::printf("restored %llu files, %llu dirs, %llu others, %s from snapshot %s into %s\n",
                static_cast<unsigned long long>(result.files),
                static_cast<unsigned long long>(result.dirs),
                static_cast<unsigned long long>(result.others), HumanBytes(result.bytes).c_str(),
                ShortId(snap.id).c_str(), EscapeForTerminal(a.target).c_str());
  }
  if (result.failed.empty()) return kExitOk;
  Warn(std::to_string(result.failed.size()) + " entr" +
       (result.failed.size() == 1 ? "y was" : "ies were") + " not restored" +
       (damage ? " (damaged data in the store; run 'klosetfs check --read-data')" : ""));
  return damage ? kExitDamage : kExitPartial;
}

}  // namespace

void AddBackupCommands(CLI::App& app, Cli& cli) {
  auto ba = std::make_shared<BackupArgs>();
  CLI::App* backup = app.add_subcommand("backup", "Back up PATHs into a new snapshot");
  backup->add_option("STORE", ba->store, "Store folder (or set KLOSETFS_STORE)");
  backup->add_option("PATH", ba->paths, "Files or folders to back up");
  backup->add_option("--tag", ba->tags, "Tag the snapshot (repeatable)");
  backup->add_option("--host", ba->host, "Host name to record (default: this host)");
  backup->add_option("--exclude", ba->excludes,
                     "Skip entries whose full path or base name matches this glob (repeatable)");
  backup->add_flag("--json", ba->json,
                   "Print the new snapshot as JSON (as in 'snapshots --json') with its "
                   "skipped and changed entries");
  backup->footer(
      "Unreadable entries are recorded in the snapshot and reported; the exit code is then 5.\n"
      "SIGINT/SIGTERM stop the backup without writing a snapshot (exit 130).\n"
      "With KLOSETFS_STORE set, every positional is a PATH unless the first equals it.");
  cli.runners[backup] = [ba, &cli] { return RunBackup(cli.g, *ba); };

  auto ra = std::make_shared<RestoreArgs>();
  CLI::App* restore = app.add_subcommand(
      "restore", "Restore a snapshot, or PATH within it, into TARGET_DIR");
  restore->add_option("STORE", ra->store, "Store folder (or set KLOSETFS_STORE)");
  restore->add_option("SNAPSHOT[:PATH]", ra->ref, "Snapshot id, unique id prefix or 'latest'");
  restore->add_option("TARGET_DIR", ra->target, "Folder to restore into (made if missing)");
  restore->add_flag("--json", ra->json, "Print a JSON summary: counts and failed entries");
  restore->footer(
      "Entries that cannot be restored are reported and the rest is restored. Exit code 4\n"
      "when damaged store data was the cause, else 5. Damaged data never yields a file\n"
      "with wrong bytes.");
  cli.runners[restore] = [ra, &cli] { return RunRestore(cli.g, *ra); };
}

}  // namespace kloset::cli
