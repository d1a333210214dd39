// Byte codec of the ingest journal: header, record AAD and payloads
// (docs/FORMAT.md, "Local files: the ingest journal").
#include <cstring>
#include <string>

#include "core/draft_journal.h"
#include "core/encoding.h"
#include "core/tree.h"

namespace kloset {

namespace {

constexpr char kMagic[4] = {'K', 'L', 'J', 'R'};
constexpr char kAadLabel[] = "kloset.journal";

constexpr uint8_t kRecordBase = 1;
constexpr uint8_t kRecordOp = 2;

// Field bits of an op record: a field is present iff it differs from its
// default, so every op has one encoding.
constexpr uint64_t kFieldPath = 1 << 0;
constexpr uint64_t kFieldPath2 = 1 << 1;
constexpr uint64_t kFieldTime = 1 << 2;
constexpr uint64_t kFieldNode = 1 << 3;
constexpr uint64_t kFieldAttr = 1 << 4;
constexpr uint64_t kFieldFlags = 1 << 5;
constexpr uint64_t kFieldName = 1 << 6;
constexpr uint64_t kFieldValue = 1 << 7;
constexpr uint64_t kFieldXattrMode = 1 << 8;
constexpr uint64_t kFieldNodeName = 1 << 9;
constexpr uint64_t kFieldsKnown = (1 << 10) - 1;

// Attribute change bits.
constexpr uint8_t kAttrMode = 1 << 0;
constexpr uint8_t kAttrUid = 1 << 1;
constexpr uint8_t kAttrGid = 1 << 2;
constexpr uint8_t kAttrAtime = 1 << 3;
constexpr uint8_t kAttrMtime = 1 << 4;
constexpr uint8_t kAttrsKnown = (1 << 5) - 1;

// The tree-page node encoding needs a valid entry name; the op's node name
// (usually empty) travels in its own field and this stands in for it.
constexpr char kNodePlaceholderName[] = "-";

Status Bad(const std::string& what) { return Status::Corrupt("journal record: " + what); }

bool GetNonEmptyStr(std::string_view* in, std::string* out) {
  return GetStr(in, out) && !out->empty();
}

}  // namespace

std::string EncodeJournalHeader(const JournalHeader& h) {
  std::string out(kMagic, sizeof(kMagic));
  PutFixed32(&out, kJournalVersion);
  PutHash(&out, h.store_id);
  out.append(reinterpret_cast<const char*>(h.journal_id.data()), h.journal_id.size());
  return out;
}

Status DecodeJournalHeader(std::string_view in, JournalHeader* h) {
  if (in.size() < kJournalHeaderSize) return Status::Corrupt("journal: header truncated");
  if (std::memcmp(in.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corrupt("journal: not a klosetfs journal (bad magic)");
  }
  in.remove_prefix(sizeof(kMagic));
  uint32_t version;
  (void)GetFixed32(&in, &version);
  if (version == 0) return Status::Corrupt("journal: version 0");
  if (version > kJournalVersion) {
    return Status::Version("journal: version " + std::to_string(version) +
                           " is newer than this klosetfs reads (" +
                           std::to_string(kJournalVersion) + ")");
  }
  (void)GetHash(&in, &h->store_id);
  std::memcpy(h->journal_id.data(), in.data(), h->journal_id.size());
  return Status::OK();
}

std::string JournalAad(const JournalId& id, uint64_t seq) {
  std::string aad(kAadLabel);
  aad.append(reinterpret_cast<const char*>(id.data()), id.size());
  PutFixed64(&aad, seq);
  return aad;
}

void EncodeJournalBase(const Hash* base, std::string* out) {
  PutU8(out, kRecordBase);
  PutU8(out, base ? 1 : 0);
  if (base) PutHash(out, *base);
}

Status DecodeJournalBase(std::string_view in, bool* has_base, Hash* base) {
  uint8_t type, flag;
  if (!GetU8(&in, &type) || type != kRecordBase) return Bad("not a base record");
  if (!GetU8(&in, &flag) || flag > 1) return Bad("bad base flag");
  *has_base = flag == 1;
  *base = Hash{};
  if (*has_base && !GetHash(&in, base)) return Bad("base snapshot truncated");
  if (!in.empty()) return Bad("trailing bytes");
  return Status::OK();
}

void EncodeJournalOp(const DraftOp& op, std::string* out) {
  const DraftAttrChange& a = op.attr;
  uint8_t attrs = (a.mode ? kAttrMode : 0) | (a.uid ? kAttrUid : 0) | (a.gid ? kAttrGid : 0) |
                  (a.atime_ns ? kAttrAtime : 0) | (a.mtime_ns ? kAttrMtime : 0);
  Node node = op.node;
  node.name.clear();
  bool has_node = !(node == Node());
  uint64_t fields = (op.path.empty() ? 0 : kFieldPath) | (op.path2.empty() ? 0 : kFieldPath2) |
                    (op.time_ns ? kFieldTime : 0) | (has_node ? kFieldNode : 0) |
                    (attrs ? kFieldAttr : 0) | (op.flags ? kFieldFlags : 0) |
                    (op.name.empty() ? 0 : kFieldName) | (op.value.empty() ? 0 : kFieldValue) |
                    (op.xattr_mode != XattrMode::kAny ? kFieldXattrMode : 0) |
                    (op.node.name.empty() ? 0 : kFieldNodeName);
  PutU8(out, kRecordOp);
  PutU8(out, static_cast<uint8_t>(op.kind));
  PutVarint(out, fields);
  if (fields & kFieldPath) PutStr(out, op.path);
  if (fields & kFieldPath2) PutStr(out, op.path2);
  if (fields & kFieldTime) PutSvarint(out, op.time_ns);
  if (fields & kFieldNode) {
    node.name = kNodePlaceholderName;
    EncodeNode(node, out);
  }
  if (fields & kFieldAttr) {
    PutU8(out, attrs);
    if (a.mode) PutVarint(out, *a.mode);
    if (a.uid) PutVarint(out, *a.uid);
    if (a.gid) PutVarint(out, *a.gid);
    if (a.atime_ns) PutSvarint(out, *a.atime_ns);
    if (a.mtime_ns) PutSvarint(out, *a.mtime_ns);
  }
  if (fields & kFieldFlags) PutVarint(out, op.flags);
  if (fields & kFieldName) PutStr(out, op.name);
  if (fields & kFieldValue) PutStr(out, op.value);
  if (fields & kFieldXattrMode) PutU8(out, static_cast<uint8_t>(op.xattr_mode));
  if (fields & kFieldNodeName) PutStr(out, op.node.name);
}

Status DecodeJournalOp(std::string_view in, DraftOp* op) {
  *op = DraftOp();
  uint8_t type, kind;
  uint64_t fields;
  if (!GetU8(&in, &type) || type != kRecordOp) return Bad("not an op record");
  if (!GetU8(&in, &kind)) return Bad("op kind truncated");
  if (kind < static_cast<uint8_t>(DraftOp::Kind::kCreate) ||
      kind > static_cast<uint8_t>(DraftOp::Kind::kRemoveXattr)) {
    return Bad("unknown op kind " + std::to_string(kind));
  }
  op->kind = static_cast<DraftOp::Kind>(kind);
  if (!GetVarint(&in, &fields) || (fields & ~kFieldsKnown)) return Bad("bad field bits");
  if ((fields & kFieldPath) && !GetNonEmptyStr(&in, &op->path)) return Bad("path");
  if ((fields & kFieldPath2) && !GetNonEmptyStr(&in, &op->path2)) return Bad("path2");
  if ((fields & kFieldTime) && (!GetSvarint(&in, &op->time_ns) || op->time_ns == 0)) {
    return Bad("time");
  }
  if (fields & kFieldNode) {
    Status s = DecodeNode(&in, &op->node);
    if (!s.ok()) return Bad("node: " + s.message());
    if (op->node.name != kNodePlaceholderName) return Bad("node name placeholder");
    op->node.name.clear();
    if (op->node == Node()) return Bad("default node present");
  }
  if (fields & kFieldAttr) {
    uint8_t attrs;
    if (!GetU8(&in, &attrs) || attrs == 0 || (attrs & ~kAttrsKnown)) return Bad("attr bits");
    DraftAttrChange& a = op->attr;
    uint32_t v32;
    int64_t v64;
    if (attrs & kAttrMode) {
      if (!GetVarint32(&in, &v32)) return Bad("attr mode");
      a.mode = v32;
    }
    if (attrs & kAttrUid) {
      if (!GetVarint32(&in, &v32)) return Bad("attr uid");
      a.uid = v32;
    }
    if (attrs & kAttrGid) {
      if (!GetVarint32(&in, &v32)) return Bad("attr gid");
      a.gid = v32;
    }
    if (attrs & kAttrAtime) {
      if (!GetSvarint(&in, &v64)) return Bad("attr atime");
      a.atime_ns = v64;
    }
    if (attrs & kAttrMtime) {
      if (!GetSvarint(&in, &v64)) return Bad("attr mtime");
      a.mtime_ns = v64;
    }
  }
  if (fields & kFieldFlags) {
    uint32_t flags;
    if (!GetVarint32(&in, &flags) || flags == 0) return Bad("flags");
    op->flags = flags;
  }
  if ((fields & kFieldName) && !GetNonEmptyStr(&in, &op->name)) return Bad("xattr name");
  if ((fields & kFieldValue) && !GetNonEmptyStr(&in, &op->value)) return Bad("xattr value");
  if (fields & kFieldXattrMode) {
    uint8_t mode;
    if (!GetU8(&in, &mode) || mode < static_cast<uint8_t>(XattrMode::kCreate) ||
        mode > static_cast<uint8_t>(XattrMode::kReplace)) {
      return Bad("xattr mode");
    }
    op->xattr_mode = static_cast<XattrMode>(mode);
  }
  if ((fields & kFieldNodeName) && !GetNonEmptyStr(&in, &op->node.name)) return Bad("node name");
  if (!in.empty()) return Bad("trailing bytes");
  return Status::OK();
}

}  // namespace kloset
