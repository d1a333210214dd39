// IngestFile: see core/ingest_file.h.
#include "core/ingest_file.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace kloset {
namespace {

constexpr uint64_t kBlock = StagingArea::kBlockSize;

}  // namespace

IngestFile::IngestFile(const IngestFileEnv& env, std::vector<ChunkRef> base, uint64_t size)
    : env_(env), base_(env.store) {
  if (!base_.Assign(base) || base_.size() != size) {
    broken_ = Status::Corrupt("file of " + std::to_string(size) +
                              " bytes has a chunk list that does not add up to its size");
    base_.Assign({});
  }
  size_ = size;
  base_valid_ = base_.size();
}

IngestFile::~IngestFile() {
  writer_.reset();  // waits for its pool tasks
  ReleaseStaging();
}

uint64_t IngestFile::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_;
}

bool IngestFile::dirty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dirty_;
}

Status IngestFile::Broken() const { return broken_; }

Status IngestFile::Break(const Status& s) {
  writer_.reset();
  broken_ = s.Annotate("content written since the last commit is lost");
  return broken_;
}

void IngestFile::ReleaseStaging() {
  if (!blocks_.empty()) env_.staging->Release(blocks_.size());
  blocks_.clear();
  file_.reset();  // deletes the file
  cache_gen_ = 0;
}

void IngestFile::DropCaches() {
  base_.DropCache();
  cache_gen_ = 0;
  std::string().swap(block_cache_);
}

// --- Streaming ---------------------------------------------------------------

void IngestFile::StartStream() {
  writer_ = std::make_unique<IngestStream>(env_.store, *env_.chunker, env_.gear, env_.pool);
  mode_ = Mode::kStreaming;
}

Status IngestFile::StreamWrite(uint64_t offset, std::string_view data) {
  Status s;
  if (offset > size_) s = writer_->WriteHole(offset - size_);
  if (s.ok()) s = writer_->Write(data);
  if (!s.ok()) return Break(s);
  size_ = offset + data.size();
  dirty_ = true;
  return Status::OK();
}

Status IngestFile::EndStream() {
  std::vector<ChunkRef> chunks;
  Status s = writer_->Finish(&chunks);
  writer_.reset();
  if (!s.ok()) return Break(s);
  if (!base_.Append(chunks) || base_.size() != size_) {
    return Break(Status::Corrupt("stream of " + std::to_string(size_) +
                                 " bytes gave chunks of another total size"));
  }
  base_valid_ = size_;
  mode_ = Mode::kStaged;
  return Status::OK();
}

// --- Public operations -------------------------------------------------------

Status IngestFile::Write(uint64_t offset, std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  KLOSET_RETURN_IF_ERROR(Broken());
  if (data.empty()) return Status::OK();
  if (offset > kMaxSize || data.size() > kMaxSize - offset) {
    return Status::InvalidArgument("write past the largest file size");
  }
  if (mode_ == Mode::kClean && offset >= size_) StartStream();
  if (mode_ == Mode::kStreaming) {
    if (offset >= size_) return StreamWrite(offset, data);
    KLOSET_RETURN_IF_ERROR(EndStream());
  }
  mode_ = Mode::kStaged;
  return StagedWrite(offset, data);
}

Status IngestFile::Read(uint64_t offset, size_t len, std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  KLOSET_RETURN_IF_ERROR(Broken());
  if (offset >= size_ || len == 0) return Status::OK();
  const uint64_t end = offset + std::min<uint64_t>(len, size_ - offset);
  // Bytes still inside the stream cannot be read back: end the stream.
  if (mode_ == Mode::kStreaming && end > base_.size()) KLOSET_RETURN_IF_ERROR(EndStream());
  out->reserve(end - offset);
  Status s = VisitContent(offset, end, [out](const char* data, uint64_t n) {
    if (data) {
      out->append(data, n);
    } else {
      out->append(n, '\0');
    }
    return Status::OK();
  });
  if (!s.ok()) out->clear();
  return s;
}

Status IngestFile::Truncate(uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (size == 0) {
    // Replaces everything, so it also ends a broken state.
    if (size_ == 0 && mode_ == Mode::kClean && broken_.ok()) return Status::OK();
    writer_.reset();
    ReleaseStaging();
    DropCaches();
    base_.Assign({});
    size_ = base_valid_ = 0;
    mode_ = Mode::kClean;
    broken_ = Status::OK();
    dirty_ = true;
    return Status::OK();
  }
  KLOSET_RETURN_IF_ERROR(Broken());
  if (size == size_) return Status::OK();
  if (size > kMaxSize) return Status::InvalidArgument("truncate past the largest file size");
  if (size > size_) {
    if (mode_ == Mode::kClean) {
      base_.Append({ChunkRef{Hash{}, size - size_, true}});
      base_valid_ = size;
    } else if (mode_ == Mode::kStreaming) {
      Status s = writer_->WriteHole(size - size_);
      if (!s.ok()) return Break(s);
    }
    // Staged: bytes past the old size already read as zeros.
    size_ = size;
    dirty_ = true;
    return Status::OK();
  }
  if (mode_ == Mode::kStreaming) KLOSET_RETURN_IF_ERROR(EndStream());
  mode_ = Mode::kStaged;
  return ShrinkStaged(size);
}

Status IngestFile::Commit(std::vector<ChunkRef>* chunks, uint64_t* size) {
  std::lock_guard<std::mutex> lock(mu_);
  KLOSET_RETURN_IF_ERROR(Broken());
  if (mode_ == Mode::kStreaming) KLOSET_RETURN_IF_ERROR(EndStream());
  if (mode_ == Mode::kStaged) KLOSET_RETURN_IF_ERROR(Rebase());
  mode_ = Mode::kClean;
  DropCaches();
  *chunks = base_.chunks();
  *size = size_;
  dirty_ = false;
  return Status::OK();
}

Status IngestFile::Spill() {
  std::lock_guard<std::mutex> lock(mu_);
  KLOSET_RETURN_IF_ERROR(Broken());
  if (blocks_.empty()) return Status::OK();
  return Rebase();
}

// --- Staged content ----------------------------------------------------------

Status IngestFile::OpenBlock(uint64_t b, const Block& blk, const std::string** data) {
  if (cache_gen_ != blk.gen) {
    cache_gen_ = 0;
    KLOSET_RETURN_IF_ERROR(file_->Get(blk.slot, b, blk.gen, &block_cache_));
    cache_gen_ = blk.gen;
  }
  *data = &block_cache_;
  return Status::OK();
}

Status IngestFile::BlockContent(uint64_t b, std::string* out) {
  auto it = blocks_.find(b);
  if (it != blocks_.end()) {
    const std::string* data;
    KLOSET_RETURN_IF_ERROR(OpenBlock(b, it->second, &data));
    *out = *data;  // staged blocks hold zeros past size_ already
    return Status::OK();
  }
  out->assign(kBlock, '\0');
  const uint64_t start = b * kBlock;
  const uint64_t stop = std::min({start + kBlock, size_, base_valid_});
  if (start >= stop) return Status::OK();
  char* dst = out->data();
  return base_.Visit(start, stop - start, [&dst](const char* data, uint64_t n) {
    if (data) memcpy(dst, data, n);
    dst += n;
    return Status::OK();
  });
}

Status IngestFile::VisitContent(uint64_t pos, uint64_t end, const PieceFn& fn) {
  while (pos < end) {
    const uint64_t b = pos / kBlock;
    auto it = blocks_.lower_bound(b);
    if (it != blocks_.end() && it->first == b) {
      const std::string* data;
      KLOSET_RETURN_IF_ERROR(OpenBlock(b, it->second, &data));
      const uint64_t n = std::min(end, (b + 1) * kBlock) - pos;
      KLOSET_RETURN_IF_ERROR(fn(data->data() + (pos - b * kBlock), n));
      pos += n;
      continue;
    }
    // An unstaged run up to the next staged block: base bytes, then zeros.
    const uint64_t run_end = it == blocks_.end() ? end : std::min(end, it->first * kBlock);
    if (pos < base_valid_) {
      const uint64_t n = std::min(run_end, base_valid_) - pos;
      KLOSET_RETURN_IF_ERROR(base_.Visit(pos, n, fn));
      pos += n;
    }
    if (pos < run_end) {
      KLOSET_RETURN_IF_ERROR(fn(nullptr, run_end - pos));
      pos = run_end;
    }
  }
  return Status::OK();
}

bool IngestFile::StagedIn(uint64_t start, uint64_t end) const {
  auto it = blocks_.lower_bound(start / kBlock);
  return it != blocks_.end() && it->first * kBlock < end;
}

Status IngestFile::StagedWrite(uint64_t offset, std::string_view data) {
  Status s = TryStagedWrite(offset, data);
  if (s.code() != Code::kNoSpace || blocks_.empty()) return s;
  // Make room by moving this file's own blocks into the store, then retry.
  Status spill = Rebase();
  if (!spill.ok()) {
    return Status::NoSpace(s.message() +
                           "; moving staged blocks to the store failed: " + spill.ToString());
  }
  return TryStagedWrite(offset, data);
}

// All new blocks are sealed into fresh slots before any replaces its old
// version, so a failure part way leaves the content as it was.
Status IngestFile::TryStagedWrite(uint64_t offset, std::string_view data) {
  const uint64_t end = offset + data.size();
  const uint64_t first = offset / kBlock, last = (end - 1) / kBlock;
  uint64_t staged = 0;
  for (auto it = blocks_.lower_bound(first); it != blocks_.end() && it->first <= last; ++it) {
    staged++;
  }
  const uint64_t fresh = last - first + 1 - staged;
  KLOSET_RETURN_IF_ERROR(env_.staging->Reserve(fresh));
  Status s;
  if (!file_) s = env_.staging->CreateFile(&file_);
  std::vector<std::pair<uint64_t, Block>> done;
  std::string block;
  for (uint64_t b = first; b <= last && s.ok(); b++) {
    const uint64_t start = b * kBlock;
    const uint64_t lo = std::max(offset, start), hi = std::min(end, start + kBlock);
    if (hi - lo == kBlock) {
      block.assign(data.substr(lo - offset, kBlock));
    } else {
      s = BlockContent(b, &block);
      if (!s.ok()) break;
      block.replace(lo - start, hi - lo, data.substr(lo - offset, hi - lo));
    }
    Block nb;
    nb.gen = ++next_gen_;
    s = file_->Put(b, nb.gen, block, &nb.slot);
    if (s.ok()) done.emplace_back(b, nb);
  }
  if (!s.ok()) {
    for (const auto& [b, nb] : done) file_->Free(nb.slot);
    env_.staging->Release(fresh);
    return s;
  }
  for (const auto& [b, nb] : done) {
    auto [it, inserted] = blocks_.try_emplace(b, nb);
    if (!inserted) {
      file_->Free(it->second.slot);
      it->second = nb;
    }
  }
  // The last block written stays cached: sequential small writes reuse it.
  block_cache_.swap(block);
  cache_gen_ = done.back().second.gen;
  size_ = std::max(size_, end);
  dirty_ = true;
  return Status::OK();
}

Status IngestFile::ShrinkStaged(uint64_t size) {
  // The block the new end falls in keeps zeros past it.
  auto it = blocks_.find(size / kBlock);
  if (size % kBlock != 0 && it != blocks_.end()) {
    const std::string* data;
    KLOSET_RETURN_IF_ERROR(OpenBlock(it->first, it->second, &data));
    std::string block = *data;
    memset(block.data() + size % kBlock, 0, kBlock - size % kBlock);
    Block nb;
    nb.gen = ++next_gen_;
    KLOSET_RETURN_IF_ERROR(file_->Put(it->first, nb.gen, block, &nb.slot));
    file_->Free(it->second.slot);
    it->second = nb;
    block_cache_.swap(block);
    cache_gen_ = nb.gen;
  }
  uint64_t dropped = 0;
  for (auto d = blocks_.lower_bound((size + kBlock - 1) / kBlock); d != blocks_.end();) {
    file_->Free(d->second.slot);
    d = blocks_.erase(d);
    dropped++;
  }
  env_.staging->Release(dropped);
  size_ = size;
  base_valid_ = std::min(base_valid_, size);
  dirty_ = true;
  return Status::OK();
}

// --- Rechunking --------------------------------------------------------------

Status IngestFile::StreamRange(uint64_t start, uint64_t end, std::vector<ChunkRef>* out) {
  FileWriter w(env_.store, *env_.chunker, env_.gear, env_.pool);
  Status s = VisitContent(start, end, [&w](const char* data, uint64_t n) {
    return data ? w.Write(std::string_view(data, n)) : w.WriteHole(n);
  });
  std::vector<ChunkRef> chunks;
  if (s.ok()) s = w.Finish(&chunks);
  if (!s.ok()) return s;
  for (const ChunkRef& c : chunks) AppendChunk(out, c);
  return Status::OK();
}

// Base chunks that no staged block overlaps and no truncation cut are kept
// as they are; each run of the others (and what lies past the base) is
// streamed through a FileWriter of its own. A run starts and ends on base
// chunk boundaries, which were content-defined cuts, so the new chunks are
// the ones a full rechunk would mostly give, at a fraction of the reads.
Status IngestFile::Rebase() {
  if (blocks_.empty() && base_valid_ == size_ && base_.size() == size_) return Status::OK();
  std::vector<ChunkRef> out;
  bool in_run = false;
  uint64_t run_start = 0, pos = 0;
  for (size_t i = 0; i < base_.count() && base_.start(i) < size_; i++) {
    const uint64_t cs = base_.start(i), ce = base_.end(i);
    if (ce <= base_valid_ && !StagedIn(cs, ce)) {
      if (in_run) KLOSET_RETURN_IF_ERROR(StreamRange(run_start, cs, &out));
      in_run = false;
      AppendChunk(&out, base_.chunks()[i]);
    } else if (!in_run) {
      in_run = true;
      run_start = cs;
    }
    pos = ce;
  }
  const uint64_t tail = in_run ? run_start : pos;
  if (tail < size_) KLOSET_RETURN_IF_ERROR(StreamRange(tail, size_, &out));
  uint64_t total = 0;
  for (const ChunkRef& c : out) total += c.size;
  if (total != size_) {
    return Status::Corrupt("rechunked file of " + std::to_string(size_) + " bytes gave " +
                           std::to_string(total));
  }
  ReleaseStaging();
  base_.Assign(out);
  base_valid_ = size_;
  return Status::OK();
}

}  // namespace kloset
