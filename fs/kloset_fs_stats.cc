// The statistics file of KlosetFs (fs/stats_file.h): its text is gathered
// from the store's counters and the caches at open (or, read without a
// handle, at offset 0), and read from that copy.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>

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
  m.fuse_requests = fuse_counters_.Read();
  {
    std::lock_guard<std::mutex> l(inodes_mu_);
    m.inodes = inodes_.size();
  }
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    m.open_files = files_.size();
  }
  // Where the daemon's memory is, for a user (or test) asking why it is
  // large: live allocations, or freed memory the allocator keeps.
  struct mallinfo2 mi = mallinfo2();
  m.heap_in_use = mi.uordblks + mi.hblkhd;
  m.heap_free = mi.fordblks;
  m.heap_mmapped = mi.hblkhd;
  struct stat task;
  if (stat("/proc/self/task", &task) == 0) m.threads = task.st_nlink > 2 ? task.st_nlink - 2 : 0;
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

void KlosetFs::ReadText(const std::string& text, uint64_t offset, size_t size, std::string* out) {
  out->clear();
  if (offset < text.size())
    out->assign(text, offset, std::min<uint64_t>(size, text.size() - offset));
}

Status KlosetFs::ReadStatsNoHandle(uint64_t offset, size_t size, std::string* out) {
  // The kernel keeps no-handle files in its page cache; the statistics
  // file's attributes never stay valid and report a new mtime each time
  // (Stat), so the kernel drops those pages before each read and a new
  // pass starts at offset 0 again.
  std::lock_guard<std::mutex> l(stats_mu_);
  if (offset == 0 || stats_text_.empty()) stats_text_ = StatsText();
  ReadText(stats_text_, offset, size, out);
  return Status::OK();
}

}  // namespace kloset::fs
