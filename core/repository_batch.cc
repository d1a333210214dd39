// Repository::LoadBlobs: many data blobs with few reads (see core/repository.h).
// Restoring small files otherwise costs one ranged Read (on a local store:
// open, fstat, pread, close) per file; blobs saved one after the other sit
// next to each other in their pack, so a run of them comes in one Read.
#include <algorithm>

#include "core/repository_impl.h"

namespace kloset {

namespace {

constexpr uint64_t kMaxGap = 64 << 10;  // bytes read and dropped between two wanted blobs
constexpr uint64_t kMaxRun = 8 << 20;   // bytes one Read may bring

struct Wanted {
  IndexEntry entry;
  Hash pack_id;
  size_t slot;  // index into ids
};

}  // namespace

void Repository::LoadBlobs(BlobType type, const std::vector<Hash>& ids,
                           std::vector<std::string>* plaintexts, std::vector<Status>* statuses) {
  Impl& m = *impl_;
  plaintexts->assign(ids.size(), std::string());
  statuses->assign(ids.size(), Status::OK());
  std::vector<size_t> single;  // slots left to LoadBlob
  std::vector<Wanted> wanted;
  {
    std::shared_lock<std::shared_mutex> l(m.index_mu);
    for (size_t i = 0; i < ids.size(); i++) {
      IndexEntry e;
      // Tree packs and the data cache have their own paths in LoadBlob.
      if (type != BlobType::kData || m.data_cache || !m.index.Find(ids[i], type, &e) ||
          m.index.PackHasTrees(e.pack)) {
        single.push_back(i);
      } else {
        wanted.push_back({e, m.index.PackId(e.pack), i});
      }
    }
  }
  std::sort(wanted.begin(), wanted.end(), [](const Wanted& a, const Wanted& b) {
    if (a.pack_id != b.pack_id) return a.pack_id < b.pack_id;
    return a.entry.offset < b.entry.offset;
  });
  std::string buf;
  for (size_t begin = 0; begin < wanted.size();) {
    const Hash& pack = wanted[begin].pack_id;
    const uint64_t start = wanted[begin].entry.offset;
    uint64_t end = start + wanted[begin].entry.stored_size;
    size_t stop = begin + 1;
    for (; stop < wanted.size() && wanted[stop].pack_id == pack; stop++) {
      const IndexEntry& e = wanted[stop].entry;
      uint64_t e_end = e.offset + e.stored_size;
      if (e.offset > end + kMaxGap || std::max(end, e_end) - start > kMaxRun) break;
      end = std::max(end, e_end);
    }
    const std::string name = PackName(pack);
    Status s = m.remote->Read(name, start, end - start, &buf);
    if (s.ok()) m.stats.bytes_downloaded += buf.size();
    for (size_t w = begin; w < stop; w++) {
      const Wanted& want = wanted[w];
      const uint64_t at = want.entry.offset - start;
      // A short or failed read, or a blob that does not open: LoadBlob
      // retries it alone and reports exactly what is wrong.
      if (!s.ok() || at + want.entry.stored_size > buf.size() ||
          !OpenBlob(m.data_key, want.entry,
                    std::string_view(buf).substr(at, want.entry.stored_size),
                    &(*plaintexts)[want.slot])
               .ok()) {
        single.push_back(want.slot);
      }
    }
    begin = stop;
  }
  for (size_t i : single) (*statuses)[i] = LoadBlob(type, ids[i], &(*plaintexts)[i]);
}

}  // namespace kloset
