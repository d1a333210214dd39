// Remote-related options and commands: the global --rclone-config,
// --transfers and --simulate options (they set RemoteSettings before any
// store is opened), --remote-stats, `klosetfs remote import` and
// `klosetfs stats`.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/common.h"
#include "remotes/metered_remote.h"
#include "remotes/rclone_config.h"
#include "remotes/rclone_drives.h"
#include "remotes/rclone_remote.h"
#include "remotes/remote.h"
#include "remotes/retry_remote.h"
#include "remotes/shaped_remote.h"

namespace kloset::cli {
namespace {

struct ImportArgs {
  std::string alias;
};

int RunImport(const GlobalOptions& g, const ImportArgs& a) {
  if (isatty(STDIN_FILENO)) {
    Die(kExitUsage,
        "remote import reads a remote from stdin: rclone config show NAME | "
        "klosetfs remote import [--as ALIAS]");
  }
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const RemoteSettings settings = GetRemoteSettings();
  const std::string target =
      settings.rclone_config.empty() ? OwnRcloneConfigPath() : settings.rclone_config;
  std::vector<ImportedRemote> imported;
  Status s = ImportRcloneRemotes(text, a.alias, target, &imported);
  if (!s.ok()) DieStatus(s, "cannot import");
  for (const ImportedRemote& r : imported) {
    if (!g.quiet) {
      std::printf("%s remote %s (%s) in %s; use it as %s:PATH\n",
                  r.replaced ? "replaced" : "imported", r.name.c_str(),
                  DriveName(r.type, r.name).c_str(), target.c_str(), r.name.c_str());
    }
    if (r.type == "protondrive") {
      Warn(
          "Proton Drive refresh tokens are single-use: from now on use only one of the two "
          "copies of '" +
          r.name + "' (or run 'rclone config reconnect' on the other)");
    }
  }
  return kExitOk;
}

struct StatsArgs {
  std::string store;
  bool json = false;
};

// The backend below the wrappers OpenRemote stacks up.
Remote* Innermost(Remote* r) {
  for (;;) {
    if (auto* m = dynamic_cast<MeteredRemote*>(r)) {
      r = m->base();
    } else if (auto* t = dynamic_cast<RetryRemote*>(r)) {
      r = t->base();
    } else if (auto* s = dynamic_cast<ShapedRemote*>(r)) {
      r = s->base();
    } else {
      return r;
    }
  }
}

std::string Size(int64_t n) {
  if (n < 0) return "?";
  char buf[32];
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// Objects by kind (no passphrase needed: names and sizes are not secret
// from the drive either), the drive's space, and the requests this took.
int RunStats(const GlobalOptions& g, StatsArgs& a) {
  (void)g;
  ResolvePositionals("stats", "STORE", {&a.store});
  std::unique_ptr<Remote> remote;
  Status s = OpenRemote(a.store, /*create=*/false, &remote);
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + a.store + " (" + s.message() + ")");
  if (!s.ok()) DieStatus(s, "cannot open store " + a.store);
  ObjectInfo config;
  s = remote->Stat("config", &config);
  if (s.IsNotFound()) Die(kExitNoStore, "no store at " + a.store + " (no config found)");
  if (!s.ok()) DieStatus(s, "cannot read store " + a.store);

  const char* kinds[] = {"keys/", "locks/", "snapshots/", "index/", "packs/"};
  nlohmann::json objects = nlohmann::json::object();
  objects["config"] = {{"count", 1}, {"bytes", config.size}};
  for (const char* kind : kinds) {
    uint64_t count = 0, bytes = 0;
    s = remote->List(kind, [&](const ObjectInfo& o) {
      count++;
      bytes += o.size;
    });
    if (!s.ok()) DieStatus(s, std::string("cannot list ") + kind + " of " + a.store);
    std::string key(kind);
    key.pop_back();
    objects[key] = {{"count", count}, {"bytes", bytes}};
  }
  nlohmann::json space = nullptr;
  if (auto* rc = dynamic_cast<RcloneRemote*>(Innermost(remote.get()))) {
    RcloneRemote::Space sp;
    if (rc->About(&sp).ok()) {
      space = {{"total", sp.total}, {"used", sp.used}, {"free", sp.free}};
    }
  }
  RemoteStats stats;
  if (auto* m = dynamic_cast<MeteredRemote*>(remote.get())) stats = m->Stats();
  if (a.json) {
    nlohmann::json j = {{"store", a.store},
                        {"remote", remote->Describe()},
                        {"objects", objects},
                        {"space", space},
                        {"requests", nlohmann::json::parse(stats.ToJson())}};
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("store   %s\nremote  %s\n", a.store.c_str(), remote->Describe().c_str());
  if (!space.is_null()) {
    std::printf("space   %s used, %s free of %s\n", Size(space["used"]).c_str(),
                Size(space["free"]).c_str(), Size(space["total"]).c_str());
  }
  std::printf("objects\n");
  for (const auto& [kind, v] : objects.items()) {
    std::printf("  %-10s %8llu  %12s\n", kind.c_str(),
                static_cast<unsigned long long>(v["count"].get<uint64_t>()),
                Size(v["bytes"].get<int64_t>()).c_str());
  }
  std::printf("requests of this command\n%s",
              stats.ToText().substr(stats.ToText().find('\n') + 1).c_str());
  return kExitOk;
}

// --remote-stats FILE: the counters of every store the process opened,
// written when it exits (also by a mount's daemon, at unmount).
std::string* g_remote_stats_path = nullptr;

void WriteRemoteStats() {
  std::vector<RemoteStats> all = ProcessRemoteStats();
  if (*g_remote_stats_path == "-") {
    for (const RemoteStats& r : all) std::fputs(r.ToText().c_str(), stderr);
    return;
  }
  nlohmann::json j = nlohmann::json::array();
  for (const RemoteStats& r : all) j.push_back(nlohmann::json::parse(r.ToJson()));
  const std::string tmp = *g_remote_stats_path + ".tmp~" + std::to_string(getpid());
  std::ofstream out(tmp);
  out << j.dump(2) << "\n";
  out.close();
  if (!out || std::rename(tmp.c_str(), g_remote_stats_path->c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    // At exit: a warning only, the command's own exit code stands.
    std::fprintf(stderr, "klosetfs: cannot write --remote-stats %s: %s\n",
                 g_remote_stats_path->c_str(), std::strerror(err ? err : EIO));
  }
}

}  // namespace

void AddRemoteCommands(CLI::App& app, Cli& cli) {
  app.add_option_function<std::string>(
      "--rclone-config",
      [](const std::string& path) {
        RemoteSettings s = GetRemoteSettings();
        s.rclone_config = path;
        SetRemoteSettings(s);
      },
      "rclone config file for NAME:PATH stores (default: RCLONE_CONFIG, klosetfs's own "
      "config when it has NAME, else rclone's default)");
  app.add_option_function<int>(
         "--transfers",
         [](int n) {
           RemoteSettings s = GetRemoteSettings();
           s.transfers = n;
           SetRemoteSettings(s);
         },
         "Requests kept in flight to a network store (default 4)")
      ->check(CLI::Range(1, 64));
  app.add_option_function<std::string>(
      "--simulate",
      [](const std::string& spec) {
        RemoteSettings s = GetRemoteSettings();
        s.simulate = spec;
        SetRemoteSettings(s);
      },
      "Shape and break the store's traffic, for tests and demonstrations, e.g. "
      "latency=50ms,bandwidth=20MB,fail=0.1 (see docs/REMOTES.md)");
  app.add_option_function<std::string>(
      "--remote-stats",
      [](const std::string& path) {
        if (!g_remote_stats_path) {
          g_remote_stats_path = new std::string(path);  // read at exit: never freed
          std::atexit(WriteRemoteStats);
        }
        *g_remote_stats_path = path;
      },
      "When done, write the requests made to each store (JSON, as in 'stats --json') to "
      "this file, or as text to stderr with -");

  CLI::App* remote = app.add_subcommand("remote", "Manage klosetfs's own rclone config");
  auto ia = std::make_shared<ImportArgs>();
  CLI::App* imp =
      remote->add_subcommand("import",
                             "Copy rclone remotes (the output of 'rclone config show NAME') into "
                             "klosetfs's own rclone config");
  imp->add_option("--as", ia->alias, "Store the remote under this name");
  imp->footer(
      "Example: rclone config show onedrive | klosetfs remote import --as backup-drive\n"
      "For mounts run as a service or by another user; the file is " +
      OwnRcloneConfigPath() + " (mode 0600).");
  cli.runners[imp] = [ia, &cli] { return RunImport(cli.g, *ia); };

  auto sa = std::make_shared<StatsArgs>();
  CLI::App* st = app.add_subcommand(
      "stats", "Show a store's objects, the drive's space and the requests it took");
  st->add_option("STORE", sa->store, "The store (or set KLOSETFS_STORE)");
  st->add_flag("--json", sa->json, "Print JSON");
  st->footer(
      "Needs no passphrase. With --simulate, shows what latency, bandwidth and faults "
      "cost\n(see docs/REMOTES.md).");
  cli.runners[st] = [sa, &cli] { return RunStats(cli.g, *sa); };
}

}  // namespace kloset::cli
