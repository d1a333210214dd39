#include "remotes/rclone_drives.h"

#include <cctype>
#include <initializer_list>

namespace kloset {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string Lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ContainsAny(const std::string& haystack, std::initializer_list<const char*> needles) {
  for (const char* n : needles) {
    if (haystack.find(n) != std::string::npos) return true;
  }
  return false;
}

// A status code such as "429" standing alone: object names are hex, so a
// plain substring search would find codes inside them.
bool HasCode(const std::string& haystack, std::initializer_list<const char*> codes) {
  for (const char* code : codes) {
    const std::string c = code;
    for (size_t at = haystack.find(c); at != std::string::npos; at = haystack.find(c, at + 1)) {
      bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(haystack[at - 1]));
      size_t after = at + c.size();
      bool right =
          after >= haystack.size() || !std::isalnum(static_cast<unsigned char>(haystack[after]));
      if (left && right) return true;
    }
  }
  return false;
}

std::string VersionString(int v) {
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100);
}

constexpr DriveInfo kDrives[] = {
    {"onedrive", "OneDrive", 0,
     "OneDrive logins expire when the password changes or the app is unused for 90 days",
     "OneDrive counts the versions it keeps of overwritten files and the recycle bin against "
     "the quota"},
    {"opendrive", "OpenDrive", 0, "OpenDrive ends sessions after a password change",
     "OpenDrive counts the trash against the quota"},
    {"koofr", "Koofr", 0, "Koofr app passwords can be revoked in its settings",
     "Koofr counts the trash against the quota"},
    {"protondrive", "Proton Drive", 16400,
     "Proton Drive sessions expire after some idle days and refresh tokens are single-use "
     "(never run two rclone processes on one Proton account at once)",
     "Proton Drive counts file versions and the trash against the quota"},
    {"iclouddrive", "iCloud Drive", 16900,
     "iCloud Drive trusts a login for 30 days after two-factor authentication",
     "iCloud Drive shares its quota with photos, backups and mail"},
};

}  // namespace

bool ParseRcloneFs(const std::string& s, RcloneFsSpec* out) {
  RcloneFsSpec spec;
  size_t i = 0;
  const bool inline_backend = !s.empty() && s[0] == ':';
  if (inline_backend) i = 1;
  size_t start = i;
  while (i < s.size() && IsNameChar(s[i])) i++;
  if (i == start || i >= s.size() || (s[i] != ':' && s[i] != ',')) return false;
  (inline_backend ? spec.backend : spec.name) = s.substr(start, i - start);
  // Options "opt=value,..." up to the first ':' outside quotes.
  char quote = 0;
  for (; i < s.size(); i++) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ':') {
      break;
    }
  }
  if (i >= s.size()) return false;
  spec.path = s.substr(i + 1);
  *out = std::move(spec);
  return true;
}

const DriveInfo* FindDrive(const std::string& type) {
  for (const DriveInfo& d : kDrives) {
    if (type == d.type) return &d;
  }
  return nullptr;
}

std::string DriveName(const std::string& type, const std::string& remote_name) {
  if (const DriveInfo* d = FindDrive(type)) return d->name;
  if (!remote_name.empty()) return "rclone remote " + remote_name;
  return type.empty() ? "the rclone remote" : "rclone backend " + type;
}

Status RcloneErrorStatus(const RcloneContext& ctx, long http_status, const std::string& error,
                         const std::string& what) {
  const std::string e = Lower(error);
  const std::string drive = DriveName(ctx.type, ctx.remote_name);
  const DriveInfo* info = FindDrive(ctx.type);
  const std::string said = what + ": " + drive + ": " + error;
  const std::string reconnect = ctx.remote_name.empty()
                                    ? "renew the credentials in the connection string"
                                    : "run 'rclone config reconnect " + ctx.remote_name + ":" +
                                          (ctx.config.empty() ? "" : " --config " + ctx.config) +
                                          "' and try again";

  if (ContainsAny(e, {"didn't find section in config file"})) {
    return Status::InvalidArgument(
        "rclone has no remote named '" + ctx.remote_name + "' (config: " +
        (!ctx.config_source.empty() ? ctx.config_source
         : ctx.config.empty()       ? "rclone's default, or RCLONE_CONFIG"
                                    : ctx.config) +
        "): list them with 'rclone listremotes', add one with 'rclone config', or point "
        "--rclone-config / RCLONE_CONFIG at the file that has it");
  }
  if (ContainsAny(e, {"didn't find backend called"})) {
    std::string type = ctx.type;
    size_t q = error.find('"');
    if (q != std::string::npos) type = error.substr(q + 1, error.find('"', q + 1) - q - 1);
    const DriveInfo* d = FindDrive(type);
    std::string installed =
        ctx.rclone_version.empty() ? "the installed rclone" : "rclone " + ctx.rclone_version;
    std::string need = d && d->min_version > 0 ? d->name + std::string(" needs rclone ") +
                                                     VersionString(d->min_version) + " or later"
                                               : "a newer rclone may have it";
    return Status::Unsupported(installed + " has no '" + type + "' backend: " + need +
                               " (see https://rclone.org/install/)");
  }
  if (http_status == 404 || ContainsAny(e, {"object not found", "directory not found",
                                            "not a directory", "is a directory not a file",
                                            "file not found", "no such file", "is a directory"})) {
    return Status::NotFound(what + ": not found on " + drive);
  }
  if (ContainsAny(e, {"quota", "insufficient storage", "insufficientstorage", "no space left",
                      "storage full", "not enough space", "disk full", "storage limit",
                      "out of space", "exceeded storage"}) ||
      HasCode(e, {"507"})) {
    return Status::NoSpace(said + " — " + drive + " is full: free space (empty its trash too)" +
                           (info ? std::string(" — ") + info->quota_hint : std::string()) +
                           ", or raise its quota");
  }
  const bool local_like =
      ctx.type == "local" || ctx.type == "alias" || (ctx.type.empty() && ctx.remote_name.empty());
  if (!local_like &&
      (ContainsAny(e, {"invalid_grant", "token expired", "expired token", "unauthenticated",
                       "unauthorized", "couldn't fetch token", "failed to refresh", "refresh token",
                       "re-authenticate", "reauthenticate", "login required",
                       "authentication failed", "invalidauthenticationtoken", "2fa", "two-factor",
                       "session expired", "access denied"}) ||
       HasCode(e, {"401", "403"}))) {
    return Status::Permission(said + " — " + drive +
                              " refused the login (expired or revoked): " + reconnect +
                              (info ? std::string(". ") + info->login_hint : std::string()));
  }
  if (ContainsAny(e, {"permission denied", "access is denied", "operation not permitted",
                      "read-only file system"})) {
    return Status::Permission(said);
  }
  if (http_status == 429 || http_status == 502 || http_status == 503 || http_status == 504 ||
      HasCode(e, {"429", "500", "502", "503", "504"}) ||
      ContainsAny(e, {"too many requests",
                      "rate limit",
                      "ratelimit",
                      "throttl",
                      "service unavailable",
                      "bad gateway",
                      "timeout",
                      "timed out",
                      "connection reset",
                      "connection refused",
                      "broken pipe",
                      "unexpected eof",
                      "temporar",
                      "try again",
                      "i/o timeout",
                      "server closed",
                      "http2:",
                      "tls handshake",
                      "no such host",
                      "network is unreachable"})) {
    return Status::Transient(said);
  }
  return Status::IOError(said);
}

}  // namespace kloset
