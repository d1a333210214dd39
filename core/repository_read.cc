// Repository: the read path (LoadBlob, the tree-pack cache), index loading
// and sealed standalone objects.
#include <algorithm>

#include "core/pack.h"
#include "core/repository_impl.h"
#include "core/sealed_object.h"

namespace kloset {

namespace {

bool StartsWith(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

// "index/<hh>/<hex>" with hh the first two digits of hex.
bool IsIndexName(const std::string& name, Hash* id) {
  return name.size() == 6 + 3 + 64 && StartsWith(name, "index/") && name[8] == '/' &&
         ObjectNameHash(name, id) && name.compare(6, 2, name, 9, 2) == 0;
}

}  // namespace

bool IsCacheable(const std::string& name) {
  return StartsWith(name, "index/") || StartsWith(name, "snapshots/");
}

Status Repository::Impl::FetchObject(const std::string& name, bool cacheable, std::string* bytes) {
  Hash want;
  if (!ObjectNameHash(name, &want)) {
    return Status::InvalidArgument("'" + name + "' is not a content-named object");
  }
  if (cacheable && cache && cache->Get(name, bytes)) return Status::OK();
  Status s = remote->Read(name, 0, Remote::kToEnd, bytes);
  if (!s.ok()) return s.Annotate("reading " + name);
  stats.bytes_downloaded += bytes->size();
  if (PlainHash(*bytes) != want) {
    return Status::Corrupt(name + " does not match its name (damaged or truncated, " +
                           std::to_string(bytes->size()) + " bytes)");
  }
  if (cacheable && cache) cache->Put(name, *bytes);
  return Status::OK();
}

Status Repository::Impl::SaveSealed(const std::string& dir, std::string_view label,
                                    std::string_view body, bool cacheable, Hash* id,
                                    std::string* name) {
  std::string bytes;
  SealObject(data_key, label, body, config.compression_level, &bytes);
  *id = PlainHash(bytes);
  *name = dir == "index" ? IndexName(*id) : dir + "/" + ToHex(*id);
  Status s = remote->Write(*name, bytes);
  if (!s.ok()) return s.Annotate("writing " + *name);
  stats.bytes_uploaded += bytes.size();
  if (cacheable && cache) cache->Put(*name, bytes);
  return Status::OK();
}

Status Repository::SaveObject(const std::string& dir, std::string_view label,
                              std::string_view plaintext, Hash* id) {
  if (dir != "snapshots" && dir != "locks") {
    return Status::InvalidArgument("SaveObject: unsupported folder '" + dir + "'");
  }
  std::string name;
  return impl_->SaveSealed(dir, label, plaintext, dir == "snapshots", id, &name);
}

Status Repository::LoadObject(const std::string& name, std::string_view label,
                              std::string* plaintext) {
  std::string bytes;
  KLOSET_RETURN_IF_ERROR(impl_->FetchObject(name, IsCacheable(name), &bytes));
  Status s = OpenObject(impl_->data_key, label, bytes, plaintext);
  if (!s.ok()) return Status(s.code(), name + ": " + s.message());
  return Status::OK();
}

Status Repository::DeleteObject(const std::string& name) {
  if (!StartsWith(name, "snapshots/") && !StartsWith(name, "locks/")) {
    return Status::InvalidArgument("DeleteObject: refusing to delete '" + name + "'");
  }
  if (impl_->cache) impl_->cache->Remove(name);
  Status s = impl_->remote->Delete(name);
  if (!s.ok()) return s.Annotate("deleting " + name);
  return Status::OK();
}

Status Repository::Impl::LoadIndexes(bool only_new, const std::vector<std::string>* listed) {
  size_t known_before = 0;
  if (only_new) {
    std::shared_lock<std::shared_mutex> l(index_mu);
    known_before = index_objects.size();
  }
  std::vector<std::string> names;
  if (listed) {
    names = *listed;
  } else {
    Status s = remote->List("index/", [&](const ObjectInfo& o) { names.push_back(o.name); });
    if (!s.ok()) return s.Annotate("listing index/");
  }
  if (only_new) {
    DropVanishedIndexes(names, known_before);
    std::shared_lock<std::shared_mutex> l(index_mu);
    std::erase_if(names, [&](const std::string& n) { return seen_indexes.count(n) != 0; });
  }
  std::sort(names.begin(), names.end());
  std::vector<std::vector<PackRecord>> recs(names.size());
  std::vector<Status> st(names.size());
  auto load = [&](size_t i) {
    Hash id;
    if (!IsIndexName(names[i], &id)) {
      st[i] = Status::Corrupt(names[i] + ": unexpected object in index/");
      return;
    }
    std::string bytes, body;
    st[i] = FetchObject(names[i], /*cacheable=*/true, &bytes);
    if (st[i].ok()) st[i] = OpenObject(data_key, kIndexLabel, bytes, &body);
    if (st[i].ok()) st[i] = DecodeIndexBody(body, &recs[i]);
    if (!st[i].ok() && !StartsWith(st[i].message(), names[i])) {
      st[i] = Status(st[i].code(), names[i] + ": " + st[i].message());
    }
  };
  // Indexes are many small objects: fetch them in parallel.
  size_t workers = std::min<size_t>(names.size(), static_cast<size_t>(remote->MaxParallel()));
  if (workers > 1) {
    ThreadPool pool(workers);
    for (size_t i = 0; i < names.size(); i++) pool.Submit([&, i] { load(i); });
    pool.Wait();
  } else {
    for (size_t i = 0; i < names.size(); i++) load(i);
  }
  // Damage (kCorrupt, kVersion) is recorded and skipped so that everything
  // else stays readable; an index deleted since the listing is skipped;
  // any other failure (unreachable remote) is returned: a silently partial
  // index would make blobs look missing.
  Status first_error;
  std::unique_lock<std::shared_mutex> l(index_mu);
  for (size_t i = 0; i < names.size(); i++) {
    const Status& r = st[i];
    bool damaged = r.IsCorrupt() || r.code() == Code::kVersion;
    if (!r.ok() && !damaged && !r.IsNotFound()) {
      if (first_error.ok()) first_error = r;
      continue;  // not seen: the next refresh tries again
    }
    if (!seen_indexes.insert(names[i]).second) continue;  // loaded by a concurrent refresh
    if (damaged) {
      damaged_indexes.push_back({names[i], r});
    } else if (r.ok()) {
      for (const PackRecord& rec : recs[i]) index.AddPack(rec.pack_id, rec.blobs);
      index_objects.push_back(names[i]);
    }
  }
  return first_error;
}

Status Repository::RefreshIndex() { return impl_->LoadIndexes(/*only_new=*/true); }

Status Repository::Impl::CacheTreePack(const Hash& pack_id, std::string* bytes) {
  const std::string name = PackName(pack_id);
  {
    std::unique_lock<std::mutex> l(fetch_mu);
    fetch_cv.wait(l, [&] { return fetching.count(pack_id) == 0; });
    if (cache_refused.count(pack_id)) return Status::Corrupt(name + " is not cached");
    if (cache_verified.count(pack_id)) return Status::OK();
    fetching.insert(pack_id);
  }
  Status result;
  bool verified = false, refused = false;
  if (cache->Verify(name)) {
    verified = true;
  } else {
    std::string data;
    result = remote->Read(name, 0, Remote::kToEnd, &data);
    if (result.ok()) {
      stats.bytes_downloaded += data.size();
      if (PlainHash(data) != pack_id) {
        // Damaged on the remote: ranged reads let the AEAD judge each blob.
        refused = true;
        result = Status::Corrupt(name + " does not match its name");
      } else {
        verified = cache->Put(name, data);
        refused = !verified;  // cannot cache: do not download it whole again
        *bytes = std::move(data);
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(fetch_mu);
    fetching.erase(pack_id);
    if (verified) cache_verified.insert(pack_id);
    if (refused) cache_refused.insert(pack_id);
  }
  fetch_cv.notify_all();
  return result;
}

Status Repository::Impl::ReadBlobBytes(const IndexEntry& e, const Hash& pack_id, bool tree_pack,
                                       bool* from_cache, std::string* sealed) {
  const std::string name = PackName(pack_id);
  *from_cache = false;
  if (tree_pack && cache) {
    std::string whole;
    Status s = CacheTreePack(pack_id, &whole);
    if (s.ok() && !whole.empty() && e.offset + e.stored_size <= whole.size()) {
      sealed->assign(whole, e.offset, e.stored_size);
      return Status::OK();
    }
    if (s.ok() && whole.empty() && cache->ReadRange(name, e.offset, e.stored_size, sealed)) {
      *from_cache = true;
      return Status::OK();
    }
    if (s.ok() && whole.empty()) {
      // The cache folder was deleted under us: fetch it again next time.
      std::lock_guard<std::mutex> l(fetch_mu);
      cache_verified.erase(pack_id);
    }
    if (!s.ok() && !s.IsCorrupt()) return s.Annotate("blob " + ToHex(e.id));
  }
  Status s = remote->Read(name, e.offset, e.stored_size, sealed);
  if (s.IsNotFound()) {
    return Status::NotFound("pack " + name + " is missing (needed for blob " + ToHex(e.id) + ")");
  }
  if (!s.ok()) return s.Annotate("reading blob " + ToHex(e.id) + " from " + name);
  stats.bytes_downloaded += sealed->size();
  if (sealed->size() != e.stored_size) {
    return Status::Corrupt("pack " + name + " is truncated: blob " + ToHex(e.id) + " at offset " +
                           std::to_string(e.offset) + " needs " + std::to_string(e.stored_size) +
                           " bytes, got " + std::to_string(sealed->size()));
  }
  return Status::OK();
}

Status Repository::LoadBlob(BlobType type, const Hash& id, std::string* plaintext) {
  Impl& m = *impl_;
  if (type == BlobType::kTree && m.tree_lru->Get(id, plaintext)) return Status::OK();
  // At most: a pending blob whose pack finished uploading meanwhile, then a
  // cached copy that failed, then the remote.
  for (int attempt = 0; attempt < 3; attempt++) {
    IndexEntry e;
    Hash pack_id{};
    bool tree_pack = false;
    std::shared_ptr<OpenPack> pend;
    {
      std::shared_lock<std::shared_mutex> l(m.index_mu);
      if (m.index.Find(id, type, &e)) {
        pack_id = m.index.PackId(e.pack);
        tree_pack = m.index.PackHasTrees(e.pack);
      } else {
        auto it = m.pending.find(BlobKey{id, type});
        if (it == m.pending.end()) {
          return Status::NotFound("blob " + ToHex(id) + " is not in the index");
        }
        if (!it->second.pack) {
          return Status::NotFound("blob " + ToHex(id) + " is still being saved");
        }
        pend = it->second.pack;
        e = it->second.entry;
      }
    }
    std::string sealed;
    bool from_cache = false;
    // Data blobs may come from (and go to) the on-disk data cache.
    const bool disk = !pend && !tree_pack && type == BlobType::kData && m.data_cache;
    bool from_disk = false;
    if (pend) {
      std::lock_guard<std::mutex> l(pend->mu);
      if (pend->released) continue;  // uploaded meanwhile: the index knows it now
      sealed.assign(pend->writer.data(), e.offset, e.stored_size);
    } else if (disk && m.data_cache->Get(id, e.stored_size, &sealed)) {
      from_disk = true;
    } else {
      KLOSET_RETURN_IF_ERROR(m.ReadBlobBytes(e, pack_id, tree_pack, &from_cache, &sealed));
    }
    Status s = OpenBlob(m.data_key, e, sealed, plaintext);
    if (!s.ok() && from_disk) {
      m.data_cache->Drop(id);  // damaged on local disk: fetch it from the store
      continue;
    }
    if (s.ok() && disk && !from_disk) m.data_cache->Put(id, sealed);
    if (!s.ok() && from_cache) {
      // The cached copy changed after it was verified: drop it, use the remote.
      m.cache->Remove(PackName(pack_id));
      std::lock_guard<std::mutex> l(m.fetch_mu);
      m.cache_verified.erase(pack_id);
      m.cache_refused.insert(pack_id);
      continue;
    }
    if (!s.ok()) {
      std::string where = pend ? "an unsaved pack" : "pack " + PackName(pack_id);
      return Status::Corrupt("blob " + ToHex(id) + " in " + where + " " + s.message());
    }
    if (type == BlobType::kTree) m.tree_lru->Put(id, *plaintext);
    return Status::OK();
  }
  return Status::Transient("blob " + ToHex(id) + " moved while being read; try again");
}

Status Repository::LookupBlob(const Hash& id, BlobType type, IndexEntry* out) const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  if (impl_->index.Find(id, type, out)) return Status::OK();
  return Status::NotFound("blob " + ToHex(id) + " is not in the index");
}

void Repository::ForEachBlob(const std::function<void(const IndexEntry&)>& fn) const {
  std::vector<IndexEntry> copy;
  {
    std::shared_lock<std::shared_mutex> l(impl_->index_mu);
    copy.reserve(impl_->index.BlobCount());
    impl_->index.ForEach([&](const IndexEntry& e) { copy.push_back(e); });
  }
  for (const IndexEntry& e : copy) fn(e);
}

Hash Repository::PackId(uint32_t pack) const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  return impl_->index.PackId(pack);
}

size_t Repository::PackCount() const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  return impl_->index.PackCount();
}

std::vector<std::string> Repository::IndexObjects() const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  return impl_->index_objects;
}

std::vector<DamagedObject> Repository::DamagedIndexes() const {
  std::shared_lock<std::shared_mutex> l(impl_->index_mu);
  return impl_->damaged_indexes;
}

}  // namespace kloset
