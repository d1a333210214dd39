// `klosetfs mount` and `klosetfs umount`.
//
// The passphrase is read here, before the daemon forks (so a terminal prompt
// works); the store itself is opened in the daemon, after the fork, so that
// no thread of the store engine exists when fork() runs. Errors from the
// daemon (wrong passphrase, no store, ...) travel back over a pipe and get
// the same exit codes as every other command.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/password.h"
#include "fs/log.h"
#include "fs/mount.h"

namespace kloset::cli {
namespace {

struct MountArgs {
  std::string store, mountpoint;
  bool foreground = false, debug = false;
  std::vector<std::string> options;
  double refresh = 5;
  size_t cache_mib = 256;
  int readahead = 4;
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
      std::string one = o.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!one.empty()) mo.fuse_options.push_back(one);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  mo.fs.refresh_interval_s = a.refresh;
  mo.fs.cache_bytes = a.cache_mib << 20;
  mo.fs.readahead_chunks = a.readahead;
  fs::SetVerbose(g.verbose > 0);
  Status s = fs::RunMount(mo, [&](std::unique_ptr<Repository>* out) {
    std::unique_ptr<Remote> remote;
    KLOSET_RETURN_IF_ERROR(OpenRemote(a.store, false, &remote));
    OpenOptions oo;
    oo.cache_dir = g.cache_dir;
    oo.no_cache = g.no_cache;
    Status st = Repository::Open(std::move(remote), pass->view(), oo, out);
    pass->Clear();  // the daemon needs it no longer
    return st;
  });
  pass->Clear();
  if (s.code() == Code::kWrongPassword) Die(kExitWrongPassword, "wrong passphrase for store " + a.store);
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + a.store + " (" + s.message() + ")");
  if (!s.ok()) DieStatus(s, "cannot mount " + a.store + " on " + a.mountpoint);
  return kExitOk;
}

int RunUmountCmd(UmountArgs& a) {
  Status s = fs::Unmount(a.mountpoint, a.lazy);
  if (!s.ok()) Die(kExitError, s.message());
  return kExitOk;
}

}  // namespace

void AddMountCommands(CLI::App& app, Cli& cli) {
  auto ma = std::make_shared<MountArgs>();
  CLI::App* m = app.add_subcommand(
      "mount", "Mount a store: every snapshot as a read-only directory tree");
  m->add_option("STORE", ma->store, "Store folder (or set KLOSETFS_STORE)");
  m->add_option("MOUNTPOINT", ma->mountpoint, "An empty directory");
  m->add_flag("-f,--foreground", ma->foreground, "Stay attached; log to stderr");
  m->add_flag("--debug", ma->debug, "Trace FUSE requests (implies --foreground)");
  m->add_option("-o", ma->options, "FUSE mount options, e.g. -o allow_other,default_permissions");
  m->add_option("--refresh-interval", ma->refresh,
                "Seconds before a listing rereads the snapshot list (default 5)");
  m->add_option("--cache-size", ma->cache_mib, "MiB of decoded data kept in memory (default 256)");
  m->add_option("--readahead", ma->readahead,
                "Chunks fetched ahead of a sequential reader (default 4)");
  m->footer(
      "Layout: snapshots/<YYYY-MM-DDTHH-MM-SSZ>_<short id>/, latest -> snapshots/<newest>,\n"
      "hosts/<host>/<snapshot>, tags/<tag>/<snapshot>. Returns once the mount is ready;\n"
      "the daemon logs to syslog. Unmount with 'klosetfs umount MOUNTPOINT'.");
  cli.runners[m] = [ma, &cli] { return RunMountCmd(cli.g, *ma); };

  auto ua = std::make_shared<UmountArgs>();
  CLI::App* u = app.add_subcommand("umount", "Unmount a klosetfs mount");
  u->add_option("MOUNTPOINT", ua->mountpoint, "Where the store is mounted")->required();
  u->add_flag("-l,--lazy", ua->lazy, "Detach now, finish when no longer busy");
  cli.runners[u] = [ua] { return RunUmountCmd(*ua); };
}

}  // namespace kloset::cli
