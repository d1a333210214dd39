// Writing the ingest journal: Create, Append, OnOp, Sync (and its background
// thread) and Rotate. Reading is in draft_journal_read.cc.
#include "core/draft_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "core/draft_journal_internal.h"
#include "core/encoding.h"

namespace kloset {

using journal_internal::AppendRecord;
using journal_internal::FileSource;
using journal_internal::ScanEnd;
using journal_internal::WriteAll;

namespace journal_internal {

void AppendRecord(const Key& key, const JournalId& id, uint64_t seq, std::string_view payload,
                  std::string* out) {
  size_t at = out->size();
  PutFixed32(out, 0);
  Seal(key, payload, JournalAad(id, seq), out);
  std::string len;
  PutFixed32(&len, static_cast<uint32_t>(out->size() - at - 4));
  out->replace(at, 4, len);
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "write " + what);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

}  // namespace journal_internal

namespace {

// mkdir -p; folders it makes get mode 0700.
Status MakeDirs(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::OK();
  if (errno != ENOENT) return Status::FromErrno(errno, "mkdir " + dir);
  size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return Status::FromErrno(ENOENT, "mkdir " + dir);
  KLOSET_RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::OK();
  return Status::FromErrno(errno, "mkdir " + dir);
}

Status FsyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + dir);
  int r = fsync(fd);
  int err = errno;
  close(fd);
  return r == 0 ? Status::OK() : Status::FromErrno(err, "fsync " + dir);
}

bool NamesChunks(const DraftOp& op) {
  return std::any_of(op.node.chunks.begin(), op.node.chunks.end(),
                     [](const ChunkRef& c) { return !c.is_hole; });
}

// A journal file just written and renamed into place.
struct Fresh {
  int fd = -1;
  JournalId id{};
  uint64_t seq = 1, offset = 0;
};

// Re-seals records into a fresh journal: appends to *buf (flushing it to fd
// as it grows) and advances *seq.
using CarryFn = std::function<Status(int fd, const JournalId& id, std::string* buf, uint64_t* seq)>;

// Writes <dir>/journal.tmp (header, base record, carried records), fsyncs it,
// renames it over <dir>/journal and fsyncs the folder. *renamed tells whether
// the rename happened (then out->fd is open even if an error is returned).
Status WriteFresh(const std::string& dir, const Key& key, const Hash& store_id, const Hash* base,
                  const JournalOptions& opts, const CarryFn& carry, Fresh* out, bool* renamed) {
  *renamed = false;
  KLOSET_RETURN_IF_ERROR(MakeDirs(dir));
  std::string tmp = dir + "/journal.tmp", path = dir + "/journal";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  JournalHeader h;
  h.store_id = store_id;
  RandomBytes(h.journal_id.data(), h.journal_id.size());
  std::string buf = EncodeJournalHeader(h), payload;
  EncodeJournalBase(base, &payload);
  AppendRecord(key, h.journal_id, 0, payload, &buf);
  uint64_t seq = 1;
  Status s;
  if (carry) s = carry(fd, h.journal_id, &buf, &seq);
  if (s.ok()) s = WriteAll(fd, buf, tmp);
  off_t end = s.ok() ? lseek(fd, 0, SEEK_CUR) : 0;
  if (s.ok() && (end < 0 || fsync(fd) != 0)) s = Status::FromErrno(errno, "fsync " + tmp);
  if (s.ok() && opts.test_hook) {
    s = opts.test_hook("before_rename");
    if (!s.ok()) {  // a simulated crash: leave the temporary file behind
      close(fd);
      return s;
    }
  }
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "rename " + tmp + " to " + path);
  }
  if (!s.ok()) {
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  *renamed = true;
  *out = Fresh{fd, h.journal_id, seq, static_cast<uint64_t>(end)};
  return FsyncDir(dir);
}

}  // namespace

struct DraftJournal::Impl {
  std::string dir, path;
  Key key{};
  Hash store_id{};
  JournalOptions opts;

  mutable std::mutex mu;  // guards what follows; held across a record's write(2)
  int fd = -1;
  JournalId id{};
  uint64_t seq = 1;            // number of the next record
  uint64_t offset = 0;         // end of the last good record
  uint64_t synced_seq = 1;     // records below it are durable
  uint64_t chunk_records = 0;  // records naming chunks so far (Sync's second pass)
  uint64_t dropped = 0;        // ops not recorded after a failure
  Status status;
  std::function<Status()> before_sync;
  std::string payload, record;  // reused buffers

  std::mutex sync_mu;  // serializes Sync and Rotate, so fd outlives an fdatasync
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;

  ~Impl() {
    if (fd >= 0) close(fd);
    Wipe(key.data(), key.size());
  }

  void Adopt(const Fresh& f) {
    if (fd >= 0) close(fd);
    fd = f.fd, id = f.id, seq = f.seq, offset = f.offset, synced_seq = f.seq;
    chunk_records = 0;
  }

  void Run(DraftJournal* j) {
    auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(opts.sync_interval_s));
    std::unique_lock l(mu);
    while (!stop) {
      cv.wait_for(l, period, [&] { return stop; });
      if (stop || seq == synced_seq || !status.ok()) continue;
      l.unlock();
      (void)j->Sync();  // a failed fdatasync stays in status; before_sync is retried
      l.lock();
    }
  }
};

DraftJournal::DraftJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  if (impl_->opts.sync_interval_s > 0) impl_->thread = std::thread([this] { impl_->Run(this); });
}

DraftJournal::~DraftJournal() {
  {
    std::lock_guard l(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status DraftJournal::Create(const std::string& dir, const Key& key, const Hash& store_id,
                            const Hash* base, JournalOptions opts,
                            std::unique_ptr<DraftJournal>* out) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir, impl->path = dir + "/journal";
  impl->key = key, impl->store_id = store_id, impl->opts = std::move(opts);
  Fresh f;
  bool renamed;
  Status s = WriteFresh(dir, key, store_id, base, impl->opts, nullptr, &f, &renamed);
  if (renamed) impl->Adopt(f);
  if (!s.ok()) return s;
  out->reset(new DraftJournal(std::move(impl)));
  return Status::OK();
}

Status DraftJournal::Append(const std::string& dir, const Key& key, const Hash& store_id,
                            JournalOptions opts, std::unique_ptr<DraftJournal>* out) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir, impl->path = dir + "/journal";
  impl->key = key, impl->store_id = store_id, impl->opts = std::move(opts);
  const std::string& path = impl->path;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return Status::NotFound("no journal " + path);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  impl->fd = fd;  // ~Impl closes it on the error paths below
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + path);
  FileSource src(fd, path, 0, static_cast<uint64_t>(st.st_size));
  JournalContents contents;
  ScanEnd end;
  auto skip = [](DraftOp&&) { return Status::OK(); };
  Status s =
      journal_internal::ScanJournal(&src, key, store_id, path, skip, &contents, &impl->id, &end);
  if (!s.ok()) return s;
  // Truncate a bad tail, and make what a killed writer left durable now.
  if ((end.bad_tail && ftruncate(fd, static_cast<off_t>(end.good_bytes)) != 0) ||
      fdatasync(fd) != 0 || lseek(fd, static_cast<off_t>(end.good_bytes), SEEK_SET) < 0) {
    return Status::FromErrno(errno, "truncate " + path);
  }
  impl->seq = impl->synced_seq = end.seq;
  impl->offset = end.good_bytes;
  out->reset(new DraftJournal(std::move(impl)));
  return Status::OK();
}

void DraftJournal::OnOp(const DraftOp& op) {
  Impl& m = *impl_;
  std::lock_guard l(m.mu);
  if (!m.status.ok()) {
    m.dropped++;
    return;
  }
  m.payload.clear();
  m.record.clear();
  EncodeJournalOp(op, &m.payload);
  if (m.payload.size() + kSealOverhead > kMaxJournalRecord) {
    m.status = Status::InvalidArgument(m.path + ": op on " + op.path + " too large to journal");
  } else {
    AppendRecord(m.key, m.id, m.seq, m.payload, &m.record);
    m.status = WriteAll(m.fd, m.record, m.path);
  }
  if (!m.status.ok()) {
    m.dropped++;
    return;
  }
  m.seq++;
  m.offset += m.record.size();
  if (NamesChunks(op)) m.chunk_records++;
}

Status DraftJournal::Sync() {
  Impl& m = *impl_;
  std::lock_guard sl(m.sync_mu);
  uint64_t target, chunk_mark;
  std::function<Status()> before_sync;
  {
    std::lock_guard l(m.mu);
    if (!m.status.ok()) return m.status;
    if (m.seq == m.synced_seq) return Status::OK();
    target = m.seq, chunk_mark = m.chunk_records, before_sync = m.before_sync;
  }
  // The bulk of the spool sync runs without blocking OnOp.
  if (before_sync) KLOSET_RETURN_IF_ERROR(before_sync());
  std::unique_lock l(m.mu);
  if (!m.status.ok()) return m.status;
  int r;
  if (before_sync) {
    // Records appended during the first pass may name chunks it missed; and
    // none may be appended during the fdatasync, which would make them
    // durable ahead of their chunks.
    if (m.chunk_records != chunk_mark) KLOSET_RETURN_IF_ERROR(before_sync());
    target = m.seq;
    r = fdatasync(m.fd);
  } else {
    int fd = m.fd;  // stable: only Rotate changes it, and it takes sync_mu
    l.unlock();
    r = fdatasync(fd);
    l.lock();
  }
  if (r != 0) {
    if (m.status.ok()) m.status = Status::FromErrno(errno, "fdatasync " + m.path);
    return m.status;
  }
  m.synced_seq = std::max(m.synced_seq, target);
  return Status::OK();
}

Status DraftJournal::status() const {
  std::lock_guard l(impl_->mu);
  return impl_->status;
}

void DraftJournal::set_before_sync(std::function<Status()> fn) {
  std::lock_guard l(impl_->mu);
  impl_->before_sync = std::move(fn);
}

JournalMark DraftJournal::Mark() const {
  std::lock_guard l(impl_->mu);
  return JournalMark{impl_->id, impl_->seq, impl_->offset, impl_->dropped};
}

Status DraftJournal::Rotate(const Hash& snapshot) {
  JournalMark end;
  {
    std::lock_guard l(impl_->mu);
    end = JournalMark{impl_->id, impl_->seq, impl_->offset, impl_->dropped};
  }
  return Rotate(snapshot, end);
}

Status DraftJournal::Rotate(const Hash& snapshot, const JournalMark& mark) {
  Impl& m = *impl_;
  std::lock_guard sl(m.sync_mu);
  std::lock_guard l(m.mu);
  if (mark.journal_id != m.id || mark.seq > m.seq || mark.offset > m.offset || mark.seq == 0) {
    return Status::InvalidArgument(m.path + ": rotate with a mark of another journal");
  }
  if (!m.status.ok() && m.dropped != mark.dropped) return m.status;
  // Carried records may name chunks: they must be durable before the new file is.
  if (mark.seq < m.seq && m.before_sync) KLOSET_RETURN_IF_ERROR(m.before_sync());
  CarryFn carry = [&](int fd, const JournalId& id, std::string* buf, uint64_t* seq) {
    FileSource src(m.fd, m.path, mark.offset, m.offset);
    ScanEnd end;
    auto reseal = [&](uint64_t, std::string_view payload) {
      AppendRecord(m.key, id, (*seq)++, payload, buf);
      if (buf->size() < (1 << 20)) return Status::OK();
      Status s = WriteAll(fd, *buf, m.dir + "/journal.tmp");
      buf->clear();
      return s;
    };
    KLOSET_RETURN_IF_ERROR(
        journal_internal::ReadRecords(&src, m.key, m.id, mark.seq, reseal, &end));
    if (end.bad_tail || end.seq != m.seq) {
      return Status::Corrupt(m.path + ": cannot re-read own records: " + end.tail_error);
    }
    return Status::OK();
  };
  Fresh f;
  bool renamed;
  Status s = WriteFresh(m.dir, m.key, m.store_id, &snapshot, m.opts,
                        mark.seq < m.seq ? carry : nullptr, &f, &renamed);
  if (!renamed) return s;
  m.Adopt(f);
  m.status = Status::OK();
  m.dropped = 0;
  return s;
}

const std::string& DraftJournal::path() const { return impl_->path; }

}  // namespace kloset
