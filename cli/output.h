// Output formatting shared by the commands: names escaped for terminals,
// byte strings in JSON, sizes, times, mode strings and aligned tables.
//
// Names in a snapshot are arbitrary bytes (anything but '/' and NUL).
//  * Plain output escapes them visibly: bytes below 0x20, 0x7f, invalid
//    UTF-8 and the C1 controls become \xHH, a backslash becomes \\; all else
//    is printed as is. The escaped form is unambiguous.
//  * JSON output stores a valid-UTF-8 string as is. Otherwise the field holds
//    a lossy copy (each invalid byte -> U+FFFD) and a sibling field
//    "<field>_base64" holds the exact bytes (standard base64, with padding),
//    so consumers can round-trip any name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/node.h"
#include "core/snapshot.h"

namespace kloset::cli {

bool IsValidUtf8(std::string_view s);
std::string EscapeForTerminal(std::string_view s);
// Sets obj[key] per the JSON rule above.
void SetJsonBytes(nlohmann::json& obj, const std::string& key, const std::string& value);
// A JSON array of strings, each per the rule above (elements lossy; when any
// is not UTF-8, "<key>_base64" holds them all as base64).
void SetJsonByteList(nlohmann::json& obj, const std::string& key,
                     const std::vector<std::string>& values);
// Serializes compactly; never throws on odd strings (all went through SetJsonBytes).
std::string DumpJson(const nlohmann::json& j, int indent = -1);

// 1.5 KiB, 3.2 MiB ... (binary units, one decimal).
std::string HumanBytes(uint64_t n);
// "2026-11-22 04:17:56" in local time.
std::string LocalTime(int64_t time_ns);
// "drwxr-xr-x", with setuid/setgid/sticky as s/S/t/T.
std::string ModeString(NodeType type, uint32_t mode);
const char* TypeName(NodeType type);  // "file", "dir", "symlink", ...

// The JSON description of a snapshot used by `snapshots --json` and
// `backup --json`.
nlohmann::json SnapshotJson(const Snapshot& s);
std::string ShortId(const Hash& id);

// Columns padded to the widest cell; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace kloset::cli
