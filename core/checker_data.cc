// check --read-data: every pack the index names is downloaded whole (in
// parallel), once: its bytes are checked against its name, its header against
// the index, and every blob the index places in it is opened from those bytes
// and its id checked; intact tree packs go to the local cache for the walk.
// Damaged blobs are recorded so the tree walk that follows names the files
// and directories that hold them.
#include <algorithm>

#include "core/checker_internal.h"

namespace kloset::check_internal {
namespace {

std::string KindOf(const IndexEntry& e) {
  return e.type == BlobType::kTree ? "tree page " : "data blob ";
}

// Compares the pack's own header with the index entries for it; the header
// may list more blobs (a blob stored twice keeps the index's first copy).
std::string CompareHeader(const std::vector<IndexEntry>& header,
                          const std::vector<IndexEntry>& indexed) {
  HashMap<const IndexEntry*> by_id;
  for (const IndexEntry& h : header) by_id.emplace(h.id, &h);
  size_t disagree = 0;
  std::string first;
  for (const IndexEntry& e : indexed) {
    auto it = by_id.find(e.id);
    const IndexEntry* h = it == by_id.end() ? nullptr : it->second;
    if (h && h->type == e.type && h->compression == e.compression && h->offset == e.offset &&
        h->stored_size == e.stored_size && h->raw_size == e.raw_size)
      continue;
    if (disagree++ == 0) first = KindOf(e) + ShortHex(e.id);
  }
  if (disagree == 0) return "";
  return "header disagrees with the index about " + std::to_string(disagree) + " blob(s), e.g. " +
         first;
}

Status VerifyPack(Context* ctx, PackState* p, const std::vector<IndexEntry>& entries) {
  Findings& f = ctx->findings;
  auto pack_problem = [&](const std::string& what) {
    p->problem = static_cast<long>(f.Problem(p->name, p->name, what));
  };
  std::string bytes;
  Status s = ReadWhole(ctx->remote, p->name, p->size, &bytes);
  ctx->progress->bytes_done += bytes.size();
  ctx->bytes_read += bytes.size();
  if (!s.ok()) {
    if (!IsObjectDamage(s)) return s;
    pack_problem("pack cannot be read: " + s.ToString());
    for (const IndexEntry& e : entries) f.MarkBlob(e.id, static_cast<size_t>(p->problem));
    return Status::OK();
  }
  const bool hash_ok = PlainHash(bytes) == p->id;
  if (!hash_ok) {
    pack_problem("pack damaged: its " + std::to_string(bytes.size()) +
                 " bytes do not match its name");
  }
  std::vector<IndexEntry> header;
  if (Status h = ctx->repo->ReadPackHeader(bytes, &header); !h.ok()) {
    pack_problem("pack header does not parse: " + h.ToString());
  } else if (std::string d = CompareHeader(header, entries); !d.empty()) {
    pack_problem(d);
  }

  size_t bad_blobs = 0;
  for (const IndexEntry& e : entries) {
    KLOSET_RETURN_IF_ERROR(ctx->Cancelled());
    std::string bad, detail, plain;
    if (e.offset + e.stored_size > bytes.size()) {
      bad = "past the end of the pack";
    } else {
      Status o = ctx->repo->OpenPackBlob(e, bytes, &plain);
      if (!o.ok()) {
        if (!IsObjectDamage(o)) return o;
        bad = "does not open";
        detail = o.ToString();
      } else if (plain.size() != e.raw_size) {
        bad = "holds " + std::to_string(plain.size()) + " bytes, the index says " +
              std::to_string(e.raw_size);
      } else if (ctx->repo->HashBlob(plain) != e.id) {
        bad = "does not match its id";
      }
    }
    if (!bad.empty()) {
      bad_blobs++;
      f.AddBlob(f.Problem(p->name, p->name, ""), e.id, kBadBlobs,
                KindOf(e) + ShortHex(e.id) + " (" + bad + ")", detail);
    }
  }
  if (!hash_ok && bad_blobs == 0) {
    pack_problem("yet every blob the index places in it opens (the damage is elsewhere)");
  }
  // The tree walk that follows reads tree pages from the local cache, so a
  // tree pack is downloaded once.
  if (hash_ok) (void)ctx->repo->OfferPack(p->id, bytes);
  return Status::OK();
}

// Reads an unindexed pack's header to learn which blobs it holds, so blobs a
// damaged index described can be named with the pack that still has them.
Status ScanUnindexed(Context* ctx, const std::string& name, std::mutex* mu) {
  std::string bytes;
  Status s = ReadWhole(ctx->remote, name, UINT64_MAX, &bytes);
  ctx->bytes_read += bytes.size();
  if (!s.ok()) return IsObjectDamage(s) ? Status::OK() : s;
  std::vector<IndexEntry> header;
  if (!ctx->repo->ReadPackHeader(bytes, &header).ok()) return Status::OK();
  std::lock_guard<std::mutex> l(*mu);
  for (const IndexEntry& e : header) ctx->unindexed_blobs.emplace(e.id, name);
  return Status::OK();
}

}  // namespace

Status VerifyPackData(Context* ctx) {
  // The index grouped by pack: a pack is checked against what the index
  // (which restores use) says is in it.
  std::vector<std::vector<IndexEntry>> entries(ctx->packs.size());
  ctx->repo->ForEachBlob([&](const IndexEntry& e) {
    if (e.pack < entries.size()) entries[e.pack].push_back(e);
  });
  std::vector<uint32_t> todo;
  for (uint32_t i = 0; i < ctx->packs.size(); i++) {
    const PackState& p = ctx->packs[i];
    if (!p.present || entries[i].empty()) continue;
    todo.push_back(i);
    ctx->progress->bytes_total += p.size;
  }
  ctx->progress->files_total += todo.size();
  // Big packs first: the parallel downloads then end at about the same time.
  std::sort(todo.begin(), todo.end(),
            [&](uint32_t a, uint32_t b) { return ctx->packs[a].size > ctx->packs[b].size; });
  KLOSET_RETURN_IF_ERROR(ParallelFor(todo.size(), ctx->parallel, *ctx, [&](size_t k) {
    uint32_t i = todo[k];
    Status s = VerifyPack(ctx, &ctx->packs[i], entries[i]);
    ctx->progress->files_done++;
    std::vector<IndexEntry>().swap(entries[i]);
    return s;
  }));

  if (ctx->index_damaged && !ctx->unindexed_packs.empty()) {
    std::mutex mu;
    KLOSET_RETURN_IF_ERROR(ParallelFor(ctx->unindexed_packs.size(), ctx->parallel, *ctx,
                                       [&](size_t k) {
                                         return ScanUnindexed(ctx, ctx->unindexed_packs[k], &mu);
                                       }));
  }
  return Status::OK();
}

}  // namespace kloset::check_internal
