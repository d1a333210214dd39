// Snapshots: small sealed objects under snapshots/ naming a root tree.
// The plaintext is JSON (schema in docs/FORMAT.md, "Snapshots"). Strings that
// may hold arbitrary bytes (paths, names, messages) round-trip exactly: they
// are JSON strings when valid UTF-8 and {"hex": "..."} objects otherwise.
//
// Thread safety: all functions may be called from many threads at once (the
// Repository is thread-safe); a Snapshot value is not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/crypto.h"
#include "core/repository.h"

namespace kloset {

struct SkippedEntry {
  std::string path;   // path as backed up (may be non-UTF-8; JSON-escaped as bytes)
  std::string error;
};

struct SnapshotSummary {
  uint64_t files = 0, dirs = 0, others = 0;
  uint64_t bytes = 0;            // file bytes in the snapshot
  uint64_t bytes_added = 0;      // plaintext bytes of new data blobs
  uint64_t stored_added = 0;     // encrypted bytes added to the store
  uint64_t skipped = 0;
  double duration_s = 0;
};

struct Snapshot {
  Hash id{};                     // set by Save/Load, not serialized
  int format = 1;
  int64_t time_ns = 0;           // UTC ns since epoch
  std::string host, username;
  std::vector<std::string> tags;
  std::vector<std::string> paths;  // absolute source paths
  bool has_parent = false;
  Hash parent{};
  Hash tree{};                   // root directory page id ("/" of the snapshot)
  std::string message;
  // How the snapshot was made: "" for `backup`, "ingest" for a commit of a
  // mount's ingest/ tree (whose tree root is ingest/ itself; paths = {"/"}).
  std::string origin;
  SnapshotSummary summary;
  std::vector<SkippedEntry> skipped;
  std::string program_version;
};

// Codec (core/snapshot.cc; no Repository needed). ToJson never fails: it
// never stores the id. FromJson leaves s->id unchanged and *s untouched on
// error; kCorrupt for malformed JSON, missing required fields (format,
// time_ns, host, paths, tree) or wrongly typed fields; kVersion for a newer
// format. Unknown fields are ignored (forward compatible additions).
std::string SnapshotToJson(const Snapshot& s);
Status SnapshotFromJson(const std::string& json, Snapshot* s);

// Seals and writes the snapshot as snapshots/<hex>; sets s->id. The caller
// must have flushed the blobs the snapshot names (Repository::Flush) first.
Status SaveSnapshot(Repository* repo, Snapshot* s);
// kNotFound if there is no such snapshot; kCorrupt if it fails to
// authenticate or parse.
Status LoadSnapshot(Repository* repo, const Hash& id, Snapshot* s);
// All snapshots sorted by time (oldest first). Damaged ones are reported via
// `damaged` (names) when non-null and skipped; otherwise the first error is returned.
Status ListSnapshots(Repository* repo, std::vector<Snapshot>* out,
                     std::vector<std::string>* damaged = nullptr);
// Resolves a full id, a unique hex prefix (any case), or "latest" (the newest
// snapshot that loads). kNotFound if none, kInvalidArgument if a prefix is
// ambiguous (the message lists the candidates) or not hex.
Status ResolveSnapshot(Repository* repo, const std::string& ref, Snapshot* out);

// RFC 3339 UTC with seconds, e.g. 2026-11-22T04:17:56Z.
std::string FormatTimeRfc3339(int64_t time_ns);
// RFC 3339 UTC with nanoseconds, e.g. 2026-11-22T04:17:56.000000123Z.
std::string FormatTimeRfc3339Nano(int64_t time_ns);

}  // namespace kloset
