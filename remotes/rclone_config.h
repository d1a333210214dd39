// klosetfs's own rclone config: where it lives, which config a store uses,
// and `klosetfs remote import`, which copies sections of `rclone config show`
// into it (for mounts run as a service or by another user, whose rclone
// default config is not the one the drive was set up in).
//
// The file is an ordinary rclone config (INI: "[name]" then "key = value"),
// kept at $XDG_CONFIG_HOME/klosetfs/rclone.conf (~/.config/klosetfs/...),
// mode 0600 in a 0700 folder: it holds the drive's tokens.
//
// Thread safety: the functions touch files only; callers serialize writers.
#pragma once

#include <string>
#include <vector>

#include "remotes/status.h"

namespace kloset {

// $XDG_CONFIG_HOME/klosetfs/rclone.conf, or ~/.config/klosetfs/rclone.conf.
std::string OwnRcloneConfigPath();

// True when the rclone config at `path` has a section "[name]".
bool RcloneConfigHasRemote(const std::string& path, const std::string& name);

// The --config to give rclone for the remote `name`, in this order: an
// explicit file (--rclone-config); none when RCLONE_CONFIG is set (rclone
// reads it); klosetfs's own config when it has the remote; none (rclone's
// default). `source` says which, for messages.
std::string ChooseRcloneConfig(const std::string& explicit_config, const std::string& name,
                               std::string* source);

struct ImportedRemote {
  std::string name, type;
  bool replaced = false;  // a section of that name was there before
};

// Copies the sections of `text` (the output of `rclone config show [NAME]`)
// into the config at `target`, creating it (0600, folder 0700) if needed. A
// section of the same name is replaced. `alias` renames the one section
// (kInvalidArgument when `text` holds more than one). Names must be
// [A-Za-z0-9_-]+ so that NAME:PATH can name them.
Status ImportRcloneRemotes(const std::string& text, const std::string& alias,
                           const std::string& target, std::vector<ImportedRemote>* imported);

}  // namespace kloset
