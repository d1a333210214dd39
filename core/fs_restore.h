// Writing Nodes back to the local filesystem, for the restorer: metadata
// (xattrs, owner, mode, times) and the entries that have no content
// (symlinks, fifos, sockets, devices).
//
// Thread safety: the functions are reentrant.
#pragma once

#include <cerrno>
#include <string>
#include <vector>

#include "core/node.h"
#include "remotes/status.h"

namespace kloset {

// Applies the node's owner (when `chown` is true), xattrs, mode (when
// `set_mode` is true; never for symlinks) and atime/mtime, in that order (chown
// would clear setuid bits and file capabilities set before it), to the
// entry: through `fd` when fd >= 0, else to `path` without following a
// final symlink. Each failure is appended to *problems and the rest is
// still applied.
void ApplyMetadata(const std::string& path, int fd, const Node& node, bool chown, bool set_mode,
                   std::vector<std::string>* problems);

// Creates a symlink, fifo, socket or device node at `path` (which must not
// exist). Errors name `path` (kPermission for a device without privilege).
Status CreateSpecial(const std::string& path, const Node& node);

// Makes room for a new non-directory at `path`: with `overwrite` and
// `remove`, unlinks an existing non-directory (with !remove it is left for a
// rename to replace atomically). kExists if a directory is in the way, or
// anything when !overwrite. *absent (optional) tells that nothing was there.
Status ClearPath(const std::string& path, bool overwrite, bool remove, bool* absent = nullptr);

// Local errors that will hit every later entry of a restore too (a full or
// read-only disk): the restore stops instead of failing each entry.
inline bool IsFatalRestoreErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EROFS; }

// The process umask, read without changing it (umask(2) would race with
// threads creating files); -1 when /proc does not tell.
int CurrentUmask();

}  // namespace kloset
