// Read-only browsing: snapshots, ls, cat.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "cli/output.h"
#include "core/file_io.h"
#include "core/tree.h"

namespace kloset::cli {

namespace {

std::string Joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + EscapeForTerminal(s);
  return out;
}

struct SnapshotsArgs {
  std::string store;
  bool json = false;
};

int RunSnapshots(const GlobalOptions& g, SnapshotsArgs& a) {
  ResolvePositionals("snapshots", "STORE", {&a.store});
  auto repo = OpenStore(g, a.store);
  std::vector<Snapshot> snaps;
  std::vector<std::string> damaged;
  Status s = ListSnapshots(repo.get(), &snaps, &damaged);
  if (!s.ok()) DieStatus(s, "cannot list the snapshots of store " + a.store);
  for (const auto& name : damaged) Warn("damaged snapshot object " + name + " skipped");
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& snap : snaps) arr.push_back(SnapshotJson(snap));
    std::printf("%s\n", DumpJson(arr).c_str());
  } else if (!g.quiet) {
    Table t({"ID", "Time", "Host", "Tags", "Paths", "Size"});
    for (const auto& snap : snaps) {
      t.Add({ShortId(snap.id), LocalTime(snap.time_ns), EscapeForTerminal(snap.host),
             Joined(snap.tags, ","), Joined(snap.paths, ", "), HumanBytes(snap.summary.bytes)});
    }
    std::fputs(t.Render().c_str(), stdout);
    std::printf("%zu snapshot%s\n", snaps.size(), snaps.size() == 1 ? "" : "s");
  }
  return damaged.empty() ? kExitOk : kExitDamage;
}

struct LsArgs {
  std::string store, ref;
  bool long_format = false, json = false, no_recursive = false;
};

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

void PrintEntry(const LsArgs& a, const std::string& path, const Node& n) {
  if (a.json) {
    nlohmann::json j;
    SetJsonBytes(j, "path", path);
    SetJsonBytes(j, "name", n.name);
    j["type"] = TypeName(n.type);
    j["mode"] = n.mode;
    j["permissions"] = ModeString(n.type, n.mode);
    j["uid"] = n.uid;
    j["gid"] = n.gid;
    SetJsonBytes(j, "user", n.user);
    SetJsonBytes(j, "group", n.group);
    j["size"] = n.size;
    j["mtime"] = FormatTimeRfc3339(n.mtime_ns);
    j["mtime_ns"] = n.mtime_ns;
    j["inode"] = n.inode;
    j["nlink"] = n.nlink;
    if (n.type == NodeType::kSymlink) SetJsonBytes(j, "symlink_target", n.symlink_target);
    if (n.type == NodeType::kCharDev || n.type == NodeType::kBlockDev) j["rdev"] = n.rdev;
    if (!n.error.empty()) SetJsonBytes(j, "error", n.error);
    std::printf("%s\n", DumpJson(j).c_str());
    return;
  }
  std::string shown = EscapeForTerminal(path);
  if (a.long_format) {
    std::string user = n.user.empty() ? std::to_string(n.uid) : EscapeForTerminal(n.user);
    std::string group = n.group.empty() ? std::to_string(n.gid) : EscapeForTerminal(n.group);
    std::string target =
        n.type == NodeType::kSymlink ? " -> " + EscapeForTerminal(n.symlink_target) : "";
    std::printf("%s %-8s %-8s %12llu %s %s%s\n", ModeString(n.type, n.mode).c_str(),
                user.c_str(), group.c_str(), static_cast<unsigned long long>(n.size),
                LocalTime(n.mtime_ns).c_str(), shown.c_str(), target.c_str());
  } else {
    std::printf("%s\n", shown.c_str());
  }
}

// Lists `dir` (a directory node at `path`), depth first in name order.
Status ListDir(Repository* repo, const LsArgs& a, const std::string& path, const Node& dir) {
  Status inner;
  DirectoryReader reader(repo, dir.subtree);
  Status s = reader.List("", [&](const Node& n) {
    std::string child = JoinPath(path, n.name);
    PrintEntry(a, child, n);
    if (n.type == NodeType::kDir && !a.no_recursive) {
      inner = ListDir(repo, a, child, n);
      if (!inner.ok()) return false;
    }
    return true;
  });
  if (!inner.ok()) return inner;
  return s.ok() ? s : s.Annotate("listing " + path);
}

int RunLs(const GlobalOptions& g, LsArgs& a) {
  ResolvePositionals("ls", "STORE SNAPSHOT[:PATH]", {&a.store, &a.ref});
  SnapshotRef ref = ParseSnapshotRef(a.ref);
  auto repo = OpenStore(g, a.store);
  Snapshot snap = ResolveOrDie(repo.get(), a.store, ref);
  Node node;
  Status s = LookupPath(repo.get(), snap.tree, ref.path, &node);
  if (s.IsNotFound()) {
    Die(kExitError, "no " + EscapeForTerminal(ref.path) + " in snapshot " + ShortId(snap.id));
  }
  if (!s.ok()) DieStatus(s, "cannot look up " + EscapeForTerminal(ref.path));
  if (node.type != NodeType::kDir) {
    PrintEntry(a, ref.path, node);
    return kExitOk;
  }
  s = ListDir(repo.get(), a, ref.path, node);
  std::fflush(stdout);
  if (!s.ok()) DieStatus(s, "snapshot " + ShortId(snap.id));
  return kExitOk;
}

struct CatArgs {
  std::string store, ref;
};

int RunCat(const GlobalOptions& g, CatArgs& a) {
  ResolvePositionals("cat", "STORE SNAPSHOT:PATH", {&a.store, &a.ref});
  SnapshotRef ref = ParseSnapshotRef(a.ref);
  if (a.ref.find(':') == std::string::npos) {
    Die(kExitUsage, "cat needs SNAPSHOT:PATH, e.g. latest:/etc/hosts");
  }
  auto repo = OpenStore(g, a.store);
  Snapshot snap = ResolveOrDie(repo.get(), a.store, ref);
  std::string where = EscapeForTerminal(ref.path) + " in snapshot " + ShortId(snap.id);
  Node node;
  Status s = LookupPath(repo.get(), snap.tree, ref.path, &node);
  if (s.IsNotFound()) Die(kExitError, "no " + where);
  if (!s.ok()) DieStatus(s, "cannot look up " + where);
  if (node.type == NodeType::kDir) Die(kExitUsage, where + " is a directory");
  if (node.type != NodeType::kFile) {
    Die(kExitUsage, where + " is a " + TypeName(node.type) + ", not a file");
  }
  if (!node.error.empty()) Die(kExitError, where + " was not backed up: " + node.error);
  FileReader reader(repo.get(), node.chunks);
  // Chunk by chunk (in pieces of at most 4 MiB, holes can be huge), so
  // memory stays bounded whatever the file size.
  constexpr size_t kPiece = 4 << 20;
  std::string buf;
  uint64_t off = 0;
  for (const ChunkRef& chunk : reader.chunks()) {
    uint64_t end = off + chunk.size;
    while (off < end) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(end - off, kPiece));
      s = reader.ReadAt(off, len, &buf);
      if (!s.ok()) DieStatus(s, "cannot read " + where);
      if (buf.empty()) Die(kExitDamage, where + ": content ends early");
      if (std::fwrite(buf.data(), 1, buf.size(), stdout) != buf.size()) {
        Die(kExitError, "cannot write to standard output");
      }
      off += buf.size();
    }
  }
  if (std::fflush(stdout) != 0) Die(kExitError, "cannot write to standard output");
  return kExitOk;
}

}  // namespace

void AddBrowseCommands(CLI::App& app, Cli& cli) {
  auto sa = std::make_shared<SnapshotsArgs>();
  CLI::App* snaps = app.add_subcommand("snapshots", "List the snapshots in a store");
  snaps->add_option("STORE", sa->store, "Store folder (or set KLOSETFS_STORE)");
  snaps->add_flag("--json", sa->json,
                  "Print a JSON array: id, short_id, time (RFC 3339, UTC), host, username, "
                  "tags, paths, parent, tree, summary{files, dirs, others, bytes, bytes_added, "
                  "stored_added, skipped, duration_s}");
  cli.runners[snaps] = [sa, &cli] { return RunSnapshots(cli.g, *sa); };

  auto la = std::make_shared<LsArgs>();
  CLI::App* ls = app.add_subcommand(
      "ls", "List PATH (default /) of a snapshot recursively, one path per line");
  ls->add_option("STORE", la->store, "Store folder (or set KLOSETFS_STORE)");
  ls->add_option("SNAPSHOT[:PATH]", la->ref, "Snapshot id, unique id prefix or 'latest'");
  ls->add_flag("-l,--long", la->long_format, "Show mode, owner, group, size and mtime");
  ls->add_flag("--no-recursive", la->no_recursive, "List only the entries directly in PATH");
  ls->add_flag("--json", la->json,
               "One JSON object per line (path, name, type, mode, size, mtime, ...)");
  ls->footer(
      "Names are printed with control characters, backslashes and invalid UTF-8 escaped as\n"
      "\\xHH / \\\\. In --json output a name that is not valid UTF-8 is given lossily in\n"
      "\"path\"/\"name\" and exactly, base64-encoded, in \"path_base64\"/\"name_base64\".");
  cli.runners[ls] = [la, &cli] { return RunLs(cli.g, *la); };

  auto ca = std::make_shared<CatArgs>();
  CLI::App* cat = app.add_subcommand("cat", "Write a file of a snapshot to standard output");
  cat->add_option("STORE", ca->store, "Store folder (or set KLOSETFS_STORE)");
  cat->add_option("SNAPSHOT:PATH", ca->ref, "e.g. latest:/etc/hosts");
  cli.runners[cat] = [ca, &cli] { return RunCat(cli.g, *ca); };
}

}  // namespace kloset::cli
