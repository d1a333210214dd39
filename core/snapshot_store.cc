// Snapshot store operations: save, load, list, resolve (core/snapshot.h).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>

#include "core/snapshot.h"
#include "core/thread_pool.h"

namespace kloset {

namespace {

constexpr std::string_view kLabel = "kloset.snapshot";
constexpr std::string_view kDir = "snapshots/";

// Ids of every object under snapshots/ that has a well-formed name; the
// others are reported in *bad (when non-null).
Status ListSnapshotIds(Repository* repo, std::vector<Hash>* ids, std::vector<std::string>* bad) {
  std::vector<std::string> names;
  KLOSET_RETURN_IF_ERROR(repo->remote()->List(
      std::string(kDir), [&](const ObjectInfo& info) { names.push_back(info.name); }));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    Hash id;
    const std::string_view hex = std::string_view(name).substr(std::min(name.size(), kDir.size()));
    if (FromHex(hex, &id) && SnapshotName(id) == name) {
      ids->push_back(id);
    } else if (bad) {
      bad->push_back(name);
    }
  }
  return Status::OK();
}

bool IsDamage(const Status& s) { return s.code() == Code::kCorrupt || s.code() == Code::kVersion; }

}  // namespace

Status SaveSnapshot(Repository* repo, Snapshot* s) {
  return repo->SaveObject("snapshots", kLabel, SnapshotToJson(*s), &s->id);
}

Status LoadSnapshot(Repository* repo, const Hash& id, Snapshot* s) {
  std::string plain;
  const std::string name = SnapshotName(id);
  Status st = repo->LoadObject(name, kLabel, &plain);
  if (!st.ok()) return st.IsNotFound() ? Status::NotFound("snapshot " + ToHex(id)) : st;
  Snapshot tmp;
  st = SnapshotFromJson(plain, &tmp);
  if (!st.ok()) return st.Annotate(name);
  tmp.id = id;
  *s = std::move(tmp);
  return Status::OK();
}

Status ListSnapshots(Repository* repo, std::vector<Snapshot>* out,
                     std::vector<std::string>* damaged) {
  std::vector<Hash> ids;
  KLOSET_RETURN_IF_ERROR(ListSnapshotIds(repo, &ids, damaged));
  std::vector<Snapshot> snaps(ids.size());
  std::vector<Status> results(ids.size());
  // Loading is one round trip per snapshot: overlap them when there are many.
  if (ids.size() <= 4) {
    for (size_t i = 0; i < ids.size(); i++) results[i] = LoadSnapshot(repo, ids[i], &snaps[i]);
  } else {
    int threads = std::clamp(repo->remote()->MaxParallel(), 1, 16);
    ThreadPool pool(std::min<size_t>(ids.size(), static_cast<size_t>(threads)));
    for (size_t i = 0; i < ids.size(); i++) {
      pool.Submit([&, i] { results[i] = LoadSnapshot(repo, ids[i], &snaps[i]); });
    }
    pool.Wait();
  }
  std::vector<Snapshot> ok;
  for (size_t i = 0; i < ids.size(); i++) {
    if (results[i].ok()) {
      ok.push_back(std::move(snaps[i]));
    } else if (damaged && IsDamage(results[i])) {
      damaged->push_back(SnapshotName(ids[i]));
    } else {
      return results[i];
    }
  }
  std::sort(ok.begin(), ok.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  *out = std::move(ok);
  return Status::OK();
}

Status ResolveSnapshot(Repository* repo, const std::string& ref, Snapshot* out) {
  if (ref == "latest") {
    std::vector<Snapshot> all;
    std::vector<std::string> damaged;
    KLOSET_RETURN_IF_ERROR(ListSnapshots(repo, &all, &damaged));
    if (all.empty()) return Status::NotFound("no snapshots in the store");
    *out = std::move(all.back());
    return Status::OK();
  }
  std::string prefix = ref;
  for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (prefix.empty() || prefix.size() > 64 ||
      prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("not a snapshot id, id prefix or \"latest\": " + ref);
  }
  Hash id;
  if (prefix.size() == 64 && FromHex(prefix, &id)) return LoadSnapshot(repo, id, out);
  std::vector<Hash> ids, matches;
  KLOSET_RETURN_IF_ERROR(ListSnapshotIds(repo, &ids, nullptr));
  for (const Hash& h : ids) {
    if (ToHex(h).compare(0, prefix.size(), prefix) == 0) matches.push_back(h);
  }
  if (matches.empty()) return Status::NotFound("no snapshot matches " + ref);
  if (matches.size() > 1) {
    std::string msg = "snapshot prefix " + ref + " is ambiguous; candidates:";
    for (const Hash& h : matches) msg += " " + ToHex(h);
    return Status::InvalidArgument(msg);
  }
  return LoadSnapshot(repo, matches[0], out);
}

}  // namespace kloset
