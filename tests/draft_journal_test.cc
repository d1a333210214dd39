#include "core/draft_journal.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fuzz/fuzz_keys.h"
#include "tests/draft_journal_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using kloset::testing::ReadFile;
using kloset::testing::TempDir;
using kloset::testing::WriteFile;

namespace {

using journal_test::FullOp;
using journal_test::OpsEqual;
using journal_test::SameOp;
using journal_test::SampleOps;

Hash RandomHash() {
  Hash h;
  RandomBytes(h.data(), h.size());
  return h;
}

struct Fixture {
  Fixture() { REQUIRE(InitCrypto()); }
  TempDir tmp;
  std::string dir = tmp / "cache/journal-dir";
  Key key = RandomKey();
  Hash store = RandomHash();
  Hash base = RandomHash();
  JournalOptions no_thread{0, nullptr};

  std::unique_ptr<DraftJournal> CreateWith(const std::vector<DraftOp>& ops) {
    std::unique_ptr<DraftJournal> j;
    REQUIRE(DraftJournal::Create(dir, key, store, &base, no_thread, &j).ok());
    for (const DraftOp& op : ops) j->OnOp(op);
    REQUIRE(j->status().ok());
    return j;
  }
  JournalContents MustRecover() {
    JournalContents c;
    Status s = DraftJournal::Recover(dir, key, store, &c);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return c;
  }
  std::string file() const { return dir + "/journal"; }
};

// Offsets where each record starts (record 0 = base), and the file size last.
std::vector<size_t> RecordOffsets(const std::string& bytes) {
  std::vector<size_t> at;
  size_t off = kJournalHeaderSize;
  while (off + 4 <= bytes.size()) {
    at.push_back(off);
    uint32_t n;
    std::memcpy(&n, bytes.data() + off, 4);
    off += 4 + n;
  }
  at.push_back(bytes.size());
  return at;
}

}  // namespace

TEST_CASE("op payload codec round trips every kind with every field", "[journal]") {
  REQUIRE(InitCrypto());
  std::vector<DraftOp> ops = SampleOps();
  for (int k = 1; k <= 9; k++) {
    ops.push_back(FullOp(static_cast<DraftOp::Kind>(k)));
    DraftOp bare;
    bare.kind = static_cast<DraftOp::Kind>(k);
    ops.push_back(bare);
  }
  for (const DraftOp& op : ops) {
    std::string payload;
    EncodeJournalOp(op, &payload);
    DraftOp back;
    Status s = DecodeJournalOp(payload, &back);
    INFO("kind " << static_cast<int>(op.kind) << ": " << s.ToString());
    REQUIRE(s.ok());
    CHECK(SameOp(back, op));
    std::string again;
    EncodeJournalOp(back, &again);
    CHECK(again == payload);
    // Every strict prefix and any trailing byte are refused.
    for (size_t cut = 0; cut < payload.size(); cut++) {
      CHECK_FALSE(DecodeJournalOp(payload.substr(0, cut), &back).ok());
    }
    CHECK(DecodeJournalOp(payload + '\0', &back).IsCorrupt());
  }
  // Non-canonical forms: a present field holding its default, unknown bits and values.
  std::string p = {2, 3, 1, 0};  // kUnlink, path present but empty
  DraftOp back;
  CHECK(DecodeJournalOp(p, &back).IsCorrupt());
  CHECK(DecodeJournalOp(std::string{2, 3, 0}, &back).ok());
  CHECK(DecodeJournalOp(std::string{2, 10, 0}, &back).IsCorrupt());  // unknown kind
  CHECK(DecodeJournalOp(std::string{2, 0, 0}, &back).IsCorrupt());
  CHECK(DecodeJournalOp(std::string("\x02\x03\x80\x08", 4), &back).IsCorrupt());      // bit 10
  CHECK(DecodeJournalOp(std::string("\x02\x08\x80\x02\x03", 5), &back).IsCorrupt());  // mode 3
  CHECK(DecodeJournalOp(std::string("\x02\x06\x10\x00", 4), &back).IsCorrupt());  // no attr bits
  CHECK(DecodeJournalOp(std::string{1, 0}, &back).IsCorrupt());                   // a base record

  Hash h = RandomHash(), out;
  bool has;
  for (const Hash* b : std::vector<const Hash*>{nullptr, &h}) {
    std::string payload;
    EncodeJournalBase(b, &payload);
    REQUIRE(DecodeJournalBase(payload, &has, &out).ok());
    CHECK(has == (b != nullptr));
    if (b) CHECK(out == h);
    CHECK(DecodeJournalBase(payload + '\0', &has, &out).IsCorrupt());
    CHECK(DecodeJournalBase(payload.substr(0, payload.size() - 1), &has, &out).IsCorrupt());
  }
  CHECK(DecodeJournalBase(std::string{1, 2}, &has, &out).IsCorrupt());
}

TEST_CASE("create, append and recover a journal", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  JournalContents c;
  CHECK(DraftJournal::Recover(f.dir, f.key, f.store, &c).IsNotFound());
  std::unique_ptr<DraftJournal> j;
  CHECK(DraftJournal::Append(f.dir, f.key, f.store, f.no_thread, &j).IsNotFound());

  j = f.CreateWith(ops);
  REQUIRE(j->Sync().ok());
  struct stat st;
  REQUIRE(stat(f.dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(stat(f.file().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Sealed: no name appears in the file.
  std::string bytes = ReadFile(f.file());
  CHECK(bytes.find("docs") == std::string::npos);
  CHECK(bytes.substr(0, 4) == "KLJR");

  c = f.MustRecover();
  CHECK(c.has_base);
  CHECK(c.base_snapshot == f.base);
  CHECK_FALSE(c.truncated_tail);
  CHECK(OpsEqual(c.ops, ops));

  // Append after recovery continues the sequence.
  j.reset();
  REQUIRE(DraftJournal::Append(f.dir, f.key, f.store, f.no_thread, &j).ok());
  j->OnOp(ops[0]);
  REQUIRE(j->Sync().ok());
  c = f.MustRecover();
  std::vector<DraftOp> want = ops;
  want.push_back(ops[0]);
  CHECK(OpsEqual(c.ops, want));

  // A draft over no snapshot.
  j.reset();
  REQUIRE(DraftJournal::Create(f.dir, f.key, f.store, nullptr, f.no_thread, &j).ok());
  c = f.MustRecover();
  CHECK_FALSE(c.has_base);
  CHECK(c.ops.empty());

  // Streaming form: base known before the first op; an error from on_op stops.
  j->OnOp(ops[0]);
  j->OnOp(ops[1]);
  int n = 0;
  Status s = DraftJournal::Recover(
      f.dir, f.key, f.store,
      [&](DraftOp&&) { return ++n == 2 ? Status::Cancelled("stop") : Status::OK(); }, &c);
  CHECK(s.code() == Code::kCancelled);
  CHECK(n == 2);
}

TEST_CASE("a torn tail is dropped at every byte offset of the last record", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  f.CreateWith(ops).reset();
  std::string bytes = ReadFile(f.file());
  std::vector<size_t> at = RecordOffsets(bytes);
  REQUIRE(at.size() == ops.size() + 2);
  size_t last = at[at.size() - 2];
  std::vector<DraftOp> kept(ops.begin(), ops.end() - 1);
  for (size_t cut = last; cut < bytes.size(); cut++) {
    WriteFile(f.file(), bytes.substr(0, cut));
    JournalContents c = f.MustRecover();
    INFO("cut at " << cut);
    CHECK(c.truncated_tail == (cut > last));
    CHECK(OpsEqual(c.ops, kept));
    CHECK(std::filesystem::file_size(f.file()) == last);
  }
  // After the cut, appending continues from the last good record.
  WriteFile(f.file(), bytes.substr(0, bytes.size() - 3));
  std::unique_ptr<DraftJournal> j;
  REQUIRE(DraftJournal::Append(f.dir, f.key, f.store, f.no_thread, &j).ok());
  j->OnOp(ops.back());
  JournalContents c = f.MustRecover();
  CHECK_FALSE(c.truncated_tail);
  CHECK(OpsEqual(c.ops, ops));
  // A file cut inside the header or the base record is not a journal.
  for (size_t cut : {size_t{0}, size_t{10}, kJournalHeaderSize, at[1] - 1}) {
    WriteFile(f.file(), bytes.substr(0, cut));
    CHECK(DraftJournal::Recover(f.dir, f.key, f.store, &c).IsCorrupt());
  }
}

TEST_CASE("a flipped byte stops recovery at its record", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  f.CreateWith(ops).reset();
  const std::string bytes = ReadFile(f.file());
  std::vector<size_t> at = RecordOffsets(bytes);
  for (size_t r = 1; r + 1 < at.size(); r++) {
    // Length field, nonce, ciphertext, tag.
    for (size_t pos : {at[r], at[r] + 3, at[r] + 4, at[r] + 30, at[r + 1] - 1}) {
      std::string bad = bytes;
      bad[pos] ^= 0x10;
      WriteFile(f.file(), bad);
      JournalContents c = f.MustRecover();
      INFO("record " << r << " byte " << pos);
      CHECK(c.truncated_tail);
      CHECK_FALSE(c.tail_error.empty());
      CHECK(OpsEqual(c.ops, std::vector<DraftOp>(ops.begin(), ops.begin() + (r - 1))));
    }
  }
  JournalContents c;
  auto with_flip = [&](size_t pos) {
    std::string bad = bytes;
    bad[pos] ^= 1;
    WriteFile(f.file(), bad);
    return DraftJournal::Recover(f.dir, f.key, f.store, &c);
  };
  CHECK(with_flip(0).IsCorrupt());           // magic
  CHECK(with_flip(at[0] + 10).IsCorrupt());  // base record
  CHECK(with_flip(50).IsCorrupt());          // journal id: the base record fails
  Status s = with_flip(8);                   // store id
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find(ToHex(f.store)) != std::string::npos);
  std::string v2 = bytes;
  v2[4] = 2;
  WriteFile(f.file(), v2);
  CHECK(DraftJournal::Recover(f.dir, f.key, f.store, &c).code() == Code::kVersion);
  v2[4] = 0;
  WriteFile(f.file(), v2);
  CHECK(DraftJournal::Recover(f.dir, f.key, f.store, &c).IsCorrupt());
  // Wrong key: nothing authenticates, not even the base.
  WriteFile(f.file(), bytes);
  CHECK(DraftJournal::Recover(f.dir, RandomKey(), f.store, &c).IsCorrupt());
}

TEST_CASE("records of another journal, reordered, dropped or repeated are rejected", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  REQUIRE(ops.size() >= 4);
  f.CreateWith(ops).reset();
  const std::string a = ReadFile(f.file());
  f.CreateWith(ops).reset();  // same store, key, base and ops: a new journal id
  const std::string b = ReadFile(f.file());
  std::vector<size_t> at = RecordOffsets(a);
  REQUIRE(RecordOffsets(b).size() == at.size());
  auto rec = [&](const std::string& file, size_t r) {
    return file.substr(at[r], at[r + 1] - at[r]);  // records have equal sizes in a and b
  };
  auto recover = [&](const std::string& file) {
    WriteFile(f.file(), file);
    return f.MustRecover();
  };
  auto first = [&](size_t n) { return std::vector<DraftOp>(ops.begin(), ops.begin() + n); };
  std::string head = a.substr(0, at[2]);  // header, base, op 1

  JournalContents c = recover(head + rec(b, 2) + rec(a, 3));  // foreign record 2
  CHECK(OpsEqual(c.ops, first(1)));
  CHECK(c.truncated_tail);
  c = recover(head + rec(a, 3) + rec(a, 2));  // swapped
  CHECK(OpsEqual(c.ops, first(1)));
  c = recover(head + rec(a, 3) + rec(a, 4));  // record 2 dropped
  CHECK(OpsEqual(c.ops, first(1)));
  c = recover(head + rec(a, 2) + rec(a, 2));  // repeated
  CHECK(OpsEqual(c.ops, first(2)));
  c = recover(b.substr(0, at[1]) + a.substr(at[1]));  // a's records under b's header
  CHECK(c.ops.empty());
}

TEST_CASE("Rotate replaces the journal atomically and carries later ops", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  auto j = f.CreateWith({ops[0], ops[1]});
  Hash snap = RandomHash();

  // A crash before the rename leaves the old journal whole (and in use).
  JournalOptions crashing{0, [](std::string_view point) {
                            return point == "before_rename" ? Status::IOError("crash")
                                                            : Status::OK();
                          }};
  std::unique_ptr<DraftJournal> c2;
  CHECK_FALSE(DraftJournal::Create(f.dir, f.key, f.store, &snap, crashing, &c2).ok());
  CHECK(std::filesystem::exists(f.dir + "/journal.tmp"));
  JournalContents c = f.MustRecover();
  CHECK(c.base_snapshot == f.base);
  CHECK(OpsEqual(c.ops, {ops[0], ops[1]}));

  // The same through a real process death inside Rotate.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::unique_ptr<DraftJournal> cj;
    JournalOptions dying{0, [](std::string_view point) {
                           if (point == "before_rename") _exit(0);
                           return Status::OK();
                         }};
    if (!DraftJournal::Append(f.dir, f.key, f.store, dying, &cj).ok()) _exit(1);
    (void)cj->Rotate(snap);
    _exit(2);
  }
  int ws;
  REQUIRE(waitpid(pid, &ws, 0) == pid);
  REQUIRE(WIFEXITED(ws));
  CHECK(WEXITSTATUS(ws) == 0);
  c = f.MustRecover();
  CHECK(c.base_snapshot == f.base);
  CHECK(OpsEqual(c.ops, {ops[0], ops[1]}));

  j->OnOp(ops[2]);
  REQUIRE(j->Rotate(snap).ok());
  CHECK_FALSE(std::filesystem::exists(f.dir + "/journal.tmp"));
  c = f.MustRecover();
  CHECK(c.base_snapshot == snap);
  CHECK(c.ops.empty());

  // Ops after the mark survive the rotation, in order, and appending goes on.
  j->OnOp(ops[0]);
  JournalMark m = j->Mark();
  j->OnOp(ops[1]);
  j->OnOp(ops[2]);
  Hash snap2 = RandomHash();
  REQUIRE(j->Rotate(snap2, m).ok());
  CHECK(j->Rotate(snap2, m).code() == Code::kInvalidArgument);  // mark of the old journal
  j->OnOp(ops[3]);
  c = f.MustRecover();
  CHECK(c.base_snapshot == snap2);
  CHECK(OpsEqual(c.ops, {ops[1], ops[2], ops[3]}));
}

TEST_CASE("a SIGKILLed writer loses no appended record", "[journal]") {
  Fixture f;
  f.CreateWith({}).reset();
  std::vector<DraftOp> ops = SampleOps();
  std::vector<DraftOp> want;
  for (int i = 0; i < 300; i++) want.push_back(ops[i % ops.size()]);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::unique_ptr<DraftJournal> j;
    // No background sync and no Sync(): the records are only write(2)n.
    if (!DraftJournal::Append(f.dir, f.key, f.store, f.no_thread, &j).ok()) _exit(1);
    for (const DraftOp& op : want) j->OnOp(op);
    char done = j->status().ok() ? 'y' : 'n';
    if (write(fds[1], &done, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(fds[1]);
  char done = 0;
  REQUIRE(read(fds[0], &done, 1) == 1);
  close(fds[0]);
  CHECK(done == 'y');
  REQUIRE(kill(pid, SIGKILL) == 0);
  int ws;
  REQUIRE(waitpid(pid, &ws, 0) == pid);
  CHECK(WIFSIGNALED(ws));
  JournalContents c = f.MustRecover();
  CHECK_FALSE(c.truncated_tail);
  CHECK(OpsEqual(c.ops, want));
}

TEST_CASE("Sync runs before_sync first; the background thread syncs", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  std::unique_ptr<DraftJournal> j;
  REQUIRE(DraftJournal::Create(f.dir, f.key, f.store, &f.base, {0.01, nullptr}, &j).ok());
  std::atomic<int> calls{0};
  j->set_before_sync([&] {
    calls++;
    return Status::OK();
  });
  j->OnOp(ops[0]);
  for (int i = 0; i < 500 && calls == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(calls >= 1);
  // Settled: nothing unsynced, so Sync has nothing to do.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int before = calls;
  REQUIRE(j->Sync().ok());
  CHECK(calls == before);

  // A before_sync error is returned and does not fail the journal.
  JournalOptions manual{0, nullptr};
  REQUIRE(DraftJournal::Create(f.dir, f.key, f.store, &f.base, manual, &j).ok());
  bool fail = true;
  j->set_before_sync([&] { return fail ? Status::IOError("spool") : Status::OK(); });
  j->OnOp(ops[0]);
  CHECK(j->Sync().code() == Code::kIOError);
  CHECK(j->status().ok());
  fail = false;
  CHECK(j->Sync().ok());
}

TEST_CASE("a failed write stops the journal until a Rotate", "[journal]") {
  Fixture f;
  std::vector<DraftOp> ops = SampleOps();
  auto j = f.CreateWith({ops[0]});
  JournalMark before = j->Mark();
  size_t size = std::filesystem::file_size(f.file());
  // RLIMIT_FSIZE makes the next write fail (EFBIG) as a full disk would.
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = size + 10;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  j->OnOp(ops[1]);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
  signal(SIGXFSZ, old_handler);
  CHECK_FALSE(j->status().ok());
  j->OnOp(ops[2]);  // dropped
  CHECK_FALSE(j->Sync().ok());
  // The lost ops came after `before`: a Rotate from it cannot heal.
  CHECK_FALSE(j->Rotate(RandomHash(), before).ok());
  // Recovery keeps what was written before the failure.
  JournalContents c = f.MustRecover();
  CHECK(OpsEqual(c.ops, {ops[0]}));
  // A Rotate over a snapshot holding everything heals it.
  Hash snap = RandomHash();
  REQUIRE(j->Rotate(snap).ok());
  CHECK(j->status().ok());
  j->OnOp(ops[3]);
  REQUIRE(j->Sync().ok());
  c = f.MustRecover();
  CHECK(c.base_snapshot == snap);
  CHECK(OpsEqual(c.ops, {ops[3]}));
}

TEST_CASE("concurrent appends, syncs and a rotation", "[journal]") {
  Fixture f;
  std::unique_ptr<DraftJournal> j;
  REQUIRE(DraftJournal::Create(f.dir, f.key, f.store, &f.base, {0.001, nullptr}, &j).ok());
  std::atomic<int> spool_syncs{0};
  j->set_before_sync([&] {
    spool_syncs++;
    return Status::OK();
  });
  constexpr int kThreads = 4, kOps = 300;
  std::atomic<int> appended{0}, failed_syncs{0};  // Catch assertions are main-thread only
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kOps; i++) {
        DraftOp op = FullOp(DraftOp::Kind::kSetContent);
        op.path = "t" + std::to_string(t);
        op.time_ns = i + 1;
        j->OnOp(op);
        appended++;
        if (i % 50 == 0 && !j->Sync().ok()) failed_syncs++;
      }
    });
  }
  while (appended < kThreads * kOps / 2) std::this_thread::yield();
  Hash snap = RandomHash();
  REQUIRE(j->Rotate(snap, j->Mark()).ok());
  for (auto& w : writers) w.join();
  CHECK(failed_syncs == 0);
  REQUIRE(j->Sync().ok());
  CHECK(spool_syncs > 0);
  JournalContents c = f.MustRecover();
  CHECK(c.base_snapshot == snap);
  // Each writer's ops come out as a contiguous run ending at its last op.
  std::vector<int64_t> next(kThreads, -1);
  for (const DraftOp& op : c.ops) {
    int t = op.path[1] - '0';
    if (next[t] >= 0) CHECK(op.time_ns == next[t]);
    next[t] = op.time_ns + 1;
  }
  // (A writer that finished before the mark has nothing left.)
  for (int t = 0; t < kThreads; t++) CHECK((next[t] == -1 || next[t] == kOps + 1));
  CHECK(c.ops.size() <= kThreads * kOps / 2);
}

TEST_CASE("the fuzz seeds are journals of every op", "[journal]") {
  REQUIRE(InitCrypto());
  std::string dir = std::string(KLOSETFS_SOURCE_DIR) + "/fuzz/corpus/journal_fuzz/";
  JournalContents c;
  uint64_t good;
  std::string all = ReadFile(dir + "journal_all_ops");
  REQUIRE(ParseJournal(all, fuzz::FuzzLocalKey(), fuzz::FuzzJournalStoreId(), &c, &good).ok());
  CHECK(c.ops.size() == SampleOps().size() + 9);
  CHECK(good == all.size());
  CHECK_FALSE(c.truncated_tail);
  REQUIRE(ParseJournal(ReadFile(dir + "journal_torn_tail"), fuzz::FuzzLocalKey(),
                       fuzz::FuzzJournalStoreId(), &c)
              .ok());
  CHECK(c.truncated_tail);
  CHECK(c.ops.size() == SampleOps().size() + 8);
}
