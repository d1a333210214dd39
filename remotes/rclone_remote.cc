#include "remotes/rclone_remote.h"


#include <nlohmann/json.hpp>
#include <thread>

#include "remotes/name_check.h"
#include "remotes/retry_remote.h"

namespace kloset {

namespace {

using json = nlohmann::json;

// rclone's rc server (1.60) reads a JSON body only with exactly this type.
constexpr const char* kJsonType = "Content-Type: application/json";

std::string DirPart(const std::string& name) {
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

std::string BasePart(const std::string& name) {
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

// Backends whose uploads write the target file in place.
bool WritesInPlace(const std::string& type, bool is_local) {
  return is_local || type == "local" || type == "sftp" || type == "ftp" || type == "smb" ||
         type == "hdfs";
}

}  // namespace

RcloneRemote::RcloneRemote(std::shared_ptr<RcloneDaemon> daemon, RcloneContext ctx, int transfers,
                           const HttpOptions& http)
    : daemon_(std::move(daemon)),
      ctx_(std::move(ctx)),
      transfers_(std::max(1, transfers)),
      http_(http) {}

Status RcloneRemote::Open(const std::string& fs, bool create, const RcloneRemoteOptions& options,
                          std::unique_ptr<RcloneRemote>* out) {
  RcloneFsSpec spec;
  if (!ParseRcloneFs(fs, &spec)) {
    return Status::InvalidArgument("'" + fs + "' is not an rclone remote (NAME:PATH or " +
                                   ":BACKEND,OPTION=VALUE:PATH)");
  }
  std::shared_ptr<RcloneDaemon> daemon;
  KLOSET_RETURN_IF_ERROR(
      RcloneDaemon::Get(options.daemon, &daemon).Annotate("cannot use rclone remote " + fs));
  RcloneContext ctx;
  ctx.fs = fs;
  ctx.remote_name = spec.name;
  ctx.type = spec.backend;
  ctx.config = options.daemon.config;
  ctx.config_source = options.config_source;
  ctx.rclone_version = daemon->version();
  HttpOptions http = options.http;
  http.max_idle_handles = std::max(http.max_idle_handles, options.transfers + 2);
  std::unique_ptr<RcloneRemote> r(
      new RcloneRemote(std::move(daemon), std::move(ctx), options.transfers, http));

  // Open's own requests are retried here: no RetryRemote is around yet.
  auto call = [&r](const std::string& method, const std::string& in, std::string* answer,
                   const std::string& what) {
    Status s;
    for (int attempt = 0; attempt < 6; attempt++) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      s = r->Call(method, in, answer, what);
      if (!s.IsTransient()) break;
    }
    return s;
  };
  std::string answer;
  if (!spec.name.empty()) {
    // The backend type, for messages (a remote defined by environment
    // variables only has none here; fsinfo below still checks it).
    json in = {{"name", spec.name}};
    if (call("config/get", in.dump(), &answer, "config/get").ok()) {
      json j = json::parse(answer, nullptr, false);
      if (j.is_object() && j.contains("type") && j["type"].is_string()) {
        r->ctx_.type = j["type"].get<std::string>();
      }
    }
  }
  json in = {{"fs", fs}};
  KLOSET_RETURN_IF_ERROR(call("operations/fsinfo", in.dump(), &answer, "open " + fs));
  json info = json::parse(answer, nullptr, false);
  bool is_local = false;
  if (info.is_object() && info.contains("Features") && info["Features"].is_object()) {
    is_local = info["Features"].value("IsLocal", false);
  }
  switch (options.staging) {
    case RcloneRemoteOptions::Staging::kAlways:
      r->staged_ = true;
      break;
    case RcloneRemoteOptions::Staging::kNever:
      r->staged_ = false;
      break;
    case RcloneRemoteOptions::Staging::kAuto:
      r->staged_ = WritesInPlace(r->ctx_.type, is_local);
      break;
  }
  if (create) {
    json mk = {{"fs", fs}, {"remote", ""}};
    KLOSET_RETURN_IF_ERROR(call("operations/mkdir", mk.dump(), &answer, "create " + fs));
  }
  *out = std::move(r);
  return Status::OK();
}

std::string RcloneRemote::Describe() const {
  const DriveInfo* d = FindDrive(ctx_.type);
  return "rclone remote " + ctx_.fs + (d ? std::string(" (") + d->name + ")" : std::string());
}

Status RcloneRemote::Refresh(RcloneDaemon::Endpoint* ep) {
  KLOSET_RETURN_IF_ERROR(daemon_->Current(ep));
  std::lock_guard<std::mutex> lock(gen_mu_);
  if (ep->generation != generation_) {
    http_.SetUnixSocket(ep->unix_socket);
    http_.SetAuth(ep->user, ep->password);
    generation_ = ep->generation;
  }
  return Status::OK();
}

Status RcloneRemote::ErrorFrom(const HttpResponse& resp, const std::string& what) {
  if (resp.status == 401) {
    // Our credentials are per daemon start: a restart raced this request.
    return Status::Transient(what + ": the rclone daemon was restarted meanwhile");
  }
  if (auto wait = ParseRetryAfter(resp.retry_after); wait.count() > 0) NoteRetryAfter(wait);
  std::string error;
  json j = json::parse(resp.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    error = j["error"].get<std::string>();
  } else {
    error = "HTTP " + std::to_string(resp.status) + " " + resp.body.substr(0, 200);
  }
  return RcloneErrorStatus(ctx_, resp.status, error, what);
}

Status RcloneRemote::Call(const std::string& method, const std::string& json_in,
                          std::string* json_out, const std::string& what) {
  RcloneDaemon::Endpoint ep;
  KLOSET_RETURN_IF_ERROR(Refresh(&ep));
  HttpRequest req;
  req.method = "POST";
  req.url = ep.base_url + "/" + method;
  req.headers = {kJsonType};
  req.body = json_in;
  req.has_body = true;
  // A recursive list of a big folder on a slow drive sends nothing for a while.
  req.stall_timeout = std::chrono::seconds(600);
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(http_.Perform(req, &resp, what));
  if (resp.status != 200) return ErrorFrom(resp, what);
  *json_out = std::move(resp.body);
  return Status::OK();
}

Status RcloneRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                          std::string* out) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  out->clear();
  const std::string what = "read " + name;
  if (length == 0) {
    // Nothing to fetch, but a missing object must still say so.
    ObjectInfo info;
    return Stat(name, &info);
  }
  RcloneDaemon::Endpoint ep;
  KLOSET_RETURN_IF_ERROR(Refresh(&ep));
  HttpRequest req;
  req.url = ep.base_url + "/" + UrlEncode("[" + ctx_.fs + "]") + "/" + UrlEncode(name, true);
  SetReadRange(offset, length, &req);
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(http_.Perform(req, &resp, what));
  if (resp.status != 200 && resp.status != 206 && resp.status != 416) return ErrorFrom(resp, what);
  return TakeReadBody(&resp, offset, length, what, out);
}

Status RcloneRemote::Upload(const std::string& dir, const std::string& file, std::string_view data,
                            const std::string& what) {
  RcloneDaemon::Endpoint ep;
  KLOSET_RETURN_IF_ERROR(Refresh(&ep));
  HttpRequest req;
  req.method = "POST";
  req.url =
      ep.base_url + "/operations/uploadfile?fs=" + UrlEncode(ctx_.fs) + "&remote=" + UrlEncode(dir);
  req.multipart = true;
  req.part_filename = file;
  req.body = data;
  HttpResponse resp;
  KLOSET_RETURN_IF_ERROR(http_.Perform(req, &resp, what));
  if (resp.status != 200) return ErrorFrom(resp, what);
  return Status::OK();
}

Status RcloneRemote::Write(const std::string& name, std::string_view data) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string what = "write " + name;
  const std::string dir = DirPart(name);
  Status s;
  if (!staged_) {
    s = Upload(dir, BasePart(name), data, what);
  } else {
    const std::string temp = TempObjectName();
    const std::string temp_path = dir.empty() ? temp : dir + "/" + temp;
    s = Upload(dir, temp, data, what);
    if (s.ok()) {
      json in = {
          {"srcFs", ctx_.fs}, {"srcRemote", temp_path}, {"dstFs", ctx_.fs}, {"dstRemote", name}};
      std::string answer;
      s = Call("operations/movefile", in.dump(), &answer, what);
      if (!s.ok()) {
        json del = {{"fs", ctx_.fs}, {"remote", temp_path}};
        (void)Call("operations/deletefile", del.dump(), &answer, what);
      }
    }
  }
  // "not found" on a write means a path part is a file, not a folder.
  if (s.IsNotFound()) return Status::IOError(s.message());
  return s;
}

Status RcloneRemote::List(const std::string& prefix,
                          const std::function<void(const ObjectInfo&)>& fn) {
  KLOSET_RETURN_IF_ERROR(CheckListPrefix(prefix));
  const std::string dir = DirPart(prefix);
  json in = {
      {"fs", ctx_.fs},
      {"remote", dir},
      {"opt", {{"recurse", true}, {"noModTime", true}, {"noMimeType", true}, {"filesOnly", true}}}};
  std::string answer;
  Status s = Call("operations/list", in.dump(), &answer, "list " + (dir.empty() ? "/" : dir));
  if (s.IsNotFound()) return Status::OK();  // no folder holds no objects
  KLOSET_RETURN_IF_ERROR(s);
  json j = json::parse(answer, nullptr, false);
  if (!j.is_object() || !j.contains("list") || !j["list"].is_array()) {
    return Status::IOError("list " + dir + ": rclone sent an unreadable answer");
  }
  for (const json& item : j["list"]) {
    if (!item.is_object() || item.value("IsDir", false)) continue;
    std::string path = item.value("Path", "");
    if (!IsValidObjectName(path) || !path.starts_with(prefix)) continue;
    int64_t size = item.value("Size", int64_t{-1});
    fn(ObjectInfo{path, size < 0 ? 0 : static_cast<uint64_t>(size)});
  }
  return Status::OK();
}

Status RcloneRemote::Delete(const std::string& name) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  json in = {{"fs", ctx_.fs}, {"remote", name}};
  std::string answer;
  return Call("operations/deletefile", in.dump(), &answer, "delete " + name);
}

Status RcloneRemote::Stat(const std::string& name, ObjectInfo* info) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string what = "stat " + name;
  json in = {
      {"fs", ctx_.fs}, {"remote", name}, {"opt", {{"noModTime", true}, {"noMimeType", true}}}};
  std::string answer;
  KLOSET_RETURN_IF_ERROR(Call("operations/stat", in.dump(), &answer, what));
  json j = json::parse(answer, nullptr, false);
  if (!j.is_object() || !j.contains("item")) {
    return Status::IOError(what + ": rclone sent an unreadable answer");
  }
  const json& item = j["item"];
  if (item.is_null() || !item.is_object() || item.value("IsDir", false)) {
    return Status::NotFound(what + ": not found on " + DriveName(ctx_.type, ctx_.remote_name));
  }
  int64_t size = item.value("Size", int64_t{-1});
  info->name = name;
  info->size = size < 0 ? 0 : static_cast<uint64_t>(size);
  return Status::OK();
}

Status RcloneRemote::About(Space* space) {
  json in = {{"fs", ctx_.fs}};
  std::string answer;
  Status s = Call("operations/about", in.dump(), &answer, "about");
  if (!s.ok()) {
    if (s.message().find("doesn't support about") != std::string::npos) {
      return Status::Unsupported(DriveName(ctx_.type, ctx_.remote_name) +
                                 " does not report its space");
    }
    return s;
  }
  json j = json::parse(answer, nullptr, false);
  if (!j.is_object()) return Status::IOError("about: rclone sent an unreadable answer");
  space->total = j.value("total", int64_t{-1});
  space->used = j.value("used", int64_t{-1});
  space->free = j.value("free", int64_t{-1});
  space->trashed = j.value("trashed", int64_t{-1});
  return Status::OK();
}

}  // namespace kloset
