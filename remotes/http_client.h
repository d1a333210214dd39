// HttpClient: the small libcurl wrapper under the rclone and WebDAV backends.
//
// One HttpClient serves one backend. It keeps a pool of curl easy handles, so
// each request reuses a live connection (keep-alive) of an earlier one, and
// applies the same timeouts, credentials and transport (TCP or a Unix socket)
// to every request. Request bodies are sent from the caller's memory without
// a copy; response bodies land in a std::string.
//
// Errors: Perform returns a non-OK Status only for transport failures
// (connection refused or dropped, timeout, truncated body: kTransient; TLS or
// URL problems: kIOError / kInvalidArgument). Any HTTP answer, 4xx and 5xx
// included, is OK at that level with the code in HttpResponse::status;
// StatusForHttp turns it into a Status when the caller has no better reading.
//
// Credentials go to libcurl through its user/password options, never into a
// URL, and no message made here contains them.
//
// Thread safety: all methods may be called concurrently from any thread
// (each Perform takes its own handle from the pool).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "remotes/status.h"

namespace kloset {

// Faults injected into requests as a bad network or a busy server would
// produce them, for tests and demonstrations. Each request draws once.
struct HttpFaults {
  uint64_t seed = 1;
  double throttle_rate = 0;  // answer 429 "Retry-After: 1" without sending the request
  double timeout_rate = 0;   // fail as a stalled transfer does (kTransient), not sent
  double truncate_rate = 0;  // drop the end of a successful GET/PROPFIND answer, as a dropped
                             // connection does: a 206 body is cut (the caller's
                             // Content-Range check must notice), anything else fails as
                             // curl does when Content-Length is not met (kTransient)
  bool any() const { return throttle_rate > 0 || timeout_rate > 0 || truncate_rate > 0; }
};

struct HttpOptions {
  // Fails a request whose connection is not up after this long (kTransient).
  std::chrono::milliseconds connect_timeout{10'000};
  // Fails a request that moved fewer than 1 byte per second for this long
  // (a stalled transfer). Large transfers are never cut by a total timeout.
  std::chrono::seconds stall_timeout{120};
  // Total time limit per request; 0 means none.
  std::chrono::milliseconds total_timeout{0};
  // Basic-auth credentials (empty user: none).
  std::string user, password;
  // Send every request over this Unix socket instead of TCP (the URL's host
  // is then only a name).
  std::string unix_socket;
  // Idle handles kept for reuse.
  int max_idle_handles = 16;
  HttpFaults faults;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, DELETE, PROPFIND, MKCOL, MOVE, ...
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // The body, sent as is (must stay valid until Perform returns).
  std::string_view body;
  bool has_body = false;  // send `body` even when it is empty
  // Instead of `body`: a multipart/form-data body with one file part.
  bool multipart = false;
  std::string part_name = "file", part_filename;
  // Bytes [range_offset, range_offset + range_length) of the resource;
  // range_length == kNoRange sends no Range header. A server that ignores the
  // Range header and answers 200 still yields only the asked bytes: the
  // transfer stops once they arrived.
  static constexpr uint64_t kNoRange = UINT64_MAX;
  static constexpr uint64_t kToEnd = UINT64_MAX - 1;
  uint64_t range_offset = 0, range_length = kNoRange;
  // Overrides HttpOptions::stall_timeout for this request when non-zero.
  std::chrono::seconds stall_timeout{0};
};

struct HttpResponse {
  long status = 0;
  std::string body;
  // Headers the backends use (empty when absent).
  std::string retry_after, content_range, location;
  // True when the transfer was stopped on purpose because a server that
  // ignored Range had sent every byte asked for.
  bool cut_short = false;
  std::chrono::microseconds elapsed{0};
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Runs one request. `what` names it in error messages ("GET packs/ab/x").
  Status Perform(const HttpRequest& req, HttpResponse* resp, const std::string& what);

  // Totals since construction (all requests, failed ones included).
  struct Counters {
    uint64_t requests = 0;
    uint64_t bytes_sent = 0;      // request bodies
    uint64_t bytes_received = 0;  // response bodies as they came over the wire
    uint64_t transport_errors = 0;
    uint64_t injected_faults = 0;
  };
  Counters counters() const;

  // Both may be called at any time; requests already started keep the old values.
  void SetAuth(std::string user, std::string password);
  void SetUnixSocket(std::string path);
  const HttpOptions& options() const { return options_; }

 private:
  void* Acquire();
  void Release(void* handle);

  // The injected fault for one request (HttpFaults), 0 = none.
  int DrawFault();

  HttpOptions options_;
  mutable std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles with live connections
  Counters counters_;
  uint64_t fault_seq_ = 0;
};

// Percent-encodes everything but unreserved characters (RFC 3986); with
// keep_slash, '/' stays as is (for paths).
std::string UrlEncode(std::string_view s, bool keep_slash = false);
// Decodes %XX escapes (and leaves anything else as is).
std::string UrlDecode(std::string_view s);

// The delay a Retry-After value asks for: delta-seconds or an HTTP date.
// Returns 0 for an empty or unreadable value, and caps it at `cap`.
std::chrono::microseconds ParseRetryAfter(const std::string& value,
                                          std::chrono::microseconds cap = std::chrono::minutes(5));

// Parses "bytes START-END/TOTAL" ("*" for an unknown total gives UINT64_MAX).
bool ParseContentRange(const std::string& value, uint64_t* start, uint64_t* end, uint64_t* total);

// Ranged reads (Remote::Read over HTTP). SetReadRange asks for `length`
// bytes at `offset` (Remote::kToEnd: to the end; nothing for a whole read).
// TakeReadBody turns a 200, 206 or 416 answer into *out: 416 is an empty
// read past the end; a 206 must start at `offset` and hold the whole range
// it announces (kIOError for a wrong Content-Range, kTransient for a body
// cut short); the body is capped at `length`. Other statuses are for the
// caller to map (StatusForHttp) before calling it.
void SetReadRange(uint64_t offset, uint64_t length, HttpRequest* req);
Status TakeReadBody(HttpResponse* resp, uint64_t offset, uint64_t length, const std::string& what,
                    std::string* out);

// The Status for an HTTP answer that is not a success. `what` names the
// request, `who` the storage ("WebDAV server example.com") for messages.
//   404, 410                      -> kNotFound
//   401, 403                      -> kPermission (the message says to check the credentials)
//   408, 429, 500, 502, 503, 504  -> kTransient (with the Retry-After delay noted for the
//                                    retry wrapper, see NoteRetryAfter)
//   507, 413 with quota wording   -> kNoSpace
//   anything else                 -> kIOError
Status StatusForHttp(const HttpResponse& resp, const std::string& what, const std::string& who);

}  // namespace kloset
