// Repository: an open Kloset store. Owns the Remote, the keys, the in-memory
// index of blobs, the packers that group new blobs into packfiles, and the
// local cache of encrypted metadata objects. Implements BlobStore.
//
// Object layout on the remote (byte layouts in docs/FORMAT.md):
//   config                 plaintext header (magic, version, store id) + sealed settings
//   keys/<hex>             key slots: Argon2id params + salt + wrapped master key
//   packs/<hh>/<hex>       packfiles: sealed blobs + sealed header; name = BLAKE2b of bytes
//   index/<hh>/<hex>       sealed indexes: which blob is where
//   snapshots/<hex>        sealed snapshot descriptions
//   locks/<hex>            sealed lock records (see docs/FORMAT.md, "Locking")
// Write order is packs, then the index naming them, then the snapshot naming
// trees in them, so no reader ever finds a reference to a missing object
// written by a completed operation.
//
// Thread safety: every public method may be called from many threads.
// Internal lock order (never acquired in the other direction):
//   flush_mu -> index_write_mu -> packer_mu[type] -> OpenPack::mu -> index_mu -> upload_mu
// fetch_mu and the tree LRU's mutex are leaves; no lock is held across a
// Remote call except flush_mu and index_write_mu (which serialize Flush
// calls and index writes).
//
// Writes: SaveBlob compresses and encrypts in the caller's thread and
// appends to the open pack of its type; full packs are uploaded by
// `transfers` background threads, at most transfers + 2 packs in memory
// (SaveBlob blocks beyond that). Flush writes an index naming the packs
// uploaded since the last index; so does an upload thread as soon as
// OpenOptions::max_unindexed_blobs blobs wait for one. A failed upload or
// index write makes the Repository refuse further writes: SaveBlob and every
// later Flush return that error (reads go on); a pack that failed is never
// named by an index. Blobs saved but not flushed when the Repository is
// destroyed are lost (their packs, if uploaded, are unreferenced garbage for
// a future prune), unless an early index named them or a pack spool is on.
//
// Pack spool (OpenOptions::spool_dir, for the writable mount): every blob
// SaveBlob accepts is also written at once, encrypted as in its pack, to a
// local spool file of that pack (docs/FORMAT.md, "Local files: the pack
// spool"). Guarantee: a blob whose SaveBlob returned OK survives a SIGKILL
// of the process; after SyncSpool returns OK it also survives a power cut.
// The next Open (or Init) with the same spool_dir uploads the packs rebuilt
// from leftover spool files and indexes them, so those blobs load again. A
// spool file is deleted only after an index naming its pack is durable. One
// process at a time owns a spool folder (flock on spool_dir/lock).
//
// Reads: LoadBlob does one ranged Read per blob; LoadBlobs one per run of
// neighbouring data blobs. Packs holding tree blobs, indexes and snapshots
// are cached whole on local disk (see ObjectCache);
// decrypted tree pages are kept in a small in-memory LRU; with
// data_cache_bytes, data blobs are kept sealed in a capped disk cache
// (BlobDiskCache). Open drops cached indexes, snapshots and tree packs the
// store no longer has; RefreshIndex drops indexes that vanished.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/blob_store.h"
#include "core/chunker.h"
#include "core/compress.h"
#include "core/config_object.h"
#include "core/crypto.h"
#include "core/index.h"
#include "remotes/remote.h"

namespace kloset {

class BlobDiskCache;

// kFormatVersion and StoreConfig: core/config_object.h.

// Default of OpenOptions::max_unindexed_blobs. Until an index names them, the
// blobs of uploaded packs are kept a second time (IndexEntry copies, ~60
// bytes each) for it: this caps that at ~6 MiB however much a commit covers,
// while each index (~40 bytes a blob, ~4 MB) stays big enough that stores
// do not fill up with small ones.
constexpr size_t kDefaultMaxUnindexedBlobs = 100000;

struct OpenOptions {
  // Root of the local cache; this store's entries go to <root>/<store id hex>/.
  // Empty: $XDG_CACHE_HOME/klosetfs (or ~/.cache/klosetfs).
  std::string cache_dir;
  bool no_cache = false;            // --no-cache
  int transfers = 0;                // parallel uploads; 0 = remote's MaxParallel()
  size_t tree_lru_bytes = 8 << 20;  // in-memory cache of decrypted tree pages
  // Cap of the on-disk cache of data blobs (sealed, as stored; see
  // core/blob_disk_cache.h) under the cache folder; 0 = off (the default:
  // backup and restore read each blob about once). Mounts turn it on.
  uint64_t data_cache_bytes = 0;
  // Pack spool folder (see the header comment); empty = off. A relative
  // path is taken inside this store's cache folder (<cache>/<store id>/),
  // and then needs the cache. Open and Init return kBusy when another
  // process holds it.
  std::string spool_dir;
  // The bytes of the store's config object when the caller already read
  // them (the command line checks the format version before it asks for
  // the passphrase): Open then does not read it again.
  std::string config_bytes;
  // Once this many uploaded blobs wait for an index, an upload thread writes
  // one without waiting for Flush (its pack spool files then go too). 0:
  // only Flush (and spool recovery) write indexes.
  size_t max_unindexed_blobs = kDefaultMaxUnindexedBlobs;
};

struct InitOptions {
  KdfParams kdf;
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;
  int compression_level = 3;
  std::string key_label;  // e.g. "user@host", shown by `key list`
  OpenOptions open;       // how the new store stays open (cache, transfers)
};

// IndexEntry: core/index.h.

struct KeyInfo {
  std::string id;  // hex name under keys/
  std::string label;
  int64_t created_ns = 0;
  bool current = false;  // the slot that opened this session
  bool damaged = false;  // checksum fails or the label does not authenticate
};

// An object that failed to load (e.g. a damaged index), for check.
struct DamagedObject {
  std::string name;
  Status status;
};

struct RepoStats {
  std::atomic<uint64_t> blobs_added{0}, bytes_added_raw{0}, bytes_added_stored{0};
  std::atomic<uint64_t> packs_written{0}, bytes_uploaded{0}, bytes_downloaded{0};
  // Pack spool recovery at Open/Init: leftover files recovered (and
  // deleted), blobs they held that no index knew (now indexed), bytes of
  // torn or damaged records dropped, and files left alone (another store's,
  // or a newer spool version).
  std::atomic<uint64_t> spool_files_recovered{0}, spool_blobs_recovered{0};
  std::atomic<uint64_t> spool_bytes_dropped{0}, spool_files_skipped{0};
};

class Repository : public BlobStore {
 public:
  // Creates a store on an empty remote (kExists if a config is there).
  static Status Init(std::unique_ptr<Remote> remote, std::string_view passphrase,
                     const InitOptions& opts, std::unique_ptr<Repository>* out);
  // Opens a store: reads config (kNotFound if absent, kCorrupt if not a
  // store, kVersion if newer), unlocks a key slot (kWrongPassword if none
  // opens, kCorrupt if every slot is damaged), loads every index (from the
  // cache where possible). A damaged index does not fail Open: it is listed
  // by DamagedIndexes() and the blobs of the other indexes stay readable.
  // Round trips: the config, the listing of keys/ and that of index/ are
  // asked for at once; a key slot that opened before comes from the cache
  // (while keys/ still lists it), so a warm open is that one round trip.
  static Status Open(std::unique_ptr<Remote> remote, std::string_view passphrase,
                     const OpenOptions& opts, std::unique_ptr<Repository>* out);
  ~Repository() override;

  // BlobStore
  Hash HashBlob(std::string_view plaintext) const override;
  Status SaveBlob(BlobType type, const Hash& id, std::string_view plaintext, bool* added,
                  uint64_t* stored_bytes) override;
  bool HasBlob(BlobType type, const Hash& id) const override;
  Status LoadBlob(BlobType type, const Hash& id, std::string* plaintext) override;
  // Data blobs in packs of the index (and with no data cache) are read in
  // runs: one ranged Read per group of blobs of one pack lying at most
  // 64 KiB apart, up to 8 MiB a read (core/repository_batch.cc). Anything
  // else, and any blob whose run fails to read or open, goes through LoadBlob.
  void LoadBlobs(BlobType type, const std::vector<Hash>& ids, std::vector<std::string>* plaintexts,
                 std::vector<Status>* statuses) override;
  Status BlobSize(BlobType type, const Hash& id, uint64_t* size) const override;
  Status Flush() override;
  // Makes every blob SaveBlob has accepted so far survive a power cut (with
  // a pack spool: fdatasync of its spool files, fsync of the folder for new
  // ones). Cheap when nothing is new; OK at once without a spool. A failed
  // sync keeps being reported until the affected packs are indexed.
  Status SyncSpool();

  const StoreConfig& config() const;
  const GearTable& gear() const;
  Remote* remote() const;
  RepoStats& stats();

  // Reads indexes written since Open (by other processes or hosts). Errors
  // only when index/ cannot be listed; damaged indexes are recorded.
  Status RefreshIndex();
  // Index inspection for check. fn is called on a copy of the index with no
  // Repository lock held, so it may call back into the Repository.
  void ForEachBlob(const std::function<void(const IndexEntry&)>& fn) const;
  // kNotFound unless an index (loaded, or written by this process) names it.
  Status LookupBlob(const Hash& id, BlobType type, IndexEntry* out) const;
  Hash PackId(uint32_t pack) const;  // pack < PackCount()
  size_t PackCount() const;
  // Names of the index objects loaded or written (for check).
  std::vector<std::string> IndexObjects() const;
  // Index objects that could not be loaded, with why (kCorrupt naming them).
  std::vector<DamagedObject> DamagedIndexes() const;

  // Sealed standalone objects (snapshots, locks). `dir` is "snapshots" or
  // "locks" (kInvalidArgument otherwise); `label` is the AAD domain. The
  // object is named by the BLAKE2b-256 of its stored bytes; *id receives it.
  // Snapshots are also put in the local cache.
  Status SaveObject(const std::string& dir, std::string_view label, std::string_view plaintext,
                    Hash* id);
  // Loads and opens `name` ("snapshots/<hex>", "locks/<hex>", "index/<hh>/<hex>"),
  // verifying its name against its bytes (cache first for snapshots and
  // indexes). kCorrupt naming the object on a mismatch or failed
  // authentication; kNotFound if absent.
  Status LoadObject(const std::string& name, std::string_view label, std::string* plaintext);
  // Deletes a snapshot or lock object from the remote and the cache.
  Status DeleteObject(const std::string& name);

  // Key slots. AddKey writes a new slot wrapping this store's master key;
  // *key_id (optional) receives its hex name.
  Status AddKey(std::string_view passphrase, const KdfParams& kdf, const std::string& label,
                std::string* key_id);
  // Every slot, sorted by creation time. Damaged slots are listed with
  // damaged = true.
  Status ListKeys(std::vector<KeyInfo>* keys);
  // Removes the slot whose hex name starts with `key_id_prefix`. kNotFound if
  // none matches; kInvalidArgument if several match, if it is the slot in
  // use, or if no other intact slot would remain.
  Status RemoveKey(const std::string& key_id_prefix);
  // Hex name of the slot that opened this session.
  const std::string& CurrentKeyId() const;

  // Parses the sealed header of a whole pack (check --read-data). Entries get
  // offsets and pack = kNoPack. kCorrupt on anything wrong.
  Status ReadPackHeader(const std::string& pack_bytes, std::vector<IndexEntry>* entries) const;
  // Opens blob `e` (offset, sizes, type, id as the index gives them) from the
  // bytes of its whole pack, already held by the caller (check --read-data),
  // so the pack is not downloaded again. kCorrupt when the blob lies past the
  // end of pack_bytes, does not authenticate or does not decompress to
  // e.raw_size bytes. Does not check the plaintext against e.id.
  Status OpenPackBlob(const IndexEntry& e, std::string_view pack_bytes,
                      std::string* plaintext) const;
  // Offers a whole pack the caller downloaded to the local cache of tree
  // packs, so later tree-page loads do not download it again. Ignored unless
  // the index says the pack holds tree blobs, the bytes match its name and a
  // cache is on. Returns whether the pack is now cached.
  bool OfferPack(const Hash& pack_id, std::string_view pack_bytes);
  // The on-disk data blob cache (null when off), for statistics and tests.
  const BlobDiskCache* DataCache() const;
  // Key for files that never leave this machine but must hold no plaintext
  // (ingest journal, staging area, pack spool): Subkey::kLocal.
  const Key& LocalKey() const;
  // Folder of the local cache for this store ("" with no_cache).
  std::string CacheDir() const;

  struct Impl;

 private:
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Object names.
std::string PackName(const Hash& id);      // packs/<hh>/<hex>
std::string IndexName(const Hash& id);     // index/<hh>/<hex>
std::string SnapshotName(const Hash& id);  // snapshots/<hex>
std::string LockName(const Hash& id);      // locks/<hex>
std::string KeyName(const Hash& id);       // keys/<hex>

}  // namespace kloset
