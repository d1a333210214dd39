// Status: the one error type that flows from the remotes through the store
// engine to the command line (exit codes) and the FUSE edge (errno).
//
// Contract: a Status is a small value type; OK carries no message. Every
// non-OK status carries a human-readable message that names the object or
// path involved. Status is not thread-safe to mutate, safe to copy.
#pragma once

#include <string>
#include <utility>

namespace kloset {

enum class Code {
  kOk = 0,
  kNotFound,         // object / path / snapshot does not exist
  kCorrupt,          // stored bytes fail verification (damage, truncation)
  kIOError,          // local or remote I/O failed permanently
  kTransient,        // remote failed in a way a retry may fix (timeout, 5xx, 429)
  kNoSpace,          // storage full (ENOSPC, quota)
  kPermission,       // access denied
  kInvalidArgument,  // bad input from the user or caller
  kWrongPassword,    // no key slot opens with this passphrase
  kVersion,          // stored format is newer/older than this build understands
  kExists,           // object already exists where that is an error
  kUnsupported,      // operation not supported by this backend / platform
  kCancelled,        // interrupted by the user
  kBusy,             // locked by another process (maintenance lock)
  // File-system semantics (the writable ingest/ tree and the FUSE edge).
  kNotEmpty,         // directory not empty (ENOTEMPTY)
  kIsDirectory,      // a directory where a non-directory is needed (EISDIR)
  kNotDirectory,     // a non-directory where a directory is needed (ENOTDIR)
  kReadOnly,         // write to a read-only tree (EROFS)
  kNameTooLong,      // name longer than allowed (ENAMETOOLONG)
  kCrossDevice,      // a link between ingest/ and a snapshot (EXDEV)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Transient(std::string m) { return {Code::kTransient, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Permission(std::string m) { return {Code::kPermission, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status WrongPassword(std::string m) { return {Code::kWrongPassword, std::move(m)}; }
  static Status Version(std::string m) { return {Code::kVersion, std::move(m)}; }
  static Status Exists(std::string m) { return {Code::kExists, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
  static Status IsDirectory(std::string m) { return {Code::kIsDirectory, std::move(m)}; }
  static Status NotDirectory(std::string m) { return {Code::kNotDirectory, std::move(m)}; }
  static Status ReadOnly(std::string m) { return {Code::kReadOnly, std::move(m)}; }
  static Status NameTooLong(std::string m) { return {Code::kNameTooLong, std::move(m)}; }
  static Status CrossDevice(std::string m) { return {Code::kCrossDevice, std::move(m)}; }
  // Maps an errno value from a system call on `what` to a Status.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorrupt() const { return code_ == Code::kCorrupt; }
  bool IsTransient() const { return code_ == Code::kTransient; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  // "corrupt: pack 3fa1...: header does not authenticate"
  std::string ToString() const;
  // Returns a copy whose message is prefixed with `context: `.
  Status Annotate(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

const char* CodeName(Code c);
// The errno the FUSE edge returns for a status (EIO for corruption, ENOENT ...).
int ToErrno(const Status& s);

#define KLOSET_RETURN_IF_ERROR(expr)      \
  do {                                    \
    ::kloset::Status _st = (expr);        \
    if (!_st.ok()) return _st;            \
  } while (0)

}  // namespace kloset
