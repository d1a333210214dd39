// Passphrases: where they come from and how long they live.
//
// Sources, first match wins:
//   --password-command CMD     run via /bin/sh -c; first line of its stdout
//   --password-file FILE       first line of FILE
//   KLOSETFS_PASSWORD_COMMAND, KLOSETFS_PASSWORD_FILE, KLOSETFS_PASSWORD
//   $CREDENTIALS_DIRECTORY/klosetfs-password   a systemd credential (LoadCredential=)
//   a no-echo prompt on the controlling terminal (/dev/tty)
// With none of these and no terminal, the command stops with a usage error.
// After RequirePrivatePasswordFiles() every passphrase file must be private: a regular file
// owned by the reading user or root, with no group or other permission bits. A systemd
// credential must be a regular file owned by the reading user or root (systemd may grant the
// unit's user access by ACL, which shows as group bits). Anything else stops the command with
// a usage error (exit 2) saying how to fix it.
// A passphrase never goes into a message, a log or a child's argv, and the
// buffers that held it are wiped (kloset::Wipe) when it is dropped.
#pragma once

#include <string>
#include <string_view>

#include "cli/common.h"

namespace kloset::cli {

// Owns a passphrase and wipes it on destruction. Move-only.
class Secret {
 public:
  Secret() { s_.reserve(256); }  // room up front, so typical input never reallocates
  explicit Secret(std::string s) : s_(std::move(s)) {}
  ~Secret() { Clear(); }
  Secret(Secret&& o) noexcept : s_(std::move(o.s_)) {}
  Secret& operator=(Secret&& o) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  std::string_view view() const { return s_; }
  std::string* mutable_string() { return &s_; }
  // Appends without leaving unwiped copies behind when the buffer grows.
  void Append(const char* p, size_t n);
  bool empty() const { return s_.empty(); }
  void Clear();

 private:
  std::string s_;
};

// The name of the systemd credential holding the passphrase.
inline constexpr const char* kCredentialName = "klosetfs-password";

// From now on, password files (--password-file, KLOSETFS_PASSWORD_FILE, --new-password-file)
// must be private, as above. For unattended runs (the mount(8) helper), where nobody would
// notice a leaked file. Call before any passphrase is read; not thread-safe; never undone.
void RequirePrivatePasswordFiles();

// The passphrase for `store` (named in prompts and errors). With `confirm`
// (init), a terminal prompt asks twice and refuses a mismatch.
Secret ReadPassphrase(const GlobalOptions& g, const std::string& store, bool confirm);

// The new passphrase for `key add`: --new-password-file FILE, then
// KLOSETFS_NEW_PASSWORD, then a terminal prompt asked twice.
Secret ReadNewPassphrase(const std::string& new_password_file, const std::string& store);

}  // namespace kloset::cli
