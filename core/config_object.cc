#include "core/config_object.h"

#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/encoding.h"

namespace kloset {

namespace {

constexpr char kMagic[8] = {'K', 'L', 'O', 'S', 'E', 'T', 'F', 'S'};
constexpr uint32_t kMinChunk = 64;  // the gear hash window
constexpr uint32_t kMinAvgChunk = 256;
constexpr uint32_t kMinPackSize = 4096;  // small packs are for tests only
constexpr uint32_t kMaxPackSize = 1u << 30;
constexpr int kMinLevel = -7, kMaxLevel = 22;

Status Bad(const std::string& what) {
  return Status::Corrupt("config settings malformed: " + what);
}

// Reads an integer member into *v, refusing wrong types and out-of-range values.
template <typename T>
bool GetInt(const nlohmann::json& j, const char* key, T* v) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned()) {
    uint64_t u = it->template get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    *v = static_cast<T>(u);
    return true;
  }
  int64_t s = it->template get<int64_t>();
  if (s < static_cast<int64_t>(std::numeric_limits<T>::min())) return false;
  if (s > 0 && static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
    return false;
  *v = static_cast<T>(s);
  return true;
}

}  // namespace

Status ValidateChunkerParams(const ChunkerParams& p) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid chunker parameters (min " + std::to_string(p.min_size) +
                                   ", avg " + std::to_string(p.avg_size) + ", max " +
                                   std::to_string(p.max_size) + "): " + why);
  };
  if (p.min_size < kMinChunk) return bad("min must be at least " + std::to_string(kMinChunk));
  if (p.avg_size < kMinAvgChunk) return bad("avg must be at least " + std::to_string(kMinAvgChunk));
  if (!(p.min_size < p.avg_size && p.avg_size < p.max_size)) return bad("need min < avg < max");
  if (!std::has_single_bit(p.avg_size)) return bad("avg must be a power of two");
  if (p.max_size > kMaxBlobSize) return bad("max must be at most " + std::to_string(kMaxBlobSize));
  if (p.normalization > 3) return bad("normalization must be 0..3");
  return Status::OK();
}

Status ValidateStoreSettings(const StoreConfig& c) {
  KLOSET_RETURN_IF_ERROR(ValidateChunkerParams(c.chunker));
  if (c.pack_size < kMinPackSize || c.pack_size > kMaxPackSize) {
    return Status::InvalidArgument("pack size " + std::to_string(c.pack_size) + " out of range (" +
                                   std::to_string(kMinPackSize) + ".." +
                                   std::to_string(kMaxPackSize) + ")");
  }
  if (c.compression_level < kMinLevel || c.compression_level > kMaxLevel) {
    return Status::InvalidArgument("compression level " + std::to_string(c.compression_level) +
                                   " out of range (" + std::to_string(kMinLevel) + ".." +
                                   std::to_string(kMaxLevel) + ")");
  }
  return Status::OK();
}

Status ParseConfigHeader(std::string_view bytes, StoreConfig* c) {
  if (bytes.size() < kConfigHeaderSize || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return Status::Corrupt("not a klosetfs store or config damaged");
  }
  std::string_view in = bytes.substr(8);
  uint32_t version = 0;
  if (!GetFixed32(&in, &version)) return Status::Corrupt("not a klosetfs store or config damaged");
  if (version == 0) return Status::Corrupt("not a klosetfs store or config damaged (version 0)");
  if (version > kFormatVersion) {
    return Status::Version("store format version " + std::to_string(version) +
                           " is newer than this klosetfs understands (" +
                           std::to_string(kFormatVersion) + "); upgrade klosetfs");
  }
  c->version = version;
  std::memcpy(c->store_id.data(), in.data(), c->store_id.size());
  return Status::OK();
}

std::string EncodeConfigSettings(const StoreConfig& c) {
  nlohmann::json j = {
      {"chunker",
       {{"min", c.chunker.min_size},
        {"avg", c.chunker.avg_size},
        {"max", c.chunker.max_size},
        {"normalization", c.chunker.normalization}}},
      {"pack_size", c.pack_size},
      {"compression_level", c.compression_level},
      {"created_ns", c.created_ns},
  };
  return j.dump();
}

Status DecodeConfigSettings(std::string_view json, StoreConfig* c) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  auto ch = j.find("chunker");
  if (ch == j.end() || !ch->is_object()) return Bad("no chunker settings");
  StoreConfig out = *c;
  if (!GetInt(*ch, "min", &out.chunker.min_size) || !GetInt(*ch, "avg", &out.chunker.avg_size) ||
      !GetInt(*ch, "max", &out.chunker.max_size) ||
      !GetInt(*ch, "normalization", &out.chunker.normalization)) {
    return Bad("chunker settings missing or not integers");
  }
  if (!GetInt(j, "pack_size", &out.pack_size)) return Bad("pack_size missing");
  if (!GetInt(j, "compression_level", &out.compression_level)) {
    return Bad("compression_level missing");
  }
  if (!GetInt(j, "created_ns", &out.created_ns)) return Bad("created_ns missing");
  Status s = ValidateStoreSettings(out);
  if (!s.ok()) return Bad(s.message());
  *c = out;
  return Status::OK();
}

std::string EncodeConfig(const StoreConfig& c, const Key& data_key) {
  std::string out(kMagic, 8);
  PutFixed32(&out, c.version);
  out.append(reinterpret_cast<const char*>(c.store_id.data()), c.store_id.size());
  std::string header = out;
  Seal(data_key, EncodeConfigSettings(c), header, &out);
  return out;
}

Status DecodeConfig(std::string_view bytes, const Key& data_key, StoreConfig* c) {
  StoreConfig out;
  KLOSET_RETURN_IF_ERROR(ParseConfigHeader(bytes, &out));
  std::string json;
  Status s =
      Open(data_key, bytes.substr(kConfigHeaderSize), bytes.substr(0, kConfigHeaderSize), &json);
  if (!s.ok()) return Status::Corrupt("config settings do not authenticate");
  KLOSET_RETURN_IF_ERROR(DecodeConfigSettings(json, &out));
  *c = out;
  return Status::OK();
}

}  // namespace kloset
