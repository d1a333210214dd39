// micro_bench: single-threaded MB/s of each stage of the klosetfs write/read
// pipeline, beside the raw library call it wraps, so overhead in our code
// shows up as a gap between the two columns. Best of 3 by thread CPU time;
// plain table output.
//
//   micro_bench [MiB per data set, default 64]
//
// Data: "random" (incompressible) and "text" (a spread-out sample of files
// under /usr/share, concatenated). Hash, compression and sealing run on
// 1 MiB pieces, the default average chunk size, as the pipeline does per blob.
// The raw zstd calls are the one-shot ZSTD_compress/ZSTD_decompress, which
// make a fresh context per call; klosetfs reuses a per-thread context.
#include <sodium.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_util.h"
#include "core/chunker.h"
#include "core/compress.h"
#include "core/crypto.h"
#include "core/file_io.h"
#include "core/ingest_file.h"
#include "core/memory_blob_store.h"
#include "core/staging_area.h"

namespace kloset::bench {
namespace {

constexpr size_t kPiece = 1 << 20;
constexpr int kReps = 3;

uint64_t sink = 0;  // results feed this so no stage is optimised away

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

struct DataSet {
  std::string name;
  std::string bytes;
  std::vector<std::string_view> pieces;
  // Outputs of the write-side stages, inputs of the read-side ones.
  std::vector<std::string> compressed, sealed;
  std::vector<Compression> kinds;
};

// The stage applied to piece i of a data set.
using Stage = std::function<void(DataSet&, size_t)>;

// MB/s of plaintext for `stage` over every piece (best of kReps).
double Rate(DataSet& d, const Stage& stage) {
  double s = BestOf(kReps, [&] {
    for (size_t i = 0; i < d.pieces.size(); ++i) stage(d, i);
  });
  return static_cast<double>(d.bytes.size()) / s / 1e6;
}

struct Row {
  const char* stage;
  const char* raw_name;
  double ours[2], raw[2];  // MB/s per data set; 0 = not applicable
};

void PrintCell(double v) {
  if (v > 0) {
    std::printf(" %9.0f", v);
  } else {
    std::printf(" %9s", "-");
  }
}

int Main(int argc, char** argv) {
  if (!InitCrypto()) return 1;
  size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  if (mib == 0) mib = 64;

  DataSet sets[2];
  sets[0].name = "random";
  sets[0].bytes.resize(mib << 20);
  RandomBytes(sets[0].bytes.data(), sets[0].bytes.size());
  sets[1].name = "text";
  size_t files = 0;
  // One in 8 files of /usr/share, none over 8 MiB: a mix of text, images,
  // compressed docs, locale catalogs.
  for (LoadedFile& f : LoadFiles({"/usr/share"}, mib << 20, 8 << 20, 8)) {
    sets[1].bytes += f.data;
    ++files;
  }
  if (sets[1].bytes.size() < kPiece) {
    std::fprintf(stderr, "micro_bench: could not read enough files under /usr/share\n");
    return 1;
  }
  for (DataSet& d : sets) {
    std::string_view all(d.bytes);
    for (size_t pos = 0; pos < all.size(); pos += kPiece)
      d.pieces.push_back(all.substr(pos, kPiece));
    d.compressed.resize(d.pieces.size());
    d.sealed.resize(d.pieces.size());
    d.kinds.resize(d.pieces.size());
  }

  Key master = RandomKey();
  Key id_key = DeriveSubkey(master, Subkey::kBlobId);
  Key data_key = DeriveSubkey(master, Subkey::kData);
  GearTable gear = GearTable::FromKey(DeriveSubkey(master, Subkey::kChunker));
  Chunker chunker(ChunkerParams{}, &gear);
  const std::string aad = std::string("kloset.blob\x01", 12) + std::string(32, 'i');
  std::vector<uint8_t> tmp(ZSTD_compressBound(kPiece) + kSealOverhead);
  uint8_t nonce[24] = {};
  std::string out;

  // Stages. The chunker runs over the whole buffer, the rest per piece.
  Stage chunk = [&](DataSet& d, size_t i) {
    if (i != 0) return;
    const size_t n = d.bytes.size(), max = chunker.params().max_size;
    for (size_t pos = 0; pos < n;) {
      size_t rest = n - pos;
      pos += chunker.FindCut(U8(d.bytes) + pos, std::min(rest, max), rest <= max);
      ++sink;
    }
  };
  Stage xxh3 = [&](DataSet& d, size_t i) { sink += XXH3_64bits(d.pieces[i].data(), kPiece); };
  Stage hash = [&](DataSet& d, size_t i) { sink += KeyedHash(id_key, d.pieces[i])[0]; };
  Stage raw_hash = [&](DataSet& d, size_t i) {
    uint8_t h[32];
    crypto_generichash(h, 32, U8(d.pieces[i]), d.pieces[i].size(), id_key.data(), 32);
    sink += h[0];
  };
  auto compress = [&](int level) -> Stage {
    return [&, level](DataSet& d, size_t i) {
      d.kinds[i] = Compress(d.pieces[i], level, &d.compressed[i]);
    };
  };
  auto raw_compress = [&](int level) -> Stage {
    return [&, level](DataSet& d, size_t i) {
      sink += ZSTD_compress(tmp.data(), tmp.size(), d.pieces[i].data(), d.pieces[i].size(), level);
    };
  };
  Stage seal = [&](DataSet& d, size_t i) {
    d.sealed[i].clear();
    Seal(data_key, d.pieces[i], aad, &d.sealed[i]);
  };
  Stage raw_seal = [&](DataSet& d, size_t i) {
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(tmp.data(), &clen, U8(d.pieces[i]),
                                               d.pieces[i].size(), U8(aad), aad.size(), nullptr,
                                               nonce, data_key.data());
    sink += clen;
  };
  Stage open = [&](DataSet& d, size_t i) {
    if (!Open(data_key, d.sealed[i], aad, &out).ok()) std::abort();
    sink += out.size();
  };
  Stage raw_open = [&](DataSet& d, size_t i) {
    const std::string& s = d.sealed[i];
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(tmp.data(), &mlen, nullptr, U8(s) + 24,
                                                   s.size() - 24, U8(aad), aad.size(), U8(s),
                                                   data_key.data()) != 0) {
      std::abort();
    }
    sink += mlen;
  };
  Stage decompress = [&](DataSet& d, size_t i) {
    bool z = d.kinds[i] == Compression::kZstd;
    std::string_view in = z ? std::string_view(d.compressed[i]) : d.pieces[i];
    if (!Decompress(d.kinds[i], in, d.pieces[i].size(), &out).ok()) std::abort();
    sink += out.size();
  };
  // Pieces stored raw (incompressible) cost the raw path a copy, as they do us.
  Stage raw_decompress = [&](DataSet& d, size_t i) {
    if (d.kinds[i] != Compression::kZstd) {
      std::memcpy(tmp.data(), d.pieces[i].data(), d.pieces[i].size());
      return;
    }
    sink += ZSTD_decompress(tmp.data(), tmp.size(), d.compressed[i].data(), d.compressed[i].size());
  };
  Stage aes = [&](DataSet& d, size_t i) {
    unsigned long long clen = 0;
    crypto_aead_aes256gcm_encrypt(tmp.data(), &clen, U8(d.pieces[i]), d.pieces[i].size(), U8(aad),
                                  aad.size(), nullptr, nonce, data_key.data());
    sink += clen;
  };

  // Streaming an ingest/ file in 128 KiB writes (FUSE's usual size) against
  // FileWriter alone: both chunk and hash into a MemoryBlobStore (which
  // neither compresses nor seals), so the gap is IngestFile's own cost. The
  // first run stores the chunks, later ones find them stored (dedup).
  char staging_dir[] = "/tmp/klosetfs-bench-XXXXXX";
  if (!mkdtemp(staging_dir)) return 1;
  std::unique_ptr<StagingArea> staging;
  if (!StagingArea::Open(staging_dir, master, 1 << 30, &staging).ok()) return 1;
  MemoryBlobStore mem_store;
  const ChunkerParams chunk_params;
  const IngestFileEnv env{&mem_store, &chunk_params, &gear, nullptr, staging.get()};
  constexpr size_t kWrite = 128 << 10;
  Stage ingest = [&](DataSet& d, size_t i) {
    if (i != 0) return;
    IngestFile f(env, {}, 0);
    for (size_t pos = 0; pos < d.bytes.size(); pos += kWrite) {
      if (!f.Write(pos, std::string_view(d.bytes).substr(pos, kWrite)).ok()) std::abort();
    }
    std::vector<ChunkRef> chunks;
    uint64_t size = 0;
    if (!f.Commit(&chunks, &size).ok()) std::abort();
    sink += chunks.size();
  };
  Stage file_writer = [&](DataSet& d, size_t i) {
    if (i != 0) return;
    FileWriter w(&mem_store, chunk_params, &gear);
    for (size_t pos = 0; pos < d.bytes.size(); pos += kWrite) {
      if (!w.Write(std::string_view(d.bytes).substr(pos, kWrite)).ok()) std::abort();
    }
    std::vector<ChunkRef> chunks;
    if (!w.Finish(&chunks).ok()) std::abort();
    sink += chunks.size();
  };

  struct Spec {
    const char* stage;
    Stage ours;
    const char* raw_name;
    Stage raw;
  };
  // Order matters: Open and Decompress read what Seal and Compress level 3 made.
  std::vector<Spec> specs = {
      {"Chunker::FindCut", chunk, "XXH3_64bits (mem. speed)", xxh3},
      {"KeyedHash (HashBlob)", hash, "crypto_generichash keyed", raw_hash},
      {"Compress level 1", compress(1), "ZSTD_compress level 1", raw_compress(1)},
      {"Compress level 3", compress(3), "ZSTD_compress level 3", raw_compress(3)},
      {"Seal", seal, "xchacha20poly1305 encrypt", raw_seal},
      {"Open", open, "xchacha20poly1305 decrypt", raw_open},
      {"Decompress", decompress, "ZSTD_decompress", raw_decompress},
      {"IngestFile stream", ingest, "FileWriter (memory store)", file_writer},
  };
  if (crypto_aead_aes256gcm_is_available()) {
    specs.push_back({"(reference only)", nullptr, "aes256gcm encrypt", aes});
  }

  std::printf("data: random %zu MiB; text %zu MiB from %zu files under /usr/share\n",
              sets[0].bytes.size() >> 20, sets[1].bytes.size() >> 20, files);
  std::printf("1 thread, 1 MiB pieces, best of %d by thread CPU time, MB/s of plaintext\n\n",
              kReps);
  std::printf("%-22s %9s %9s   %-26s %9s %9s\n", "klosetfs stage", "random", "text",
              "raw library call", "random", "text");
  std::vector<Row> rows;
  for (const Spec& s : specs) {
    Row r{s.stage, s.raw_name, {0, 0}, {0, 0}};
    for (int k = 0; k < 2; ++k) {
      if (s.ours) r.ours[k] = Rate(sets[k], s.ours);
      r.raw[k] = Rate(sets[k], s.raw);
    }
    std::printf("%-22s", r.stage);
    PrintCell(r.ours[0]);
    PrintCell(r.ours[1]);
    std::printf("   %-26s", r.raw_name);
    PrintCell(r.raw[0]);
    PrintCell(r.raw[1]);
    std::printf("\n");
    rows.push_back(r);
  }

  std::printf("\n");
  for (DataSet& d : sets) {
    size_t stored = 0;
    for (size_t i = 0; i < d.pieces.size(); ++i) {
      stored += d.kinds[i] == Compression::kZstd ? d.compressed[i].size() : d.pieces[i].size();
    }
    // One core's share of a backup: the write-side stages in series.
    int k = &d == &sets[0] ? 0 : 1;
    double inv = 0;
    for (size_t r : {0, 1, 3, 4}) inv += 1.0 / rows[r].ours[k];
    std::printf("%-6s zstd-3 ratio %.2f; chunk+hash+zstd-3+seal in series on one core: %.0f MB/s\n",
                d.name.c_str(), static_cast<double>(d.bytes.size()) / static_cast<double>(stored),
                1.0 / inv);
  }
  staging.reset();
  unlink((std::string(staging_dir) + "/.lock").c_str());
  rmdir(staging_dir);
  return sink == 42 ? 2 : 0;  // never 42 in practice; keeps `sink` alive
}

}  // namespace
}  // namespace kloset::bench

int main(int argc, char** argv) { return kloset::bench::Main(argc, argv); }
