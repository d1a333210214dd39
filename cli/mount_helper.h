// The mount(8) entry point: `mount -t fuse.klosetfs STORE MOUNTPOINT -o OPTIONS`, and an
// /etc/fstab line of type fuse.klosetfs, run /sbin/mount.fuse3, which drops the options only
// mount(8) cares about (noauto, _netdev, nofail, user, ...; mount(8) itself drops x-*),
// appends "dev,suid" unless nodev/nosuid were given, and runs
//
//   klosetfs STORE MOUNTPOINT -o OPTIONS
//
// (via /bin/sh -c, as root or as the setuid= user, with HOME=/root when unset). This file turns
// that form into the ordinary `klosetfs [global options] mount [options] -- STORE MOUNTPOINT`.
// The klosetfs options inside OPTIONS are taken out and become command-line options: every long
// option of `klosetfs` or `klosetfs mount`, '-' written '_' (password_file=PATH,
// cache_dir=PATH, no_cache, verbose, memory_cache=64M, refresh_interval=10, ...), except
// help, version, foreground and debug (a helper must return once mounted; "debug" stays a FUSE
// option). The rest goes to FUSE with -o. defaults, auto, noauto, nofail, _netdev, user, users,
// nouser, owner, group, comment=... and x-.../X-... are dropped, so the same line also works
// when mount(8) is bypassed. password= and passphrase= are refused: a passphrase never goes on a
// command line or into /etc/fstab. In the helper form every passphrase file must be private
// (RequirePrivatePasswordFiles()).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kloset::cli {

// Owns the argv that replaces main()'s in the helper form.
struct RewrittenArgv {
  std::vector<std::string> args;
  std::vector<char*> ptrs;  // into `args`, ending with nullptr
};

// A command-line option that an -o item stands for.
struct MappedOption {
  std::string flag;  // "--memory-cache"
  bool global;       // goes before "mount" (a global option) or after it
  bool takes_value;  // NAME=VALUE, or a bare NAME
};
// Keyed by the -o name ("memory_cache").
using MappedOptions = std::map<std::string, MappedOption>;

// The -o names of `app`'s global options and of its `mount` command's options.
MappedOptions MountHelperOptions(CLI::App& app);

// Whether `args` (argv without argv[0]) is the helper form: at least STORE and MOUNTPOINT, the
// first being neither an option nor one of `commands` and naming a path or a remote (it holds
// '/' or ':'), so that a mistyped command word still gets "unknown command". An empty STORE
// before an absolute MOUNTPOINT counts too (an unset variable in a unit), to be refused clearly.
bool IsMountHelperForm(const std::vector<std::string>& args,
                       const std::vector<std::string>& commands);

// Translates the helper form's `args` into the arguments of the ordinary command line (without
// argv[0]): global options, "mount", mount options, "-o" with the FUSE options if any, "--",
// STORE, MOUNTPOINT. False with a one-line *error on a malformed form (the caller exits with
// the usage code).
bool TranslateMountHelperArgs(const std::vector<std::string>& args, const MappedOptions& mapped,
                              std::vector<std::string>* out, std::string* error);

// Called by main() once every command of `app` is registered. When argv is the helper form,
// rewrites it into *storage, points *argc/*argv there and requires private password files;
// otherwise leaves everything alone. Returns false after printing why the helper form is
// malformed; main() then exits with kExitUsage.
bool RewriteMountHelperCall(CLI::App& app, int* argc, char*** argv, RewrittenArgv* storage);

}  // namespace kloset::cli
