// Internals of the checker, shared by its parts: checker.cc (the driver and
// store objects: config, keys, indexes, packs, snapshots), checker_data.cc
// (--read-data: packs downloaded and every blob opened), checker_walk.cc
// (tree pages and the files they name) and checker_findings.cc (helpers and
// the findings collector). Not a public API.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/checker.h"
#include "core/index.h"
#include "core/snapshot.h"

namespace kloset::check_internal {

template <typename V>
using HashMap = std::unordered_map<Hash, V, HashHasher>;
using HashSet = std::unordered_set<Hash, HashHasher>;

// How many "<snapshot>:/path" references a problem keeps; the rest are only
// counted, so a damaged pack shared by a million files stays a small report.
constexpr size_t kMaxAffected = 10;

// Damage to one object (the check goes on) as opposed to a failure of the
// check itself (remote unreachable, interrupted: the check stops).
bool IsObjectDamage(const Status& s);

// "<snapshot short id>:<path>".
std::string FileRef(const Hash& snapshot, const std::string& path);
// First 16 hex digits: enough to find a blob, short enough to read.
std::string ShortHex(const Hash& h);

// Reads a whole object, retrying failures a retry may fix and reads that come
// back shorter than `expected` (UINT64_MAX: unknown) a few times, since a
// remote may drop a transfer midway. A persistent short read is returned as
// OK: the caller's hash check reports it as damage.
Status ReadWhole(Remote* remote, const std::string& name, uint64_t expected, std::string* out);

// Parses "<dir>/<hh>/<hex>" (hh the first two digits of hex) or, with
// fanout false, "<dir>/<hex>". False for anything else.
bool ParseObjectName(const std::string& name, const std::string& dir, bool fanout, Hash* id);

// Heads the list of a pack's blobs that are damaged.
constexpr char kBadBlobs[] = "blobs that fail verification";

// Key prefix of the problems for blobs no index names, by blamed object.
constexpr char kNoIndexKey[] = "noindex:";

// How many blobs a problem lists by id; the rest are only counted.
constexpr size_t kMaxItems = 5;

// Problems and notes, merged by key so that repeated findings about one
// object end up in one entry, plus which problem each damaged blob belongs
// to, so the tree walk can name the files that hold it. Thread-safe.
class Findings {
 public:
  // Returns the problem's number. A second call with the same key appends a
  // non-empty `what` to the existing entry (unless it is already there).
  size_t Problem(const std::string& key, const std::string& object, const std::string& what);
  void Note(const std::string& object, const std::string& what);
  bool Has(const std::string& key) const;
  // Blob `id` is damaged or lost; files holding it are added to `problem`.
  // The first problem recorded for a blob wins.
  void MarkBlob(const Hash& id, size_t problem);
  // MarkBlob, and lists the blob in the problem's text: `label` heads the
  // list ("blobs that fail verification"), `item` names the blob; `detail`
  // (the full error) is kept for the first blob only.
  void AddBlob(size_t problem, const Hash& id, const std::string& label, const std::string& item,
               const std::string& detail = "");
  // The problem a damaged blob belongs to, or -1.
  long BlobProblem(const Hash& id) const;
  // Adds a reference (counted; kept up to kMaxAffected times, no duplicates).
  void Affect(size_t problem, const std::string& ref);
  void MoveTo(CheckReport* report);

 private:
  struct Entry {
    CheckProblem p;
    std::string label, detail;
    std::vector<std::string> items;
    uint64_t item_count = 0;
  };
  mutable std::mutex mu_;
  std::vector<Entry> problems_;
  std::vector<CheckProblem> notes_;
  std::map<std::string, size_t> by_key_;
  HashMap<size_t> blobs_;
};

// One pack named by the index.
struct PackState {
  Hash id{};
  std::string name;
  uint64_t end = 0;         // end of its last blob, per the index
  uint64_t blobs = 0;       // blobs the index places in it
  uint64_t size = 0;        // as listed
  bool present = false;     // listed under packs/
  long problem = -1;        // its problem, once found damaged
};

struct SnapshotState {
  Hash id{};
  std::string name;
  uint64_t size = 0;  // as listed
  bool loaded = false;
  Snapshot snap;
};

struct Context {
  Repository* repo = nullptr;
  Remote* remote = nullptr;
  CheckOptions opts;
  Progress* progress = nullptr;  // never null (a local one when the caller gave none)
  CheckReport* report = nullptr;
  Findings findings;
  int parallel = 1;
  std::vector<PackState> packs;              // by Repository pack number
  HashMap<uint32_t> pack_numbers;            // pack id -> number
  std::vector<std::string> unindexed_packs;  // present but no index names them
  HashMap<std::string> unindexed_blobs;      // blob id -> unindexed pack holding it
  std::vector<SnapshotState> snapshots;      // newest first
  std::atomic<bool> index_damaged{false};
  std::atomic<uint64_t> bytes_read{0};

  Status Cancelled() const;  // OK unless the user interrupted
};

// Runs fn(0 .. n-1) on up to `threads` threads. fn records damage in
// Findings and returns OK; the first non-OK status (the check cannot go on,
// or the user interrupted) stops the loop and is returned.
Status ParallelFor(size_t n, int threads, const Context& ctx,
                   const std::function<Status(size_t)>& fn);

// checker_data.cc: --read-data.
Status VerifyPackData(Context* ctx);
// checker_walk.cc: walks every loaded snapshot's tree.
Status WalkTrees(Context* ctx);

}  // namespace kloset::check_internal
