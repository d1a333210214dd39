// IngestStream: see core/ingest_stream.h.
#include "core/ingest_stream.h"

#include <algorithm>
#include <utility>

namespace kloset {

IngestStream::IngestStream(BlobStore* store, const ChunkerParams& params, const GearTable* gear,
                           ThreadPool* pool)
    : store_(store), params_(params), gear_(gear), pool_(pool) {}

IngestStream::~IngestStream() {
  Stop();
  writer_.reset();  // waits for its pool tasks
}

Status IngestStream::StartWriter() {
  writer_ = std::make_unique<FileWriter>(store_, params_, gear_, pool_);
  Status s = writer_->Write(head_);
  std::string().swap(head_);
  return s;
}

Status IngestStream::Write(std::string_view data) {
  if (finished_) return Status::InvalidArgument("stream already finished");
  if (data.empty()) return Status::OK();
  if (!writer_) {
    // Content of at most min_size bytes is one chunk whatever follows.
    if (head_.size() + data.size() <= params_.min_size) {
      if (head_.empty()) head_.reserve(data.size());
      head_.append(data);
      return Status::OK();
    }
    KLOSET_RETURN_IF_ERROR(StartWriter());
  }
  // Started on the first queued write (WriteHole may have made the writer).
  if (!feeder_.joinable()) feeder_ = std::thread([this] { Feed(); });
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return queued_ < kMaxQueued || !error_.ok(); });
  if (!error_.ok()) return error_;
  std::string buf;
  if (!spare_.empty()) {
    buf = std::move(spare_.back());
    spare_.pop_back();
  }
  buf.assign(data);
  queued_ += buf.size();
  queue_.push_back(std::move(buf));
  cv_.notify_all();
  return Status::OK();
}

Status IngestStream::WriteHole(uint64_t len) {
  if (finished_) return Status::InvalidArgument("stream already finished");
  if (len == 0) return Status::OK();
  if (!writer_) {
    KLOSET_RETURN_IF_ERROR(StartWriter());
  } else {
    KLOSET_RETURN_IF_ERROR(Drain());
  }
  return writer_->WriteHole(len);
}

Status IngestStream::Finish(std::vector<ChunkRef>* chunks) {
  chunks->clear();
  if (finished_) return Status::InvalidArgument("stream already finished");
  finished_ = true;
  if (!writer_) {
    if (head_.empty()) return Status::OK();
    // What FileWriter would do for content under min_size, without the pool.
    const Hash id = store_->HashBlob(head_);
    KLOSET_RETURN_IF_ERROR(store_->SaveBlob(BlobType::kData, id, head_));
    chunks->push_back(ChunkRef{id, head_.size(), false});
    std::string().swap(head_);
    return Status::OK();
  }
  Status s = Drain();
  Stop();
  if (!s.ok()) return s;
  return writer_->Finish(chunks);
}

Status IngestStream::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return (queue_.empty() && !busy_) || !error_.ok(); });
  return error_;
}

void IngestStream::Stop() {
  if (!feeder_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    queue_.clear();
    queued_ = 0;
  }
  cv_.notify_all();
  feeder_.join();
}

void IngestStream::Feed() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string buf = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    Status s = error_;
    l.unlock();
    if (s.ok()) s = writer_->Write(buf);
    l.lock();
    busy_ = false;
    queued_ -= std::min(queued_, buf.size());
    if (!s.ok() && error_.ok()) error_ = s;
    if (spare_.size() < 2) {
      buf.clear();
      spare_.push_back(std::move(buf));
    }
    cv_.notify_all();
  }
}

}  // namespace kloset
