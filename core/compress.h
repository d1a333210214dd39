// zstd compression of blobs and metadata objects.
// Thread safety: functions are thread-safe (each call uses its own or a
// thread-local context).
#pragma once

#include <string>
#include <string_view>

#include "remotes/status.h"

namespace kloset {

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

// Compresses with zstd at `level`. Returns kNone and leaves *out empty when
// compression would not make the data smaller by at least 1/64, so callers
// store the raw bytes instead.
Compression Compress(std::string_view in, int level, std::string* out);
// Decompresses; `raw_size` is the exact expected size (stored in the index).
// kCorrupt on malformed input or a size mismatch. Never allocates more than
// raw_size bytes, so a hostile size field cannot blow up memory beyond it.
Status Decompress(Compression c, std::string_view in, size_t raw_size, std::string* out);
// For objects whose raw size is not known up front (indexes, snapshots):
// decompresses a zstd frame of at most `limit` bytes of output.
Status DecompressBounded(std::string_view in, size_t limit, std::string* out);

}  // namespace kloset
