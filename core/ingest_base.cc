// IngestBase: see core/ingest_base.h.
#include "core/ingest_base.h"

#include <algorithm>

namespace kloset {

void AppendChunk(std::vector<ChunkRef>* list, const ChunkRef& c) {
  if (c.size == 0) return;
  if (c.is_hole && !list->empty() && list->back().is_hole) {
    list->back().size += c.size;
    return;
  }
  list->push_back(c);
  if (c.is_hole) list->back().id = Hash{};
}

bool IngestBase::Assign(const std::vector<ChunkRef>& chunks) {
  chunks_.clear();
  ends_.clear();
  return Append(chunks);
}

bool IngestBase::Append(const std::vector<ChunkRef>& chunks) {
  uint64_t total = size();
  for (const ChunkRef& c : chunks) {
    if (__builtin_add_overflow(total, c.size, &total)) return false;
  }
  for (const ChunkRef& c : chunks) {
    const size_t before = chunks_.size();
    AppendChunk(&chunks_, c);
    if (chunks_.size() > before) {
      ends_.push_back(size() + c.size);
    } else if (c.size > 0) {
      ends_.back() += c.size;  // merged into the previous hole
    }
  }
  return true;
}

size_t IngestBase::ChunkAt(uint64_t offset) const {
  return std::upper_bound(ends_.begin(), ends_.end(), offset) - ends_.begin();
}

void IngestBase::DropCache() {
  cache_valid_ = false;
  std::string().swap(cached_);
}

Status IngestBase::Load(const ChunkRef& c) {
  if (cache_valid_ && cached_id_ == c.id && cached_.size() == c.size) return Status::OK();
  cache_valid_ = false;
  Status s = store_->LoadBlob(BlobType::kData, c.id, &cached_);
  // A chunk the file names but the store lacks is damage.
  if (s.IsNotFound()) s = Status::Corrupt("missing from the store (" + s.message() + ")");
  if (!s.ok()) return s.Annotate("data blob " + ToHex(c.id));
  if (cached_.size() != c.size) {
    return Status::Corrupt("data blob " + ToHex(c.id) + " holds " + std::to_string(cached_.size()) +
                           " bytes, file expects " + std::to_string(c.size));
  }
  cached_id_ = c.id;
  cache_valid_ = true;
  return Status::OK();
}

Status IngestBase::Visit(uint64_t offset, uint64_t len,
                         const std::function<Status(const char* data, uint64_t n)>& fn) {
  const uint64_t stop = offset + len;
  for (size_t i = ChunkAt(offset); offset < stop && i < chunks_.size(); i++) {
    const ChunkRef& c = chunks_[i];
    const uint64_t n = std::min(stop, ends_[i]) - offset;
    if (c.is_hole) {
      KLOSET_RETURN_IF_ERROR(fn(nullptr, n));
    } else {
      KLOSET_RETURN_IF_ERROR(Load(c));
      KLOSET_RETURN_IF_ERROR(fn(cached_.data() + (offset - start(i)), n));
    }
    offset += n;
  }
  return Status::OK();
}

}  // namespace kloset
