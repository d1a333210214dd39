// The checker's driver and its object-level checks: config, key slots,
// indexes, packs present, snapshots. Tree pages: checker_walk.cc; pack
// contents (--read-data): checker_data.cc.
//
// Objects are listed in the reverse of the order a backup writes them
// (snapshots, then indexes, then packs), so a backup running meanwhile never
// shows up as damage: whatever a listed snapshot names was written, and is
// listed, before it.
#include "core/checker.h"

#include <algorithm>

#include "core/checker_internal.h"
#include "core/config_object.h"
#include "core/key_slot.h"
#include "core/sealed_object.h"

namespace kloset {
namespace check_internal {
namespace {

// Lists `prefix`, collecting names and sizes.
Status ListAll(Remote* remote, const std::string& prefix, std::vector<ObjectInfo>* out) {
  Status s = remote->List(prefix, [&](const ObjectInfo& info) { out->push_back(info); });
  if (!s.ok()) return s.Annotate("listing " + prefix);
  std::sort(out->begin(), out->end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return Status::OK();
}

// The plaintext header of `config` (docs/FORMAT.md); its sealed settings were
// authenticated by Repository::Open, whose key this check does not hold.
Status CheckConfig(Context* ctx) {
  std::string bytes;
  Status s = ReadWhole(ctx->remote, "config", UINT64_MAX, &bytes);
  if (!s.ok()) {
    if (!IsObjectDamage(s)) return s;
    ctx->findings.Problem("config", "config", "cannot be read: " + s.ToString());
    return Status::OK();
  }
  StoreConfig now;
  Status h = ParseConfigHeader(bytes, &now);
  if (!h.ok()) {
    if (!IsObjectDamage(h)) return h;
    ctx->findings.Problem("config", "config", h.ToString());
  } else if (bytes.size() < kConfigHeaderSize + kSealOverhead) {
    ctx->findings.Problem("config", "config", "config is truncated");
  } else if (now.version != ctx->repo->config().version ||
             now.store_id != ctx->repo->config().store_id) {
    ctx->findings.Problem("config", "config", "config differs from the one read at open");
  }
  return Status::OK();
}

// Key slots are checked by their layout and checksum only: opening one
// needs its passphrase.
Status CheckKeys(Context* ctx) {
  std::vector<ObjectInfo> keys;
  KLOSET_RETURN_IF_ERROR(ListAll(ctx->remote, "keys/", &keys));
  size_t intact = 0;
  for (const ObjectInfo& info : keys) {
    KLOSET_RETURN_IF_ERROR(ctx->Cancelled());
    Hash id;
    if (!ParseObjectName(info.name, "keys", false, &id)) {
      ctx->findings.Note(info.name, "unexpected object under keys/");
      continue;
    }
    ctx->report->keys++;
    std::string bytes;
    Status s = ReadWhole(ctx->remote, info.name, info.size, &bytes);
    KeySlot slot;
    std::string bad;
    if (!s.ok()) {
      if (!IsObjectDamage(s)) return s;
      bad = "key slot cannot be read: " + s.ToString();
    } else if (PlainHash(bytes) != id) {
      bad = "key slot damaged: contents do not match its name";
    } else if (Status p = ParseKeySlot(bytes, &slot); !p.ok()) {
      bad = p.ToString();
    }
    if (bad.empty()) {
      intact++;
    } else {
      ctx->findings.Problem(info.name, info.name, bad);
    }
  }
  if (intact == 0) ctx->findings.Problem("keys/", "keys/", "no intact key slot is left");
  return Status::OK();
}

// Every index object must match its name (the Repository loaded them at
// Open or RefreshIndex and lists those it could not load).
Status CheckIndexes(Context* ctx) {
  std::vector<ObjectInfo> listed;
  KLOSET_RETURN_IF_ERROR(ListAll(ctx->remote, "index/", &listed));
  std::vector<std::string> loaded_names = ctx->repo->IndexObjects();
  std::unordered_set<std::string> loaded(loaded_names.begin(), loaded_names.end());
  std::unordered_map<std::string, Status> refused;
  for (const DamagedObject& d : ctx->repo->DamagedIndexes()) refused.emplace(d.name, d.status);
  ctx->report->indexes = listed.size();

  Status s = ParallelFor(listed.size(), ctx->parallel, *ctx, [&](size_t i) -> Status {
    const ObjectInfo& info = listed[i];
    Hash id;
    if (!ParseObjectName(info.name, "index", true, &id)) {
      ctx->findings.Note(info.name, "unexpected object under index/");
      return Status::OK();
    }
    // Read it again even if Open did: Open may have used the local cache.
    std::string bytes;
    Status r = ReadWhole(ctx->remote, info.name, info.size, &bytes);
    std::string bad;
    if (!r.ok()) {
      if (!IsObjectDamage(r)) return r;
      bad = "index cannot be read: " + r.ToString();
    } else if (PlainHash(bytes) != id) {
      bad = "index damaged: its " + std::to_string(bytes.size()) +
            " bytes do not match its name";
    } else if (loaded.count(info.name)) {
      // Intact and loaded: fine.
    } else if (auto it = refused.find(info.name);
               it != refused.end() && !it->second.IsTransient()) {
      bad = "index does not load: " + it->second.ToString();
    } else {
      // Written after RefreshIndex, or its load failed transiently: open it.
      std::string body;
      std::vector<PackRecord> records;
      Status o = ctx->repo->LoadObject(info.name, kIndexLabel, &body);
      if (o.ok()) o = DecodeIndexBody(body, &records);
      if (o.ok()) {
        ctx->findings.Note(info.name, "index not loaded by this session (written during the "
                                      "check?); the blobs it names were not checked");
      } else if (IsObjectDamage(o)) {
        bad = "index does not load: " + o.ToString();
      } else {
        return o;
      }
    }
    if (!bad.empty()) {
      ctx->findings.Problem(info.name, info.name, bad);
      ctx->index_damaged = true;
    }
    return Status::OK();
  });
  KLOSET_RETURN_IF_ERROR(s);

  std::unordered_set<std::string> listed_names;
  for (const ObjectInfo& info : listed) listed_names.insert(info.name);
  for (const std::string& name : loaded_names) {
    if (!listed_names.count(name))
      ctx->findings.Problem(name, name, "index was loaded at open but is gone from the store");
  }
  return Status::OK();
}

// Every pack the index names must exist and be long enough for its blobs.
Status CheckPacks(Context* ctx) {
  size_t n = ctx->repo->PackCount();
  ctx->packs.resize(n);
  for (size_t i = 0; i < n; i++) {
    ctx->packs[i].id = ctx->repo->PackId(static_cast<uint32_t>(i));
    ctx->packs[i].name = PackName(ctx->packs[i].id);
    ctx->pack_numbers.emplace(ctx->packs[i].id, static_cast<uint32_t>(i));
  }
  uint64_t blobs = 0;
  ctx->repo->ForEachBlob([&](const IndexEntry& e) {
    blobs++;
    if (e.pack >= ctx->packs.size()) return;
    PackState& p = ctx->packs[e.pack];
    p.blobs++;
    p.end = std::max(p.end, e.offset + e.stored_size);
  });
  ctx->report->blobs = blobs;

  std::vector<ObjectInfo> listed;
  KLOSET_RETURN_IF_ERROR(ListAll(ctx->remote, "packs/", &listed));
  for (const ObjectInfo& info : listed) {
    Hash id;
    if (!ParseObjectName(info.name, "packs", true, &id)) {
      ctx->findings.Note(info.name, "unexpected object under packs/");
      continue;
    }
    auto it = ctx->pack_numbers.find(id);
    if (it == ctx->pack_numbers.end()) {
      ctx->unindexed_packs.push_back(info.name);
      continue;
    }
    ctx->packs[it->second].present = true;
    ctx->packs[it->second].size = info.size;
  }

  // Trailer: the sealed header (at least a version byte and a count) and its
  // length and magic.
  constexpr uint64_t kMinTrailer = kSealOverhead + 2 + 4 + 4;
  bool any_bad = false;
  for (PackState& p : ctx->packs) {
    if (p.blobs == 0) continue;  // the index names no blob in it any more
    ctx->report->packs++;
    if (!p.present) {
      p.problem = ctx->findings.Problem(p.name, p.name,
                                        "pack is missing (" + std::to_string(p.blobs) + " blobs)");
    } else if (p.size < p.end + kMinTrailer) {
      p.problem = ctx->findings.Problem(p.name, p.name,
                                        "pack is truncated: " + std::to_string(p.size) +
                                            " bytes, its blobs end at " + std::to_string(p.end));
    }
    any_bad |= p.problem >= 0;
  }
  if (!any_bad) return Status::OK();
  // Blobs in a missing pack are lost; in a truncated one those past its end
  // (with --read-data every blob is opened and judged on its own instead).
  ctx->repo->ForEachBlob([&](const IndexEntry& e) {
    if (e.pack >= ctx->packs.size()) return;
    const PackState& p = ctx->packs[e.pack];
    bool lost = !p.present || (!ctx->opts.read_data && p.size < e.offset + e.stored_size);
    if (lost) ctx->findings.MarkBlob(e.id, static_cast<size_t>(p.problem));
  });
  return Status::OK();
}

// After the walk: unindexed packs that hold lost blobs are problems already.
void NoteUnindexedPacks(Context* ctx) {
  for (const std::string& name : ctx->unindexed_packs) {
    if (ctx->findings.Has(kNoIndexKey + name)) continue;
    ctx->findings.Note(name, ctx->index_damaged
                                 ? "pack is named by no intact index (a damaged index may "
                                   "have described it)"
                                 : "pack is named by no index (left by an interrupted "
                                   "backup?); prune removes it");
  }
}

Status CheckSnapshots(Context* ctx) {
  std::vector<ObjectInfo> listed;
  KLOSET_RETURN_IF_ERROR(ListAll(ctx->remote, "snapshots/", &listed));
  for (const ObjectInfo& info : listed) {
    SnapshotState st;
    if (!ParseObjectName(info.name, "snapshots", false, &st.id)) {
      ctx->findings.Note(info.name, "unexpected object under snapshots/");
      continue;
    }
    st.name = info.name;
    st.size = info.size;
    ctx->snapshots.push_back(std::move(st));
  }
  ctx->report->snapshots = ctx->snapshots.size();
  Status s = ParallelFor(ctx->snapshots.size(), ctx->parallel, *ctx, [&](size_t i) -> Status {
    SnapshotState& st = ctx->snapshots[i];
    // The store's copy first: LoadSnapshot prefers the local cache.
    std::string bytes;
    Status r = ReadWhole(ctx->remote, st.name, st.size, &bytes);
    std::string bad;
    if (r.ok() && PlainHash(bytes) != st.id) {
      bad = "snapshot damaged: its " + std::to_string(bytes.size()) +
            " bytes do not match its name";
    } else if (r.ok()) {
      r = LoadSnapshot(ctx->repo, st.id, &st.snap);
    }
    if (!r.ok()) {
      if (!IsObjectDamage(r)) return r;
      bad = "snapshot does not load: " + r.ToString();
    }
    if (bad.empty()) {
      st.loaded = true;
    } else {
      ctx->findings.Problem(st.name, st.name, bad);
    }
    return Status::OK();
  });
  KLOSET_RETURN_IF_ERROR(s);
  // Newest first, so a subtree shared by several snapshots is reported under
  // the newest one, the likeliest to be restored.
  std::stable_sort(ctx->snapshots.begin(), ctx->snapshots.end(),
                   [](const SnapshotState& a, const SnapshotState& b) {
                     return a.snap.time_ns > b.snap.time_ns;
                   });
  return Status::OK();
}

}  // namespace
}  // namespace check_internal

Status Check(Repository* repo, const CheckOptions& opts, Progress* progress, CheckReport* report) {
  using namespace check_internal;
  *report = CheckReport();
  Progress local_progress;
  Context ctx;
  ctx.repo = repo;
  ctx.remote = repo->remote();
  ctx.opts = opts;
  ctx.progress = progress ? progress : &local_progress;
  ctx.report = report;
  ctx.parallel = opts.parallel > 0 ? opts.parallel : std::max(1, ctx.remote->MaxParallel());

  ctx.progress->SetCurrent("config and keys");
  KLOSET_RETURN_IF_ERROR(CheckConfig(&ctx));
  KLOSET_RETURN_IF_ERROR(CheckKeys(&ctx));
  ctx.progress->SetCurrent("snapshots");
  KLOSET_RETURN_IF_ERROR(CheckSnapshots(&ctx));
  ctx.progress->SetCurrent("indexes");
  // Indexes written since Open (by a backup that finished meanwhile) cover
  // the snapshots just listed.
  KLOSET_RETURN_IF_ERROR(repo->RefreshIndex());
  KLOSET_RETURN_IF_ERROR(CheckIndexes(&ctx));
  ctx.progress->SetCurrent("packs");
  KLOSET_RETURN_IF_ERROR(CheckPacks(&ctx));
  if (opts.read_data) KLOSET_RETURN_IF_ERROR(VerifyPackData(&ctx));
  ctx.progress->SetCurrent("trees");
  KLOSET_RETURN_IF_ERROR(WalkTrees(&ctx));
  NoteUnindexedPacks(&ctx);
  ctx.progress->SetCurrent("");
  report->bytes_read = ctx.bytes_read;
  ctx.findings.MoveTo(report);
  return Status::OK();
}

}  // namespace kloset
