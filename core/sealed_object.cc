#include "core/sealed_object.h"

#include "core/compress.h"

namespace kloset {

void SealObject(const Key& data_key, std::string_view label, std::string_view body, int level,
                std::string* out) {
  std::string compressed;
  Compression c = Compress(body, level, &compressed);
  std::string payload;
  payload.reserve(1 + (c == Compression::kZstd ? compressed.size() : body.size()));
  payload.push_back(static_cast<char>(c));
  payload.append(c == Compression::kZstd ? std::string_view(compressed) : body);
  Seal(data_key, payload, label, out);
}

Status DecodeObjectPayload(std::string_view payload, std::string* body) {
  if (payload.empty()) return Status::Corrupt("empty object payload");
  uint8_t c = static_cast<uint8_t>(payload[0]);
  payload.remove_prefix(1);
  switch (c) {
    case static_cast<uint8_t>(Compression::kNone):
      if (payload.size() > kMaxObjectBody) return Status::Corrupt("object too large");
      body->assign(payload.data(), payload.size());
      return Status::OK();
    case static_cast<uint8_t>(Compression::kZstd):
      return DecompressBounded(payload, kMaxObjectBody, body);
    default:
      return Status::Corrupt("unknown object compression " + std::to_string(c));
  }
}

Status OpenObject(const Key& data_key, std::string_view label, std::string_view sealed,
                  std::string* body) {
  std::string payload;
  if (!Open(data_key, sealed, label, &payload).ok()) {
    return Status::Corrupt("does not authenticate as " + std::string(label));
  }
  return DecodeObjectPayload(payload, body);
}

}  // namespace kloset
