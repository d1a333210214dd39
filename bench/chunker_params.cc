// chunker_params: measures what the choice of chunk size costs, to justify the
// default ChunkerParams (docs/FORMAT.md "Chunking" has the table and the
// reasoning).
//
//   chunker_params [MiB from /usr/share, default 200] [MiB from /usr/lib, default 300]
//
// For each candidate (average A = 256 KiB .. 4 MiB with min = A/4, max = 4A,
// normalization 2; plus A = 1 MiB with normalization 0, 1, 3) it chunks a
// sample of real files, each file separately as the archiver does, and
// reports:
//  * chunks, and the zstd-3 size of the unique chunks (bigger compress better);
//  * metadata: 40 bytes per chunk reference (tree chunk lists) plus 100 bytes
//    per unique blob (index entry, pack header entry, seal overhead), for the
//    sample and extrapolated per TiB of files >= 1 MiB;
//  * the bytes a backup of edited files must newly store, per edit, for
//    synthetic edits identical for every candidate:
//      edit:   max(3, size / 4 MiB) inserts or deletes of 1..16 bytes at
//              random offsets, in each file of at least 1 MiB (reported
//              separately for files under and over 16 MiB);
//      append: 8 KiB appended to every 4th file of at least 64 KiB.
// Output is a Markdown table. The measurement needs ~1 GB of RAM.
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "core/chunker.h"
#include "core/crypto.h"

namespace kloset::bench {
namespace {

constexpr size_t kRefBytes = 40, kBlobBytes = 100;
constexpr size_t kBigFile = 1 << 20, kHugeFile = 16 << 20, kEditSpacing = 4 << 20;
constexpr size_t kAppendMinFile = 64 << 10, kAppendBytes = 8 << 10;

struct Hash128 {
  size_t operator()(const XXH128_hash_t& h) const { return h.low64; }
};
struct Eq128 {
  bool operator()(const XXH128_hash_t& a, const XXH128_hash_t& b) const {
    return XXH128_isEqual(a, b) != 0;
  }
};
using ChunkSet = std::unordered_set<XXH128_hash_t, Hash128, Eq128>;

// Calls fn(chunk) for each chunk of `data`, fed as a reader with max_size of
// lookahead would.
template <typename Fn>
void ForEachChunk(const Chunker& c, std::string_view data, Fn&& fn) {
  const size_t max = c.params().max_size;
  for (size_t pos = 0; pos < data.size();) {
    size_t rest = data.size() - pos;
    size_t n = c.FindCut(reinterpret_cast<const uint8_t*>(data.data()) + pos, std::min(rest, max),
                         rest <= max);
    fn(data.substr(pos, n));
    pos += n;
  }
}

std::string RandomString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng());
  return s;
}

// The edited version of file `j`: inserts/deletes of 1..16 bytes at random
// offsets, max(3, size / 4 MiB) of them, applied from the end so earlier
// offsets stay meaningful. Identical for every candidate.
std::string Edit(const std::string& data, size_t j, size_t* edits) {
  std::mt19937_64 rng(j * 7919 + 1);
  std::vector<size_t> at(std::max<size_t>(3, data.size() / kEditSpacing));
  for (size_t& a : at) a = rng() % data.size();
  std::sort(at.rbegin(), at.rend());
  std::string out = data;
  for (size_t a : at) {
    size_t n = 1 + rng() % 16;
    if (rng() % 2) {
      out.insert(a, RandomString(rng, n));
    } else {
      out.erase(a, n);
    }
  }
  *edits = at.size();
  return out;
}

std::string Append(const std::string& data, size_t j, size_t* edits) {
  std::mt19937_64 rng(j * 104729 + 2);
  *edits = 1;
  return data + RandomString(rng, kAppendBytes);
}

struct EditResult {
  size_t edits = 0, new_bytes = 0;
  double KiBPerEdit() const {
    return edits ? static_cast<double>(new_bytes) / 1024.0 / static_cast<double>(edits) : 0;
  }
};

// Bytes that the edited versions of the files chosen by `pick` add to a store
// that already holds `seen`.
template <typename Pick, typename EditFn>
EditResult MeasureEdit(const Chunker& c, const std::vector<LoadedFile>& files, const ChunkSet& seen,
                       Pick&& pick, EditFn&& edit) {
  EditResult r;
  ChunkSet added;
  for (size_t j = 0; j < files.size(); ++j) {
    if (!pick(j, files[j].data.size())) continue;
    size_t edits = 0;
    std::string edited = edit(files[j].data, j, &edits);
    r.edits += edits;
    ForEachChunk(c, edited, [&](std::string_view chunk) {
      XXH128_hash_t h = XXH3_128bits(chunk.data(), chunk.size());
      if (!seen.count(h) && added.insert(h).second) r.new_bytes += chunk.size();
    });
  }
  return r;
}

double MiB(size_t n) { return static_cast<double>(n) / (1 << 20); }

int Main(int argc, char** argv) {
  if (!InitCrypto()) return 1;
  size_t share_mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200;
  size_t lib_mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 300;
  // Every 4th file of /usr/share, every 12th of /usr/lib (sorted paths):
  // a spread over both trees rather than their alphabetically first folders.
  std::vector<LoadedFile> files = LoadFiles({"/usr/share"}, share_mib << 20, SIZE_MAX, 4);
  for (LoadedFile& f : LoadFiles({"/usr/lib"}, lib_mib << 20, SIZE_MAX, 12)) {
    files.push_back(std::move(f));
  }
  size_t total = 0, mid = 0, huge = 0, huge_bytes = 0, big_bytes = 0;
  for (const LoadedFile& f : files) {
    total += f.data.size();
    if (f.data.size() >= kHugeFile) {
      ++huge;
      huge_bytes += f.data.size();
    } else if (f.data.size() >= kBigFile) {
      ++mid;
    }
    if (f.data.size() >= kBigFile) big_bytes += f.data.size();
  }
  std::printf(
      "data: %zu files, %.0f MiB; %zu files of 1-16 MiB and %zu of >= 16 MiB "
      "(%.0f MiB) hold %.0f MiB\n",
      files.size(), MiB(total), mid, huge, MiB(huge_bytes), MiB(big_bytes));
  std::printf("metadata = %zu B per chunk reference + %zu B per unique blob\n\n", kRefBytes,
              kBlobBytes);
  std::printf(
      "| avg (min-max) KiB | NC | chunks | zstd-3 MiB | metadata MiB | mean chunk, files >= 1 MiB |"
      " metadata per TiB of such files | KiB stored per edit, 1-16 MiB files | same, >= 16 MiB"
      " files | KiB stored per 8 KiB append |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n");

  std::vector<ChunkerParams> candidates;
  for (uint32_t avg : {256u << 10, 512u << 10, 1u << 20, 2u << 20, 4u << 20}) {
    candidates.push_back({avg / 4, avg, avg * 4, 2});
  }
  for (uint32_t nc : {0u, 1u, 3u}) candidates.push_back({256u << 10, 1u << 20, 4u << 20, nc});

  GearTable gear = GearTable::FromKey(DeriveSubkey(Key{}, Subkey::kChunker));
  ZSTD_CCtx* zc = ZSTD_createCCtx();
  std::string zbuf;
  std::array<size_t, 3> counts{};  // the same for every candidate
  for (const ChunkerParams& p : candidates) {
    Chunker c(p, &gear);
    ChunkSet seen;
    size_t refs = 0, stored = 0, big_refs = 0;
    for (const LoadedFile& f : files) {
      ForEachChunk(c, f.data, [&](std::string_view chunk) {
        ++refs;
        if (f.data.size() >= kBigFile) ++big_refs;
        if (!seen.insert(XXH3_128bits(chunk.data(), chunk.size())).second) return;
        zbuf.resize(ZSTD_compressBound(chunk.size()));
        size_t z = ZSTD_compressCCtx(zc, zbuf.data(), zbuf.size(), chunk.data(), chunk.size(), 3);
        // Stored raw unless zstd saves 1/64, as core/compress.cc decides.
        stored += ZSTD_isError(z) || z >= chunk.size() - chunk.size() / 64 ? chunk.size() : z;
      });
    }
    size_t metadata = refs * kRefBytes + seen.size() * kBlobBytes;
    double big_mean = static_cast<double>(big_bytes) / static_cast<double>(big_refs);
    double per_tib = static_cast<double>(kRefBytes + kBlobBytes) * 1024.0 * 1024.0 / big_mean;
    EditResult e_mid = MeasureEdit(
        c, files, seen, [](size_t, size_t n) { return n >= kBigFile && n < kHugeFile; }, Edit);
    EditResult e_huge = MeasureEdit(
        c, files, seen, [](size_t, size_t n) { return n >= kHugeFile; }, Edit);
    EditResult app = MeasureEdit(
        c, files, seen, [](size_t j, size_t n) { return n >= kAppendMinFile && j % 4 == 0; },
        Append);
    std::printf(
        "| %u (%u-%u) | %u | %zu | %.1f | %.2f | %.0f KiB | %.0f MiB | %.0f | %.0f | %.0f |\n",
        p.avg_size >> 10, p.min_size >> 10, p.max_size >> 10, p.normalization, refs, MiB(stored),
        MiB(metadata), big_mean / 1024.0, per_tib, e_mid.KiBPerEdit(), e_huge.KiBPerEdit(),
        app.KiBPerEdit());
    counts = {e_mid.edits, e_huge.edits, app.edits};
    std::fflush(stdout);
  }
  ZSTD_freeCCtx(zc);
  std::printf("\nedits: %zu in 1-16 MiB files, %zu in >= 16 MiB files; appends: %zu\n", counts[0],
              counts[1], counts[2]);
  return 0;
}

}  // namespace
}  // namespace kloset::bench

int main(int argc, char** argv) { return kloset::bench::Main(argc, argv); }
