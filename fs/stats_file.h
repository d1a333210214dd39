// The mount's statistics file, MOUNTPOINT/.klosetfs-stats.json: the requests
// the mount made to its store (the "requests" member of `klosetfs stats
// --json`, same shape), how its caches fared and the requests the kernel sent
// it. Read-only; its text is made afresh at each open and served from that
// copy until release (the FUSE edge opens it with direct_io, so readers see
// exactly that text whatever size stat reported), or, on a mount with
// zero-message opens, at each read from offset 0 (KlosetFs::ReadInode). The name starts with a dot
// so it never meets a name the layout makes (snapshots/, latest, hosts/, tags/, ingest/) and stays
// out of plain `ls` and shell globs.
//
// Pure formatting (no FUSE, no I/O): KlosetFs gathers the numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/blob_disk_cache.h"
#include "remotes/metered_remote.h"

namespace kloset::fs {

inline constexpr char kStatsFileName[] = ".klosetfs-stats.json";

struct MountStats {
  std::string store;                    // STORE as given to `klosetfs mount`
  std::string remote;                   // Describe() of the store's remote
  std::optional<RemoteStats> requests;  // absent when the store is not metered
  uint64_t memory_hits = 0, memory_misses = 0, memory_bytes = 0;  // decoded chunks
  std::optional<BlobDiskCacheStats> disk;                         // sealed blobs on disk, when on
  uint64_t disk_bytes = 0, disk_capacity = 0;
  double uptime_s = 0;
  // Inodes the daemon keeps because the kernel holds them (each until its
  // FORGET), and files open through handles.
  uint64_t inodes = 0, open_files = 0;
  // The process's malloc heap (glibc's mallinfo2): bytes in use, bytes freed
  // but kept by the allocator, bytes in mmapped blocks; and its threads.
  uint64_t heap_in_use = 0, heap_free = 0, heap_mmapped = 0, threads = 0;
  // Requests the kernel sent the mount, by kind (FuseCounters::Read).
  std::vector<std::pair<std::string, uint64_t>> fuse_requests;
  // ingest/ (absent on a read-only mount): draft nodes in memory, and the
  // memory release rounds (fs/ingest_memory.cc) so far.
  struct Ingest {
    uint64_t draft_nodes = 0, checkpoints = 0, entries_released = 0, nodes_unloaded = 0;
  };
  std::optional<Ingest> ingest;
};

// {"store":..,"remote":..,"requests":{..as in stats --json..} or null,
//  "memory_cache":{"hits","misses","bytes"},
//  "disk_cache":{"hits","misses","bytes","capacity"} or null,
//  "ingest":{"draft_nodes","checkpoints","entries_released","nodes_unloaded"} or null,
//  "fuse_requests":{"lookup":..,"getattr":..,"open":..,"read":..,...},
//  "inodes":..,"open_files":..,
//  "process":{"heap_in_use","heap_free","heap_mmapped","threads"},
//  "uptime_s":..}
// padded with spaces (at least 1024) to a multiple of 4096 bytes and ended
// by a newline.
std::string MountStatsJson(const MountStats& s);

}  // namespace kloset::fs
