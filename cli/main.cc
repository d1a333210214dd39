// klosetfs command line: global options, `help`, `--version`, and dispatch to
// the command groups (cmd_*.cc). Errors travel up as ExitError and are
// printed here as one line, "klosetfs: ...", with the exit code of
// cli/exit_codes.h.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/mount_helper.h"
#include "core/crypto.h"
#include "core/repository.h"
#include "core/version.h"

namespace kloset::cli {
namespace {

constexpr const char* kEnvironmentHelp =
    "Environment:\n"
    "  KLOSETFS_STORE             the store, when the STORE argument is left out\n"
    "  KLOSETFS_PASSWORD          the passphrase\n"
    "  KLOSETFS_PASSWORD_FILE     file whose first line is the passphrase\n"
    "  KLOSETFS_PASSWORD_COMMAND  command (run by /bin/sh -c) printing the passphrase\n"
    "  KLOSETFS_NEW_PASSWORD      the new passphrase for 'key add'\n"
    "  KLOSETFS_TEST_FAST_KDF=1   testing only: a weak, fast key derivation at init/key add\n"
    "  CREDENTIALS_DIRECTORY      set by systemd; its klosetfs-password file holds the passphrase\n"
    "Passphrase sources, first match wins: --password-command, --password-file,\n"
    "KLOSETFS_PASSWORD_COMMAND, KLOSETFS_PASSWORD_FILE, KLOSETFS_PASSWORD, the systemd\n"
    "credential klosetfs-password, terminal prompt.\n";

constexpr const char* kCommandFooter =
    "Global options (--password-file, --password-command, --cache-dir, --no-cache, -q, -v)\n"
    "may come before or after the command; see 'klosetfs help'.";

// The deepest subcommand the user selected ("key add" -> add).
const CLI::App* Selected(const CLI::App& app) {
  const CLI::App* cur = &app;
  for (;;) {
    auto subs = cur->get_subcommands();
    if (subs.empty()) return cur;
    cur = subs.front();
  }
}

void AddFooters(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    std::string f = sub->get_footer();
    sub->footer(f.empty() ? kCommandFooter : f + "\n" + kCommandFooter);
    AddFooters(sub);
  }
}

int Main(int argc, char** argv) {
  CLI::App app("klosetfs: back up into an encrypted, deduplicated Kloset store", "klosetfs");
  Cli cli;
  app.fallthrough();  // global options are accepted after the command, too
  app.set_version_flag("--version", std::string("klosetfs ") + KLOSETFS_VERSION +
                                        " (store format " + std::to_string(kFormatVersion) +
                                        ")");
  app.add_option("--password-file", cli.g.password_file,
                 "Read the passphrase from the first line of this file");
  app.add_option("--password-command", cli.g.password_command,
                 "Run this command (via /bin/sh -c) and use the first line of its output");
  app.add_option("--cache-dir", cli.g.cache_dir,
                 "Local cache folder (default $XDG_CACHE_HOME/klosetfs)");
  app.add_flag("--no-cache", cli.g.no_cache, "Use no local cache");
  app.add_flag("-q,--quiet", cli.g.quiet, "Print nothing but errors (and requested JSON)");
  app.add_flag("-v,--verbose", cli.g.verbose, "Say more (repeatable)");
  AddStoreCommands(app, cli);
  AddBackupCommands(app, cli);
  AddBrowseCommands(app, cli);
  AddCheckCommands(app, cli);
  AddMountCommands(app, cli);
  AddRemoteCommands(app, cli);
  AddFooters(&app);
  // Set last: subcommands copy their parent's footer when they are made.
  app.footer(std::string(kEnvironmentHelp) + kExitCodesHelp);

  CLI::App* help = app.add_subcommand("help", "Show the help of klosetfs or of a COMMAND");
  auto show_help = [&](const std::vector<std::string>& topic) -> int {
    const CLI::App* target = &app;
    std::string prefix = "klosetfs";
    for (const auto& word : topic) {
      try {
        if (target != &app) prefix += " " + target->get_name();
        target = target->get_subcommand(word);
      } catch (const CLI::OptionNotFound&) {
        Warn("unknown command '" + word + "'; see 'klosetfs help'");
        return kExitUsage;
      }
    }
    std::fputs(target == &app ? app.get_formatter()
                                    ->make_help(&app, "klosetfs", CLI::AppFormatMode::Normal)
                                    .c_str()
                              : target->help(prefix).c_str(),
               stdout);
    return kExitOk;
  };
  // `mount -t fuse.klosetfs` and /etc/fstab run "klosetfs STORE MOUNTPOINT -o OPTIONS".
  RewrittenArgv helper_argv;
  if (!RewriteMountHelperCall(app, &argc, &argv, &helper_argv)) return kExitUsage;
  // CLI11 would parse "help backup" as two commands, so the usual spelling
  // is handled before it; "-v help backup" still lands in the runner below.
  if (argc >= 2 && std::string(argv[1]) == "help") {
    return show_help(std::vector<std::string>(argv + 2, argv + argc));
  }
  cli.runners[help] = [&]() -> int {
    std::vector<std::string> topic;
    for (const CLI::App* sub : app.get_subcommands()) {
      for (; sub != nullptr && sub != help;) {
        topic.push_back(sub->get_name());
        auto next = sub->get_subcommands();
        sub = next.empty() ? nullptr : next.front();
      }
    }
    return show_help(topic);
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    if (app.get_subcommands().empty() && dynamic_cast<const CLI::ExtrasError*>(&e) &&
        !app.remaining().empty()) {
      Warn("unknown command '" + app.remaining().front() + "'; see 'klosetfs help'");
    } else {
      Warn(std::string(e.what()) + "; see 'klosetfs help [COMMAND]'");
    }
    return kExitUsage;
  }
  const CLI::App* selected = Selected(app);
  auto it = cli.runners.find(selected);
  if (it == cli.runners.end()) {
    std::string name = selected->get_name();
    Warn(selected == &app ? "no command given; see 'klosetfs help'"
                          : "'" + name + "' needs a subcommand; see 'klosetfs help " + name + "'");
    return kExitUsage;
  }
  try {
    return it->second();
  } catch (const ExitError& e) {
    if (e.what()[0] != '\0') Warn(e.what());
    return e.code();
  } catch (const std::exception& e) {  // e.g. out of memory: still one clear line
    Warn(std::string("internal error: ") + e.what());
    return kExitError;
  }
}

}  // namespace
}  // namespace kloset::cli

int main(int argc, char** argv) {
  if (!kloset::InitCrypto()) {
    std::fputs("klosetfs: cannot initialize libsodium\n", stderr);
    return kloset::cli::kExitError;
  }
  return kloset::cli::Main(argc, argv);
}
