#include "remotes/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <thread>

#include "remotes/remote.h"
#include "remotes/retry_remote.h"

namespace kloset {

namespace {

// curl_global_init is not thread-safe; a function-local static runs it once.
void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Per-request state the curl callbacks see.
struct Transfer {
  HttpResponse* resp = nullptr;
  const HttpRequest* req = nullptr;
  // Bytes of a 200 answer still to skip / to keep when a ranged request was
  // answered with the whole resource.
  uint64_t skip = 0, keep = UINT64_MAX;
  bool checked_status = false;
  // Multipart body source.
  std::string_view upload;
  size_t upload_pos = 0;
  CURL* curl = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name = Lower(line.substr(0, colon));
    std::string value = Trim(line.substr(colon + 1));
    if (name == "retry-after") t->resp->retry_after = value;
    if (name == "content-range") t->resp->content_range = value;
    if (name == "location") t->resp->location = value;
  } else if (line.starts_with("HTTP/")) {
    // A new response (after 100 Continue or a redirect) starts afresh.
    t->resp->retry_after.clear();
    t->resp->content_range.clear();
    t->resp->location.clear();
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  const size_t len = size * n;
  if (!t->checked_status) {
    t->checked_status = true;
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    // A server that ignored Range sends the whole resource: keep only the
    // asked part and stop once it is complete.
    if (code == 200 && t->req->range_length != HttpRequest::kNoRange) {
      t->skip = t->req->range_offset;
      t->keep = t->req->range_length == HttpRequest::kToEnd ? UINT64_MAX : t->req->range_length;
    }
  }
  std::string_view chunk(data, len);
  if (t->skip > 0) {
    size_t drop = static_cast<size_t>(std::min<uint64_t>(t->skip, chunk.size()));
    chunk.remove_prefix(drop);
    t->skip -= drop;
  }
  if (chunk.size() > t->keep) chunk = chunk.substr(0, static_cast<size_t>(t->keep));
  t->resp->body.append(chunk);
  if (t->keep != UINT64_MAX) {
    t->keep -= chunk.size();
    if (t->keep == 0) {
      t->resp->cut_short = true;
      return 0;  // enough: abort the transfer (CURLE_WRITE_ERROR, treated as done)
    }
  }
  return len;
}

size_t OnPartRead(char* buffer, size_t size, size_t n, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  size_t len = std::min(size * n, t->upload.size() - t->upload_pos);
  std::memcpy(buffer, t->upload.data() + t->upload_pos, len);
  t->upload_pos += len;
  return len;
}

int OnPartSeek(void* arg, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(arg);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool IsTransientCurl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_AGAIN:
      return true;
    default:
      return false;
  }
}

enum InjectedFault { kNoFault = 0, kThrottle, kTimeout, kTruncate };

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

HttpClient::Counters HttpClient::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

int HttpClient::DrawFault() {
  std::lock_guard<std::mutex> lock(mu_);
  const HttpFaults& f = options_.faults;
  if (!f.any()) return kNoFault;
  double u = static_cast<double>(Mix(f.seed ^ Mix(++fault_seq_)) >> 11) * 0x1.0p-53;
  int fault = kNoFault;
  if (u < f.throttle_rate) {
    fault = kThrottle;
  } else if (u < f.throttle_rate + f.timeout_rate) {
    fault = kTimeout;
  } else if (u < f.throttle_rate + f.timeout_rate + f.truncate_rate) {
    fault = kTruncate;
  }
  if (fault != kNoFault) counters_.injected_faults++;
  return fault;
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) { GlobalInit(); }

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void HttpClient::SetAuth(std::string user, std::string password) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.user = std::move(user);
  options_.password = std::move(password);
}

void HttpClient::SetUnixSocket(std::string path) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.unix_socket = std::move(path);
  // Pooled connections lead elsewhere now.
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  idle_.clear();
}

void* HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(idle_.size()) < options_.max_idle_handles) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

Status HttpClient::Perform(const HttpRequest& req, HttpResponse* resp, const std::string& what) {
  *resp = HttpResponse();
  const int fault = DrawFault();
  {
    std::lock_guard<std::mutex> lock(mu_);
    counters_.requests++;
  }
  if (fault == kThrottle) {
    resp->status = 429;
    resp->retry_after = "1";
    resp->body = "injected fault: too many requests";
    return Status::OK();
  }
  if (fault == kTimeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard<std::mutex> lock(mu_);
    counters_.transport_errors++;
    return Status::Transient(what + ": injected fault: operation timed out");
  }
  CURL* curl = static_cast<CURL*>(Acquire());
  if (!curl) return Status::IOError(what + ": cannot create an HTTP handle");
  // reset keeps the handle's connection cache: that is the point of pooling.
  curl_easy_reset(curl);
  HttpOptions o;
  {
    std::lock_guard<std::mutex> lock(mu_);
    o = options_;
  }
  Transfer t;
  t.resp = resp;
  t.req = &req;
  t.curl = curl;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  const auto stall = req.stall_timeout.count() > 0 ? req.stall_timeout : o.stall_timeout;
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(stall.count()));
  if (o.total_timeout.count() > 0) {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  }
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!o.unix_socket.empty())
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, o.unix_socket.c_str());
  if (!o.user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(curl, CURLOPT_USERNAME, o.user.c_str());
    if (!o.password.empty()) curl_easy_setopt(curl, CURLOPT_PASSWORD, o.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);

  curl_slist* headers = nullptr;
  // Large bodies would otherwise wait for "100 Continue" first.
  headers = curl_slist_append(headers, "Expect:");
  for (const std::string& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  std::string range;
  if (req.range_length != HttpRequest::kNoRange) {
    range = std::to_string(req.range_offset) + "-";
    if (req.range_length != HttpRequest::kToEnd) {
      range += std::to_string(req.range_offset + req.range_length - 1);
    }
    curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  }

  curl_mime* mime = nullptr;
  if (req.multipart) {
    t.upload = req.body;
    mime = curl_mime_init(curl);
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, req.part_name.c_str());
    curl_mime_filename(part, req.part_filename.c_str());
    curl_mime_type(part, "application/octet-stream");
    curl_mime_data_cb(part, static_cast<curl_off_t>(req.body.size()), OnPartRead, OnPartSeek,
                      nullptr, &t);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  } else if (req.has_body || !req.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
  }
  if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET" &&
             !(req.method == "POST" && (req.multipart || req.has_body || !req.body.empty()))) {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const auto start = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(curl);
  resp->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
  // Detach everything that points at this stack frame before pooling.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);
  if (mime) curl_mime_free(mime);

  Status s;
  if (rc == CURLE_WRITE_ERROR && resp->cut_short) {
    rc = CURLE_OK;
  }
  curl_off_t down = 0;
  curl_easy_getinfo(curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
  {
    std::lock_guard<std::mutex> lock(mu_);
    counters_.bytes_sent += req.body.size();
    counters_.bytes_received += static_cast<uint64_t>(down);
    if (rc != CURLE_OK) counters_.transport_errors++;
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    std::string msg = what + ": " + detail;
    if (rc == CURLE_URL_MALFORMAT) {
      s = Status::InvalidArgument(msg);
    } else if (IsTransientCurl(rc)) {
      s = Status::Transient(msg);
    } else {
      s = Status::IOError(msg);
    }
    // A broken connection must not be reused.
    curl_easy_cleanup(curl);
    return s;
  }
  Release(curl);
  // Only reads are cut: a cut answer to a write or delete would be a lost
  // acknowledgement, a different fault.
  const bool read = req.method == "GET" || req.method == "PROPFIND";
  if (fault == kTruncate && read && resp->status >= 200 && resp->status < 300 &&
      !resp->body.empty()) {
    if (resp->status == 206) {
      resp->body.resize(resp->body.size() / 2);
    } else {
      return Status::Transient(what + ": injected fault: transfer closed with " +
                               std::to_string(resp->body.size() - resp->body.size() / 2) +
                               " bytes remaining to read");
    }
  }
  return Status::OK();
}

std::string UrlEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string UrlDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::chrono::microseconds ParseRetryAfter(const std::string& value, std::chrono::microseconds cap) {
  std::string v = Trim(value);
  if (v.empty()) return std::chrono::microseconds(0);
  std::chrono::microseconds delay(0);
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return cap;  // absurdly long: treat as "a long time"
    delay = std::chrono::seconds(std::stoll(v));
  } else {
    time_t when = curl_getdate(v.c_str(), nullptr);
    if (when < 0) return std::chrono::microseconds(0);
    time_t now = time(nullptr);
    if (when > now) delay = std::chrono::seconds(when - now);
  }
  return std::min(delay, cap);
}

void SetReadRange(uint64_t offset, uint64_t length, HttpRequest* req) {
  if (offset == 0 && length == Remote::kToEnd) return;
  req->range_offset = offset;
  req->range_length = length == Remote::kToEnd ? HttpRequest::kToEnd : length;
}

Status TakeReadBody(HttpResponse* resp, uint64_t offset, uint64_t length, const std::string& what,
                    std::string* out) {
  out->clear();
  if (resp->status == 416) return Status::OK();  // the range starts at or past the end
  if (resp->status == 206) {
    uint64_t start = 0, end = 0, total = 0;
    if (!ParseContentRange(resp->content_range, &start, &end, &total) || start != offset) {
      return Status::IOError(what + ": unexpected Content-Range '" + resp->content_range + "'");
    }
    // rclone 1.60 answers a range past the end with 206 and "bytes 10-5/6".
    uint64_t expect = end >= start ? end - start + 1 : 0;
    if (resp->body.size() != expect) {
      return Status::Transient(what + ": got " + std::to_string(resp->body.size()) + " of " +
                               std::to_string(expect) + " bytes (connection dropped)");
    }
  }
  if (length != Remote::kToEnd && resp->body.size() > length) resp->body.resize(length);
  *out = std::move(resp->body);
  return Status::OK();
}

bool ParseContentRange(const std::string& value, uint64_t* start, uint64_t* end, uint64_t* total) {
  unsigned long long a = 0, b = 0, t = 0;
  char star = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
    *total = t;
  } else if (std::sscanf(value.c_str(), "bytes %llu-%llu/%c", &a, &b, &star) == 3 && star == '*') {
    *total = UINT64_MAX;
  } else {
    return false;
  }
  *start = a;
  *end = b;
  return true;
}

Status StatusForHttp(const HttpResponse& resp, const std::string& what, const std::string& who) {
  const std::string code = "HTTP " + std::to_string(resp.status);
  const std::string msg = what + ": " + who + " answered " + code;
  switch (resp.status) {
    case 404:
    case 410:
      return Status::NotFound(msg + " (not found)");
    case 401:
      return Status::Permission(msg + " (not authorized): check the user name and password for " +
                                who);
    case 403:
      return Status::Permission(msg + " (forbidden): the account lacks access to this path on " +
                                who);
    case 507:
      return Status::NoSpace(msg + " (insufficient storage): free space on " + who +
                             " or raise its quota");
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: {
      auto wait = ParseRetryAfter(resp.retry_after);
      std::string extra;
      if (wait.count() > 0) {
        NoteRetryAfter(wait);
        extra = ", retry after " + std::to_string(wait.count() / 1'000'000) + " s";
      }
      return Status::Transient(msg + (resp.status == 429 ? " (too many requests" : " (") +
                               (resp.status == 429 ? "" : "server busy or failing") + extra + ")");
    }
    default:
      break;
  }
  // Some servers report a full quota as 413 or 400 with words in the body.
  std::string body = Lower(resp.body.substr(0, 2048));
  if (body.find("quota") != std::string::npos ||
      body.find("insufficient storage") != std::string::npos ||
      body.find("no space") != std::string::npos) {
    return Status::NoSpace(msg + " (storage full): free space on " + who + " or raise its quota");
  }
  return Status::IOError(msg);
}

}  // namespace kloset
