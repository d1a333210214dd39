// `klosetfs mount` and `klosetfs umount`.
//
// The passphrase is read here, before the daemon forks (so a terminal prompt
// works); the store itself is opened in the daemon, after the fork, so that
// no thread of the store engine exists when fork() runs. Errors from the
// daemon (wrong passphrase, no store, ...) travel back over a pipe and get
// the same exit codes as every other command.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/password.h"
#include "fs/control.h"
#include "fs/log.h"
#include "fs/mount.h"

namespace kloset::cli {
namespace {

struct MountArgs {
  std::string store, mountpoint;
  bool foreground = false, debug = false;
  std::vector<std::string> options;
  double refresh = 5;
  // On-disk cache of sealed data blobs; 0 = off. Unset: 1 GiB, but off for a
  // plain local folder, whose packs are as near as the cache would be.
  std::optional<uint64_t> cache_size;
  uint64_t memory_cache = 256ull << 20;  // decoded chunks in memory
  int readahead = 4;
  bool read_only = false;
  std::string ingest_base = "latest";
  double commit_idle = 60;
  std::string staging_size = "4G";
  std::string host;
  uint64_t draft_nodes = 100000;
};

struct CommitArgs {
  std::string mountpoint;
  std::vector<std::string> tags;
  std::string message;
  bool json = false;
};

struct UmountArgs {
  std::string mountpoint;
  bool lazy = false;
};

// The daemon runs in "/", so relative paths must be made absolute first.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int RunMountCmd(const GlobalOptions& global, MountArgs& a) {
  ResolvePositionals("mount", "STORE MOUNTPOINT", {&a.store, &a.mountpoint});
  GlobalOptions g = global;
  if (!g.cache_dir.empty()) g.cache_dir = Absolute(g.cache_dir);
  a.mountpoint = Absolute(a.mountpoint);
  if (std::filesystem::exists(a.store)) a.store = Absolute(a.store);  // a local folder
  {
    // Fail early, in the foreground, on what needs no passphrase.
    Status s = fs::CheckMountpoint(a.mountpoint);
    if (!s.ok()) Die(kExitError, s.message());
    std::unique_ptr<Remote> remote;
    s = OpenRemote(a.store, /*create=*/false, &remote);
    if (s.IsNotFound()) Die(kExitNoStore, "no store at " + a.store + " (" + s.message() + ")");
    if (!s.ok()) DieStatus(s, "cannot open store " + a.store);
  }
  auto pass = std::make_shared<Secret>(ReadPassphrase(g, a.store, /*confirm=*/false));
  fs::MountOptions mo;
  mo.store = a.store;
  mo.mountpoint = a.mountpoint;
  mo.foreground = a.foreground;
  mo.debug = a.debug;
  for (const auto& o : a.options) {
    // -o a,b,c and -o a -o b are both accepted.
    size_t start = 0;
    while (start <= o.size()) {
      size_t comma = o.find(',', start);
      std::string one =
          o.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      // -o ro (mount(8)'s and fstab's way to say it) is --read-only: a
      // read-only superblock under a writable ingest/ would refuse its writes.
      if (one == "ro") a.read_only = true;
      else if (!one.empty()) mo.fuse_options.push_back(one);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  mo.fs.refresh_interval_s = a.refresh;
  mo.fs.cache_bytes = a.memory_cache;
  mo.fs.readahead_chunks = a.readahead;
  mo.read_only = a.read_only;
  mo.ingest.base = a.ingest_base;
  mo.ingest.commit_idle_s = a.commit_idle;
  mo.ingest.host = a.host;
  mo.ingest.max_draft_nodes = a.draft_nodes;
  if (!ParseSize(a.staging_size, &mo.ingest.staging_bytes))
    Die(kExitUsage, "--staging-size: not a size: " + a.staging_size + " (e.g. 512M, 8G)");
  fs::SetVerbose(g.verbose > 0);
  Status s = fs::RunMount(mo, [&](std::unique_ptr<Repository>* out) {
    std::unique_ptr<Remote> remote;
    KLOSET_RETURN_IF_ERROR(OpenRemote(a.store, false, &remote));
    OpenOptions oo;
    oo.cache_dir = g.cache_dir;
    oo.no_cache = g.no_cache;
    oo.data_cache_bytes = a.cache_size.value_or(IsPlainLocalStore(a.store) ? 0 : 1ull << 30);
    if (!a.read_only) oo.spool_dir = "spool";  // under the store's cache folder
    Status st = Repository::Open(std::move(remote), pass->view(), oo, out);
    pass->Clear();  // the daemon needs it no longer
    return st;
  });
  pass->Clear();
  if (s.code() == Code::kWrongPassword)
    Die(kExitWrongPassword, "wrong passphrase for store " + a.store);
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + a.store + " (" + s.message() + ")");
  if (!s.ok()) DieStatus(s, "cannot mount " + a.store + " on " + a.mountpoint);
  return kExitOk;
}

int RunUmountCmd(UmountArgs& a) {
  // A writable mount commits what ingest/ holds first, so errors reach the
  // user; the daemon commits again whatever arrives before the unmount.
  std::string sock;
  int rc = kExitOk;
  long pid = 0;
  if (fs::FindControlSocket(a.mountpoint, &sock).ok()) {
    nlohmann::json status, res;
    if (fs::ControlCall(sock, {{"op", "status"}}, &status).ok()) pid = status.value("pid", 0L);
    Status s = fs::ControlCall(sock, {{"op", "commit"}, {"message", "committed at unmount"}}, &res);
    if (s.ok() && !res.value("ok", false)) s = Status::IOError(res.value("error", "commit failed"));
    if (!s.ok()) {
      std::fprintf(
          stderr,
          "klosetfs: the commit before unmount failed: %s\n"
          "klosetfs: the changes stay in the mount's journal and are committed by the next mount\n",
          s.message().c_str());
      rc = kExitError;
    } else if (res.contains("id")) {
      std::printf("committed snapshot %s\n", res["id"].get<std::string>().c_str());
    }
  }
  Status s = fs::Unmount(a.mountpoint, a.lazy);
  if (!s.ok()) Die(kExitError, s.message());
  // Return only once the daemon is gone: its last commit is then durable.
  for (int i = 0; pid > 0 && !a.lazy; i++) {
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) break;
    if (i == 40) std::fprintf(stderr, "klosetfs: waiting for the daemon's last commit...\n");
    usleep(50 * 1000);
  }
  return rc;
}

int RunCommitCmd(CommitArgs& a, bool json) {
  std::string sock;
  Status s = fs::FindControlSocket(a.mountpoint, &sock);
  if (!s.ok()) Die(kExitError, s.message());
  nlohmann::json res;
  s = fs::ControlCall(sock, {{"op", "commit"}, {"tags", a.tags}, {"message", a.message}}, &res);
  if (!s.ok()) Die(kExitError, s.message());
  if (!res.value("ok", false))
    Die(kExitError, "commit failed: " + res.value("error", "unknown error"));
  bool nothing = res.value("nothing", false);
  if (json) {
    std::printf("%s\n", res.dump().c_str());
  } else if (nothing) {
    std::printf("nothing to commit\n");
  } else {
    std::printf("%s\n", res["id"].get<std::string>().c_str());
  }
  return kExitOk;
}

}  // namespace

void AddMountCommands(CLI::App& app, Cli& cli) {
  auto ma = std::make_shared<MountArgs>();
  CLI::App* m = app.add_subcommand(
      "mount",
      "Mount a store: every snapshot as a read-only directory tree, and a writable ingest/ "
      "whose content becomes a new snapshot on commit");
  m->add_option("STORE", ma->store, "Store folder (or set KLOSETFS_STORE)");
  m->add_option("MOUNTPOINT", ma->mountpoint, "An empty directory");
  m->add_flag("-f,--foreground", ma->foreground, "Stay attached; log to stderr");
  m->add_flag("--debug", ma->debug, "Trace FUSE requests (implies --foreground)");
  m->add_option("-o", ma->options, "FUSE mount options, e.g. -o allow_other,default_permissions");
  m->add_option("--refresh-interval", ma->refresh,
                "Seconds before a listing rereads the snapshot list (default 5)");
  m->add_option("--cache-size", ma->cache_size,
                "Disk space for encrypted data in the local cache, e.g. 512M or 4G; 0 = off "
                "(default 1G; off for a store in a local folder)")
      ->transform(CLI::AsSizeValue(false));
  m->add_option("--memory-cache", ma->memory_cache,
                "Memory for decoded data, e.g. 64M (default 256M)")
      ->transform(CLI::AsSizeValue(false));
  m->add_option("--readahead", ma->readahead,
                "Chunks fetched ahead of a sequential reader (default 4)");
  m->add_flag("--read-only", ma->read_only,
              "No writable ingest/ directory; the fastest mount for browsing and restoring "
              "(the kernel opens, closes and lists snapshot files without asking the daemon)");
  m->add_option("--ingest-base", ma->ingest_base,
                "What ingest/ starts from: latest (the newest snapshot committed through ingest "
                "from this host), empty, or a SNAPSHOT (default latest)");
  m->add_option("--commit-idle", ma->commit_idle,
                "Commit ingest/ after this many seconds without changes; 0 = never (default 60)");
  m->add_option("--staging-size", ma->staging_size,
                "Local space for files written at random offsets, e.g. 4G (default 4G)");
  m->add_option("--host", ma->host, "Host name recorded in ingest snapshots (default: hostname)");
  m->add_option("--draft-nodes", ma->draft_nodes,
                "Entries of ingest/ kept in memory before changed folders are written ahead of "
                "the commit; 0 = keep all (default 100000, about 60 MB)");
  m->footer(
      "Layout: snapshots/<YYYY-MM-DDTHH-MM-SSZ>_<short id>/, latest -> snapshots/<newest>,\n"
      "hosts/<host>/<snapshot>, tags/<tag>/<snapshot>. Returns once the mount is ready;\n"
      "the daemon logs to syslog. Unmount with 'klosetfs umount MOUNTPOINT'.\n"
      "ingest/: copy files in, then 'klosetfs commit MOUNTPOINT' (or wait --commit-idle\n"
      "seconds, or unmount) to make them a snapshot. It starts from the last snapshot\n"
      "committed through ingest from this host, so an rsync into it is incremental.");
  cli.runners[m] = [ma, &cli] { return RunMountCmd(cli.g, *ma); };

  auto ua = std::make_shared<UmountArgs>();
  CLI::App* u = app.add_subcommand("umount", "Unmount a klosetfs mount");
  u->add_option("MOUNTPOINT", ua->mountpoint, "Where the store is mounted")->required();
  u->add_flag("-l,--lazy", ua->lazy, "Detach now, finish when no longer busy");
  cli.runners[u] = [ua] { return RunUmountCmd(*ua); };

  auto ca = std::make_shared<CommitArgs>();
  CLI::App* c = app.add_subcommand(
      "commit", "Make what ingest/ holds a new snapshot; prints its id once it is durable");
  c->add_option("MOUNTPOINT", ca->mountpoint, "Where the store is mounted")->required();
  c->add_option("--tag", ca->tags, "Tag for the snapshot (repeatable)");
  c->add_option("-m,--message", ca->message, "Message recorded in the snapshot");
  c->add_flag("--json", ca->json, "Print {\"ok\", \"id\" | \"nothing\"} as JSON");
  cli.runners[c] = [ca] { return RunCommitCmd(*ca, ca->json); };
}

}  // namespace kloset::cli
