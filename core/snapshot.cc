// Snapshot JSON codec and time formatting (the store operations live in
// core/snapshot_store.cc). Schema: docs/FORMAT.md, "Snapshots".
#include "core/snapshot.h"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

namespace kloset {

using nlohmann::json;

namespace {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
// At least as strict as nlohmann's serializer, which throws on anything else.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; k++) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// Byte strings: a JSON string when valid UTF-8, else {"hex": "<lowercase hex>"}.
json EncodeBytes(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  return json{{"hex", ToHex(reinterpret_cast<const uint8_t*>(s.data()), s.size())}};
}

bool DecodeBytes(const json& j, std::string* out) {
  if (j.is_string()) {
    *out = j.get<std::string>();
    return true;
  }
  if (!j.is_object() || j.size() != 1 || !j.contains("hex") || !j.at("hex").is_string()) {
    return false;
  }
  const auto& hex = j.at("hex").get_ref<const std::string&>();
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int a = nibble(hex[i]), b = nibble(hex[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a << 4 | b));
  }
  return true;
}

// Field readers: an absent optional field keeps the default; a present field
// of the wrong type is corruption.
class Reader {
 public:
  explicit Reader(const json& obj) : obj_(obj) {}
  const std::string& error() const { return error_; }

  const json* Get(const char* key, bool required) {
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required) Fail(key, "missing");
      return nullptr;
    }
    return &*it;
  }
  void Bytes(const char* key, bool required, std::string* out) {
    if (const json* j = Get(key, required); j && !DecodeBytes(*j, out)) Fail(key, "not a string");
  }
  void BytesList(const char* key, bool required, std::vector<std::string>* out) {
    const json* j = Get(key, required);
    if (!j) return;
    if (!j->is_array()) return Fail(key, "not an array");
    out->clear();
    for (const json& e : *j) {
      out->emplace_back();
      if (!DecodeBytes(e, &out->back())) return Fail(key, "element not a string");
    }
  }
  void U64(const char* key, bool required, uint64_t* out) {
    const json* j = Get(key, required);
    if (!j) return;
    if (!j->is_number_unsigned()) return Fail(key, "not an unsigned integer");
    *out = j->get<uint64_t>();
  }
  void I64(const char* key, bool required, int64_t* out) {
    const json* j = Get(key, required);
    if (!j) return;
    if (j->is_number_unsigned()) {
      uint64_t v = j->get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Fail(key, "out of range");
      }
      *out = static_cast<int64_t>(v);
    } else if (j->is_number_integer()) {
      *out = j->get<int64_t>();
    } else {
      Fail(key, "not an integer");
    }
  }
  void Double(const char* key, bool required, double* out) {
    const json* j = Get(key, required);
    if (!j) return;
    if (!j->is_number() || !std::isfinite(j->get<double>())) return Fail(key, "not a number");
    *out = j->get<double>();
  }
  void HashHex(const char* key, bool required, Hash* out) {
    const json* j = Get(key, required);
    if (j && (!j->is_string() || !FromHex(j->get_ref<const std::string&>(), out))) {
      Fail(key, "not a 64-digit hex id");
    }
  }
  void Fail(const char* key, const char* what) {
    if (error_.empty()) error_ = std::string("field \"") + key + "\": " + what;
  }

 private:
  const json& obj_;
  std::string error_;
};

}  // namespace

std::string SnapshotToJson(const Snapshot& s) {
  const SnapshotSummary& m = s.summary;
  // A NaN or infinite duration would serialize as null and fail to load.
  double duration = std::isfinite(m.duration_s) ? m.duration_s : 0.0;
  json summary = {{"files", m.files},       {"dirs", m.dirs},
                  {"others", m.others},     {"bytes", m.bytes},
                  {"bytes_added", m.bytes_added}, {"stored_added", m.stored_added},
                  {"skipped", m.skipped},   {"duration_s", duration}};
  json skipped = json::array();
  for (const SkippedEntry& e : s.skipped) {
    skipped.push_back({{"path", EncodeBytes(e.path)}, {"error", EncodeBytes(e.error)}});
  }
  json tags = json::array(), paths = json::array();
  for (const auto& t : s.tags) tags.push_back(EncodeBytes(t));
  for (const auto& p : s.paths) paths.push_back(EncodeBytes(p));
  json j = {
      {"format", s.format},
      {"time", FormatTimeRfc3339Nano(s.time_ns)},
      {"time_ns", s.time_ns},
      {"host", EncodeBytes(s.host)},
      {"username", EncodeBytes(s.username)},
      {"tags", std::move(tags)},
      {"paths", std::move(paths)},
      {"parent", s.has_parent ? json(ToHex(s.parent)) : json(nullptr)},
      {"tree", ToHex(s.tree)},
      {"message", EncodeBytes(s.message)},
      {"summary", std::move(summary)},
      {"skipped", std::move(skipped)},
      {"program_version", EncodeBytes(s.program_version)},
  };
  if (!s.origin.empty()) j["origin"] = EncodeBytes(s.origin);
  return j.dump();
}

Status SnapshotFromJson(const std::string& text, Snapshot* out) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corrupt("snapshot is not valid JSON");
  if (!j.is_object()) return Status::Corrupt("snapshot JSON is not an object");
  Snapshot s;
  Reader r(j);
  int64_t format = 0;
  r.I64("format", true, &format);
  if (r.error().empty()) {
    if (format > 1) {
      return Status::Version("snapshot format " + std::to_string(format) +
                             " is newer than this build understands (1)");
    }
    if (format < 1) r.Fail("format", "out of range");
  }
  s.format = static_cast<int>(format);
  r.I64("time_ns", true, &s.time_ns);
  r.Bytes("host", true, &s.host);
  r.Bytes("username", false, &s.username);
  r.BytesList("tags", false, &s.tags);
  r.BytesList("paths", true, &s.paths);
  if (const json* p = r.Get("parent", false); p && !p->is_null()) {
    s.has_parent = true;
    r.HashHex("parent", true, &s.parent);
  }
  r.HashHex("tree", true, &s.tree);
  r.Bytes("message", false, &s.message);
  if (const json* m = r.Get("summary", false)) {
    if (!m->is_object()) {
      r.Fail("summary", "not an object");
    } else {
      Reader sr(*m);
      SnapshotSummary& sum = s.summary;
      sr.U64("files", false, &sum.files);
      sr.U64("dirs", false, &sum.dirs);
      sr.U64("others", false, &sum.others);
      sr.U64("bytes", false, &sum.bytes);
      sr.U64("bytes_added", false, &sum.bytes_added);
      sr.U64("stored_added", false, &sum.stored_added);
      sr.U64("skipped", false, &sum.skipped);
      sr.Double("duration_s", false, &sum.duration_s);
      if (!sr.error().empty()) r.Fail("summary", sr.error().c_str());
    }
  }
  if (const json* sk = r.Get("skipped", false)) {
    if (!sk->is_array()) r.Fail("skipped", "not an array");
    for (size_t i = 0; sk->is_array() && i < sk->size(); i++) {
      const json& e = (*sk)[i];
      if (!e.is_object()) {
        r.Fail("skipped", "element not an object");
        break;
      }
      Reader er(e);
      SkippedEntry entry;
      er.Bytes("path", true, &entry.path);
      er.Bytes("error", false, &entry.error);
      if (!er.error().empty()) r.Fail("skipped", er.error().c_str());
      s.skipped.push_back(std::move(entry));
    }
  }
  r.Bytes("program_version", false, &s.program_version);
  r.Bytes("origin", false, &s.origin);
  if (!r.error().empty()) return Status::Corrupt("snapshot JSON: " + r.error());
  s.id = out->id;  // not part of the JSON
  *out = std::move(s);
  return Status::OK();
}

namespace {
// Splits ns since the epoch into whole seconds (floor) and the ns remainder.
void SplitNs(int64_t ns, time_t* sec, long* frac) {
  int64_t s = ns / 1000000000, r = ns % 1000000000;
  if (r < 0) {
    s--;
    r += 1000000000;
  }
  *sec = static_cast<time_t>(s);
  *frac = static_cast<long>(r);
}

std::string FormatSeconds(time_t sec) {
  struct tm tm;
  if (!gmtime_r(&sec, &tm)) return "invalid-time";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}
}  // namespace

std::string FormatTimeRfc3339(int64_t time_ns) {
  time_t sec;
  long frac;
  SplitNs(time_ns, &sec, &frac);
  return FormatSeconds(sec) + "Z";
}

std::string FormatTimeRfc3339Nano(int64_t time_ns) {
  time_t sec;
  long frac;
  SplitNs(time_ns, &sec, &frac);
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%09ldZ", frac);
  return FormatSeconds(sec) + buf;
}

}  // namespace kloset
