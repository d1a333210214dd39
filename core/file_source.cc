// Local file -> FileWriter with holes: see core/file_source.h.
#include "core/file_source.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

namespace kloset {

Status ReadFileInto(int fd, const struct stat& st, FileWriter* w, char* buf, size_t len,
                    const std::function<Status()>& check, ReadFileResult* out) {
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  bool eof = false;
  // Reads [from, to) or up to EOF, whichever comes first.
  auto read_range = [&](uint64_t from, uint64_t to) -> Status {
    while (from < to && !eof && out->err == 0) {
      KLOSET_RETURN_IF_ERROR(check());
      size_t want = static_cast<size_t>(std::min<uint64_t>(len, to - from));
      ssize_t n = pread(fd, buf, want, static_cast<off_t>(from));
      if (n < 0) {
        if (errno != EINTR) out->err = errno;
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      KLOSET_RETURN_IF_ERROR(w->Write(std::string_view(buf, static_cast<size_t>(n))));
      from += static_cast<uint64_t>(n);
      out->bytes_read += static_cast<uint64_t>(n);
    }
    return Status::OK();
  };
  uint64_t off = 0;
  if (static_cast<uint64_t>(st.st_blocks) * 512 < size) {
    while (off < size && !eof && out->err == 0) {
      off_t data = lseek(fd, static_cast<off_t>(off), SEEK_DATA);
      if (data < 0 && errno != ENXIO) {
        if (errno == EINVAL || errno == ENOTSUP) break;  // no hole support: read it all
        out->err = errno;
        return Status::OK();
      }
      // ENXIO: no data from `off` on, a hole up to the end.
      uint64_t start = data < 0 ? size : std::min(static_cast<uint64_t>(data), size);
      if (start > off) KLOSET_RETURN_IF_ERROR(w->WriteHole(start - off));
      off = start;
      if (off >= size) break;
      off_t hole = lseek(fd, data, SEEK_HOLE);
      if (hole < 0) {
        out->err = errno;
        return Status::OK();
      }
      uint64_t end = std::min(static_cast<uint64_t>(hole), size);
      KLOSET_RETURN_IF_ERROR(read_range(off, end));
      off = end;
    }
  }
  // The rest (everything for a dense file), including growth since fstat.
  if (!eof && out->err == 0) KLOSET_RETURN_IF_ERROR(read_range(off, UINT64_MAX));
  return Status::OK();
}

}  // namespace kloset
