#include "cli/mount_helper.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <string_view>

#include "cli/common.h"
#include "cli/password.h"

namespace kloset::cli {
namespace {

// Options that make no sense for a helper, which must return once the mount is ready.
constexpr std::string_view kNotMapped[] = {"help", "version", "foreground", "debug", "o"};

void AddMapped(CLI::App* app, bool global, MappedOptions* out) {
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_positional()) continue;
    for (const std::string& name : opt->get_lnames()) {
      if (std::find(std::begin(kNotMapped), std::end(kNotMapped), name) != std::end(kNotMapped)) {
        continue;
      }
      std::string key = name;
      std::replace(key.begin(), key.end(), '-', '_');
      (*out)[key] = MappedOption{"--" + name, global, opt->get_expected_max() != 0};
    }
  }
}

// Options for mount(8) and fstab only; mount.fuse3 drops most of them already.
constexpr std::string_view kMountOnly[] = {"defaults", "auto",  "noauto", "nofail", "_netdev",
                                           "user",     "users", "nouser", "owner",  "group"};

bool Dropped(std::string_view key, bool has_value) {
  if (key.starts_with("x-") || key.starts_with("X-") || key == "comment") return true;
  return !has_value &&
         std::find(std::begin(kMountOnly), std::end(kMountOnly), key) != std::end(kMountOnly);
}

// Splits "a,b,c" into its non-empty items.
void SplitOptions(const std::string& list, std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out->push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

bool IsMountHelperForm(const std::vector<std::string>& args,
                       const std::vector<std::string>& commands) {
  if (args.size() < 2) return false;
  const std::string& first = args[0];
  if (args[1].empty() || args[1][0] == '-') return false;
  if (first.empty()) return args[1][0] == '/';
  if (first[0] == '-') return false;
  if (std::find(commands.begin(), commands.end(), first) != commands.end()) return false;
  return first.find_first_of("/:") != std::string::npos;
}

MappedOptions MountHelperOptions(CLI::App& app) {
  MappedOptions mapped;
  AddMapped(&app, /*global=*/true, &mapped);
  // A mount option wins over a global one of the same name.
  AddMapped(app.get_subcommand("mount"), /*global=*/false, &mapped);
  return mapped;
}

bool TranslateMountHelperArgs(const std::vector<std::string>& args, const MappedOptions& mapped,
                              std::vector<std::string>* out, std::string* error) {
  std::vector<std::string> positionals, items;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "-o") {
      if (++i == args.size()) {
        *error = "-o needs a value, e.g. -o password_file=/etc/klosetfs/store.pass,allow_other";
        return false;
      }
      SplitOptions(args[i], &items);
    } else if (a.starts_with("-o")) {
      SplitOptions(a.substr(2), &items);
    } else if (!a.empty() && a[0] == '-') {
      *error = "unexpected option '" + a + "' in 'klosetfs STORE MOUNTPOINT -o OPTIONS' " +
               "(the form mount(8) uses); use 'klosetfs mount' for the others";
      return false;
    } else {
      positionals.push_back(a);
    }
  }
  if (positionals.size() == 2 && positionals[0].empty()) {
    *error =
        "no STORE given (the first argument is empty); in a klosetfs@ unit, set "
        "KLOSETFS_STORE in its .conf file";
    return false;
  }
  if (positionals.size() != 2) {
    *error = "expected 'klosetfs STORE MOUNTPOINT [-o OPTIONS]' (the form mount(8) uses), got " +
             std::to_string(positionals.size()) + " arguments besides the options";
    return false;
  }

  std::vector<std::string> global, mount, fuse;
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    bool has_value = eq != std::string::npos;
    std::string key = item.substr(0, eq);
    std::string value = has_value ? item.substr(eq + 1) : "";
    if (key == "password" || key == "passphrase") {
      *error = "-o " + key +
               "= is refused: a passphrase never goes into mount options or /etc/fstab; use "
               "-o password_file=PATH (a file only you can read) or the systemd credential "
               "klosetfs-password";
      return false;
    }
    if (Dropped(key, has_value)) continue;
    auto it = mapped.find(key);
    if (it == mapped.end()) {
      fuse.push_back(item);
      continue;
    }
    const MappedOption& m = it->second;
    if (m.takes_value && value.empty()) {
      *error = "-o " + key + " needs a value: " + key + "=... (" + m.flag + ")";
      return false;
    }
    if (!m.takes_value && has_value) {
      *error = "-o " + key + " takes no value (" + m.flag + ")";
      return false;
    }
    std::vector<std::string>& dest = m.global ? global : mount;
    dest.push_back(m.flag);
    if (m.takes_value) dest.push_back(value);
  }

  out->clear();
  out->insert(out->end(), global.begin(), global.end());
  out->push_back("mount");
  out->insert(out->end(), mount.begin(), mount.end());
  if (!fuse.empty()) {
    std::string joined;
    for (const std::string& f : fuse) joined += (joined.empty() ? "" : ",") + f;
    out->push_back("-o");
    out->push_back(joined);
  }
  // "--" ends -o, which takes several values, before the positionals.
  out->push_back("--");
  out->insert(out->end(), positionals.begin(), positionals.end());
  return true;
}

bool RewriteMountHelperCall(CLI::App& app, int* argc, char*** argv, RewrittenArgv* storage) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
    for (const std::string& alias : sub->get_aliases()) commands.push_back(alias);
  }
  std::vector<std::string> args(*argv + 1, *argv + *argc);
  if (!IsMountHelperForm(args, commands)) return true;

  std::vector<std::string> translated;
  std::string error;
  if (!TranslateMountHelperArgs(args, MountHelperOptions(app), &translated, &error)) {
    Warn(error);
    return false;
  }
  storage->args.assign(1, (*argv)[0]);
  storage->args.insert(storage->args.end(), translated.begin(), translated.end());
  storage->ptrs.clear();
  for (std::string& a : storage->args) storage->ptrs.push_back(a.data());
  storage->ptrs.push_back(nullptr);
  *argc = static_cast<int>(storage->args.size());
  *argv = storage->ptrs.data();
  // Nobody is there to notice a passphrase file that others can read: refuse it.
  RequirePrivatePasswordFiles();
  return true;
}

}  // namespace kloset::cli
