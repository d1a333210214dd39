// RcloneRemote: a Kloset store on any rclone remote (OneDrive, OpenDrive,
// Koofr, Proton Drive, iCloud Drive, S3, SFTP, ...), through the remote-control
// API of an `rclone rcd` child process (RcloneDaemon).
//
// Requests: Read is a GET of exactly the asked range through --rc-serve;
// Write is operations/uploadfile (multipart, the body streamed from memory);
// List is one recursive operations/list of the deepest folder the prefix pins
// down; Stat, Delete are operations/stat, operations/deletefile; Open makes
// the root with operations/mkdir when asked to create. JSON bodies go with
// "Content-Type: application/json" exactly, which rclone 1.60 requires.
//
// Atomic writes: cloud drives publish an upload only once it is complete.
// rclone's local backend (and sftp, ftp, smb) write in place, so for those a
// Write uploads to a temporary name (".tmp~<random>", never a valid object
// name, so List skips it) in the target folder and then moves it into place
// with operations/movefile.
//
// Errors are read by RcloneErrorStatus (rclone_drives.h): messages name the
// drive and say what to do. A daemon that died is restarted by RcloneDaemon;
// requests in flight meanwhile fail with kTransient. Nothing here retries:
// OpenRemote wraps this in a RetryRemote.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "remotes/http_client.h"
#include "remotes/rclone_daemon.h"
#include "remotes/rclone_drives.h"
#include "remotes/remote.h"

namespace kloset {

struct RcloneRemoteOptions {
  RcloneDaemonOptions daemon;
  // Where daemon.config came from, for messages (see ChooseRcloneConfig).
  std::string config_source;
  // Requests the store engine keeps in flight (--transfers).
  int transfers = 4;
  enum class Staging { kAuto, kAlways, kNever };
  // kAuto stages writes only on backends that write in place (see above).
  Staging staging = Staging::kAuto;
  // Timeouts of the requests to rclone (connect, stall).
  HttpOptions http;
};

class RcloneRemote : public Remote {
 public:
  // Opens the rclone fs `fs` ("onedrive:/kloset", ":memory:bucket"). Checks
  // that rclone knows the remote and its backend; with `create`, makes the
  // root folder. Errors: see RcloneDaemon::Get and RcloneErrorStatus.
  static Status Open(const std::string& fs, bool create, const RcloneRemoteOptions& options,
                     std::unique_ptr<RcloneRemote>* out);

  Status Read(const std::string& name, uint64_t offset, uint64_t length, std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return transfers_; }
  std::string Describe() const override;

  // Space on the drive (operations/about); -1 for what it does not report.
  // kUnsupported for backends without it.
  struct Space {
    int64_t total = -1, used = -1, free = -1, trashed = -1;
  };
  Status About(Space* space);

  const std::string& fs() const { return ctx_.fs; }
  const std::string& backend_type() const { return ctx_.type; }
  bool staged_writes() const { return staged_; }
  RcloneDaemon* daemon() const { return daemon_.get(); }
  HttpClient::Counters http_counters() const { return http_.counters(); }

 private:
  RcloneRemote(std::shared_ptr<RcloneDaemon> daemon, RcloneContext ctx, int transfers,
               const HttpOptions& http);

  // POST /<method> with a JSON body; `out` gets the JSON answer.
  Status Call(const std::string& method, const std::string& json_in, std::string* json_out,
              const std::string& what);
  // Takes the daemon's current endpoint into the HTTP client (after a restart).
  Status Refresh(RcloneDaemon::Endpoint* ep);
  Status ErrorFrom(const HttpResponse& resp, const std::string& what);
  Status Upload(const std::string& dir, const std::string& file, std::string_view data,
                const std::string& what);

  std::shared_ptr<RcloneDaemon> daemon_;
  RcloneContext ctx_;
  const int transfers_;
  bool staged_ = false;
  HttpClient http_;
  std::mutex gen_mu_;
  uint64_t generation_ = 0;
};

}  // namespace kloset
