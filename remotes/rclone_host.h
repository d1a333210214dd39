// What the machine offers the rclone bridge: the rclone binary and its
// version (cached across runs), free loopback ports, private folders, and
// random credentials. Internal to remotes/rclone_daemon.cc.
//
// Thread safety: all functions may be called concurrently; the version cache
// file is replaced atomically (last writer wins).
#pragma once

#include <string>

namespace kloset {

// `bytes` random bytes from the kernel as lowercase hex.
std::string RandomHex(size_t bytes);

// Looks `name` up like execvp would; a name with a '/' is taken as a path.
// "" when there is no such executable.
std::string FindExecutable(const std::string& name);

// A port on 127.0.0.1 that is free right now (0 on failure). Another process
// may take it before rclone binds it; the caller then tries another.
int FreeLoopbackPort();

// Where private folders go: $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp.
std::string PrivateDirBase();

// Removes the private folders (klosetfs-rclone-*) of our uid in `base` whose
// owner process, named in their "owner" file, is gone.
void SweepStaleDirs(const std::string& base);

// The version (major*10000+minor*100+patch) remembered for the rclone binary
// at `binary_path`, or 0. The cache is $XDG_CACHE_HOME/klosetfs/rclone-version
// (~/.cache/...), one line per binary keyed by its path, size and mtime.
int CachedVersion(const std::string& binary_path);
// Remembers `version` for that binary (best effort).
void StoreVersion(const std::string& binary_path, int version);

}  // namespace kloset
