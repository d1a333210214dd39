// The pack spool: local files that hold the blobs of packs not yet named by
// an index, so that blobs a Repository accepted survive a crash before Flush
// (OpenOptions::spool_dir). Byte layout: core/spool_format.h.
//
// SpoolFile is one pack's file. Every record goes to the kernel with
// write(2) when appended, so a killed process loses nothing it appended; a
// power cut loses what was not yet synced. A record that could not be
// written whole is cut off again (ftruncate); if even that fails the file is
// `broken` and takes no more records (the Repository then starts a new pack).
//
// PackSpool is the folder: it holds the flock that makes one process its
// owner, creates files, remembers which hold records not yet synced (Sync)
// and which belong to uploaded packs waiting for their index (Uploaded,
// Indexed: a file is deleted only once an index naming its pack is written).
//
// Thread safety: all methods of both classes may be called from many
// threads. SpoolFile::mu_ and PackSpool::mu_ are never held together;
// PackSpool::sync_mu_ is taken before either. No other lock is taken under
// them, so callers may hold their own locks across these calls.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/index.h"
#include "core/spool_format.h"

namespace kloset {

class SpoolFile {
 public:
  ~SpoolFile();  // closes the file; it stays on disk
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  // Appends one blob record (meta, then `sealed` exactly as in the pack).
  Status AppendBlob(const Hash& id, Compression c, std::string_view sealed, uint32_t raw_size);
  // Appends the pack-end record: `tail` is the finished pack after its blobs.
  Status AppendEnd(const Hash& pack_id, std::string_view tail);
  // fdatasync. A failure is sticky: records may be lost, so every later Sync
  // of this file reports it too.
  Status Sync();
  // Unlinks the file (it stays open until destroyed); Sync then has
  // nothing left to do.
  void Remove();

  bool broken() const;
  const std::string& path() const { return path_; }

 private:
  friend class PackSpool;
  SpoolFile(int fd, std::string path, BlobType type, std::string header, const Key* local_key)
      : fd_(fd),
        path_(std::move(path)),
        type_(type),
        header_(std::move(header)),
        local_key_(local_key) {}
  // Writes meta || payload at the end; caller holds mu_.
  Status Append(std::string_view meta, std::string_view payload);

  const int fd_;
  const std::string path_;
  const BlobType type_;
  const std::string header_;
  const Key* const local_key_;
  mutable std::mutex mu_;  // guards the members below
  uint64_t size_ = 0;      // bytes of whole records (the file's length)
  bool broken_ = false;
  bool removed_ = false;
  Status sync_error_;
};

class PackSpool {
 public:
  // Creates `dir` (mode 0700, parents too; kept as an absolute path) and
  // takes an exclusive flock on dir/lock: kBusy when another process (or
  // another Repository in this one) holds it. `local_key` is read only when files are written or
  // read, so it may be filled in after this call; it must outlive the PackSpool.
  static Status Open(const std::string& dir, const StoreId& store_id, const Key* local_key,
                     std::unique_ptr<PackSpool>* out);
  ~PackSpool();  // releases the lock; files stay

  // Spool files present in the folder (full paths, sorted). Called before
  // any file is created, these are a previous session's leftovers.
  Status ListFiles(std::vector<std::string>* paths) const;

  // Appends a blob record to *file, creating the file first when null.
  Status AppendBlob(std::shared_ptr<SpoolFile>* file, BlobType type, const Hash& id, Compression c,
                    std::string_view sealed, uint32_t raw_size);
  // Appends the pack-end record (best effort: without it recovery rebuilds
  // the pack with a fresh header instead of finding the uploaded one).
  void AppendEnd(SpoolFile* file, const Hash& pack_id, std::string_view tail);
  // Makes every record appended before the call durable, and the folder
  // entries of files created before it. Cheap when nothing is new.
  Status Sync();
  // The pack `pack_id` is uploaded; `file` waits for its index.
  void Uploaded(const Hash& pack_id, std::shared_ptr<SpoolFile> file);
  // An index naming these packs is durable: their files are deleted.
  void Indexed(const std::vector<PackRecord>& packs);
  // Deletes a leftover file (recovered, or nothing in it to recover).
  void RemoveFile(const std::string& path);

  const std::string& dir() const { return dir_; }

 private:
  PackSpool(std::string dir, int lock_fd, int dir_fd, const StoreId& store_id, const Key* local_key)
      : dir_(std::move(dir)),
        lock_fd_(lock_fd),
        dir_fd_(dir_fd),
        store_id_(store_id),
        local_key_(local_key) {}
  void MarkDirty(const std::shared_ptr<SpoolFile>& f, bool created);

  const std::string dir_;
  const int lock_fd_, dir_fd_;
  const StoreId store_id_;
  const Key* const local_key_;

  std::mutex sync_mu_;  // serializes Sync
  std::mutex mu_;       // guards the members below
  std::unordered_set<std::shared_ptr<SpoolFile>> dirty_;
  bool dir_dirty_ = false;
  uint64_t appended_ = 0;  // appends (and creations) so far
  uint64_t synced_ = 0;    // appends covered by the last completed Sync
  std::unordered_map<Hash, std::shared_ptr<SpoolFile>, HashHasher> uploaded_;
};

}  // namespace kloset
