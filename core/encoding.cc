#include "core/encoding.h"

#include <cstring>

namespace kloset {

void PutU8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }

void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; i++) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 4);
}

void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; i++) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 8);
}

void PutVarint(std::string* dst, uint64_t v) {
  char b[kMaxVarintBytes];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  dst->append(b, n);
}

void PutSvarint(std::string* dst, int64_t v) {
  // Zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... so small magnitudes stay short.
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  PutVarint(dst, u);
}

void PutStr(std::string* dst, std::string_view s) {
  PutVarint(dst, s.size());
  dst->append(s.data(), s.size());
}

void PutHash(std::string* dst, const Hash& h) {
  dst->append(reinterpret_cast<const char*>(h.data()), h.size());
}

bool GetU8(std::string_view* in, uint8_t* v) {
  if (in->empty()) return false;
  *v = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}

bool GetFixed32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) r |= static_cast<uint32_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  *v = r;
  in->remove_prefix(4);
  return true;
}

bool GetFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  *v = r;
  in->remove_prefix(8);
  return true;
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  size_t limit = in->size() < kMaxVarintBytes ? in->size() : kMaxVarintBytes;
  for (size_t i = 0; i < limit; i++) {
    uint8_t b = static_cast<uint8_t>((*in)[i]);
    // The 10th byte may only carry the top bit of a 64-bit value.
    if (i == kMaxVarintBytes - 1 && b > 1) return false;
    r |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return false;  // non-canonical: trailing zero group
      *v = r;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;  // truncated or longer than 10 bytes
}

bool GetVarint32(std::string_view* in, uint32_t* v) {
  uint64_t r;
  if (!GetVarint(in, &r) || r > UINT32_MAX) return false;
  *v = static_cast<uint32_t>(r);
  return true;
}

bool GetSvarint(std::string_view* in, int64_t* v) {
  uint64_t u;
  if (!GetVarint(in, &u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool GetStr(std::string_view* in, std::string_view* out) {
  uint64_t len;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  *out = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

bool GetStr(std::string_view* in, std::string* out) {
  std::string_view s;
  if (!GetStr(in, &s)) return false;
  out->assign(s.data(), s.size());
  return true;
}

bool GetHash(std::string_view* in, Hash* h) {
  if (in->size() < h->size()) return false;
  std::memcpy(h->data(), in->data(), h->size());
  in->remove_prefix(h->size());
  return true;
}

size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

}  // namespace kloset
