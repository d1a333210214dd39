#include "remotes/webdav_xml.h"

#include <cstdlib>

#include "remotes/http_client.h"

namespace kloset {

namespace {

std::string DecodeEntities(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string::npos) {
      out.push_back(s[i]);
      continue;
    }
    std::string ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out.push_back('&');
    } else if (ent == "lt") {
      out.push_back('<');
    } else if (ent == "gt") {
      out.push_back('>');
    } else if (ent == "quot") {
      out.push_back('"');
    } else if (ent == "apos") {
      out.push_back('\'');
    } else if (!ent.empty() && ent[0] == '#') {
      long c = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                   ? std::strtol(ent.c_str() + 2, nullptr, 16)
                   : std::strtol(ent.c_str() + 1, nullptr, 10);
      if (c > 0 && c < 128) out.push_back(static_cast<char>(c));
    } else {
      out += s.substr(i, semi - i + 1);
      i = semi;
      continue;
    }
    i = semi;
  }
  return out;
}

// The local name of a tag: "D:href" -> "href", "/D:href" -> "href".
std::string LocalName(const std::string& tag) {
  size_t end = tag.find_first_of(" \t\r\n/>");
  std::string name = tag.substr(0, end);
  size_t colon = name.find(':');
  return colon == std::string::npos ? name : name.substr(colon + 1);
}

}  // namespace

bool ParseMultistatus(const std::string& xml, std::vector<DavEntry>* out) {
  out->clear();
  bool seen_multistatus = false;
  bool in_response = false, in_resourcetype = false;
  bool propstat_ok = true, any_ok = false;
  DavEntry cur;
  std::string text;  // character data since the last tag
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      size_t lt = xml.find('<', i);
      text += xml.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
      i = lt == std::string::npos ? xml.size() : lt;
      continue;
    }
    size_t gt = xml.find('>', i);
    if (gt == std::string::npos) return false;
    std::string tag = xml.substr(i + 1, gt - i - 1);
    i = gt + 1;
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    const bool closing = tag[0] == '/';
    const bool self_closing = tag.back() == '/';
    const std::string name = LocalName(closing ? tag.substr(1) : tag);
    if (!closing) {
      if (name == "multistatus") seen_multistatus = true;
      if (name == "response") {
        in_response = true;
        cur = DavEntry();
        any_ok = false;
      }
      if (name == "propstat") propstat_ok = true;
      if (name == "resourcetype" && !self_closing) in_resourcetype = true;
      if (name == "collection" && in_resourcetype) cur.collection = true;
      text.clear();
      continue;
    }
    const std::string value = DecodeEntities(text);
    text.clear();
    if (!in_response) continue;
    if (name == "href" && cur.href.empty()) {
      size_t a = value.find_first_not_of(" \t\r\n");
      size_t b = value.find_last_not_of(" \t\r\n");
      if (a != std::string::npos) cur.href = value.substr(a, b - a + 1);
    } else if (name == "getcontentlength") {
      // A failed propstat (404 for a property) carries an empty element.
      if (!value.empty()) cur.size = std::strtoll(value.c_str(), nullptr, 10);
    } else if (name == "resourcetype") {
      in_resourcetype = false;
    } else if (name == "status") {
      // "HTTP/1.1 200 OK"
      size_t sp = value.find(' ');
      int code = sp == std::string::npos ? 0 : std::atoi(value.c_str() + sp + 1);
      propstat_ok = code >= 200 && code < 300;
    } else if (name == "propstat") {
      if (propstat_ok) any_ok = true;
    } else if (name == "response") {
      cur.ok = any_ok || cur.size >= 0 || cur.collection;
      if (!cur.href.empty()) out->push_back(cur);
      in_response = false;
    }
  }
  return seen_multistatus;
}

std::string HrefPath(const std::string& href) {
  std::string path = href;
  size_t scheme = path.find("://");
  if (scheme != std::string::npos) {
    size_t slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? "/" : path.substr(slash);
  }
  return UrlDecode(path);
}

}  // namespace kloset
