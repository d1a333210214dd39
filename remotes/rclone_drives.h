// What klosetfs knows about rclone's remotes: the fs string syntax, the cloud
// drives it has special advice for, and the reading of rclone's error texts
// into Status codes whose messages tell a person what to do.
//
// All functions are pure and thread-safe.
#pragma once

#include <string>

#include "remotes/status.h"

namespace kloset {

// An rclone fs string split up: "onedrive:/kloset" gives name "onedrive",
// path "/kloset"; ":webdav,url=http\://x:dir" gives backend "webdav";
// "NAME,opt=v:PATH" gives name "NAME" (options are rclone's business).
struct RcloneFsSpec {
  std::string name;     // configured remote name ("" for a connection string)
  std::string backend;  // backend type named inline (":TYPE,...:"), else ""
  std::string path;
};
// False when `s` is not of the form NAME[,OPTS]:PATH or :TYPE[,OPTS]:PATH,
// where NAME is [A-Za-z0-9_-]+ (so "./a:b" and "/x:y" stay local paths).
bool ParseRcloneFs(const std::string& s, RcloneFsSpec* out);

// A drive klosetfs has advice for, by rclone backend type.
struct DriveInfo {
  const char* type;        // rclone backend type: "onedrive"
  const char* name;        // for people: "OneDrive"
  int min_version;         // first rclone with the backend (major*10000+minor*100+patch)
  const char* login_hint;  // why a login stops working and how to renew it
  const char* quota_hint;  // what fills the quota besides our objects
};
// nullptr for backends without an entry (local, sftp, s3, ...).
const DriveInfo* FindDrive(const std::string& type);
// "OneDrive" for a known drive, else "rclone remote NAME" / "rclone backend TYPE".
std::string DriveName(const std::string& type, const std::string& remote_name);

// Everything the error reading needs to say what to do.
struct RcloneContext {
  std::string fs;              // the full fs string, "onedrive:/kloset"
  std::string remote_name;     // "onedrive" ("" for a connection string)
  std::string type;            // backend type when known: "onedrive"
  std::string config;          // --config file, "" for rclone's default
  std::string rclone_version;  // "1.60.1" when known
  std::string config_source;   // which config, for messages ("" = say "rclone's default")
};

// Reads an rclone rc error (HTTP status, the "error" text of its JSON body)
// for the request `what` ("write packs/ab/..."):
//   not found / not a directory / is a directory    -> kNotFound
//   unknown remote name                             -> kInvalidArgument
//   backend missing from this rclone                -> kUnsupported (names the version needed)
//   expired or refused login                        -> kPermission (rclone config reconnect NAME:)
//   quota or disk full                              -> kNoSpace
//   throttling, timeouts, dropped connections, 5xx  -> kTransient
//   anything else                                   -> kIOError
Status RcloneErrorStatus(const RcloneContext& ctx, long http_status, const std::string& error,
                         const std::string& what);

}  // namespace kloset
