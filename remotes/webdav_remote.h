// WebdavRemote: a Kloset store on a WebDAV server (Koofr, OpenDrive,
// Nextcloud, most NAS boxes, `rclone serve webdav`), spoken directly with
// libcurl: no rclone needed.
//
// STORE forms: webdav+https://HOST[:PORT]/PATH, and webdav+http://... only to
// a loopback address (plain HTTP would send the password in clear). A user
// name may be given as webdav+https://USER@HOST/PATH; a password never: it
// would show in `ps`.
//
// Credentials, first match wins: WebdavOptions; KLOSETFS_WEBDAV_USER and
// KLOSETFS_WEBDAV_PASSWORD; ~/.netrc (for the password of a given user, or
// both). They go to libcurl only and never into messages.
//
// Requests: Read is a ranged GET; Write PUTs to a temporary name
// (".tmp~<random>" in the target folder, never a valid object name, so List
// skips it) and MOVEs it over the final name, so readers never see a partial
// object; missing folders are made with MKCOL when a PUT says so. Stat is a
// PROPFIND of depth 0; Delete checks with one that the name is not a folder
// first (a DELETE of a folder would remove everything below it). List is one
// PROPFIND of depth infinity, or, on servers that refuse that, a walk with
// depth 1.
//
// Errors: 404/409 -> kNotFound, 401/403 -> kPermission (naming the server and
// where credentials come from), 507 -> kNoSpace, 429/5xx/timeouts ->
// kTransient with Retry-After noted for RetryRemote. Nothing here retries.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "remotes/http_client.h"
#include "remotes/remote.h"
#include "remotes/webdav_xml.h"

namespace kloset {

struct WebdavOptions {
  std::string user, password;  // empty: from the environment or ~/.netrc
  int transfers = 4;
  // List with one PROPFIND of depth infinity where the server allows it;
  // false always walks with depth 1.
  bool depth_infinity = true;
  HttpOptions http;  // timeouts, faults (credentials are set from the above)
};

class WebdavRemote : public Remote {
 public:
  static constexpr std::string_view kScheme = "webdav+";

  // Opens `store` (one of the STORE forms above). Checks that the folder
  // exists (kNotFound if not) and that the credentials work; with `create`,
  // makes the folder first.
  static Status Open(const std::string& store, bool create, const WebdavOptions& options,
                     std::unique_ptr<WebdavRemote>* out);

  Status Read(const std::string& name, uint64_t offset, uint64_t length, std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return transfers_; }
  std::string Describe() const override { return "WebDAV server " + display_url_; }

  HttpClient::Counters http_counters() const { return http_.counters(); }

 private:
  WebdavRemote(const HttpOptions& http, int transfers);

  // "https://host/base/" + rel (rel already URL-safe).
  std::string Url(const std::string& rel) const { return base_url_ + rel; }
  Status Fail(const HttpResponse& resp, const std::string& what) const;
  // Performs a request that changes something, waiting out 423 Locked.
  Status Send(const HttpRequest& req, HttpResponse* resp, const std::string& what);
  Status Propfind(const std::string& rel, const char* depth, HttpResponse* resp,
                  const std::string& what);
  Status MakeFolders(const std::string& dir, const std::string& what);
  Status ListWalk(const std::string& dir, const std::string& prefix,
                  const std::function<void(const ObjectInfo&)>& fn);
  // Reports the objects among `entries` below base that start with `prefix`;
  // collects sub-folders (relative, without '/') into `dirs` when given.
  void Report(const std::vector<DavEntry>& entries, const std::string& self,
              const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn,
              std::vector<std::string>* dirs) const;

  HttpClient http_;
  const int transfers_;
  std::string base_url_;   // scheme://host[:port]/path/ (trailing '/')
  std::string base_path_;  // /path/ decoded, for matching hrefs
  std::string display_url_;
  std::string who_;  // "WebDAV server host" for messages
  std::string credential_hint_;
  // -1 unknown, 0 refused, 1 works: PROPFIND with Depth: infinity.
  std::atomic<int> depth_infinity_{-1};
};

}  // namespace kloset
