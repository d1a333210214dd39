#include "remotes/memory_remote.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "remotes/name_check.h"

namespace kloset {

struct MemoryRemote::Store {
  mutable std::mutex mu;
  // Ordered so List(prefix) is a range scan.
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> objects;
};

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<MemoryRemote::Store>> stores;
};

Registry& GetRegistry() {
  static Registry* r = new Registry;  // never destroyed: handles may outlive main()
  return *r;
}

}  // namespace

MemoryRemote::MemoryRemote() : MemoryRemote(std::make_shared<Store>(), "memory store") {}

MemoryRemote::MemoryRemote(std::shared_ptr<Store> store, std::string label)
    : store_(std::move(store)), label_(std::move(label)) {}

std::unique_ptr<MemoryRemote> MemoryRemote::OpenNamed(const std::string& name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& slot = r.stores[name];
  if (!slot) slot = std::make_shared<Store>();
  return std::unique_ptr<MemoryRemote>(new MemoryRemote(slot, "memory store " + name));
}

void MemoryRemote::DropNamed(const std::string& name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.stores.erase(name);
}

Status MemoryRemote::Read(const std::string& name, uint64_t offset, uint64_t length,
                          std::string* out) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  std::shared_ptr<const std::string> value;
  {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto it = store_->objects.find(name);
    if (it == store_->objects.end()) return Status::NotFound(label_ + ": no object " + name);
    value = it->second;
  }
  out->clear();
  if (offset >= value->size()) return Status::OK();
  uint64_t n = std::min<uint64_t>(length, value->size() - offset);
  out->assign(*value, offset, n);
  return Status::OK();
}

Status MemoryRemote::Write(const std::string& name, std::string_view data) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  auto value = std::make_shared<const std::string>(data);
  std::lock_guard<std::mutex> lock(store_->mu);
  store_->objects[name] = std::move(value);
  return Status::OK();
}

Status MemoryRemote::List(const std::string& prefix,
                          const std::function<void(const ObjectInfo&)>& fn) {
  KLOSET_RETURN_IF_ERROR(CheckListPrefix(prefix));
  std::vector<ObjectInfo> found;
  {
    std::lock_guard<std::mutex> lock(store_->mu);
    for (auto it = store_->objects.lower_bound(prefix);
         it != store_->objects.end() && it->first.starts_with(prefix); ++it) {
      found.push_back({it->first, it->second->size()});
    }
  }
  for (const ObjectInfo& info : found) fn(info);
  return Status::OK();
}

Status MemoryRemote::Delete(const std::string& name) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  std::lock_guard<std::mutex> lock(store_->mu);
  if (store_->objects.erase(name) == 0) return Status::NotFound(label_ + ": no object " + name);
  return Status::OK();
}

Status MemoryRemote::Stat(const std::string& name, ObjectInfo* info) {
  KLOSET_RETURN_IF_ERROR(CheckObjectName(name));
  std::lock_guard<std::mutex> lock(store_->mu);
  auto it = store_->objects.find(name);
  if (it == store_->objects.end()) return Status::NotFound(label_ + ": no object " + name);
  info->name = name;
  info->size = it->second->size();
  return Status::OK();
}

std::string MemoryRemote::Describe() const { return label_; }

size_t MemoryRemote::ObjectCount() const {
  std::lock_guard<std::mutex> lock(store_->mu);
  return store_->objects.size();
}

uint64_t MemoryRemote::TotalBytes() const {
  std::lock_guard<std::mutex> lock(store_->mu);
  uint64_t total = 0;
  for (const auto& [name, value] : store_->objects) total += value->size();
  return total;
}

}  // namespace kloset
