#include "fs/chunk_cache.h"

#include <cstring>

namespace kloset::fs {

// Bookkeeping of one cached chunk (slot, map and list nodes, string
// header), counted against the capacity so that a cache of tiny chunks
// (small files) stays within it too.
constexpr size_t kSlotOverhead = 256;

struct ChunkCache::Slot {
  bool done = false;
  Status status;
  std::shared_ptr<const std::string> data;
  std::list<Hash>::iterator lru_pos;
  bool in_lru = false;
};

size_t ChunkCache::HashHasher::operator()(const Hash& h) const {
  size_t v;
  std::memcpy(&v, h.data(), sizeof v);  // ids are uniformly random already
  return v;
}

ChunkCache::ChunkCache(BlobStore* store, size_t capacity_bytes, ThreadPool* pool)
    : store_(store), capacity_(capacity_bytes), pool_(pool) {}

ChunkCache::~ChunkCache() {
  // Background loads capture `this`: wait for them before the members go.
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [this] { return pending_ == 0; });
}

std::shared_ptr<ChunkCache::Slot> ChunkCache::StartLoad(const Hash& id, bool* started) {
  // Caller holds mu_.
  auto it = slots_.find(id);
  if (it != slots_.end()) {
    *started = false;
    return it->second;
  }
  auto slot = std::make_shared<Slot>();
  slots_.emplace(id, slot);
  *started = true;
  return slot;
}

void ChunkCache::Load(const Hash& id, const std::shared_ptr<Slot>& slot) {
  auto data = std::make_shared<std::string>();
  Status s = store_->LoadBlob(BlobType::kData, id, data.get());
  // A chunk a file names but the store lacks is damage (EIO), not ENOENT.
  if (s.IsNotFound()) s = Status::Corrupt("data blob " + ToHex(id) + " is missing: " + s.message());
  std::lock_guard<std::mutex> l(mu_);
  slot->done = true;
  slot->status = s;
  if (s.ok()) {
    slot->data = std::move(data);
    lru_.push_front(id);
    slot->lru_pos = lru_.begin();
    slot->in_lru = true;
    bytes_ += slot->data->size() + kSlotOverhead;
    EvictLocked();
  } else {
    // Forget failed loads so a later read retries (the remote may recover).
    auto it = slots_.find(id);
    if (it != slots_.end() && it->second == slot) slots_.erase(it);
  }
  cv_.notify_all();
}

void ChunkCache::EvictLocked() {
  while (bytes_ > capacity_ && lru_.size() > 1) {
    Hash victim = lru_.back();
    lru_.pop_back();
    auto it = slots_.find(victim);
    if (it != slots_.end()) {
      bytes_ -= it->second->data->size() + kSlotOverhead;
      slots_.erase(it);
    }
  }
}

Status ChunkCache::Get(const Hash& id, std::shared_ptr<const std::string>* out) {
  std::shared_ptr<Slot> slot;
  bool started = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    slot = StartLoad(id, &started);
    if (!started && slot->done) {
      hits_++;
      lru_.splice(lru_.begin(), lru_, slot->lru_pos);
      *out = slot->data;
      return Status::OK();
    }
    if (started) misses_++;
  }
  if (started) Load(id, slot);
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return slot->done; });
  if (!slot->status.ok()) return slot->status;
  *out = slot->data;
  return Status::OK();
}

void ChunkCache::Prefetch(const Hash& id) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard<std::mutex> l(mu_);
    bool started = false;
    slot = StartLoad(id, &started);
    if (!started) return;
    misses_++;
    pending_++;
  }
  pool_->Submit([this, id, slot] {
    Load(id, slot);
    std::lock_guard<std::mutex> l(mu_);
    pending_--;
    cv_.notify_all();
  });
}

uint64_t ChunkCache::hits() const {
  std::lock_guard<std::mutex> l(mu_);
  return hits_;
}
uint64_t ChunkCache::misses() const {
  std::lock_guard<std::mutex> l(mu_);
  return misses_;
}
size_t ChunkCache::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}

}  // namespace kloset::fs
