// Reading the ingest journal: the record scan shared by Recover, Append and
// Rotate, over a file or (for the fuzzer) memory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "core/draft_journal.h"
#include "core/draft_journal_internal.h"
#include "core/encoding.h"

namespace kloset {

namespace journal_internal {

namespace {
constexpr size_t kReadAhead = 1 << 20;

Status PreadAll(int fd, char* dst, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t r = pread(fd, dst, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "read " + path);
    if (r == 0) return Status::IOError("read " + path + ": file shrank while read");
    dst += r, n -= static_cast<size_t>(r), offset += static_cast<uint64_t>(r);
  }
  return Status::OK();
}
}  // namespace

Status MemorySource::Read(size_t n, std::string* out) {
  out->assign(data_.substr(0, n));
  data_.remove_prefix(n);
  return Status::OK();
}

Status FileSource::Read(size_t n, std::string* out) {
  size_t avail = buf_.size() - pos_;
  size_t from_buf = std::min(n, avail);
  out->assign(buf_, pos_, from_buf);
  pos_ += from_buf;
  size_t need = n - from_buf;
  if (need == 0) return Status::OK();
  if (need >= kReadAhead) {  // big record: straight into *out
    out->resize(n);
    KLOSET_RETURN_IF_ERROR(PreadAll(fd_, out->data() + from_buf, need, offset_, path_));
    offset_ += need;
    return Status::OK();
  }
  buf_.resize(static_cast<size_t>(std::min<uint64_t>(kReadAhead, end_ - offset_)));
  pos_ = 0;
  KLOSET_RETURN_IF_ERROR(PreadAll(fd_, buf_.data(), buf_.size(), offset_, path_));
  offset_ += buf_.size();
  out->append(buf_, 0, need);
  pos_ = need;
  return Status::OK();
}

Status ReadRecords(Source* src, const Key& key, const JournalId& id, uint64_t first_seq,
                   const std::function<Status(uint64_t seq, std::string_view payload)>& fn,
                   ScanEnd* end) {
  *end = ScanEnd();
  uint64_t seq = first_seq;
  std::string buf, payload;
  while (src->Remaining() > 0) {
    if (src->Remaining() < 4) {
      end->tail_error = "record " + std::to_string(seq) + ": torn length";
      break;
    }
    KLOSET_RETURN_IF_ERROR(src->Read(4, &buf));
    std::string_view in(buf);
    uint32_t n;
    (void)GetFixed32(&in, &n);
    if (n <= kSealOverhead || n > kMaxJournalRecord) {
      end->tail_error =
          "record " + std::to_string(seq) + ": length " + std::to_string(n) + " out of range";
      break;
    }
    if (n > src->Remaining()) {
      end->tail_error = "record " + std::to_string(seq) + ": torn (" + std::to_string(n) +
                        " bytes, " + std::to_string(src->Remaining()) + " left)";
      break;
    }
    KLOSET_RETURN_IF_ERROR(src->Read(n, &buf));
    if (!Open(key, buf, JournalAad(id, seq), &payload).ok()) {
      end->tail_error = "record " + std::to_string(seq) + ": does not authenticate";
      break;
    }
    KLOSET_RETURN_IF_ERROR(fn(seq, payload));
    seq++;
    end->good_bytes += 4 + uint64_t{n};
  }
  end->seq = seq;
  end->bad_tail = !end->tail_error.empty();
  return Status::OK();
}

Status ScanJournal(Source* src, const Key& key, const Hash& store_id, const std::string& what,
                   const std::function<Status(DraftOp&&)>& on_op, JournalContents* out,
                   JournalId* id, ScanEnd* end) {
  std::string head;
  uint64_t total = src->Remaining();
  if (src->Remaining() < kJournalHeaderSize) return Status::Corrupt(what + ": header truncated");
  KLOSET_RETURN_IF_ERROR(src->Read(kJournalHeaderSize, &head));
  JournalHeader h;
  KLOSET_RETURN_IF_ERROR(DecodeJournalHeader(head, &h).Annotate(what));
  if (h.store_id != store_id) {
    return Status::InvalidArgument(what + " belongs to another store (store id " +
                                   ToHex(h.store_id) + ", this store is " + ToHex(store_id) + ")");
  }
  *id = h.journal_id;
  bool got_base = false;
  auto record = [&](uint64_t seq, std::string_view payload) -> Status {
    std::string where = what + ": record " + std::to_string(seq) + " authenticates but ";
    if (seq == 0) {
      Status s = DecodeJournalBase(payload, &out->has_base, &out->base_snapshot);
      if (!s.ok()) return Status::Corrupt(where + s.message());
      got_base = true;
      return Status::OK();
    }
    DraftOp op;
    Status s = DecodeJournalOp(payload, &op);
    if (!s.ok()) return Status::Corrupt(where + s.message());
    return on_op(std::move(op));
  };
  KLOSET_RETURN_IF_ERROR(ReadRecords(src, key, *id, 0, record, end));
  if (!got_base) return Status::Corrupt(what + ": base record damaged: " + end->tail_error);
  end->good_bytes += kJournalHeaderSize;
  out->truncated_tail = end->bad_tail;
  if (end->bad_tail) {
    out->tail_error = "dropped " + std::to_string(total - end->good_bytes) + " bytes at offset " +
                      std::to_string(end->good_bytes) + ": " + end->tail_error;
  }
  return Status::OK();
}

}  // namespace journal_internal

using journal_internal::FileSource;
using journal_internal::ScanEnd;

Status ParseJournal(std::string_view file, const Key& key, const Hash& store_id,
                    JournalContents* out, uint64_t* good_bytes) {
  *out = JournalContents();
  journal_internal::MemorySource src(file);
  JournalId id;
  ScanEnd end;
  std::vector<DraftOp> ops;
  auto add = [&](DraftOp&& op) {
    ops.push_back(std::move(op));
    return Status::OK();
  };
  KLOSET_RETURN_IF_ERROR(ScanJournal(&src, key, store_id, "journal", add, out, &id, &end));
  out->ops = std::move(ops);
  if (good_bytes) *good_bytes = end.good_bytes;
  return Status::OK();
}

Status DraftJournal::Recover(const std::string& dir, const Key& key, const Hash& store_id,
                             const std::function<Status(DraftOp&&)>& on_op, JournalContents* out) {
  *out = JournalContents();
  std::string path = dir + "/journal";
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return Status::NotFound("no journal " + path);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  struct stat st;
  Status s;
  if (fstat(fd, &st) != 0) s = Status::FromErrno(errno, "stat " + path);
  JournalId id;
  ScanEnd end;
  if (s.ok()) {
    FileSource src(fd, path, 0, static_cast<uint64_t>(st.st_size));
    s = journal_internal::ScanJournal(&src, key, store_id, path, on_op, out, &id, &end);
  }
  // Cut the bad tail so records appended later follow the last good one.
  if (s.ok() && end.bad_tail &&
      (ftruncate(fd, static_cast<off_t>(end.good_bytes)) != 0 || fsync(fd) != 0)) {
    s = Status::FromErrno(errno, "truncate " + path);
  }
  close(fd);
  return s;
}

Status DraftJournal::Recover(const std::string& dir, const Key& key, const Hash& store_id,
                             JournalContents* out) {
  std::vector<DraftOp> ops;
  auto add = [&](DraftOp&& op) {
    ops.push_back(std::move(op));
    return Status::OK();
  };
  KLOSET_RETURN_IF_ERROR(Recover(dir, key, store_id, add, out));
  out->ops = std::move(ops);
  return Status::OK();
}

}  // namespace kloset
