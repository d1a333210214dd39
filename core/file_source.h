// Reading one local file into a FileWriter, for the archiver: holes found
// with SEEK_DATA/SEEK_HOLE become FileWriter::WriteHole (so sparse files stay
// sparse in the store and are not read), data is read with pread in large
// pieces.
//
// Thread safety: reentrant; one call uses one fd, buffer and writer.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>

#include "core/file_io.h"
#include "remotes/status.h"

namespace kloset {

struct ReadFileResult {
  int err = 0;              // errno of a failed read/lseek; 0 if the whole file was read
  uint64_t bytes_read = 0;  // data bytes read (holes not counted)
};

// Reads the open regular file `fd`, whose fstat is `st`, into `w`, using
// buf[0, len) for reads. Holes are looked for only when st_blocks says the
// file is sparse; without SEEK_DATA support the whole file is read. Reads
// past st.st_size to EOF, so growth is stored (the caller detects it).
// `check` is called before each read: a non-OK status stops the read and
// is returned (cancellation). Store errors from `w` are returned; local read
// errors go to out->err with OK returned.
Status ReadFileInto(int fd, const struct stat& st, FileWriter* w, char* buf, size_t len,
                    const std::function<Status()>& check, ReadFileResult* out);

}  // namespace kloset
