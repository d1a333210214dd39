// DraftJournal: the write-ahead log of the ingest draft (core/draft.h). It is
// the draft's DraftObserver: every DraftOp is encoded, sealed under the local
// key and appended to <dir>/journal with write(2) at once, so a SIGKILL of the
// daemon loses nothing that was reported; a background thread fdatasyncs
// every sync_interval_s while records are unsynced, so a power cut loses at
// most that window (Sync() closes it at once, e.g. for a writer's fsync).
// After a crash, Recover returns the base snapshot and the ops, which the
// caller replays with Draft::Apply on a draft over that base.
//
// Byte layout: docs/FORMAT.md, "Local files: the ingest journal". In short: a
// plaintext header (magic, version, store id, random journal id), then records
// `u32 length || seal(local key, payload, AAD = "kloset.journal" || journal id
// || u64 sequence number)`; record 0 names the base snapshot, records 1.. are
// ops. The sequence number in the AAD makes a dropped, duplicated, reordered
// or foreign record fail to open. Nothing in the file is readable without the
// key (names are secret too).
//
// Durability order: a SetContent op names chunks that sit in the caller's
// pack spool, so they must be durable before the record is. Sync calls the
// before_sync hook (the spool's sync) before fdatasync, and holds off new
// records while the journal's fdatasync runs, so no record can become durable
// ahead of the chunks it names (see Sync).
//
// Thread safety: all methods may be called from any thread. OnOp is called
// under the draft's lock and only does an in-memory encode and one write(2);
// it waits only for an fdatasync of the journal (and the second, short
// before_sync pass) that a concurrent Sync is running.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/draft.h"
#include "remotes/status.h"

namespace kloset {

constexpr uint32_t kJournalVersion = 1;
constexpr size_t kJournalHeaderSize = 56;
// Largest sealed record accepted (a SetContent of a file of many TiB).
constexpr uint32_t kMaxJournalRecord = 1u << 30;

using JournalId = std::array<uint8_t, 16>;

// The store id a journal header holds: the 16-byte store id of `config`
// followed by 16 zero bytes (docs/FORMAT.md). Pass it as store_id below.
inline Hash JournalStoreId(const std::array<uint8_t, 16>& config_store_id) {
  Hash h{};
  std::copy(config_store_id.begin(), config_store_id.end(), h.begin());
  return h;
}

struct JournalContents {
  bool has_base = false;
  Hash base_snapshot{};         // snapshot the draft started from (none = empty draft)
  std::vector<DraftOp> ops;     // in order
  bool truncated_tail = false;  // a torn/unauthenticated tail was dropped
  std::string tail_error;       // why the tail was dropped (for the log), "" if it was not
};

// A point in the journal (DraftJournal::Mark), for Rotate to carry the ops
// appended after it into the new journal.
struct JournalMark {
  JournalId journal_id{};  // the journal it belongs to
  uint64_t seq = 1;        // sequence number of the next record
  uint64_t offset = 0;     // file offset of the next record
  uint64_t dropped = 0;    // ops not recorded so far (after a failure)
};

struct JournalOptions {
  // Background fdatasync period while records are unsynced; 0 = only on Sync().
  double sync_interval_s = 1.0;
  // Tests only: called at the named points of Create and Rotate
  // ("before_rename"); an error returned stops the operation there, as a
  // crash would (the temporary file is left behind).
  std::function<Status(std::string_view point)> test_hook;
};

class DraftJournal : public DraftObserver {
 public:
  // Starts a fresh journal <dir>/journal (dir and missing parents created
  // 0700) for a draft over `base` (null = empty draft), replacing any old one
  // atomically: the new file is written as <dir>/journal.tmp, fsynced,
  // renamed over the old one, and the folder fsynced.
  static Status Create(const std::string& dir, const Key& key, const Hash& store_id,
                       const Hash* base, JournalOptions opts, std::unique_ptr<DraftJournal>* out);
  // Reads <dir>/journal (kNotFound if absent). Records are read until the
  // first one that is torn or fails to authenticate; the file is truncated
  // there (and fsynced), and truncated_tail says so. kCorrupt if the header
  // or the base record is bad, or if a record authenticates but does not
  // decode (a bug, not a crash: the file is then left as is); kVersion for a
  // newer journal version; kInvalidArgument naming both ids for a journal of
  // another store. I/O errors pass through.
  static Status Recover(const std::string& dir, const Key& key, const Hash& store_id,
                        JournalContents* out);
  // Streaming Recover for journals too large to hold as a vector: *out gets
  // everything but ops, its base fields are set before the first on_op call,
  // and each op goes to on_op in order. An error from on_op stops the scan
  // and is returned (the file is then not truncated).
  static Status Recover(const std::string& dir, const Key& key, const Hash& store_id,
                        const std::function<Status(DraftOp&& op)>& on_op, JournalContents* out);
  // Re-opens a journal for appending after its last good record. It scans
  // the file as Recover does (and truncates a bad tail), so it is safe with
  // or without a Recover first. Errors as Recover.
  static Status Append(const std::string& dir, const Key& key, const Hash& store_id,
                       JournalOptions opts, std::unique_ptr<DraftJournal>* out);

  // Stops the background thread and closes the file. Does not sync.
  ~DraftJournal() override;
  DraftJournal(const DraftJournal&) = delete;
  DraftJournal& operator=(const DraftJournal&) = delete;

  // Encodes, seals and write(2)s one record. A failure (ENOSPC, EIO, a
  // record over kMaxJournalRecord) is kept in status(); from then on the
  // journal no longer matches the draft and appends nothing more until a
  // successful Rotate.
  void OnOp(const DraftOp& op) override;
  // Makes every record appended so far durable: calls before_sync (without
  // holding the journal's lock), then, holding it so no record is appended
  // meanwhile, calls before_sync again if a record naming chunks came in
  // during the first call, and fdatasyncs the journal. Returns status() if
  // the journal has failed; a failed fdatasync fails the journal; an error
  // of before_sync is returned as is and does not. OK at once when nothing
  // is unsynced.
  Status Sync();
  // First write or fdatasync error, if any (OK after a successful Rotate).
  Status status() const;
  // The caller's pack-spool sync (see Sync). It may run on the background
  // thread, and it runs while OnOp waits, so it must not call into the draft
  // or the journal. Null (the default) = nothing to sync first.
  void set_before_sync(std::function<Status()> fn);

  // The current end of the journal. Take it together with Draft::Freeze
  // (with no op reported between the two) and pass it to Rotate so ops that
  // reach the draft while a commit uploads are kept.
  JournalMark Mark() const;
  // After a commit: atomically replaces the journal with a fresh one over
  // `snapshot` (new journal id, written and fsynced as in Create). The
  // one-argument form carries nothing over; the other re-records, in order,
  // every op appended after `mark`. On an error before the rename the old
  // journal stays in place and in use; after the rename the new one is in
  // use and the error (a failed folder fsync) is returned. A failed journal
  // (status()) is healed by a Rotate unless an op it could not record came
  // after `mark` (then that status is returned and nothing changes);
  // kInvalidArgument for a mark of another journal.
  Status Rotate(const Hash& snapshot);
  Status Rotate(const Hash& snapshot, const JournalMark& mark);

  // Path of the journal file.
  const std::string& path() const;

  struct Impl;

 private:
  explicit DraftJournal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- Codec (tests, fuzzers) --------------------------------------------------

struct JournalHeader {
  Hash store_id{};
  JournalId journal_id{};
};
// The kJournalHeaderSize header bytes (version kJournalVersion).
std::string EncodeJournalHeader(const JournalHeader& h);
// Decodes the header at the front of `bytes` (trailing bytes are records).
// kCorrupt for a short header, another magic or version 0; kVersion for a
// newer version.
Status DecodeJournalHeader(std::string_view bytes, JournalHeader* h);
// AAD of record `seq` of journal `id`.
std::string JournalAad(const JournalId& id, uint64_t seq);
// Record payloads. Decoders accept exactly one encoding per value (so a
// payload that decodes re-encodes to the same bytes), never read out of
// bounds and never allocate more than the input describes; kCorrupt on
// anything else.
void EncodeJournalBase(const Hash* base, std::string* payload);
void EncodeJournalOp(const DraftOp& op, std::string* payload);
Status DecodeJournalBase(std::string_view payload, bool* has_base, Hash* base);
Status DecodeJournalOp(std::string_view payload, DraftOp* op);
// Parses a whole journal file held in memory, as Recover does, without
// truncating anything. *good_bytes (optional) gets the length of the header
// and good records.
Status ParseJournal(std::string_view file, const Key& key, const Hash& store_id,
                    JournalContents* out, uint64_t* good_bytes = nullptr);

}  // namespace kloset
