#include "core/compress.h"

#include <zstd.h>

#include <memory>

namespace kloset {

namespace {
struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};
// One context per thread: creating contexts per call costs more than
// compressing a small tree page.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}
}  // namespace

Compression Compress(std::string_view in, int level, std::string* out) {
  out->clear();
  if (in.empty()) return Compression::kNone;
  // Accept only output that saves at least 1/64: anything less is not worth
  // the decompression on every read.
  size_t limit = in.size() - in.size() / 64;
  out->resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out->data(), out->size(), in.data(), in.size(), level);
  if (ZSTD_isError(n) || n >= limit) {
    out->clear();
    return Compression::kNone;
  }
  out->resize(n);
  return Compression::kZstd;
}

Status Decompress(Compression c, std::string_view in, size_t raw_size, std::string* out) {
  if (c == Compression::kNone) {
    if (in.size() != raw_size) return Status::Corrupt("stored size does not match raw size");
    out->assign(in.data(), in.size());
    return Status::OK();
  }
  if (c != Compression::kZstd) return Status::Corrupt("unknown compression type");
  out->resize(raw_size);
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out->data(), raw_size, in.data(), in.size());
  if (ZSTD_isError(n) || n != raw_size) {
    out->clear();
    return Status::Corrupt("zstd frame is damaged or has the wrong size");
  }
  return Status::OK();
}

Status DecompressBounded(std::string_view in, size_t limit, std::string* out) {
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return Status::Corrupt("not a zstd frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN) {
    if (declared > limit) return Status::Corrupt("zstd frame larger than allowed");
    return Decompress(Compression::kZstd, in, static_cast<size_t>(declared), out);
  }
  // Streaming decode with a hard cap for frames that do not declare a size.
  out->clear();
  ZSTD_DCtx* d = ThreadDCtx();
  ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  size_t ret = 1;
  while (ret != 0) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    ret = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(ret)) return Status::Corrupt("zstd frame is damaged");
    if (out->size() + ob.pos > limit) return Status::Corrupt("zstd frame larger than allowed");
    out->append(buf.data(), ob.pos);
    if (ret != 0 && ib.pos == ib.size && ob.pos < ob.size) {
      return Status::Corrupt("zstd frame is truncated");
    }
  }
  return Status::OK();
}

}  // namespace kloset
