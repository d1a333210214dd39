// Internals shared by the journal's reader and writer (not an API).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/draft_journal.h"

namespace kloset::journal_internal {

// Bytes a scan reads from: the journal file or, for the fuzzer, memory.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t Remaining() const = 0;
  // Replaces *out with exactly n <= Remaining() bytes.
  virtual Status Read(size_t n, std::string* out) = 0;
};

class MemorySource : public Source {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  uint64_t Remaining() const override { return data_.size(); }
  Status Read(size_t n, std::string* out) override;

 private:
  std::string_view data_;
};

// Reads the range [offset, end) of an open file with read-ahead. Not owned.
class FileSource : public Source {
 public:
  FileSource(int fd, std::string path, uint64_t offset, uint64_t end)
      : fd_(fd), path_(std::move(path)), offset_(offset), end_(end) {}
  uint64_t Remaining() const override { return end_ - offset_ + (buf_.size() - pos_); }
  Status Read(size_t n, std::string* out) override;

 private:
  int fd_;
  std::string path_;
  uint64_t offset_, end_;  // next file offset not yet in buf_
  std::string buf_;
  size_t pos_ = 0;
};

// Where a scan of records stopped.
struct ScanEnd {
  uint64_t seq = 0;         // sequence number of the next record
  uint64_t good_bytes = 0;  // bytes of good records read
  bool bad_tail = false;    // stopped before the end of the source
  std::string tail_error;   // why
};

// Reads records numbered from `first_seq` until the end of `src` or the first
// record that is torn or does not authenticate, calling fn with each payload.
// Errors: the source's and fn's.
Status ReadRecords(Source* src, const Key& key, const JournalId& id, uint64_t first_seq,
                   const std::function<Status(uint64_t seq, std::string_view payload)>& fn,
                   ScanEnd* end);

// Scans a whole journal: header, base record, ops (to on_op). Fills *out
// except ops, *id with the journal id and *end with where it stopped.
// `what` names the file in messages.
Status ScanJournal(Source* src, const Key& key, const Hash& store_id, const std::string& what,
                   const std::function<Status(DraftOp&&)>& on_op, JournalContents* out,
                   JournalId* id, ScanEnd* end);

// Appends `u32 length || seal(...)` of one record to *out.
void AppendRecord(const Key& key, const JournalId& id, uint64_t seq, std::string_view payload,
                  std::string* out);

// write(2)s all of data; retries short writes and EINTR.
Status WriteAll(int fd, std::string_view data, const std::string& what);

}  // namespace kloset::journal_internal
