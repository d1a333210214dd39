// Reading a WebDAV PROPFIND answer (RFC 4918 multistatus) without an XML
// library: only the few elements klosetfs needs, namespace prefixes ignored.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kloset {

struct DavEntry {
  std::string href;  // as sent, with XML entities decoded (still %-encoded)
  bool collection = false;
  int64_t size = -1;  // getcontentlength, -1 when absent
  bool ok = true;     // the propstat status was 2xx (or absent)
};

// False when `xml` is not a multistatus document.
bool ParseMultistatus(const std::string& xml, std::vector<DavEntry>* out);

// The path part of an href that may be an absolute URL
// ("https://h/a/b" -> "/a/b"), %-decoded.
std::string HrefPath(const std::string& href);

}  // namespace kloset
