// Repository pack spool (OpenOptions::spool_dir): blobs accepted but never
// flushed survive the Repository's destruction, a SIGKILL and torn records,
// are recovered at the next Open without duplicate packs, and the spool
// holds no plaintext. All over a local-folder store in a temp dir.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "core/checker.h"
#include "core/repository.h"
#include "remotes/fault_remote.h"
#include "remotes/local_remote.h"
#include "tests/repo_test_util.h"
#include "tests/test_util.h"

using namespace kloset;
using namespace kloset::testing;

namespace {

struct Fixture {
  TempDir tmp;
  std::string store = tmp / "store";
  std::string spool = tmp / "cache/spool";

  std::unique_ptr<Remote> Remote_() const {
    std::unique_ptr<Remote> r;
    REQUIRE(LocalRemote::Open(store, /*create=*/true, &r).ok());
    return r;
  }
  OpenOptions Opts(bool with_spool = true) const {
    OpenOptions o = NoCache();
    if (with_spool) o.spool_dir = spool;
    return o;
  }
  std::unique_ptr<Repository> Init(uint32_t pack_size = 16 << 20, bool with_spool = true) {
    InitOptions o = FastInit(pack_size);
    o.open = Opts(with_spool);
    std::unique_ptr<Repository> repo;
    Status s = Repository::Init(Remote_(), "secret", o, &repo);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return repo;
  }
  Status TryOpen(std::unique_ptr<Repository>* repo, bool with_spool = true) const {
    return Repository::Open(Remote_(), "secret", Opts(with_spool), repo);
  }
  std::unique_ptr<Repository> Open(bool with_spool = true) const {
    std::unique_ptr<Repository> repo;
    Status s = TryOpen(&repo, with_spool);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return repo;
  }
  std::vector<std::string> SpoolFiles() const {
    std::vector<std::string> v;
    if (!std::filesystem::exists(spool)) return v;
    for (const auto& e : std::filesystem::directory_iterator(spool)) {
      if (e.path().extension() == ".spool") v.push_back(e.path().string());
    }
    std::sort(v.begin(), v.end());
    return v;
  }
  // Small packs, one upload thread (so remote writes come one at a time, in
  // order) and an index every `every` blobs; over `remote`, borrowed.
  std::unique_ptr<Repository> InitEarly(Remote* remote, size_t every) {
    InitOptions o = FastInit(4 << 10);
    o.open = Opts();
    o.open.transfers = 1;
    o.open.max_unindexed_blobs = every;
    std::unique_ptr<Repository> repo;
    Status s = Repository::Init(std::make_unique<CountingRemote>(remote), "secret", o, &repo);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return repo;
  }
  std::vector<std::string> Objects(const std::string& prefix) const {
    auto r = Remote_();
    return ListAll(r.get(), prefix);
  }
};

// Blob contents: incompressible, compressible, and a tree page.
struct Blob {
  BlobType type;
  std::string data;
};

std::vector<Blob> MakeBlobs(int n, uint64_t seed, size_t size = 5000) {
  std::vector<Blob> v;
  for (int i = 0; i < n; i++) {
    std::string d = i % 3 == 1 ? std::string(size, static_cast<char>('a' + i % 26)) +
                                     std::to_string(seed * 1000 + i)
                               : RandomData(size + i, seed * 1000 + i);
    v.push_back({i % 5 == 4 ? BlobType::kTree : BlobType::kData, std::move(d)});
  }
  return v;
}

void SaveAll(Repository* repo, const std::vector<Blob>& blobs) {
  for (const Blob& b : blobs) {
    Status s = repo->SaveBlob(b.type, repo->HashBlob(b.data), b.data, nullptr, nullptr);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
}

void RequireAllLoad(Repository* repo, const std::vector<Blob>& blobs) {
  for (const Blob& b : blobs) {
    std::string out;
    Status s = repo->LoadBlob(b.type, repo->HashBlob(b.data), &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    REQUIRE(out == b.data);
  }
}

CheckReport RequireClean(Repository* repo) {
  CheckOptions o;
  o.read_data = true;
  Progress progress;
  CheckReport report;
  Status s = Check(repo, o, &progress, &report);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::string problems;
  for (const CheckProblem& p : report.problems) problems += p.object + ": " + p.what + "\n";
  INFO(problems);
  REQUIRE(report.problems.empty());
  return report;
}

}  // namespace

TEST_CASE("synced blobs survive a Repository destroyed without Flush", "[spool]") {
  Fixture f;
  auto blobs = MakeBlobs(20, 1);
  {
    auto repo = f.Init();
    SaveAll(repo.get(), blobs);
    REQUIRE(repo->SyncSpool().ok());
    REQUIRE(repo->SyncSpool().ok());      // nothing new: still fine
    REQUIRE(f.SpoolFiles().size() == 2);  // one data pack, one tree pack
  }
  REQUIRE(f.Objects("packs/").empty());  // 16 MiB packs: nothing was uploaded
  REQUIRE(f.Objects("index/").empty());

  {
    auto repo = f.Open();
    CHECK(repo->stats().spool_files_recovered == 2);
    CHECK(repo->stats().spool_blobs_recovered == blobs.size());
    CHECK(repo->stats().spool_bytes_dropped == 0);
    CHECK(f.SpoolFiles().empty());
    RequireAllLoad(repo.get(), blobs);
    RequireClean(repo.get());
  }
  REQUIRE(f.Objects("packs/").size() == 2);
  REQUIRE(f.Objects("index/").size() == 1);
  // Recovered for good: a session without the spool finds every blob too.
  auto plain = f.Open(/*with_spool=*/false);
  RequireAllLoad(plain.get(), blobs);
  CHECK(RequireClean(plain.get()).notes.empty());
}

TEST_CASE("blobs of a SIGKILLed process are recovered from the page cache", "[spool]") {
  Fixture f;
  { f.Init(64 << 10, /*with_spool=*/false); }
  // Enough for several 64 KiB packs: some are uploaded (not indexed) when
  // the child dies, one is still open.
  auto blobs = MakeBlobs(60, 2);
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // No Catch2 here: an assertion would throw into the copied test runner.
    close(ready[0]);
    std::unique_ptr<Remote> remote;
    std::unique_ptr<Repository> repo;
    if (!LocalRemote::Open(f.store, false, &remote).ok()) _exit(9);
    if (!Repository::Open(std::move(remote), "secret", f.Opts(), &repo).ok()) _exit(10);
    for (const Blob& b : blobs) {
      if (!repo->SaveBlob(b.type, repo->HashBlob(b.data), b.data, nullptr, nullptr).ok()) {
        _exit(11);
      }
    }
    // No SyncSpool and no Flush: what write(2) handed to the kernel must do.
    if (write(ready[1], "k", 1) != 1) _exit(12);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child status " << status);
  REQUIRE(n == 1);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  REQUIRE_FALSE(f.SpoolFiles().empty());
  REQUIRE(f.Objects("index/").empty());

  auto repo = f.Open();
  CHECK(repo->stats().spool_blobs_recovered == blobs.size());
  CHECK(f.SpoolFiles().empty());
  RequireAllLoad(repo.get(), blobs);
  RequireClean(repo.get());
}

TEST_CASE("a torn last record is dropped and the rest recovered", "[spool]") {
  Fixture f;
  std::vector<Blob> blobs;
  for (int i = 0; i < 6; i++) blobs.push_back({BlobType::kData, RandomData(3000 + i, 30 + i)});
  {
    auto repo = f.Init();
    SaveAll(repo.get(), blobs);
  }
  auto files = f.SpoolFiles();
  REQUIRE(files.size() == 1);
  const uint64_t size = std::filesystem::file_size(files[0]);

  SECTION("cut short") { std::filesystem::resize_file(files[0], size - 100); }
  SECTION("cut short and followed by zeros, as after a power cut") {
    std::filesystem::resize_file(files[0], size - 2000);
    std::filesystem::resize_file(files[0], size + 4096);
  }
  SECTION("last record damaged") {
    std::string bytes = ReadFile(files[0]);
    bytes[bytes.size() - 1500] ^= 0x01;
    WriteFile(files[0], bytes);
  }

  auto repo = f.Open();
  CHECK(repo->stats().spool_blobs_recovered == blobs.size() - 1);
  CHECK(repo->stats().spool_bytes_dropped > 0);
  CHECK(f.SpoolFiles().empty());
  const Blob last = blobs.back();
  blobs.pop_back();
  RequireAllLoad(repo.get(), blobs);
  std::string out;
  REQUIRE(repo->LoadBlob(last.type, repo->HashBlob(last.data), &out).IsNotFound());
  RequireClean(repo.get());
}

TEST_CASE("a record damaged in the middle drops it and everything after it", "[spool]") {
  Fixture f;
  std::vector<Blob> blobs;
  for (int i = 0; i < 6; i++) blobs.push_back({BlobType::kData, RandomData(3000, 60 + i)});
  {
    auto repo = f.Init();
    SaveAll(repo.get(), blobs);
  }
  auto files = f.SpoolFiles();
  REQUIRE(files.size() == 1);
  std::string bytes = ReadFile(files[0]);
  // Records are about 3.1 KB each after a 41-byte header: this hits the third.
  bytes[41 + 2 * 3127 + 60] ^= 0x40;
  WriteFile(files[0], bytes);

  auto repo = f.Open();
  CHECK(repo->stats().spool_blobs_recovered == 2);
  RequireAllLoad(repo.get(), {blobs[0], blobs[1]});
  for (size_t i = 2; i < blobs.size(); i++) {
    std::string out;
    CHECK(repo->LoadBlob(BlobType::kData, repo->HashBlob(blobs[i].data), &out).IsNotFound());
  }
  RequireClean(repo.get());
}

TEST_CASE("packs uploaded before the crash are indexed, not uploaded again", "[spool]") {
  Fixture f;
  // 5000-byte blobs in 4 KiB packs: every blob fills its pack, which is
  // finished and uploaded at once; only the index is missing.
  std::vector<Blob> blobs;
  for (int i = 0; i < 8; i++) blobs.push_back({BlobType::kData, RandomData(5000, 80 + i)});
  {
    auto repo = f.Init(4096);
    SaveAll(repo.get(), blobs);
  }  // the destructor waits for the uploads
  auto packs = f.Objects("packs/");
  REQUIRE(packs.size() == blobs.size());
  REQUIRE(f.Objects("index/").empty());
  REQUIRE(f.SpoolFiles().size() == blobs.size());

  auto repo = f.Open();
  CHECK(repo->stats().spool_blobs_recovered == blobs.size());
  CHECK(repo->stats().packs_written == 0);
  CHECK(f.SpoolFiles().empty());
  REQUIRE(f.Objects("packs/") == packs);  // the same packs, no duplicates
  RequireAllLoad(repo.get(), blobs);
  CheckReport report = RequireClean(repo.get());
  CHECK(report.notes.empty());  // every pack is named by an index
}

TEST_CASE("a spool file whose pack is already indexed is just deleted", "[spool]") {
  Fixture f;
  auto blobs = MakeBlobs(10, 4);
  std::string kept;
  {
    auto repo = f.Init();
    SaveAll(repo.get(), blobs);
    auto files = f.SpoolFiles();
    REQUIRE(files.size() == 2);
    kept = ReadFile(files[0]);
    REQUIRE(repo->Flush().ok());
    REQUIRE(f.SpoolFiles().empty());
    // As if the process died after writing the index, before the delete.
    WriteFile(files[0], kept);
  }
  auto indexes = f.Objects("index/");
  auto packs = f.Objects("packs/");
  auto repo = f.Open();
  CHECK(repo->stats().spool_files_recovered == 1);
  CHECK(repo->stats().spool_blobs_recovered == 0);
  CHECK(f.SpoolFiles().empty());
  CHECK(f.Objects("index/") == indexes);
  CHECK(f.Objects("packs/") == packs);
  RequireAllLoad(repo.get(), blobs);
}

TEST_CASE("one process per spool folder", "[spool]") {
  Fixture f;
  auto first = f.Init();
  std::unique_ptr<Repository> second;
  Status s = f.TryOpen(&second);
  INFO(s.ToString());
  REQUIRE(s.code() == Code::kBusy);
  CHECK(s.message().find(f.spool) != std::string::npos);
  REQUIRE(f.TryOpen(&second, /*with_spool=*/false).ok());  // without a spool: fine
  second.reset();

  // Init is refused before it writes anything.
  TempDir other;
  std::unique_ptr<Remote> remote;
  REQUIRE(LocalRemote::Open(other / "store", true, &remote).ok());
  InitOptions o = FastInit();
  o.open = f.Opts();
  std::unique_ptr<Repository> repo;
  REQUIRE(Repository::Init(std::move(remote), "secret", o, &repo).code() == Code::kBusy);
  REQUIRE(std::filesystem::is_empty(other / "store"));

  first.reset();  // releases the lock
  REQUIRE(f.TryOpen(&second).ok());
}

TEST_CASE("Flush deletes the spool files of the packs it indexes", "[spool]") {
  Fixture f;
  auto blobs = MakeBlobs(40, 5);
  auto repo = f.Init(16 << 10);  // some packs upload before the Flush
  SaveAll(repo.get(), blobs);
  REQUIRE(repo->SyncSpool().ok());
  REQUIRE_FALSE(f.SpoolFiles().empty());
  REQUIRE(repo->Flush().ok());
  CHECK(f.SpoolFiles().empty());
  REQUIRE(repo->SyncSpool().ok());
  // Saving after the Flush starts new files; a second Flush removes them.
  auto more = MakeBlobs(5, 6);
  SaveAll(repo.get(), more);
  CHECK(f.SpoolFiles().size() >= 1);
  REQUIRE(repo->Flush().ok());
  CHECK(f.SpoolFiles().empty());
  repo.reset();
  auto again = f.Open();
  CHECK(again->stats().spool_files_recovered == 0);
  RequireAllLoad(again.get(), blobs);
  RequireAllLoad(again.get(), more);
}

TEST_CASE("the spool holds no plaintext and is private", "[spool]") {
  Fixture f;
  const std::string marker = "KLOSET-SPOOL-PLAINTEXT-MARKER";
  std::vector<Blob> blobs;
  for (int i = 0; i < 4; i++) {
    // Random around the marker so it is stored uncompressed (just sealed).
    blobs.push_back(
        {BlobType::kData, RandomData(2000, 90 + i) + marker + RandomData(2000, 95 + i)});
  }
  blobs.push_back({BlobType::kTree, marker + marker + marker});
  {
    auto repo = f.Init();
    SaveAll(repo.get(), blobs);
    REQUIRE(repo->SyncSpool().ok());
    auto files = f.SpoolFiles();
    REQUIRE(files.size() == 2);
    for (const std::string& path : files) {
      std::string bytes = ReadFile(path);
      CHECK(bytes.find(marker) == std::string::npos);
      CHECK(bytes.find("KLOSET-SPOOL") == std::string::npos);
      struct stat st;
      REQUIRE(stat(path.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
    }
    struct stat st;
    REQUIRE(stat(f.spool.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  auto repo = f.Open();
  RequireAllLoad(repo.get(), blobs);
}

TEST_CASE("another store's spool files are left alone", "[spool]") {
  Fixture a, b;
  auto blobs = MakeBlobs(3, 7);
  {
    auto repo = a.Init();
    SaveAll(repo.get(), blobs);
  }
  { b.Init(); }
  auto files = a.SpoolFiles();
  REQUIRE(files.size() == 1);
  const std::string foreign = b.spool + "/" + std::filesystem::path(files[0]).filename().string();
  std::filesystem::copy_file(files[0], foreign);
  {
    auto repo = b.Open();
    CHECK(repo->stats().spool_files_skipped == 1);
    CHECK(repo->stats().spool_files_recovered == 0);
  }
  CHECK(std::filesystem::exists(foreign));
  auto repo = a.Open();
  CHECK(repo->stats().spool_files_recovered == 1);
  RequireAllLoad(repo.get(), blobs);
}

TEST_CASE("concurrent saves of the same blobs are all spooled", "[spool]") {
  Fixture f;
  auto blobs = MakeBlobs(48, 8, 3000);
  {
    auto repo = f.Init(32 << 10);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
      threads.emplace_back([&, t] {
        for (size_t i = 0; i < blobs.size(); i++) {
          const Blob& b = blobs[(i + static_cast<size_t>(t) * 7) % blobs.size()];
          if (!repo->SaveBlob(b.type, repo->HashBlob(b.data), b.data, nullptr, nullptr).ok()) {
            failures++;
          }
          if (i % 8 == 0 && !repo->SyncSpool().ok()) failures++;
        }
      });
    }
    for (auto& th : threads) th.join();
    REQUIRE(failures == 0);
    REQUIRE(repo->SyncSpool().ok());
  }
  auto repo = f.Open();
  CHECK(repo->stats().spool_blobs_recovered == blobs.size());
  RequireAllLoad(repo.get(), blobs);
  RequireClean(repo.get());
}

TEST_CASE("early index writes delete spool files only once written", "[spool]") {
  Fixture f;
  auto base = f.Remote_();
  CountingRemote counting(base.get());
  // Every pack uploaded since the last index is named by the next one (one
  // upload thread), so its spool file must still be there when it is written.
  std::atomic<size_t> packs_since{0}, index_writes{0}, too_few_files{0};
  counting.before_write = [&](const std::string& name) {
    if (name.rfind("packs/", 0) == 0) packs_since++;
    if (name.rfind("index/", 0) != 0) return;
    index_writes++;
    if (f.SpoolFiles().size() < packs_since.exchange(0)) too_few_files++;
  };
  auto blobs = MakeBlobs(300, 9, 300);
  auto repo = f.InitEarly(&counting, 30);
  SaveAll(repo.get(), blobs);
  REQUIRE(repo->SyncSpool().ok());
  CHECK(f.Objects("index/").size() >= 2);  // before any Flush
  CHECK(f.SpoolFiles().size() < f.Objects("packs/").size());
  REQUIRE(repo->Flush().ok());
  CHECK(f.SpoolFiles().empty());
  CHECK(index_writes >= 3);
  CHECK(too_few_files == 0);
  repo.reset();
  auto again = f.Open();
  CHECK(again->stats().spool_files_recovered == 0);
  RequireAllLoad(again.get(), blobs);
  RequireClean(again.get());
}

TEST_CASE("a failed early index write is retried by Flush; its packs stay spooled till then",
          "[spool]") {
  const bool fail_all = GENERATE(false, true);
  INFO("every index write fails: " << fail_all);
  Fixture f;
  auto base = f.Remote_();
  FaultRemote fault(base.get());
  CountingRemote counting(&fault);
  std::atomic<bool> failed_one{false};
  // One upload thread and a caller that waits for it: the write scheduled
  // to fail is the index write about to start.
  counting.before_write = [&](const std::string& name) {
    if (name.rfind("index/", 0) == 0 && (fail_all || !failed_one.exchange(true))) {
      fault.Schedule(RemoteOp::kWrite, {Fault::kIOError});
    }
  };
  auto blobs = MakeBlobs(300, 10, 300);
  std::vector<Blob> saved;
  auto repo = f.InitEarly(&counting, 30);
  for (const Blob& b : blobs) {
    if (!repo->SaveBlob(b.type, repo->HashBlob(b.data), b.data, nullptr, nullptr).ok()) break;
    saved.push_back(b);
  }
  REQUIRE(saved.size() == blobs.size());  // a failed index write stops no save
  Status s = repo->Flush();
  if (fail_all) {
    // No index was written, so every uploaded pack keeps its spool file, and
    // no Flush succeeds (no snapshot can be written on top).
    CHECK(s.code() == Code::kIOError);
    CHECK_FALSE(repo->Flush().ok());
    CHECK(f.Objects("index/").empty());
    CHECK(f.SpoolFiles().size() >= f.Objects("packs/").size());
  } else {
    // The Flush (or a later early write) named the packs whose early index
    // failed, and then let their files go.
    CHECK(failed_one);
    CHECK(s.ok());
    CHECK(f.SpoolFiles().empty());
  }
  repo.reset();
  auto again = f.Open();
  CHECK((again->stats().spool_files_recovered > 0) == fail_all);
  RequireAllLoad(again.get(), saved);
  RequireClean(again.get());
  CHECK(f.SpoolFiles().empty());
}
