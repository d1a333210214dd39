#include "fs/stats_file.h"

#include <nlohmann/json.hpp>

namespace kloset::fs {

std::string MountStatsJson(const MountStats& s) {
  nlohmann::json j;
  j["store"] = s.store;
  j["remote"] = s.remote;
  j["requests"] = s.requests ? nlohmann::json::parse(s.requests->ToJson()) : nlohmann::json();
  j["memory_cache"] = {
      {"hits", s.memory_hits}, {"misses", s.memory_misses}, {"bytes", s.memory_bytes}};
  j["disk_cache"] = nullptr;
  if (s.disk) {
    j["disk_cache"] = {{"hits", s.disk->hits},
                       {"misses", s.disk->misses},
                       {"bytes", s.disk_bytes},
                       {"capacity", s.disk_capacity}};
  }
  j["ingest"] = nullptr;
  if (s.ingest) {
    j["ingest"] = {{"draft_nodes", s.ingest->draft_nodes},
                   {"checkpoints", s.ingest->checkpoints},
                   {"entries_released", s.ingest->entries_released},
                   {"nodes_unloaded", s.ingest->nodes_unloaded}};
  }
  j["fuse_requests"] = nlohmann::json::object();
  for (auto& [name, n] : s.fuse_requests) j["fuse_requests"][name] = n;
  j["inodes"] = s.inodes;
  j["open_files"] = s.open_files;
  j["process"] = {{"heap_in_use", s.heap_in_use},
                  {"heap_free", s.heap_free},
                  {"heap_mmapped", s.heap_mmapped},
                  {"threads", s.threads}};
  j["uptime_s"] = s.uptime_s;
  // Padded with spaces to a multiple of 4 KiB, with at least 1 KiB to spare:
  // the size a stat(2) reports then holds the text a later open or read
  // makes (numbers change length from one moment to the next), so readers
  // that trust st_size, and the page cache, get whole JSON.
  std::string text = j.dump(2);
  const size_t padded = (text.size() + 1 + 1024 + 4095) / 4096 * 4096;
  text.append(padded - text.size() - 1, ' ');
  return text + "\n";
}

}  // namespace kloset::fs
