// MemoryRemote: an in-memory backend for tests and benchmarks.
//
// Objects live in a map guarded by a mutex; a handle shares its map with every
// other handle opened on the same store, so a test can "reopen" a store. Stored
// values are immutable and shared, so a Read copies outside the lock.
//
// Thread safety: all methods may be called concurrently. List calls `fn`
// without holding the lock (on a snapshot taken at the start), so `fn` may
// call back into the remote.
#pragma once

#include <memory>
#include <string>

#include "remotes/remote.h"

namespace kloset {

class MemoryRemote : public Remote {
 public:
  struct Store;  // the shared object map (opaque)

  // A fresh private store, visible only through this handle.
  MemoryRemote();
  // A handle on the process-wide store called `name` ("memory:NAME"), created
  // empty on first use. The store lives until the process ends or
  // DropNamed(name); handles keep working on their copy after a drop.
  static std::unique_ptr<MemoryRemote> OpenNamed(const std::string& name);
  // Forgets the named store so the next OpenNamed(name) starts empty.
  static void DropNamed(const std::string& name);

  Status Read(const std::string& name, uint64_t offset, uint64_t length,
              std::string* out) override;
  Status Write(const std::string& name, std::string_view data) override;
  Status List(const std::string& prefix,
              const std::function<void(const ObjectInfo&)>& fn) override;
  Status Delete(const std::string& name) override;
  Status Stat(const std::string& name, ObjectInfo* info) override;
  int MaxParallel() const override { return 8; }
  std::string Describe() const override;

  // Number of objects and their total size (for tests and benchmarks).
  size_t ObjectCount() const;
  uint64_t TotalBytes() const;

 private:
  MemoryRemote(std::shared_ptr<Store> store, std::string label);

  std::shared_ptr<Store> store_;
  std::string label_;
};

}  // namespace kloset
