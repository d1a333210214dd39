// StagingArea: bounded local scratch space for the content of files in the
// writable ingest/ tree that are written at random offsets (see
// core/ingest_file.h). It holds only ciphertext: every block is sealed with
// XChaCha20-Poly1305 under the local key (Subkey::kLocal) before it reaches
// the disk.
//
// Layout: one directory (0700) holding a lock file and one StagingFile per
// file that has staged blocks. A StagingFile is a row of fixed-size slots;
// slot i holds at byte i * kSlotSize one sealed block of kBlockSize bytes.
// The AAD of a block binds a per-file random token, the block's index in its
// file and a generation the owner picks anew for every write, so a block
// cannot be moved to another file, another index or replaced by an older
// version of itself without failing to open.
//
// Staging does not survive a restart (the ingest journal and the pack spool
// do): Open deletes whatever an earlier process left in the directory, and
// holds an exclusive flock on the lock file so that a second process (or a
// second Open) cannot delete live staging files (kBusy).
//
// Thread safety: StagingArea's methods may be called from many threads. A
// StagingFile is used by one thread at a time (its owner's lock).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "core/crypto.h"
#include "remotes/status.h"

namespace kloset {

class StagingFile;

class StagingArea {
 public:
  static constexpr size_t kBlockSize = 64 * 1024;
  static constexpr size_t kSlotSize = kBlockSize + kSealOverhead;

  // Creates `dir` (0700, parents too) if missing, restricts it to 0700 and
  // deletes leftovers in it. cap_bytes bounds the bytes staged at once (in
  // whole blocks). kBusy if another StagingArea holds the directory.
  static Status Open(const std::string& dir, const Key& key, uint64_t cap_bytes,
                     std::unique_ptr<StagingArea>* out);
  ~StagingArea();
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;

  // Bytes reserved by staged blocks (blocks * kBlockSize).
  uint64_t used_bytes() const { return used_.load(); }
  uint64_t cap_bytes() const { return cap_; }
  const std::string& dir() const { return dir_; }

  // Accounts `blocks` more blocks against the cap: kNoSpace (naming the cap)
  // and nothing reserved if that would exceed it.
  Status Reserve(uint64_t blocks);
  void Release(uint64_t blocks);

  // Creates an empty staging file with a fresh random token. The file is
  // deleted when the StagingFile is destroyed.
  Status CreateFile(std::unique_ptr<StagingFile>* out);

 private:
  StagingArea(std::string dir, const Key& key, uint64_t cap, int lock_fd);
  std::string dir_;
  Key key_;
  uint64_t cap_;
  int lock_fd_;
  std::atomic<uint64_t> used_{0};
};

// The sealed blocks of one file on disk. Slots are allocated by Put and
// returned by Free; freed slots are reused first and their disk space is
// given back (hole punching, best effort).
class StagingFile {
 public:
  ~StagingFile();  // closes and deletes the file
  StagingFile(const StagingFile&) = delete;
  StagingFile& operator=(const StagingFile&) = delete;

  // Seals `block` (exactly kBlockSize bytes) as block `index`, generation
  // `gen`, into a free slot and returns the slot. On error nothing is
  // allocated; a full disk (ENOSPC, EDQUOT) gives kNoSpace.
  Status Put(uint64_t index, uint64_t gen, std::string_view block, uint32_t* slot);
  // Reads and opens the block in `slot`; kCorrupt unless it is block
  // `index`, generation `gen` of this file, intact.
  Status Get(uint32_t slot, uint64_t index, uint64_t gen, std::string* block) const;
  void Free(uint32_t slot);
  const std::string& path() const { return path_; }

 private:
  friend class StagingArea;
  StagingFile(int fd, std::string path, const Key& key, const std::array<uint8_t, 16>& token);
  std::string Aad(uint64_t index, uint64_t gen) const;

  int fd_;
  std::string path_;
  Key key_;
  std::array<uint8_t, 16> token_;
  std::set<uint32_t> free_;  // freed slots below next_slot_
  uint32_t next_slot_ = 0;
};

}  // namespace kloset
