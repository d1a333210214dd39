// IsValidObjectName and the OpenRemote factory: the only place that knows how
// a STORE string maps to a backend.
#include "remotes/remote.h"

#include <sys/random.h>

#include <mutex>

#include "remotes/local_remote.h"
#include "remotes/memory_remote.h"
#include "remotes/metered_remote.h"
#include "remotes/rclone_config.h"
#include "remotes/rclone_drives.h"
#include "remotes/rclone_remote.h"
#include "remotes/retry_remote.h"
#include "remotes/shaped_remote.h"
#include "remotes/webdav_remote.h"

namespace kloset {

bool IsValidObjectName(std::string_view name) {
  if (name.empty()) return false;
  size_t seg_start = 0;
  for (size_t i = 0; i <= name.size(); i++) {
    if (i == name.size() || name[i] == '/') {
      std::string_view seg = name.substr(seg_start, i - seg_start);
      // Empty segments cover a leading '/', a trailing '/' and "a//b". "." is
      // refused too so that every object has exactly one spelling (1:1 paths).
      if (seg.empty() || seg == "." || seg == "..") return false;
      seg_start = i + 1;
      continue;
    }
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

constexpr std::string_view kMemoryScheme = "memory:";

std::mutex g_settings_mu;
RemoteSettings g_settings;

// The stack above a backend: counters on top (what the engine asked for and
// how long it took), then retries for network backends and simulations (a
// throttled drive, a restarting rclone daemon), then the simulation.
Status Stack(std::unique_ptr<Remote> base, bool network, const RemoteSettings& settings,
             std::unique_ptr<Remote>* out) {
  if (!settings.simulate.empty()) {
    ShapeOptions shape;
    KLOSET_RETURN_IF_ERROR(ParseShapeSpec(settings.simulate, &shape));
    base = std::make_unique<ShapedRemote>(std::move(base), shape);
    network = true;
  }
  RetryRemote* retry = nullptr;
  if (network) {
    auto r = std::make_unique<RetryRemote>(std::move(base));
    retry = r.get();
    base = std::move(r);
  }
  *out = std::make_unique<MeteredRemote>(std::move(base), retry);
  return Status::OK();
}

Status OpenRclone(const std::string& store, bool create, const RemoteSettings& settings,
                  std::unique_ptr<Remote>* out) {
  RcloneFsSpec spec;
  ParseRcloneFs(store, &spec);
  RcloneRemoteOptions o;
  o.daemon.binary = settings.rclone_binary;
  o.daemon.config = ChooseRcloneConfig(settings.rclone_config, spec.name, &o.config_source);
  if (settings.transfers > 0) o.transfers = settings.transfers;
  std::unique_ptr<RcloneRemote> r;
  KLOSET_RETURN_IF_ERROR(RcloneRemote::Open(store, create, o, &r));
  return Stack(std::move(r), /*network=*/true, settings, out);
}

Status OpenWebdav(const std::string& store, bool create, const RemoteSettings& settings,
                  std::unique_ptr<Remote>* out) {
  WebdavOptions o;
  if (settings.transfers > 0) o.transfers = settings.transfers;
  std::unique_ptr<WebdavRemote> r;
  KLOSET_RETURN_IF_ERROR(WebdavRemote::Open(store, create, o, &r));
  return Stack(std::move(r), /*network=*/true, settings, out);
}

}  // namespace

void SetRemoteSettings(const RemoteSettings& settings) {
  std::lock_guard<std::mutex> lock(g_settings_mu);
  g_settings = settings;
}

RemoteSettings GetRemoteSettings() {
  std::lock_guard<std::mutex> lock(g_settings_mu);
  return g_settings;
}

std::string TempObjectName() {
  uint64_t x = 0;
  while (getrandom(&x, sizeof x, 0) != sizeof x) {
  }
  static const char kHex[] = "0123456789abcdef";
  std::string s = ".tmp~";
  for (int i = 0; i < 16; i++) s.push_back(kHex[(x >> (4 * i)) & 15]);
  return s;
}

bool IsPlainLocalStore(const std::string& store) {
  RcloneFsSpec spec;
  return !store.empty() && GetRemoteSettings().simulate.empty() &&
         !store.starts_with(kMemoryScheme) && !store.starts_with(WebdavRemote::kScheme) &&
         !ParseRcloneFs(store, &spec);
}

Status OpenRemote(const std::string& store, bool create, std::unique_ptr<Remote>* out) {
  if (store.empty()) return Status::InvalidArgument("empty store location");
  const RemoteSettings settings = GetRemoteSettings();
  if (store.starts_with(kMemoryScheme)) {
    std::string name = store.substr(kMemoryScheme.size());
    if (name.empty()) return Status::InvalidArgument("memory store needs a name: memory:NAME");
    if (settings.simulate.empty()) {
      *out = MemoryRemote::OpenNamed(name);
      return Status::OK();
    }
    return Stack(MemoryRemote::OpenNamed(name), false, settings, out);
  }
  if (store.starts_with(WebdavRemote::kScheme)) return OpenWebdav(store, create, settings, out);
  RcloneFsSpec spec;
  if (ParseRcloneFs(store, &spec)) return OpenRclone(store, create, settings, out);
  std::unique_ptr<Remote> local;
  KLOSET_RETURN_IF_ERROR(LocalRemote::Open(store, create, &local));
  return Stack(std::move(local), /*network=*/false, settings, out);
}

}  // namespace kloset
