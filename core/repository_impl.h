// Repository::Impl: the state shared by repository.cc (open, init, keys),
// repository_write.cc (packers, uploads, Flush) and repository_read.cc
// (LoadBlob, indexes, sealed objects). Internal to core/.
//
// Lock order: flush_mu -> index_write_mu -> packer_mu[t] -> OpenPack::mu ->
// index_mu -> upload_mu. fetch_mu and the LRU's mutex are leaves. Remote
// calls are made with no lock held, except flush_mu and index_write_mu. The
// pack spool's locks (core/pack_spool.h) are taken under packer_mu and
// index_mu, never the other way round.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/blob_disk_cache.h"
#include "core/blob_lru.h"
#include "core/index.h"
#include "core/object_cache.h"
#include "core/pack.h"
#include "core/pack_spool.h"
#include "core/repository.h"
#include "core/thread_pool.h"

namespace kloset {

// A pack being filled, or finished and waiting for / in upload. Blobs in it
// are readable (from memory) until its upload completes.
struct OpenPack {
  explicit OpenPack(BlobType type) : writer(type) {}
  std::mutex mu;  // guards writer and released
  PackWriter writer;
  Hash id{};              // set by Finish
  bool released = false;  // bytes freed after upload; read via the index instead
  // Its spool file (with a spool), made with the first blob; guarded by
  // packer_mu while the pack is open, then owned by SubmitPack/UploadPack.
  std::shared_ptr<SpoolFile> spool;
};

// A blob accepted by SaveBlob whose pack is not uploaded yet.
struct PendingBlob {
  std::shared_ptr<OpenPack> pack;  // null while the caller is still sealing it
  IndexEntry entry;                // offset and sizes within `pack`
};

struct Repository::Impl {
  ~Impl();

  std::unique_ptr<Remote> remote;
  OpenOptions opts;
  StoreConfig config;
  Key master{}, id_key{}, data_key{}, local_key{};
  GearTable gear{};
  std::string current_key;  // hex name of the slot that opened this session
  RepoStats stats;
  std::unique_ptr<ObjectCache> cache;  // null with no_cache
  std::unique_ptr<BlobLru> tree_lru;

  // Guarded by index_mu.
  mutable std::shared_mutex index_mu;
  MemIndex index;
  std::unordered_map<BlobKey, PendingBlob, BlobKeyHash> pending;
  std::vector<PackRecord> unindexed;             // uploaded since the last index write
  size_t unindexed_blobs = 0;                    // blobs in `unindexed`
  bool index_write_due = false;                  // an early index write is decided, not yet begun
  std::unordered_set<std::string> seen_indexes;  // loaded, written or damaged
  std::vector<std::string> index_objects;
  std::vector<DamagedObject> damaged_indexes;

  // Open packs, one per blob type (index 0 data, 1 tree).
  std::mutex packer_mu[2];
  std::shared_ptr<OpenPack> packer[2];

  // Upload accounting, guarded by upload_mu.
  std::mutex upload_mu;
  std::condition_variable upload_cv;
  size_t max_in_flight = 0;
  uint64_t next_seq = 0;
  std::set<uint64_t> in_flight;  // sequence numbers of packs not yet done
  Status upload_error;           // first failure; sticky

  std::mutex flush_mu;
  // Serializes WriteIndexes, held across its remote writes: a Flush that
  // comes while an upload thread writes an index waits for it.
  std::mutex index_write_mu;

  // Tree packs being downloaded into the cache (single flight), and packs
  // known good in the cache this session. Guarded by fetch_mu.
  std::mutex fetch_mu;
  std::condition_variable fetch_cv;
  std::unordered_set<Hash, HashHasher> fetching, cache_verified, cache_refused;

  // Sealed data blobs on local disk; null when off (repository_cache.cc).
  std::unique_ptr<BlobDiskCache> data_cache;
  // Indexes loaded earlier that a later listing lacked (their cache entries
  // are deleted once). Guarded by index_mu.
  std::unordered_set<std::string> vanished_indexes;

  // Pack spool, null without spool_dir (repository_spool.cc). spool_cv
  // (with index_mu) wakes SaveBlob calls waiting for a concurrent save of the
  // same blob to reach the spool.
  std::unique_ptr<PackSpool> spool;
  std::condition_variable_any spool_cv;

  std::unique_ptr<ThreadPool> uploads;  // declared last: destroyed (joined) first

  // repository.cc
  void DeriveKeys();
  Status Setup();  // cache, LRU, upload pool; after config and keys are known

  // repository_write.cc
  Status StickyError();
  // Finishes `p` (header, name) and queues its upload; blocks while too many
  // packs are in flight.
  void SubmitPack(std::shared_ptr<OpenPack> p);
  void UploadPack(std::shared_ptr<OpenPack> p, uint64_t seq);
  // Writes indexes naming every pack in `unindexed`, then lets the spool
  // delete those packs' files. On failure the packs not yet named stay in
  // `unindexed` for the next call (`early`: an upload thread's write, whose
  // failure only says so; the next Flush writes them or fails itself).
  Status WriteIndexes(bool early = false);

  // repository_spool.cc
  // Uploads and indexes the packs of leftover spool files, then deletes them.
  Status RecoverSpool();

  // repository_cache.cc
  void SetupDataCache();  // from Setup, once `cache` is known
  // Deletes cached indexes, snapshots and tree packs the store no longer
  // has (after the indexes are loaded at Open). Best effort.
  void TrimCache();
  // Deletes the cache entries of indexes that `listed` (a fresh listing of
  // index/) lacks, among the first `known_before` of index_objects (those
  // known before the listing began).
  void DropVanishedIndexes(const std::vector<std::string>& listed, size_t known_before);

  // repository_read.cc
  // Reads a whole object verifying its name; cache first when `cacheable`.
  Status FetchObject(const std::string& name, bool cacheable, std::string* bytes);
  Status ReadBlobBytes(const IndexEntry& e, const Hash& pack_id, bool tree_pack, bool* from_cache,
                       std::string* sealed);
  // Makes sure the tree pack is in the cache; *bytes receives it when it had
  // to be downloaded (so the caller can serve from memory if caching failed).
  Status CacheTreePack(const Hash& pack_id, std::string* bytes);
  // `listed` (optional): a listing of index/ made by the caller just now.
  Status LoadIndexes(bool only_new, const std::vector<std::string>* listed = nullptr);
  Status SaveSealed(const std::string& dir, std::string_view label, std::string_view body,
                    bool cacheable, Hash* id, std::string* name);
};

bool IsCacheable(const std::string& name);  // indexes and snapshots

}  // namespace kloset
