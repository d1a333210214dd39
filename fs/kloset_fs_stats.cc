// The statistics file of KlosetFs (fs/stats_file.h): its text is gathered
// from the store's counters and the caches at open, and read from that copy.
#include <fcntl.h>

#include <algorithm>

#include "fs/ingest.h"
#include "fs/kloset_fs_internal.h"
#include "fs/stats_file.h"
#include "remotes/metered_remote.h"

namespace kloset::fs {

std::string KlosetFs::StatsText() const {
  MountStats m;
  m.store = store_name_;
  Remote* remote = repo_->remote();
  m.remote = remote->Describe();
  if (auto* metered = dynamic_cast<MeteredRemote*>(remote)) m.requests = metered->Stats();
  m.memory_hits = cache_->hits();
  m.memory_misses = cache_->misses();
  m.memory_bytes = cache_->bytes();
  if (const BlobDiskCache* disk = repo_->DataCache()) {
    m.disk = disk->stats();
    m.disk_bytes = disk->used_bytes();
    m.disk_capacity = disk->capacity();
  }
  if (ingest_) m.ingest = ingest_->MemoryStats();
  m.uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
  return MountStatsJson(m);
}

Status KlosetFs::OpenStats(int flags, uint64_t* fh) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
    return Status::ReadOnly("the statistics file is read-only");
  auto h = std::make_shared<FileHandle>();
  h->inode = Get(kStatsIno);
  h->text = StatsText();
  std::lock_guard<std::mutex> l(handles_mu_);
  *fh = next_fh_++;
  files_[*fh] = std::move(h);
  return Status::OK();
}

Status KlosetFs::ReadGenerated(const FileHandle& h, uint64_t offset, size_t size,
                               std::string* out) {
  out->clear();
  if (offset < h.text.size())
    out->assign(h.text, offset, std::min<uint64_t>(size, h.text.size() - offset));
  return Status::OK();
}

}  // namespace kloset::fs
