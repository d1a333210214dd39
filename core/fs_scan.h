// Reading the local filesystem into Nodes, for the archiver: lstat fields,
// user and group names, symlink targets and extended attributes; plus the
// path helpers backups share (normalization, exclude globs).
//
// Thread safety: UserNames is thread-safe; the functions are reentrant.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/node.h"
#include "remotes/status.h"

namespace kloset {

// Caches uid -> user name and gid -> group name lookups (getpwuid_r /
// getgrgid_r). An id without a name maps to "".
class UserNames {
 public:
  std::string User(uid_t uid);
  std::string Group(gid_t gid);

 private:
  std::mutex mu_;
  std::unordered_map<uid_t, std::string> users_;
  std::unordered_map<gid_t, std::string> groups_;
};

// The NodeType for an S_IFMT value; false for an unknown file type.
bool NodeTypeFromMode(mode_t mode, NodeType* type);

// Fills every Node field that lstat gives (type, mode & 07777, owner ids and
// names, ns times, size, blocks, rdev, nlink, inode), the symlink target
// (readlink) and the xattrs (llistxattr/lgetxattr, sorted by name; none if
// the filesystem does not support them). Does not set name, chunks, subtree
// or hardlink_id. `size` is st_size for files and symlinks, 0 otherwise.
// Errors name `path`; on error *node holds the lstat fields at least.
Status NodeFromStat(const std::string& path, const struct stat& st, UserNames* names,
                    Node* node);

// Reads the xattrs of `path` (not following symlinks), sorted by name.
Status ReadXattrs(const std::string& path,
                 std::vector<std::pair<std::string, std::string>>* out);

// Makes `path` absolute (relative to the working directory) and resolves
// every symlink in its parent directories, but not in the final component:
// backing up a symlink stores the symlink. "." and ".." as final component
// are resolved too. Trailing slashes are dropped. Errors if the parent does
// not exist.
Status NormalizeSourcePath(const std::string& path, std::string* out);

// Normalizes every path (as above), checks it exists (lstat), sorts them and
// drops duplicates and paths inside another. kInvalidArgument if `in` is
// empty; kNotFound (naming the path) if one does not exist.
Status NormalizeSourcePaths(const std::vector<std::string>& in, std::vector<std::string>* out);

// "dir" + "/" + name, without doubling the slash of "/".
std::string JoinPath(const std::string& dir, const std::string& name);

// True when any glob matches the full path or the base name (fnmatch with
// no flags: '*' also matches '/').
bool IsExcluded(const std::vector<std::string>& globs, const std::string& path);

// Counts non-directory entries and regular-file bytes at and below `paths`
// (lstat only, skipping excluded entries), for progress totals. Returns false
// if *stop was set before it finished. Unreadable entries are not counted.
bool CountTree(const std::vector<std::string>& paths, const std::vector<std::string>& excludes,
               const std::atomic<bool>* stop, uint64_t* files, uint64_t* bytes);

}  // namespace kloset
