// The libfuse low-level operations table over a KlosetFs. Handlers are thin:
// unpack the request, call KlosetFs, turn its Status into a reply or errno.
#pragma once

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

namespace kloset::fs {

// The session's userdata must be a KlosetFs*.
const struct fuse_lowlevel_ops* KlosetFuseOps();

}  // namespace kloset::fs
