#include "remotes/status.h"

#include <cerrno>
#include <cstring>

namespace kloset {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kCorrupt: return "corrupt";
    case Code::kIOError: return "I/O error";
    case Code::kTransient: return "temporary failure";
    case Code::kNoSpace: return "no space";
    case Code::kPermission: return "permission denied";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kWrongPassword: return "wrong passphrase";
    case Code::kVersion: return "unsupported version";
    case Code::kExists: return "already exists";
    case Code::kUnsupported: return "unsupported";
    case Code::kCancelled: return "cancelled";
    case Code::kBusy: return "busy";
    case Code::kNotEmpty: return "directory not empty";
    case Code::kIsDirectory: return "is a directory";
    case Code::kNotDirectory: return "not a directory";
    case Code::kReadOnly: return "read-only";
    case Code::kNameTooLong: return "name too long";
    case Code::kCrossDevice: return "cross-device link";
  }
  return "unknown";
}

Status Status::FromErrno(int err, const std::string& what) {
  std::string m = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: case ENOTDIR: return NotFound(m);
    case ENOSPC: case EDQUOT: return NoSpace(m);
    case EACCES: case EPERM: case EROFS: return Permission(m);
    case EEXIST: return Exists(m);
    case EINTR: case EAGAIN: case ETIMEDOUT: return Transient(m);
    case EINVAL: case ENAMETOOLONG: return InvalidArgument(m);
    case ENOTSUP: return Unsupported(m);
    default: return IOError(m);
  }
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + msg_;
}

Status Status::Annotate(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + msg_);
}

int ToErrno(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kNoSpace: return ENOSPC;
    case Code::kPermission: return EACCES;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kExists: return EEXIST;
    case Code::kUnsupported: return ENOTSUP;
    case Code::kCancelled: return EINTR;
    case Code::kBusy: return EBUSY;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kIsDirectory: return EISDIR;
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kReadOnly: return EROFS;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kCrossDevice: return EXDEV;
    case Code::kTransient: return EAGAIN;
    default: return EIO;
  }
}

}  // namespace kloset
