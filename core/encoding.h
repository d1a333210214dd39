// Byte encoding helpers for the store format (docs/FORMAT.md): little-endian
// fixed-width integers, unsigned LEB128 varints, zigzag svarints,
// length-prefixed strings and 32-byte hashes.
//
// Put* functions append to *dst. Get* functions decode from the front of
// *in and advance it past the consumed bytes; they return false (leaving *in
// and the output unspecified) when the input is truncated or malformed. They
// never read past the end of *in and never allocate more than the input
// holds, so they are safe on hostile bytes.
//
// Varints are canonical: GetVarint rejects encodings longer than needed
// (a trailing 0x00 group) and values above 64 bits, so every value has one
// encoding and decode-then-encode reproduces the input exactly.
//
// Thread safety: all functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto.h"

namespace kloset {

constexpr size_t kMaxVarintBytes = 10;

void PutU8(std::string* dst, uint8_t v);
void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutVarint(std::string* dst, uint64_t v);
void PutSvarint(std::string* dst, int64_t v);
// varint length || bytes.
void PutStr(std::string* dst, std::string_view s);
void PutHash(std::string* dst, const Hash& h);

bool GetU8(std::string_view* in, uint8_t* v);
bool GetFixed32(std::string_view* in, uint32_t* v);
bool GetFixed64(std::string_view* in, uint64_t* v);
bool GetVarint(std::string_view* in, uint64_t* v);
// A varint that must fit in 32 bits.
bool GetVarint32(std::string_view* in, uint32_t* v);
bool GetSvarint(std::string_view* in, int64_t* v);
// *out points into the input buffer (no copy).
bool GetStr(std::string_view* in, std::string_view* out);
bool GetStr(std::string_view* in, std::string* out);
bool GetHash(std::string_view* in, Hash* h);

// Number of bytes PutVarint would append for v.
size_t VarintLength(uint64_t v);

}  // namespace kloset
