#include "cli/output.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace kloset::cli {

namespace {

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 if invalid.
// Rejects overlong forms, surrogates and code points above U+10FFFF.
size_t Utf8SeqLen(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

void AppendHexByte(std::string* out, uint8_t c) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  out->append(buf);
}

std::string LossyUtf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8SeqLen(s, i, &cp);
    if (n == 0) {
      out.append("\xef\xbf\xbd");  // U+FFFD
      i++;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string Base64(std::string_view s) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // drop the NUL terminator
  return out;
}

size_t DisplayWidth(std::string_view s) {
  size_t w = 0;
  for (char c : s) w += (static_cast<uint8_t>(c) & 0xc0) != 0x80;  // count code points
  return w;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8SeqLen(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string EscapeForTerminal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8SeqLen(s, i, &cp);
    if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      for (size_t k = 0; k < std::max<size_t>(n, 1); k++) {
        AppendHexByte(&out, static_cast<uint8_t>(s[i + k]));
      }
      i += std::max<size_t>(n, 1);
    } else if (cp == '\\') {
      out.append("\\\\");
      i++;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void SetJsonBytes(nlohmann::json& obj, const std::string& key, const std::string& value) {
  if (IsValidUtf8(value)) {
    obj[key] = value;
  } else {
    obj[key] = LossyUtf8(value);
    obj[key + "_base64"] = Base64(value);
  }
}

void SetJsonByteList(nlohmann::json& obj, const std::string& key,
                     const std::vector<std::string>& values) {
  nlohmann::json arr = nlohmann::json::array(), raw = nlohmann::json::array();
  bool all_valid = true;
  for (const auto& v : values) {
    bool valid = IsValidUtf8(v);
    all_valid = all_valid && valid;
    arr.push_back(valid ? v : LossyUtf8(v));
    raw.push_back(Base64(v));
  }
  obj[key] = std::move(arr);
  if (!all_valid) obj[key + "_base64"] = std::move(raw);
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string HumanBytes(uint64_t n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string LocalTime(int64_t time_ns) {
  time_t t = static_cast<time_t>(time_ns / 1000000000);
  if (time_ns < 0 && time_ns % 1000000000 != 0) t--;  // floor, not truncate
  struct tm tm {};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

const char* TypeName(NodeType type) {
  switch (type) {
    case NodeType::kFile: return "file";
    case NodeType::kDir: return "dir";
    case NodeType::kSymlink: return "symlink";
    case NodeType::kFifo: return "fifo";
    case NodeType::kSocket: return "socket";
    case NodeType::kCharDev: return "chardev";
    case NodeType::kBlockDev: return "blockdev";
  }
  return "unknown";
}

std::string ModeString(NodeType type, uint32_t mode) {
  static const char kTypeChar[] = "?-dlpscb";
  std::string s(10, '-');
  size_t t = static_cast<size_t>(type);
  s[0] = t < sizeof kTypeChar - 1 ? kTypeChar[t] : '?';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; i++) {
    if (mode & (1u << (8 - i))) s[1 + i] = rwx[i];
  }
  auto special = [&](uint32_t bit, size_t pos, char set) {
    if (mode & bit) s[pos] = s[pos] == 'x' ? set : static_cast<char>(set - 'a' + 'A');
  };
  special(04000, 3, 's');
  special(02000, 6, 's');
  special(01000, 9, 't');
  return s;
}

std::string ShortId(const Hash& id) { return ToHex(id).substr(0, 8); }

nlohmann::json SnapshotJson(const Snapshot& s) {
  nlohmann::json j;
  j["id"] = ToHex(s.id);
  j["short_id"] = ShortId(s.id);
  j["time"] = FormatTimeRfc3339(s.time_ns);
  SetJsonBytes(j, "host", s.host);
  SetJsonBytes(j, "username", s.username);
  SetJsonByteList(j, "tags", s.tags);
  SetJsonByteList(j, "paths", s.paths);
  j["parent"] = s.has_parent ? nlohmann::json(ToHex(s.parent)) : nlohmann::json(nullptr);
  j["tree"] = ToHex(s.tree);
  if (!s.message.empty()) SetJsonBytes(j, "message", s.message);
  const SnapshotSummary& m = s.summary;
  j["summary"] = {{"files", m.files},           {"dirs", m.dirs},
                  {"others", m.others},         {"bytes", m.bytes},
                  {"bytes_added", m.bytes_added}, {"stored_added", m.stored_added},
                  {"skipped", m.skipped},       {"duration_s", m.duration_s}};
  j["program_version"] = s.program_version;
  return j;
}

std::string Table::Render() const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); c++) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); c++) {
      line += row[c];
      if (c + 1 < row.size()) line.append(width[c] - DisplayWidth(row[c]) + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace kloset::cli
