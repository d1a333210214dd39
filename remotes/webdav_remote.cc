#include "remotes/webdav_remote.h"


#include <algorithm>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <thread>
#include <vector>

#include "remotes/name_check.h"
#include "remotes/webdav_xml.h"

namespace kloset {

namespace {

constexpr const char* kPropfindBody =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<propfind xmlns=\"DAV:\"><prop><resourcetype/><getcontentlength/></prop></propfind>";

std::string DirPart(const std::string& name) {
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host.starts_with("127.");
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The login and password ~/.netrc (or $NETRC) holds for `host`; with `user`
// set, only an entry for that login counts. "default" matches any host.
bool LookupNetrc(const std::string& host, const std::string& user, std::string* login,
                 std::string* password) {
  std::string path = Getenv("NETRC");
  if (path.empty()) path = Getenv("HOME") + "/.netrc";
  std::ifstream f(path);
  if (!f) return false;
  std::vector<std::string> tok;
  for (std::string t; f >> t;) tok.push_back(t);
  bool found = false;
  for (size_t i = 0; i < tok.size(); i++) {
    bool machine = tok[i] == "machine" && i + 1 < tok.size() && tok[i + 1] == host;
    if (!machine && tok[i] != "default") continue;
    std::string l, p;
    for (size_t j = i + (machine ? 2 : 1); j + 1 < tok.size(); j += 2) {
      if (tok[j] == "machine" || tok[j] == "default") break;
      if (tok[j] == "login") l = tok[j + 1];
      if (tok[j] == "password") p = tok[j + 1];
    }
    if (!user.empty() && l != user) continue;
    *login = l;
    *password = p;
    found = true;
    if (machine) break;  // a machine entry beats "default"
  }
  return found;
}

}  // namespace

WebdavRemote::WebdavRemote(const HttpOptions& http, int transfers)
    : http_(http), transfers_(std::max(1, transfers)) {}

Status WebdavRemote::Open(const std::string& store, bool create, const WebdavOptions& options,
                          std::unique_ptr<WebdavRemote>* out) {
  const std::string usage = " (expected webdav+https://HOST/PATH)";
  if (!store.starts_with(kScheme)) {
    return Status::InvalidArgument("'" + store + "' is not a WebDAV store" + usage);
  }
  std::string url = store.substr(kScheme.size());
  std::string scheme;
  if (url.starts_with("https://")) {
    scheme = "https";
  } else if (url.starts_with("http://")) {
    scheme = "http";
  } else {
    return Status::InvalidArgument("'" + store + "': unknown scheme" + usage);
  }
  std::string rest = url.substr(scheme.size() + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string url_user;
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    url_user = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (url_user.find(':') != std::string::npos) {
      return Status::InvalidArgument(
          "a WebDAV password must not be part of the STORE (every user sees it in 'ps'): "
          "set KLOSETFS_WEBDAV_PASSWORD or put it in ~/.netrc");
    }
    url_user = UrlDecode(url_user);
  }
  if (authority.empty()) return Status::InvalidArgument("'" + store + "': no host" + usage);
  std::string host = authority;
  if (host[0] != '[')
    host = host.substr(0, host.find(':'));
  else
    host = host.substr(0, host.find(']') + 1);
  if (scheme == "http" && !IsLoopback(host)) {
    return Status::InvalidArgument(
        "webdav+http:// sends the password in clear: use webdav+https://" + authority + path +
        " (plain http is accepted for loopback addresses only)");
  }
  if (path.find('?') != std::string::npos || path.find('#') != std::string::npos) {
    return Status::InvalidArgument("'" + store + "': a WebDAV path has no query" + usage);
  }
  while (path.size() > 1 && path.ends_with("//")) path.pop_back();
  if (!path.ends_with("/")) path += "/";

  HttpOptions http = options.http;
  http.user = !options.user.empty() ? options.user
              : !url_user.empty()   ? url_user
                                    : Getenv("KLOSETFS_WEBDAV_USER");
  http.password = !options.password.empty() ? options.password : Getenv("KLOSETFS_WEBDAV_PASSWORD");
  bool from_netrc = false;
  if (http.password.empty()) {
    std::string login, password;
    if (LookupNetrc(host[0] == '[' ? host.substr(1, host.size() - 2) : host, http.user, &login,
                    &password)) {
      http.user = login;
      http.password = password;
      from_netrc = true;
    }
  }
  http.max_idle_handles = std::max(http.max_idle_handles, options.transfers + 2);
  std::unique_ptr<WebdavRemote> r(new WebdavRemote(http, options.transfers));
  if (!options.depth_infinity) r->depth_infinity_ = 0;
  r->base_url_ = scheme + "://" + authority + path;
  r->base_path_ = UrlDecode(path);
  r->display_url_ = r->base_url_.substr(0, r->base_url_.size() - (path.size() > 1 ? 1 : 0));
  r->who_ = "WebDAV server " + host;
  r->credential_hint_ =
      http.user.empty()
          ? "no user name was given: set KLOSETFS_WEBDAV_USER and KLOSETFS_WEBDAV_PASSWORD, "
            "or add 'machine " +
                host + " login USER password PASSWORD' to ~/.netrc"
          : "the user is '" + http.user + "' (the password comes from " +
                (!options.password.empty() ? std::string("the caller")
                 : from_netrc              ? std::string("~/.netrc")
                 : !http.password.empty()  ? std::string("KLOSETFS_WEBDAV_PASSWORD")
                                           : std::string("nowhere: none was given")) +
                ")";

  if (create) {
    // Make each folder of the path; folders that exist answer 405.
    std::string sofar;
    size_t pos = 1;
    while (pos < path.size()) {
      size_t next = path.find('/', pos);
      sofar = path.substr(0, next + 1);
      pos = next + 1;
      HttpRequest req;
      req.method = "MKCOL";
      req.url = scheme + "://" + authority + sofar;
      HttpResponse resp;
      for (int attempt = 0; attempt < 5; attempt++) {
        Status s = r->http_.Perform(req, &resp, "create " + r->display_url_);
        if (s.ok() && resp.status != 429 && resp.status != 503) break;
        if (!s.ok() && !s.IsTransient()) return s;
      }
      if (resp.status == 401 || resp.status == 403) return r->Fail(resp, "create folder");
      if (resp.status == 507) return r->Fail(resp, "create folder");
    }
  }
  HttpResponse resp;
  Status s;
  for (int attempt = 0; attempt < 5; attempt++) {
    s = r->Propfind("", "0", &resp, "open " + r->display_url_);
    if (!s.IsTransient()) break;
  }
  if (s.IsNotFound()) {
    return Status::NotFound("no store at " + store + ": folder does not exist on " + r->who_);
  }
  KLOSET_RETURN_IF_ERROR(s);
  std::vector<DavEntry> entries;
  ParseMultistatus(resp.body, &entries);
  if (entries.empty() || !entries[0].collection) {
    return Status::InvalidArgument("store " + store + " is not a folder on " + r->who_);
  }
  *out = std::move(r);
  return Status::OK();
}

Status WebdavRemote::Fail(const HttpResponse& resp, const std::string& what) const {
  if (resp.status == 409) return Status::NotFound(what + ": not found on " + who_);
  if (resp.status == 405) return Status::NotFound(what + ": a folder, not an object");
  if (resp.status == 423) return Status::Transient(what + ": locked on " + who_ + " (HTTP 423)");
  Status s = StatusForHttp(resp, what, who_);
  if (resp.status == 401) return Status::Permission(s.message() + "; " + credential_hint_);
  return s;
}

Status WebdavRemote::Send(const HttpRequest& req, HttpResponse* resp, const std::string& what) {
  // 423 Locked: servers lock a folder while they make or move something in
  // it, so parallel writers meet it often; it passes within milliseconds.
  Status s;
  for (int attempt = 0; attempt < 12; attempt++) {
    if (attempt > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2 << std::min(attempt, 7)));
    }
    s = http_.Perform(req, resp, what);
    if (!s.ok() || resp->status != 423) break;
  }
  return s;
}

Status WebdavRemote::Propfind(const std::string& rel, const char* depth, HttpResponse* resp,
                              const std::string& what) {
  HttpRequest req;
  req.method = "PROPFIND";
  req.url = Url(rel);
  req.headers = {"Content-Type: application/xml; charset=utf-8", std::string("Depth: ") + depth};
  req.body = kPropfindBody;
  req.has_body = true;
  req.stall_timeout = std::chrono::seconds(600);
  KLOSET_RETURN_IF_ERROR(http_.Perform(req, resp, what));
  if (resp->status != 207) return Fail(*resp, what);
  return Status::OK();
}

Status WebdavRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                          std::string* out) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  out->clear();
  if (length == 0) {
    ObjectInfo info;
    return Stat(name, &info);
  }
  const std::string what = "read " + name;
  HttpRequest req;
  req.url = Url(name);
  SetReadRange(offset, length, &req);
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(http_.Perform(req, &resp, what));
  if (resp.status != 200 && resp.status != 206 && resp.status != 416) return Fail(resp, what);
  return TakeReadBody(&resp, offset, length, what, out);
}

Status WebdavRemote::MakeFolders(const std::string& dir, const std::string& what) {
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t next = dir.find('/', pos);
    std::string part = dir.substr(0, next);
    HttpRequest req;
    req.method = "MKCOL";
    req.url = Url(part + "/");
    HttpResponse resp;
    KLOSET_RETURN_IF_ERROR(Send(req, &resp, what));
    // 201 made, 405 there already (made concurrently, or before).
    if (resp.status != 201 && resp.status != 405 && resp.status != 200) {
      if (resp.status == 409) {
        return Status::IOError(what + ": cannot make folder " + part + " (a file is in the way)");
      }
      return Fail(resp, what);
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return Status::OK();
}

Status WebdavRemote::Write(const std::string& name, std::string_view data) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string what = "write " + name;
  const std::string dir = DirPart(name);
  const std::string temp = (dir.empty() ? "" : dir + "/") + TempObjectName();
  HttpRequest put;
  put.method = "PUT";
  put.url = Url(temp);
  put.headers = {"Content-Type: application/octet-stream"};
  put.body = data;
  put.has_body = true;
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(Send(put, &resp, what));
  if ((resp.status == 404 || resp.status == 409) && !dir.empty()) {
    // The folder is missing: make it and try once more.
    KLOSET_RETURN_IF_ERROR(MakeFolders(dir, what));
    KLOSET_RETURN_IF_ERROR(Send(put, &resp, what));
  }
  if (resp.status != 200 && resp.status != 201 && resp.status != 204) {
    Status s = Fail(resp, what);
    return s.IsNotFound() ? Status::IOError(s.message()) : s;
  }
  HttpRequest move;
  move.method = "MOVE";
  move.url = Url(temp);
  move.headers = {"Destination: " + Url(name), "Overwrite: T"};
  Status s = Send(move, &resp, what);
  if (s.ok() && resp.status != 201 && resp.status != 204 && resp.status != 200) {
    s = Fail(resp, what);
  }
  if (!s.ok()) {
    HttpRequest del;
    del.method = "DELETE";
    del.url = Url(temp);
    HttpResponse ignored;
    (void)Send(del, &ignored, what);
    return s.IsNotFound() ? Status::IOError(s.message()) : s;
  }
  return Status::OK();
}

void WebdavRemote::Report(const std::vector<DavEntry>& entries, const std::string& self,
                          const std::string& prefix,
                          const std::function<void(const ObjectInfo&)>& fn,
                          std::vector<std::string>* dirs) const {
  for (const DavEntry& e : entries) {
    if (!e.ok) continue;
    std::string path = HrefPath(e.href);
    if (!path.starts_with(base_path_)) continue;
    std::string rel = path.substr(base_path_.size());
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    if (rel.empty() || rel == self) continue;
    if (e.collection) {
      std::string as_dir = rel + "/";
      if (dirs && (as_dir.starts_with(prefix) || prefix.starts_with(as_dir))) {
        dirs->push_back(rel);
      }
      continue;
    }
    if (!IsValidObjectName(rel) || !rel.starts_with(prefix)) continue;
    fn(ObjectInfo{rel, e.size < 0 ? 0 : static_cast<uint64_t>(e.size)});
  }
}

Status WebdavRemote::List(const std::string& prefix,
                          const std::function<void(const ObjectInfo&)>& fn) {
  KLOSET_RETURN_IF_ERROR(CheckListPrefix(prefix));
  const std::string dir = DirPart(prefix);
  const std::string what = "list " + (dir.empty() ? "/" : dir);
  if (depth_infinity_.load() != 0) {
    HttpResponse resp;
    Status s = Propfind(dir.empty() ? "" : dir + "/", "infinity", &resp, what);
    if (s.IsNotFound()) return Status::OK();
    if (s.ok()) {
      std::vector<DavEntry> entries;
      if (!ParseMultistatus(resp.body, &entries)) {
        return Status::IOError(what + ": " + who_ + " sent an unreadable PROPFIND answer");
      }
      depth_infinity_ = 1;
      Report(entries, dir, prefix, fn, nullptr);
      return Status::OK();
    }
    // Servers that refuse infinite depth say 403 (RFC 4918) or 400/501.
    if (resp.status != 403 && resp.status != 400 && resp.status != 501) return s;
    depth_infinity_ = 0;
  }
  return ListWalk(dir, prefix, fn);
}

Status WebdavRemote::ListWalk(const std::string& start, const std::string& prefix,
                              const std::function<void(const ObjectInfo&)>& fn) {
  std::deque<std::string> todo = {start};
  int visited = 0;
  while (!todo.empty()) {
    std::string dir = todo.front();
    todo.pop_front();
    if (++visited > 100000) return Status::IOError("list: too many folders on " + who_);
    HttpResponse resp;
    Status s = Propfind(dir.empty() ? "" : dir + "/", "1", &resp, "list " + dir);
    if (s.IsNotFound()) continue;  // gone meanwhile, or never there
    KLOSET_RETURN_IF_ERROR(s);
    std::vector<DavEntry> entries;
    if (!ParseMultistatus(resp.body, &entries)) {
      return Status::IOError("list " + dir + ": " + who_ + " sent an unreadable answer");
    }
    std::vector<std::string> dirs;
    Report(entries, dir, prefix, fn, &dirs);
    for (auto& d : dirs) {
      // Object names are a few levels deep; deeper folders are not ours.
      if (std::count(d.begin(), d.end(), '/') < 8) todo.push_back(std::move(d));
    }
  }
  return Status::OK();
}

Status WebdavRemote::Stat(const std::string& name, ObjectInfo* info) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string what = "stat " + name;
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(Propfind(name, "0", &resp, what));
  std::vector<DavEntry> entries;
  if (!ParseMultistatus(resp.body, &entries) || entries.empty()) {
    return Status::IOError(what + ": " + who_ + " sent an unreadable PROPFIND answer");
  }
  if (entries[0].collection || !entries[0].ok) {
    return Status::NotFound(what + ": not an object on " + who_);
  }
  info->name = name;
  info->size = entries[0].size < 0 ? 0 : static_cast<uint64_t>(entries[0].size);
  return Status::OK();
}

Status WebdavRemote::Delete(const std::string& name) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  // A DELETE of a folder removes all below it: make sure this is an object.
  ObjectInfo info;
  KLOSET_RETURN_IF_ERROR(Stat(name, &info));
  const std::string what = "delete " + name;
  HttpRequest req;
  req.method = "DELETE";
  req.url = Url(name);
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(Send(req, &resp, what));
  if (resp.status != 200 && resp.status != 204) return Fail(resp, what);
  return Status::OK();
}

}  // namespace kloset
