// check: verifies a store and names every damaged object and what it affects.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/progress_bar.h"
#include "core/checker.h"

namespace kloset::cli {

namespace {

struct CheckArgs {
  std::string store;
  bool read_data = false, json = false;
};

int RunCheck(const GlobalOptions& g, CheckArgs& a) {
  ResolvePositionals("check", "STORE", {&a.store});
  Progress progress;
  InterruptScope scope(&progress);
  auto repo = OpenStore(g, a.store);
  CheckOptions opts;
  opts.read_data = a.read_data;
  CheckReport report;
  Status s;
  if (!progress.cancel.load()) {
    ProgressBar bar(&progress, a.read_data ? "check --read-data" : "check", g.quiet);
    s = Check(repo.get(), opts, &progress, &report);
  }
  if (s.code() == Code::kCancelled || InterruptScope::interrupted()) {
    Die(kExitInterrupted, "check of store " + a.store + " interrupted");
  }
  if (!s.ok()) DieStatus(s, "cannot check store " + a.store);

  if (a.json) {
    nlohmann::json j;
    j["ok"] = report.ok();
    j["read_data"] = a.read_data;
    j["snapshots"] = report.snapshots;
    j["trees"] = report.trees;
    j["blobs"] = report.blobs;
    j["packs"] = report.packs;
    j["indexes"] = report.indexes;
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : report.problems) {
      nlohmann::json pj;
      pj["object"] = p.object;
      SetJsonBytes(pj, "what", p.what);
      SetJsonByteList(pj, "affected", p.affected);
      problems.push_back(std::move(pj));
    }
    j["problems"] = std::move(problems);
    std::printf("%s\n", DumpJson(j).c_str());
  } else {
    // Problems are the point of check, so they go to stdout even with --quiet.
    for (const auto& p : report.problems) {
      std::printf("damaged: %s: %s\n", p.object.c_str(), EscapeForTerminal(p.what).c_str());
      for (const auto& f : p.affected) std::printf("  affects %s\n", EscapeForTerminal(f).c_str());
    }
    if (!g.quiet) {
      std::printf("checked %llu snapshots, %llu trees, %llu blobs in %llu packs, %llu indexes%s\n",
                  static_cast<unsigned long long>(report.snapshots),
                  static_cast<unsigned long long>(report.trees),
                  static_cast<unsigned long long>(report.blobs),
                  static_cast<unsigned long long>(report.packs),
                  static_cast<unsigned long long>(report.indexes),
                  a.read_data ? " (all data read)" : "");
    }
  }
  if (report.ok()) {
    if (!g.quiet && !a.json) std::printf("no problems found\n");
    return kExitOk;
  }
  Warn("check found " + std::to_string(report.problems.size()) + " problem" +
       (report.problems.size() == 1 ? "" : "s") + " in store " + a.store);
  return kExitDamage;
}

}  // namespace

void AddCheckCommands(CLI::App& app, Cli& cli) {
  auto ca = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand(
      "check", "Verify a store: config, keys, indexes, packs, snapshots and trees");
  check->add_option("STORE", ca->store, "Store folder (or set KLOSETFS_STORE)");
  check->add_flag("--read-data", ca->read_data,
                  "Also download every pack and verify every blob in it");
  check->add_flag("--json", ca->json,
                  "Print a JSON report: counts and problems (object, what, affected)");
  check->footer("Exit code 4 when any problem is found; each names the damaged object and the\n"
                "snapshot paths (<short id>:/path) whose content it holds.");
  cli.runners[check] = [ca, &cli] { return RunCheck(cli.g, *ca); };
}

}  // namespace kloset::cli
