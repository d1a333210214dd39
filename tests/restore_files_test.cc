// Tests for core/restore_files.h: a batch of files written in place or over
// existing entries, holes kept, damage failing one file only, no temporary
// file left behind, and the window that loads many files' data together.
#include "core/restore_files.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/file_io.h"
#include "core/memory_blob_store.h"
#include "tests/chunk_test_util.h"
#include "tests/test_util.h"

namespace kloset {
namespace {

using testing::RandomData;
using testing::ReadFile;
using testing::TempDir;

// Counts LoadBlobs calls and the ids they asked for.
class CountingStore : public MemoryBlobStore {
 public:
  void LoadBlobs(BlobType type, const std::vector<Hash>& ids, std::vector<std::string>* out,
                 std::vector<Status>* st) override {
    calls++;
    MemoryBlobStore::LoadBlobs(type, ids, out, st);
  }
  int calls = 0;
};

Node FileNode(BlobStore* store, const std::string& data, uint64_t trailing_hole = 0) {
  FileWriter w(store, testing::SmallChunks(), &testing::TestGear(), nullptr);
  REQUIRE(w.Write(data).ok());
  if (trailing_hole) REQUIRE(w.WriteHole(trailing_hole).ok());
  Node n;
  n.type = NodeType::kFile;
  n.mode = 0640;
  n.uid = geteuid();
  n.gid = getegid();
  n.size = data.size() + trailing_hole;
  n.mtime_ns = 1700000000123456789;
  REQUIRE(w.Finish(&n.chunks).ok());
  return n;
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> v;
  for (auto& e : std::filesystem::directory_iterator(dir)) v.push_back(e.path().filename());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("restore files: in place, over old entries, sparse, and damage fails one file",
          "[restore_files]") {
  TempDir tmp;
  CountingStore store;
  const std::string a = RandomData(200000, 1), b = RandomData(100, 2), c = RandomData(70000, 3);
  const std::string lost = RandomData(50000, 4);
  std::vector<FileToRestore> files(4);
  files[0].path = tmp / "a";
  files[0].node = FileNode(&store, a);
  files[0].absent = true;
  files[1].path = tmp / "b";  // an old file is there: replaced whole
  files[1].node = FileNode(&store, b);
  testing::WriteFile(files[1].path, "old contents, longer than the new ones: " + a);
  files[2].path = tmp / "lost";
  files[2].node = FileNode(&store, lost);
  files[2].absent = true;
  REQUIRE(store.Erase(BlobType::kData, files[2].node.chunks.back().id));
  files[3].path = tmp / "sparse";
  files[3].node = FileNode(&store, c, 8 << 20);
  files[3].absent = true;

  struct stat old_b;
  REQUIRE(stat(files[1].path.c_str(), &old_b) == 0);
  Progress progress;
  std::atomic<uint64_t> bytes{0}, counter{0};
  FileRestoreEnv env;
  env.store = &store;
  env.progress = &progress;
  env.bytes = &bytes;
  env.tmp_counter = &counter;
  std::vector<FileOutcome> out;
  REQUIRE(RestoreFiles(env, files, &out).ok());
  REQUIRE(out.size() == 4);
  CHECK(out[0].status.ok());
  CHECK(out[1].status.ok());
  CHECK(out[2].status.IsCorrupt());
  CHECK(out[3].status.ok());

  CHECK(ReadFile(tmp / "a") == a);
  CHECK(ReadFile(tmp / "b") == b);
  struct stat st;
  REQUIRE(stat((tmp / "b").c_str(), &st) == 0);
  CHECK(st.st_ino != old_b.st_ino);  // a new file renamed over the old one
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_mtim.tv_sec == 1700000000);
  CHECK(st.st_mtim.tv_nsec == 123456789);
  REQUIRE(stat((tmp / "sparse").c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_size) == c.size() + (8 << 20));
  CHECK(st.st_blocks * 512 < (4 << 20));  // the hole stayed a hole
  CHECK(ReadFile(tmp / "sparse").substr(0, c.size()) == c);
  // The damaged file is gone entirely, and no temporary name is left.
  CHECK(Listing(tmp.path()) == std::vector<std::string>{"a", "b", "sparse"});
  // Bytes written, including those of the damaged file before its damage.
  CHECK(bytes.load() >= a.size() + b.size() + c.size());
  CHECK(bytes.load() < a.size() + b.size() + c.size() + lost.size());
  // All four files' data fit one window: one LoadBlobs for the batch.
  CHECK(store.calls == 1);
}

TEST_CASE("restore files: a window at a time when the batch is larger", "[restore_files]") {
  TempDir tmp;
  CountingStore store;
  std::vector<FileToRestore> files;
  std::vector<std::string> data;
  for (int i = 0; i < 12; i++) {
    data.push_back(RandomData(1 << 20, 10 + i));
    FileToRestore f;
    f.path = tmp / ("f" + std::to_string(i));
    f.node = FileNode(&store, data.back());
    f.absent = true;
    files.push_back(std::move(f));
  }
  Progress progress;
  std::atomic<uint64_t> bytes{0}, counter{0};
  FileRestoreEnv env{&store, &progress, false, false, -1, &bytes, &counter};
  std::vector<FileOutcome> out;
  REQUIRE(RestoreFiles(env, files, &out).ok());
  for (int i = 0; i < 12; i++) {
    CHECK(out[i].status.ok());
    CHECK(ReadFile(files[i].path) == data[i]);
  }
  // 12 MiB in windows of kRestoreWindow bytes: a few loads, not one per chunk.
  CHECK(store.calls >= 3);
  CHECK(store.calls <= 4);

  // Cancelled: stops with an error and restores nothing more.
  progress.cancel = true;
  TempDir other;
  for (auto& f : files) f.path = other / std::filesystem::path(f.path).filename().string();
  CHECK(RestoreFiles(env, files, &out).code() == Code::kCancelled);
  CHECK(Listing(other.path()).empty());
}

}  // namespace kloset
