// Repository: upkeep of the local caches (the data blob cache, trimming the
// object cache) and blobs opened from pack bytes the caller already holds.
#include <sys/stat.h>

#include <ctime>

#include "core/repository_impl.h"

namespace kloset {

namespace {

// Cache entries younger than this are never trimmed: another process may
// have written the object (and cached it) after this one listed the store.
constexpr std::chrono::seconds kTrimGrace = std::chrono::minutes(10);
// Tree packs are cached when uploaded but indexed only when their backup
// flushes, which may be hours later.
constexpr std::chrono::seconds kPackTrimGrace = std::chrono::hours(24);
// Trimming lists snapshots/ (a request that can take a second on a cloud
// drive), so Open trims at most this often; a marker file's mtime says when.
constexpr time_t kTrimEverySeconds = 24 * 3600;
constexpr char kTrimMarker[] = "trimmed";

}  // namespace

void Repository::Impl::SetupDataCache() {
  if (!cache || opts.data_cache_bytes == 0) return;
  Key name_key = DeriveSubkey(master, Subkey::kCache);
  data_cache =
      std::make_unique<BlobDiskCache>(cache->dir() + "/data", opts.data_cache_bytes, name_key);
  Wipe(name_key.data(), name_key.size());
}

void Repository::Impl::TrimCache() {
  struct stat st;
  if (!cache || stat(cache->dir().c_str(), &st) != 0) return;  // nothing cached yet
  const std::string marker = cache->dir() + "/" + kTrimMarker;
  if (stat(marker.c_str(), &st) == 0 && st.st_mtime > time(nullptr) - kTrimEverySeconds) return;

  // Open listed index/ and loaded every index it found (a failure to load
  // one fails Open, unless it was damaged or deleted meanwhile).
  std::unordered_set<std::string> indexes;
  {
    std::shared_lock<std::shared_mutex> l(index_mu);
    indexes = seen_indexes;
  }
  cache->Trim("index", kTrimGrace, [&](const std::string& n) { return indexes.count(n) != 0; });
  cache->Trim("packs", kPackTrimGrace, [&](const std::string& n) {
    Hash id;
    uint32_t pack;
    if (!ObjectNameHash(n, &id)) return false;
    std::shared_lock<std::shared_mutex> l(index_mu);
    return index.FindPack(id, &pack);
  });
  // Snapshots: listed only when some cached one is old enough to judge.
  std::unordered_set<std::string> snapshots;
  bool listed = false;
  Status list_status;
  cache->Trim("snapshots", kTrimGrace, [&](const std::string& n) {
    if (!listed) {
      listed = true;
      list_status = remote->List("snapshots/", [&](const ObjectInfo& o) {
        snapshots.insert(o.name);
      });
    }
    return !list_status.ok() || snapshots.count(n) != 0;
  });
  if (list_status.ok()) (void)cache->Put(kTrimMarker, "");  // else: try again next Open
}

void Repository::Impl::DropVanishedIndexes(const std::vector<std::string>& listed,
                                           size_t known_before) {
  if (!cache) return;
  std::unordered_set<std::string> present(listed.begin(), listed.end());
  std::vector<std::string> gone;
  {
    std::unique_lock<std::shared_mutex> l(index_mu);
    for (size_t i = 0; i < known_before && i < index_objects.size(); i++) {
      const std::string& n = index_objects[i];
      if (!present.count(n) && vanished_indexes.insert(n).second) gone.push_back(n);
    }
  }
  for (const std::string& n : gone) cache->Remove(n);
}

Status Repository::OpenPackBlob(const IndexEntry& e, std::string_view pack_bytes,
                                std::string* plaintext) const {
  if (e.offset > pack_bytes.size() || e.stored_size > pack_bytes.size() - e.offset) {
    return Status::Corrupt("blob " + ToHex(e.id) + " at offset " + std::to_string(e.offset) +
                           " (" + std::to_string(e.stored_size) + " bytes) lies past the end of " +
                           "its pack (" + std::to_string(pack_bytes.size()) + " bytes)");
  }
  Status s =
      OpenBlob(impl_->data_key, e, pack_bytes.substr(e.offset, e.stored_size), plaintext);
  if (!s.ok()) return Status::Corrupt("blob " + ToHex(e.id) + " " + s.message());
  return Status::OK();
}

bool Repository::OfferPack(const Hash& pack_id, std::string_view pack_bytes) {
  Impl& m = *impl_;
  if (!m.cache) return false;
  {
    std::shared_lock<std::shared_mutex> l(m.index_mu);
    uint32_t pack;
    if (!m.index.FindPack(pack_id, &pack) || !m.index.PackHasTrees(pack)) return false;
  }
  if (PlainHash(pack_bytes) != pack_id) return false;
  {
    std::unique_lock<std::mutex> l(m.fetch_mu);
    m.fetch_cv.wait(l, [&] { return m.fetching.count(pack_id) == 0; });
    if (m.cache_verified.count(pack_id)) return true;
    m.fetching.insert(pack_id);
  }
  bool cached = m.cache->Put(PackName(pack_id), pack_bytes);
  {
    std::lock_guard<std::mutex> l(m.fetch_mu);
    m.fetching.erase(pack_id);
    if (cached) {
      m.cache_verified.insert(pack_id);
      m.cache_refused.erase(pack_id);
    }
  }
  m.fetch_cv.notify_all();
  return cached;
}

const BlobDiskCache* Repository::DataCache() const { return impl_->data_cache.get(); }

}  // namespace kloset
