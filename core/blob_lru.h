// BlobLru: a byte-bounded LRU of decrypted blobs (tree pages), so walking a
// directory tree does not decrypt and decompress the same pages again.
//
// Thread safety: all methods may be called concurrently (one internal mutex,
// never held while calling out).
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/index.h"

namespace kloset {

class BlobLru {
 public:
  explicit BlobLru(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  bool Get(const Hash& id, std::string* out) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = map_.find(id);
    if (it == map_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    *out = it->second->second;
    return true;
  }

  void Put(const Hash& id, const std::string& value) {
    if (value.size() > capacity_ / 4) return;  // one huge page must not flush the rest
    std::lock_guard<std::mutex> l(mu_);
    if (map_.count(id)) return;
    order_.emplace_front(id, value);
    map_.emplace(id, order_.begin());
    used_ += value.size();
    while (used_ > capacity_ && !order_.empty()) {
      used_ -= order_.back().second.size();
      map_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  using Entry = std::pair<Hash, std::string>;
  const size_t capacity_;
  std::mutex mu_;
  size_t used_ = 0;
  std::list<Entry> order_;
  std::unordered_map<Hash, std::list<Entry>::iterator, HashHasher> map_;
};

}  // namespace kloset
