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
  j["uptime_s"] = s.uptime_s;
  return j.dump(2) + "\n";
}

}  // namespace kloset::fs
