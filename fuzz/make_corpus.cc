// Writes the seed corpora of the store-format fuzz targets: real encoded
// objects sealed under the fixed fuzz keys (fuzz/fuzz_keys.h), plus a few
// malformed ones. Not part of the build (its name does not end in _fuzz.cc);
// rerun it by hand after a format change:
//
//   ninja -C build-repo kloset_core
//   g++ -std=c++20 -I. -Ibuild-repo/generated fuzz/make_corpus.cc
//       build-repo/libkloset_core.a build-repo/libkloset_remotes.a
//       -lsodium -lzstd -lxxhash -pthread -o /tmp/make_corpus      (one line)
//   /tmp/make_corpus fuzz/corpus
//
// Output is deterministic except for nonces and salts (libsodium randomness).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/config_object.h"
#include "core/draft_journal.h"
#include "core/encoding.h"
#include "core/index.h"
#include "core/key_slot.h"
#include "core/pack.h"
#include "core/sealed_object.h"
#include "core/spool_format.h"
#include "fuzz/fuzz_keys.h"
#include "tests/draft_journal_test_util.h"

using namespace kloset;

namespace {

std::string g_root;

void Emit(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(g_root + "/" + target);
  std::ofstream(g_root + "/" + target + "/" + name, std::ios::binary) << bytes;
}

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

Hash H(uint32_t seed) {
  Hash h;
  std::string b = Bytes(32, seed);
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}

// A pack of data or tree blobs sealed under the fuzz key.
std::string MakePack(BlobType type, int n, std::vector<IndexEntry>* entries) {
  const Key& key = fuzz::FuzzDataKey();
  PackWriter w(type);
  for (int i = 0; i < n; i++) {
    std::string plain = i % 2 ? std::string(200 + i, 'a' + i) : Bytes(50 + 30 * i, i);
    Hash id = KeyedHash(DeriveSubkey(fuzz::FuzzMaster(), Subkey::kBlobId), plain);
    std::string sealed;
    Compression c = SealBlob(key, type, id, plain, 3, &sealed);
    w.Add(id, c, sealed, static_cast<uint32_t>(plain.size()));
  }
  w.Finish(key);
  *entries = w.blobs();
  return w.data();
}

void PackSeeds() {
  std::vector<IndexEntry> e;
  std::string pack = MakePack(BlobType::kData, 5, &e);
  Emit("pack_header_fuzz", "pack_data_5", pack);
  Emit("pack_header_fuzz", "pack_tree_1", MakePack(BlobType::kTree, 1, &e));
  std::string header;
  EncodePackHeader(e, &header);
  Emit("pack_header_fuzz", "header_body_1", header);
  MakePack(BlobType::kData, 7, &e);
  header.clear();
  EncodePackHeader(e, &header);
  Emit("pack_header_fuzz", "header_body_7", header);
  Emit("pack_header_fuzz", "bad_truncated_pack", pack.substr(0, pack.size() - 3));
  std::string flipped = pack;
  flipped[flipped.size() - 30] ^= 0x20;
  Emit("pack_header_fuzz", "bad_flipped_header", flipped);
  Emit("pack_header_fuzz", "bad_huge_count", std::string("\x01\xff\xff\xff\xff\x0f", 6));
  Emit("pack_header_fuzz", "bad_len_trailer", std::string("\xff\xff\xff\x7fKLPK", 8));
}

void IndexSeeds() {
  std::vector<PackRecord> recs(3);
  for (int p = 0; p < 3; p++) {
    std::vector<IndexEntry> e;
    MakePack(p == 2 ? BlobType::kTree : BlobType::kData, 2 + p, &e);
    recs[p].pack_id = H(100 + p);
    recs[p].blobs = e;
  }
  std::string body;
  EncodeIndexBody(recs, &body);
  Emit("index_fuzz", "body_3_packs", body);
  std::string empty;
  EncodeIndexBody({}, &empty);
  Emit("index_fuzz", "body_empty", empty);
  std::string sealed;
  SealObject(fuzz::FuzzDataKey(), kIndexLabel, body, 3, &sealed);
  Emit("index_fuzz", "sealed_index", sealed);
  Emit("index_fuzz", "payload_plain", std::string(1, '\0') + body);
  std::string big;
  std::vector<PackRecord> many(40, recs[0]);
  for (int i = 0; i < 40; i++) many[i].pack_id = H(200 + i);
  EncodeIndexBody(many, &big);
  std::string zsealed;
  SealObject(fuzz::FuzzDataKey(), kIndexLabel, big, 3, &zsealed);  // compresses
  Emit("index_fuzz", "sealed_index_zstd", zsealed);
  Emit("index_fuzz", "bad_truncated_body", body.substr(0, body.size() / 2));
  Emit("index_fuzz", "bad_huge_count", std::string("\x01\xff\xff\xff\xff\xff\x01", 7));
  Emit("index_fuzz", "bad_trailing", body + std::string(1, '\0'));
  Emit("index_fuzz", "bad_payload_zstd", std::string("\x01\x28\xb5\x2f\xfd\x00\x00", 7));
}

void ConfigSeeds() {
  StoreConfig c;
  c.store_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  c.created_ns = 1700000000000000000;
  std::string cfg = EncodeConfig(c, fuzz::FuzzDataKey());
  Emit("config_fuzz", "config_default", cfg);
  c.chunker = {1024, 4096, 16384, 0};
  c.pack_size = 65536;
  c.compression_level = -3;
  Emit("config_fuzz", "config_small", EncodeConfig(c, fuzz::FuzzDataKey()));
  Emit("config_fuzz", "settings_json", EncodeConfigSettings(c));
  std::string v2 = cfg;
  v2[8] = 2;
  Emit("config_fuzz", "bad_version_2", v2);
  Emit("config_fuzz", "bad_short", cfg.substr(0, 20));
  Emit("config_fuzz", "bad_settings_types",
       R"({"chunker":{"min":"1","avg":4096,"max":1e30,"normalization":-1},"pack_size":[]})");
}

void KeySlotSeeds() {
  std::string slot;
  if (!MakeKeySlot(fuzz::FuzzMaster(), "passphrase", {1, 8 << 20}, "user@host", 1700000000, &slot)
           .ok()) {
    std::cerr << "MakeKeySlot failed\n";
    std::exit(1);
  }
  Emit("key_slot_fuzz", "slot", slot);
  Emit("key_slot_fuzz", "slot_body_no_checksum", slot.substr(0, slot.size() - 32));
  std::string empty_label;
  (void)MakeKeySlot(fuzz::FuzzMaster(), "", {1, 8 << 20}, "", 0, &empty_label);
  Emit("key_slot_fuzz", "slot_empty_label", empty_label);
  std::string flipped = slot;
  flipped[20] ^= 1;
  Emit("key_slot_fuzz", "bad_flipped", flipped);
  Emit("key_slot_fuzz", "bad_short", slot.substr(0, 100));
}

// A journal file: header, base record, one record per op.
std::string MakeJournal(const Hash* base, const std::vector<DraftOp>& ops) {
  JournalHeader h;
  h.store_id = fuzz::FuzzJournalStoreId();
  std::string id = Bytes(16, 77);
  std::copy(id.begin(), id.end(), h.journal_id.begin());
  std::string out = EncodeJournalHeader(h);
  auto add = [&](uint64_t seq, const std::string& payload) {
    std::string sealed;
    Seal(fuzz::FuzzLocalKey(), payload, JournalAad(h.journal_id, seq), &sealed);
    PutFixed32(&out, static_cast<uint32_t>(sealed.size()));
    out += sealed;
  };
  std::string payload;
  EncodeJournalBase(base, &payload);
  add(0, payload);
  for (size_t i = 0; i < ops.size(); i++) {
    payload.clear();
    EncodeJournalOp(ops[i], &payload);
    add(i + 1, payload);
  }
  return out;
}

void JournalSeeds() {
  std::vector<DraftOp> ops = journal_test::SampleOps();
  for (int k = 1; k <= 9; k++) ops.push_back(journal_test::FullOp(static_cast<DraftOp::Kind>(k)));
  Hash base = H(5);
  std::string full = MakeJournal(&base, ops);
  Emit("journal_fuzz", "journal_all_ops", full);
  Emit("journal_fuzz", "journal_empty_draft", MakeJournal(nullptr, {}));
  Emit("journal_fuzz", "journal_torn_tail", full.substr(0, full.size() - 7));
  std::string flipped = full;
  flipped[full.size() / 2] ^= 4;
  Emit("journal_fuzz", "journal_flipped", flipped);
  std::string v2 = full;
  v2[4] = 2;
  Emit("journal_fuzz", "bad_version_2", v2);
  Emit("journal_fuzz", "bad_huge_length",
       full.substr(0, kJournalHeaderSize) + std::string("\xff\xff\xff\x7f", 4) + full.substr(60));
  std::string payload;
  EncodeJournalBase(&base, &payload);
  Emit("journal_fuzz", "payload_base", payload);
  payload.clear();
  EncodeJournalBase(nullptr, &payload);
  Emit("journal_fuzz", "payload_base_none", payload);
  for (size_t i = 0; i < ops.size(); i++) {
    payload.clear();
    EncodeJournalOp(ops[i], &payload);
    Emit("journal_fuzz", "payload_op_" + std::to_string(i), payload);
  }
  Emit("journal_fuzz", "bad_payload_huge_str", std::string("\x02\x03\x01\xff\xff\xff\xff\x0f", 8));
}

// Pack spool files (core/spool_format.h): a pack still being filled, a
// finished one with its end record, and damaged variants.
std::string MakeSpool(BlobType type, int n, bool ended) {
  SpoolHeader h;
  h.store_id = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  h.type = type;
  std::string id = Bytes(16, 88);
  std::copy(id.begin(), id.end(), h.file_id.begin());
  const std::string header = EncodeSpoolHeader(h);
  std::string out = header;
  PackWriter w(type);
  for (int i = 0; i < n; i++) {
    std::string plain = i % 2 ? std::string(300 + i, 'a' + i) : Bytes(80 + 40 * i, 500 + i);
    Hash bid = KeyedHash(DeriveSubkey(fuzz::FuzzMaster(), Subkey::kBlobId), plain);
    std::string sealed;
    Compression c = SealBlob(fuzz::FuzzDataKey(), type, bid, plain, 3, &sealed);
    w.Add(bid, c, sealed, static_cast<uint32_t>(plain.size()));
    out += EncodeSpoolBlobRecord(fuzz::FuzzLocalKey(), header, out.size(), type, bid, c,
                                 static_cast<uint32_t>(sealed.size()),
                                 static_cast<uint32_t>(plain.size()));
    out += sealed;
  }
  if (ended) {
    size_t blob_bytes = w.size();
    w.Finish(fuzz::FuzzDataKey());
    std::string tail = w.data().substr(blob_bytes);
    out += EncodeSpoolEndRecord(fuzz::FuzzLocalKey(), header, out.size(), type,
                                PlainHash(w.data()), static_cast<uint32_t>(tail.size()));
    out += tail;
  }
  return out;
}

void SpoolSeeds() {
  std::string open = MakeSpool(BlobType::kData, 4, false);
  Emit("spool_fuzz", "spool_data_4", open);
  Emit("spool_fuzz", "spool_tree_ended_3", MakeSpool(BlobType::kTree, 3, true));
  Emit("spool_fuzz", "spool_header_only", open.substr(0, kSpoolHeaderSize));
  Emit("spool_fuzz", "spool_torn_tail", open.substr(0, open.size() - 11));
  Emit("spool_fuzz", "spool_zero_tail", open + std::string(300, '\0'));
  std::string flipped = open;
  flipped[kSpoolHeaderSize + 30] ^= 1;
  Emit("spool_fuzz", "bad_flipped_meta", flipped);
  std::string v2 = open;
  v2[4] = 2;
  Emit("spool_fuzz", "bad_version_2", v2);
  Emit("spool_fuzz", "bad_huge_length",
       open.substr(0, kSpoolHeaderSize) + std::string("\xff\xff\xff\xff", 4) +
           open.substr(kSpoolHeaderSize + 4));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus CORPUS_DIR\n";
    return 2;
  }
  if (!InitCrypto()) return 1;
  g_root = argv[1];
  PackSeeds();
  IndexSeeds();
  ConfigSeeds();
  KeySlotSeeds();
  SpoolSeeds();
  JournalSeeds();
  return 0;
}
