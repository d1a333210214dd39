// Remote: the storage seam under a Kloset store. The store engine sees a flat
// namespace of immutable objects named by '/'-separated relative paths such as
// "config", "keys/<hex>", "packs/ab/<hex>", "index/ab/<hex>", "snapshots/<hex>".
// Backends map these onto a folder, an rclone remote, WebDAV or memory.
//
// Contracts every backend honours (checked by tests/remote_conformance_test.cc):
//  * Thread safety: all methods may be called concurrently from any thread.
//  * Names: the engine only uses [a-z0-9/_.-]; no leading '/', no "..", no
//    empty segment. A backend rejects anything else with kInvalidArgument.
//  * Write is atomic: a reader never sees a partial object; after Write
//    returns OK the object is durable (fsynced / acknowledged by the server).
//    Writing a name that already exists with identical content is OK
//    (idempotent: objects are content-named). Intermediate folders are made
//    as needed.
//  * Read(name, offset, length) returns exactly `length` bytes, or fewer only
//    when the object ends first (never more). length == kToEnd reads to the
//    end. Reading past the end returns OK with an empty result.
//  * A missing object gives kNotFound, from Read, Stat and Delete alike.
//  * A failure that a retry may fix (timeouts, throttling, 5xx, dropped
//    connections) gives kTransient; retries are the caller's (or a wrapper's)
//    business. Full storage gives kNoSpace. Anything else permanent: kIOError.
//  * List(prefix) reports every object whose name starts with `prefix`,
//    recursing into sub-folders, in no particular order. Temporary files a
//    backend uses for atomic writes are never reported.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "remotes/status.h"

namespace kloset {

struct ObjectInfo {
  std::string name;  // full object name, e.g. "packs/ab/ab12..."
  uint64_t size = 0;
};

class Remote {
 public:
  static constexpr uint64_t kToEnd = UINT64_MAX;

  virtual ~Remote() = default;

  virtual Status Read(const std::string& name, uint64_t offset, uint64_t length,
                      std::string* out) = 0;
  virtual Status Write(const std::string& name, std::string_view data) = 0;
  virtual Status List(const std::string& prefix,
                      const std::function<void(const ObjectInfo&)>& fn) = 0;
  virtual Status Delete(const std::string& name) = 0;
  virtual Status Stat(const std::string& name, ObjectInfo* info) = 0;

  // How many requests the engine should keep in flight (uploads, reads).
  virtual int MaxParallel() const { return 4; }
  // A short human description for messages, e.g. "local folder /srv/kloset".
  virtual std::string Describe() const = 0;
};

// A fresh random name for a temporary upload, ".tmp~" and 16 hex digits:
// '~' is not allowed in object names, so it never collides with an object.
std::string TempObjectName();

// Checks an object name against the naming rule above.
bool IsValidObjectName(std::string_view name);

// Settings OpenRemote applies to the network backends. The command line sets
// them once, before it opens a store; they are process-wide.
struct RemoteSettings {
  std::string rclone_binary = "rclone";  // a path, or a name on PATH
  std::string rclone_config;             // --rclone-config; "" = RCLONE_CONFIG or rclone's default
  int transfers = 0;                     // requests in flight; 0 = the backend's default (4)
  // A wrapper that shapes and breaks the traffic of every opened store, for
  // tests and demonstrations ("" = none); syntax in remotes/shaped_remote.h.
  std::string simulate;
};
void SetRemoteSettings(const RemoteSettings& settings);
RemoteSettings GetRemoteSettings();

// Opens the remote named by a STORE string:
//   /srv/kloset, ./kloset, kloset   a local folder (`create` makes it)
//   memory:NAME                     a process-wide in-memory store (tests)
//   NAME:PATH, NAME,OPT=V:PATH      the rclone remote NAME of the rclone config
//   :BACKEND,OPT=V:PATH             an rclone connection string
//   webdav+https://HOST/PATH        a WebDAV server (webdav+http:// for loopback only)
// Network backends come wrapped in a RetryRemote. Errors name the store and,
// for a bad STORE string, the accepted forms (kInvalidArgument).
Status OpenRemote(const std::string& store, bool create, std::unique_ptr<Remote>* out);
// True when OpenRemote would open STORE as a plain local folder with no
// --simulate wrapper: reading it is as cheap as reading a local cache.
bool IsPlainLocalStore(const std::string& store);

}  // namespace kloset
