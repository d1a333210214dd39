// Tests for core/encoding.h and core/tree.h: the page codec, DirectoryWriter,
// DirectoryReader and LookupPath.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include "core/encoding.h"
#include "core/memory_blob_store.h"
#include "core/tree.h"

namespace kloset {
namespace {

Hash HashOf(uint8_t b) {
  Hash h;
  h.fill(b);
  return h;
}

// A node with every field set, so round trips cover the whole layout.
Node FullNode(std::string name, NodeType type) {
  Node n;
  n.name = std::move(name);
  n.type = type;
  n.mode = 04755;
  n.uid = 4000000000u;
  n.gid = 100;
  n.user = "alice";
  n.group = "staff";
  n.mtime_ns = -1234567890123;
  n.ctime_ns = std::numeric_limits<int64_t>::max();
  n.atime_ns = std::numeric_limits<int64_t>::min();
  n.size = 300;
  n.blocks = 8;
  n.rdev = 0x0801;
  n.nlink = 2;
  n.hardlink_id = 77;
  n.inode = std::numeric_limits<uint64_t>::max();
  n.xattrs = {{"user.a", std::string("v\0w", 3)}, {"user.b", ""}};
  if (type == NodeType::kFile) {
    n.chunks = {{HashOf(1), 100, false}, {Hash{}, 150, true}, {HashOf(2), 50, false}};
  }
  if (type == NodeType::kSymlink) n.symlink_target = "../target";
  if (type == NodeType::kDir) {
    n.subtree = HashOf(9);
    n.subtree_entries = 12345;
  }
  return n;
}

Node SmallNode(std::string name) {
  Node n;
  n.name = std::move(name);
  n.mode = 0644;
  n.user = "bob";
  n.group = "users";
  n.mtime_ns = 1700000000000000000;
  n.size = 10;
  n.chunks = {{HashOf(3), 10, false}};
  return n;
}

std::string Name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "entry-%07zu.txt", i);
  return buf;
}

Hash BuildDir(BlobStore* store, const std::vector<Node>& nodes, size_t page_bytes,
              uint64_t* entries = nullptr) {
  DirectoryWriter w(store, TreeOptions{page_bytes});
  for (const Node& n : nodes) REQUIRE(w.Add(n).ok());
  Hash root;
  uint64_t count;
  Status s = w.Finish(&root, &count);
  REQUIRE(s.ok());
  REQUIRE(count == nodes.size());
  if (entries) *entries = count;
  return root;
}

std::vector<std::string> ListNames(BlobStore* store, const Hash& root, std::string_view after,
                                   size_t limit = SIZE_MAX) {
  std::vector<std::string> names;
  Status s = DirectoryReader(store, root).List(after, [&](const Node& n) {
    names.push_back(n.name);
    return names.size() < limit;
  });
  REQUIRE(s.ok());
  return names;
}

// Depth of the tree under root, following first children.
int Depth(MemoryBlobStore* store, const Hash& root) {
  int depth = 1;
  Hash id = root;
  for (;;) {
    std::string bytes;
    REQUIRE(store->LoadBlob(BlobType::kTree, id, &bytes).ok());
    TreePage p;
    REQUIRE(DecodeTreePage(bytes, &p).ok());
    if (p.leaf) return depth;
    id = p.children.front().second;
    depth++;
  }
}

// Node::operator== is unusable while ChunkRef has none; the encoding covers
// every stored field.
std::string Enc(const Node& n) {
  std::string s;
  EncodeNode(n, &s);
  return s;
}

}  // namespace

TEST_CASE("varints round trip and reject non-canonical input", "[encoding]") {
  std::vector<uint64_t> values = {0, 1, 127, 128, 255, 300, 16383, 16384, UINT32_MAX,
                                  (1ull << 63) - 1, 1ull << 63, UINT64_MAX};
  for (uint64_t v : values) {
    std::string s;
    PutVarint(&s, v);
    CHECK(s.size() == VarintLength(v));
    std::string_view in = s;
    uint64_t got;
    REQUIRE(GetVarint(&in, &got));
    CHECK(got == v);
    CHECK(in.empty());
    // Every strict prefix is truncated.
    for (size_t i = 0; i < s.size(); i++) {
      std::string_view p(s.data(), i);
      CHECK_FALSE(GetVarint(&p, &got));
    }
  }
  uint64_t v;
  std::string_view bad("\x80\x00", 2);  // 0 with a redundant group
  CHECK_FALSE(GetVarint(&bad, &v));
  std::string eleven(10, '\xff');
  eleven.push_back('\x01');
  std::string_view in = eleven;
  CHECK_FALSE(GetVarint(&in, &v));
  std::string ten(9, '\xff');
  ten.push_back('\x02');  // bit 64
  in = ten;
  CHECK_FALSE(GetVarint(&in, &v));
  uint32_t v32;
  std::string big;
  PutVarint(&big, 1ull << 32);
  in = big;
  CHECK_FALSE(GetVarint32(&in, &v32));
}

TEST_CASE("svarints, fixed ints, strings and hashes round trip", "[encoding]") {
  std::string s;
  std::vector<int64_t> sv = {0, -1, 1, -64, 64, std::numeric_limits<int64_t>::min(),
                             std::numeric_limits<int64_t>::max()};
  for (int64_t v : sv) PutSvarint(&s, v);
  PutFixed32(&s, 0xdeadbeef);
  PutFixed64(&s, 0x0123456789abcdefull);
  PutStr(&s, std::string("a\0b", 3));
  PutHash(&s, HashOf(7));
  PutU8(&s, 200);
  std::string one;
  PutSvarint(&one, -1);
  CHECK(one == "\x01");
  std::string_view in = s;
  for (int64_t v : sv) {
    int64_t got;
    REQUIRE(GetSvarint(&in, &got));
    CHECK(got == v);
  }
  uint32_t f32;
  uint64_t f64;
  REQUIRE(GetFixed32(&in, &f32));
  CHECK(f32 == 0xdeadbeef);
  REQUIRE(GetFixed64(&in, &f64));
  CHECK(f64 == 0x0123456789abcdefull);
  std::string str;
  REQUIRE(GetStr(&in, &str));
  CHECK(str == std::string("a\0b", 3));
  Hash h;
  REQUIRE(GetHash(&in, &h));
  CHECK(h == HashOf(7));
  uint8_t b;
  REQUIRE(GetU8(&in, &b));
  CHECK(b == 200);
  CHECK(in.empty());
  CHECK_FALSE(GetU8(&in, &b));
  std::string_view shortstr("\x05" "abcd", 5);  // claims 5, has 4
  std::string_view out;
  CHECK_FALSE(GetStr(&shortstr, &out));
  std::string_view fixed("abc", 3);
  CHECK_FALSE(GetFixed32(&fixed, &f32));
}

TEST_CASE("entry names", "[tree]") {
  CHECK(IsValidEntryName("a"));
  CHECK(IsValidEntryName("..."));
  CHECK(IsValidEntryName(".hidden"));
  CHECK(IsValidEntryName("\xff\xfe non-utf8"));
  CHECK(IsValidEntryName(std::string(4096, 'x')));
  CHECK_FALSE(IsValidEntryName(std::string(4097, 'x')));
  CHECK_FALSE(IsValidEntryName(""));
  CHECK_FALSE(IsValidEntryName("."));
  CHECK_FALSE(IsValidEntryName(".."));
  CHECK_FALSE(IsValidEntryName("a/b"));
  CHECK_FALSE(IsValidEntryName(std::string("a\0b", 3)));
}

TEST_CASE("tree pages round trip", "[tree]") {
  TreePage leaf;
  leaf.nodes = {FullNode("a-dir", NodeType::kDir), FullNode("b-file", NodeType::kFile),
                FullNode("c-link", NodeType::kSymlink), FullNode("d-fifo", NodeType::kFifo),
                FullNode("e-sock", NodeType::kSocket), FullNode("f-chr", NodeType::kCharDev),
                FullNode("g-blk", NodeType::kBlockDev),
                FullNode("\xc3\xa9t\xc3\xa9", NodeType::kFile)};
  leaf.nodes.back().error = "permission denied";
  std::string bytes = EncodeTreePage(leaf);
  TreePage got;
  REQUIRE(DecodeTreePage(bytes, &got).ok());
  CHECK(EncodeTreePage(got) == EncodeTreePage(leaf));
  CHECK(got.nodes.size() == leaf.nodes.size());
  CHECK(EncodeTreePage(got) == bytes);

  TreePage interior;
  interior.leaf = false;
  interior.children = {{"a", HashOf(1)}, {"m", HashOf(2)}, {"\xff", HashOf(3)}};
  bytes = EncodeTreePage(interior);
  REQUIRE(DecodeTreePage(bytes, &got).ok());
  CHECK(!got.leaf);
  CHECK(got.children == interior.children);

  TreePage empty;
  bytes = EncodeTreePage(empty);
  CHECK(bytes == std::string("\x01\x00\x00", 3));
  REQUIRE(DecodeTreePage(bytes, &got).ok());
  CHECK(got.leaf);
  CHECK(got.nodes.empty());

  // The smallest node really is at least as large as the decoder assumes
  // when it caps hostile counts (kMinNodeBytes = 21).
  Node tiny;
  tiny.name = "x";
  std::string enc;
  EncodeNode(tiny, &enc);
  CHECK(enc.size() == 21);
}

TEST_CASE("tree page decoding rejects malformed input", "[tree]") {
  TreePage leaf;
  leaf.nodes = {FullNode("a", NodeType::kDir), FullNode("b", NodeType::kFile)};
  const std::string good = EncodeTreePage(leaf);
  TreePage p;
  REQUIRE(DecodeTreePage(good, &p).ok());

  // Every truncation and every extension fails.
  for (size_t i = 0; i < good.size(); i++) {
    Status s = DecodeTreePage(std::string_view(good.data(), i), &p);
    INFO("prefix " << i);
    CHECK(s.IsCorrupt());
  }
  CHECK(DecodeTreePage(good + "x", &p).IsCorrupt());

  auto bad = [&](TreePage page) { return DecodeTreePage(EncodeTreePage(page), &p); };
  TreePage unsorted;
  unsorted.nodes = {SmallNode("b"), SmallNode("a")};
  CHECK(bad(unsorted).IsCorrupt());
  TreePage dup;
  dup.nodes = {SmallNode("a"), SmallNode("a")};
  CHECK(bad(dup).IsCorrupt());
  for (std::string name : {std::string(), std::string("."), std::string(".."),
                           std::string("a/b"), std::string("a\0b", 3)}) {
    TreePage invalid;
    invalid.nodes = {SmallNode(name)};
    CHECK(bad(invalid).IsCorrupt());
  }
  TreePage empty_interior;
  empty_interior.leaf = false;
  CHECK(bad(empty_interior).IsCorrupt());
  TreePage unsorted_interior;
  unsorted_interior.leaf = false;
  unsorted_interior.children = {{"b", HashOf(1)}, {"a", HashOf(2)}};
  CHECK(bad(unsorted_interior).IsCorrupt());

  std::string s = good;
  s[0] = 2;  // version
  CHECK(DecodeTreePage(s, &p).IsCorrupt());
  s = good;
  s[1] = 2;  // kind
  CHECK(DecodeTreePage(s, &p).IsCorrupt());
  // Node type is right after the first node's name ("\x01a").
  s = good;
  REQUIRE(s[5] == static_cast<char>(NodeType::kDir));
  s[5] = 0;
  CHECK(DecodeTreePage(s, &p).IsCorrupt());
  s[5] = 8;
  CHECK(DecodeTreePage(s, &p).IsCorrupt());

  // Unknown chunk flags.
  TreePage flagged;
  flagged.nodes = {SmallNode("a")};
  s = EncodeTreePage(flagged);
  size_t flag_pos = s.size() - 1 /*error*/ - 1 /*size*/ - 32 /*id*/ - 1;
  REQUIRE(s[flag_pos] == 0);
  s[flag_pos] = 2;
  CHECK(DecodeTreePage(s, &p).IsCorrupt());

  // A uid that does not fit in 32 bits.
  std::string node;
  PutStr(&node, "a");
  PutU8(&node, 1);
  PutVarint(&node, 0644);
  PutVarint(&node, 1ull << 32);
  std::string page("\x01\x00\x01", 3);
  CHECK(DecodeTreePage(page + node + std::string(40, '\0'), &p).IsCorrupt());

  // Hostile counts are rejected before anything is allocated for them.
  std::string hostile("\x01\x00", 2);
  PutVarint(&hostile, 1ull << 60);
  hostile += std::string(100, '\0');
  CHECK(DecodeTreePage(hostile, &p).IsCorrupt());
  std::string hostile_interior("\x01\x01", 2);
  PutVarint(&hostile_interior, UINT64_MAX);
  CHECK(DecodeTreePage(hostile_interior, &p).IsCorrupt());
  TreePage one;
  one.nodes = {SmallNode("a")};
  s = EncodeTreePage(one);
  // Replace the chunk count (1) by a huge one.
  size_t count_pos = s.size() - 1 - 1 - 32 - 1 - 1;
  REQUIRE(s[count_pos] == 1);
  std::string huge;
  PutVarint(&huge, 1ull << 40);
  s = s.substr(0, count_pos) + huge + s.substr(count_pos + 1);
  CHECK(DecodeTreePage(s, &p).IsCorrupt());
}

TEST_CASE("empty directory is one empty leaf page", "[tree]") {
  MemoryBlobStore store;
  uint64_t entries = 1;
  Hash root = BuildDir(&store, {}, 4096, &entries);
  CHECK(entries == 0);
  CHECK(store.blob_count() == 1);
  std::string bytes;
  REQUIRE(store.LoadBlob(BlobType::kTree, root, &bytes).ok());
  CHECK(bytes == std::string("\x01\x00\x00", 3));
  CHECK(ListNames(&store, root, "").empty());
  Node n;
  bool found = true;
  REQUIRE(DirectoryReader(&store, root).Lookup("x", &n, &found).ok());
  CHECK_FALSE(found);
}

TEST_CASE("DirectoryWriter rejects bad names and duplicates", "[tree]") {
  MemoryBlobStore store;
  DirectoryWriter w(&store);
  Status s = w.Add(SmallNode("a/b"));
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("a/b") != std::string::npos);
  CHECK(w.Add(SmallNode("..")).code() == Code::kInvalidArgument);
  REQUIRE(w.Add(SmallNode("same")).ok());
  REQUIRE(w.Add(SmallNode("other")).ok());
  REQUIRE(w.Add(SmallNode("same")).ok());
  Hash root;
  uint64_t entries;
  s = w.Finish(&root, &entries);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("'same'") != std::string::npos);
  CHECK(w.Finish(&root, &entries).code() == Code::kInvalidArgument);
}

TEST_CASE("small directory: lookup, list, unsigned byte order", "[tree]") {
  MemoryBlobStore store;
  std::vector<Node> nodes = {SmallNode("b"), SmallNode("\xff-high"), SmallNode("a"),
                             FullNode("dir", NodeType::kDir), SmallNode("B")};
  nodes[2].xattrs = {{"user.z", "1"}, {"user.a", "2"}};
  Hash root = BuildDir(&store, nodes, 64 * 1024);
  CHECK(store.blob_count() == 1);
  CHECK(ListNames(&store, root, "") ==
        std::vector<std::string>{"B", "a", "b", "dir", "\xff-high"});
  CHECK(ListNames(&store, root, "a") == std::vector<std::string>{"b", "dir", "\xff-high"});
  CHECK(ListNames(&store, root, "c") == std::vector<std::string>{"dir", "\xff-high"});
  CHECK(ListNames(&store, root, "\xff\xff").empty());
  CHECK(ListNames(&store, root, "", 2) == std::vector<std::string>{"B", "a"});
  DirectoryReader r(&store, root);
  Node n;
  bool found;
  REQUIRE(r.Lookup("dir", &n, &found).ok());
  REQUIRE(found);
  CHECK(Enc(n) == Enc(nodes[3]));
  REQUIRE(r.Lookup("a", &n, &found).ok());
  REQUIRE(found);
  // Add sorted the xattrs.
  CHECK(n.xattrs.front().first == "user.a");
  for (std::string missing : {"", "0", "aa", "c", "\xff", "\xff\xff"}) {
    REQUIRE(r.Lookup(missing, &n, &found).ok());
    CHECK_FALSE(found);
  }
}

TEST_CASE("identical directories give identical pages", "[tree]") {
  std::vector<Node> nodes;
  for (size_t i = 0; i < 3000; i++) nodes.push_back(SmallNode(Name(i)));
  MemoryBlobStore store;
  Hash a = BuildDir(&store, nodes, 2048);
  size_t blobs = store.blob_count();
  CHECK(blobs > 10);
  std::shuffle(nodes.begin(), nodes.end(), std::mt19937(42));
  Hash b = BuildDir(&store, nodes, 2048);
  CHECK(a == b);
  CHECK(store.blob_count() == blobs);
  // A fresh store with the same id key gives the same ids.
  MemoryBlobStore other;
  CHECK(BuildDir(&other, nodes, 2048) == a);
}

TEST_CASE("one huge node still fits in a page of its own", "[tree]") {
  MemoryBlobStore store;
  std::vector<Node> nodes = {SmallNode("a"), SmallNode("b"), SmallNode("c")};
  for (int i = 0; i < 2000; i++) nodes[1].chunks.push_back({HashOf(5), 1, false});
  Hash root = BuildDir(&store, nodes, 256);
  CHECK(ListNames(&store, root, "") == std::vector<std::string>{"a", "b", "c"});
  Node n;
  bool found;
  REQUIRE(DirectoryReader(&store, root).Lookup("b", &n, &found).ok());
  REQUIRE(found);
  CHECK(n.chunks.size() == 2001);
  // Tiny pages: names longer than a page still build a finite tree.
  MemoryBlobStore tiny;
  std::vector<Node> longs;
  for (int i = 0; i < 50; i++) longs.push_back(SmallNode(std::string(300, 'a') + Name(i)));
  Hash r2 = BuildDir(&tiny, longs, 1);
  CHECK(ListNames(&tiny, r2, "").size() == 50);
  REQUIRE(DirectoryReader(&tiny, r2).Lookup(longs[17].name, &n, &found).ok());
  CHECK(found);
}

TEST_CASE("large directory: lookups and listing load few pages", "[tree][large]") {
  constexpr size_t kEntries = 200000;
  constexpr size_t kPageBytes = 4096;
  std::vector<Node> nodes;
  nodes.reserve(kEntries);
  for (size_t i = 0; i < kEntries; i++) {
    Node n = SmallNode(Name(i));
    n.size = i;
    n.inode = i;
    nodes.push_back(std::move(n));
  }
  MemoryBlobStore store;
  std::shuffle(nodes.begin(), nodes.end(), std::mt19937(7));
  Hash root = BuildDir(&store, nodes, kPageBytes);
  const int depth = Depth(&store, root);
  const size_t pages = store.blob_count();

  // Page sizes: none over page_bytes, and the average not far below it.
  uint64_t total = 0;
  size_t biggest = 0;
  store.ForEach([&](BlobType, const Hash&, const std::string& b) {
    total += b.size();
    biggest = std::max(biggest, b.size());
  });
  CHECK(biggest <= kPageBytes);
  WARN("200k entries, page_bytes 4096: " << pages << " pages, depth " << depth
                                         << ", mean page " << total / pages << " bytes");
  CHECK(total / pages > kPageBytes / 3);
  CHECK(depth >= 3);
  CHECK(depth <= 5);

  DirectoryReader r(&store, root);
  std::mt19937 rng(1);
  for (int k = 0; k < 200; k++) {
    size_t i = rng() % kEntries;
    store.ResetCounters();
    Node n;
    bool found;
    REQUIRE(r.Lookup(Name(i), &n, &found).ok());
    REQUIRE(found);
    CHECK(n.size == i);
    CHECK(store.load_count() == static_cast<uint64_t>(depth));
    store.ResetCounters();
    REQUIRE(r.Lookup(Name(i) + "x", &n, &found).ok());
    CHECK_FALSE(found);
    CHECK(store.load_count() <= static_cast<uint64_t>(depth));
  }

  // Full listing: every entry once, in order.
  store.ResetCounters();
  std::vector<std::string> all = ListNames(&store, root, "");
  REQUIRE(all.size() == kEntries);
  for (size_t i = 0; i < kEntries; i++) REQUIRE(all[i] == Name(i));
  CHECK(store.load_count() == pages);

  // Seeking: listing 10 names after a point loads one path plus a neighbour.
  for (size_t start : {size_t{0}, size_t{12345}, kEntries / 2, kEntries - 5}) {
    store.ResetCounters();
    std::vector<std::string> some = ListNames(&store, root, Name(start), 10);
    size_t want = std::min<size_t>(10, kEntries - start - 1);
    REQUIRE(some.size() == want);
    for (size_t j = 0; j < want; j++) CHECK(some[j] == Name(start + 1 + j));
    CHECK(store.load_count() <= static_cast<uint64_t>(2 * depth));
  }
  store.ResetCounters();
  CHECK(ListNames(&store, root, "zzz").empty());
  CHECK(store.load_count() <= static_cast<uint64_t>(depth));

  // Incremental change: one inserted entry and one modified entry rewrite
  // only pages on their paths.
  nodes.push_back(SmallNode(Name(kEntries / 3) + "-new"));
  for (Node& n : nodes) {
    if (n.name == Name(2 * kEntries / 3)) n.mtime_ns++;
  }
  size_t before = store.blob_count();
  Hash root2 = BuildDir(&store, nodes, kPageBytes);
  CHECK(root2 != root);
  size_t added = store.blob_count() - before;
  WARN("insert + modify in a 200k directory added " << added << " pages");
  CHECK(added <= static_cast<size_t>(2 * depth + 2));
}

TEST_CASE("reader detects damaged trees", "[tree]") {
  MemoryBlobStore store;
  std::vector<Node> nodes;
  for (size_t i = 0; i < 500; i++) nodes.push_back(SmallNode(Name(i)));
  Hash root = BuildDir(&store, nodes, 1024);
  std::string bytes;
  REQUIRE(store.LoadBlob(BlobType::kTree, root, &bytes).ok());
  TreePage page;
  REQUIRE(DecodeTreePage(bytes, &page).ok());
  REQUIRE_FALSE(page.leaf);
  REQUIRE(page.children.size() >= 2);
  Node n;
  bool found;

  SECTION("missing page") {
    REQUIRE(store.Erase(BlobType::kTree, page.children[1].second));
    Status s = DirectoryReader(&store, root).Lookup(page.children[1].first, &n, &found);
    CHECK(s.IsCorrupt());  // damage, not "no such entry"
    CHECK(s.message().find(ToHex(page.children[1].second)) != std::string::npos);
    CHECK(ListNames(&store, root, "", 1).size() == 1);  // left part still lists
  }
  SECTION("undecodable page") {
    store.Put(BlobType::kTree, page.children[0].second, "garbage");
    CHECK(DirectoryReader(&store, root).Lookup(Name(0), &n, &found).IsCorrupt());
  }
  SECTION("children swapped") {
    TreePage swapped = page;
    std::swap(swapped.children[0].second, swapped.children[1].second);
    std::string enc = EncodeTreePage(swapped);
    Hash id = store.HashBlob(enc);
    store.Put(BlobType::kTree, id, enc);
    CHECK(DirectoryReader(&store, id).Lookup(Name(0), &n, &found).IsCorrupt());
    Status s = DirectoryReader(&store, id).List("", [](const Node&) { return true; });
    CHECK(s.IsCorrupt());
  }
  SECTION("cycle") {
    TreePage loop;
    loop.leaf = false;
    Hash self = HashOf(0xcc);
    loop.children = {{"a", self}};
    store.Put(BlobType::kTree, self, EncodeTreePage(loop));
    CHECK(DirectoryReader(&store, self).Lookup("a", &n, &found).IsCorrupt());
    CHECK(DirectoryReader(&store, self).List("", [](const Node&) { return true; }).IsCorrupt());
  }
}

TEST_CASE("LookupPath walks nested directories", "[tree]") {
  MemoryBlobStore store;
  Node file = SmallNode("file.txt");
  Hash c_root = BuildDir(&store, {file}, 4096);
  Node c = FullNode("c", NodeType::kDir);
  c.subtree = c_root;
  c.subtree_entries = 1;
  Hash b_root = BuildDir(&store, {c, SmallNode("other")}, 4096);
  Node b = FullNode("b", NodeType::kDir);
  b.subtree = b_root;
  Hash root = BuildDir(&store, {b, SmallNode("top")}, 4096);

  Node out;
  REQUIRE(LookupPath(&store, root, "b/c/file.txt", &out).ok());
  CHECK(Enc(out) == Enc(file));
  REQUIRE(LookupPath(&store, root, "//b///c/./file.txt/", &out).ok());
  CHECK(Enc(out) == Enc(file));
  REQUIRE(LookupPath(&store, root, "/b/c", &out).ok());
  CHECK(out.subtree == c_root);
  for (std::string p : {"", "/", "//", "."}) {
    REQUIRE(LookupPath(&store, root, p, &out).ok());
    CHECK(out.name.empty());
    CHECK(out.type == NodeType::kDir);
    CHECK(out.subtree == root);
  }
  Status s = LookupPath(&store, root, "b/missing/file.txt", &out);
  CHECK(s.IsNotFound());
  CHECK(s.message().find("/b/missing") != std::string::npos);
  s = LookupPath(&store, root, "top/x", &out);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("/top") != std::string::npos);
  CHECK(LookupPath(&store, root, "b/../top", &out).code() == Code::kInvalidArgument);
}

// Writes the seed corpus of fuzz/tree_page_fuzz.cc. Hidden: run it by hand
// (tree_test "[.generate]") after a format change.
TEST_CASE("generate tree page fuzz seeds", "[.generate]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(KLOSETFS_SOURCE_DIR) / "fuzz/corpus/tree_page_fuzz";
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  };
  TreePage leaf;
  leaf.nodes = {FullNode("a-dir", NodeType::kDir), FullNode("b-file", NodeType::kFile),
                FullNode("c-link", NodeType::kSymlink), FullNode("d-dev", NodeType::kCharDev)};
  leaf.nodes[1].error = "permission denied";
  write("leaf_all_types", EncodeTreePage(leaf));
  write("leaf_empty", EncodeTreePage(TreePage{}));
  TreePage small;
  small.nodes = {SmallNode("x")};
  write("leaf_one", EncodeTreePage(small));
  TreePage interior;
  interior.leaf = false;
  interior.children = {{"a", HashOf(1)}, {"m", HashOf(2)}, {"\xff", HashOf(3)}};
  write("interior", EncodeTreePage(interior));
  // Real pages of a small multi-level directory.
  MemoryBlobStore store;
  std::vector<Node> nodes;
  for (size_t i = 0; i < 60; i++) nodes.push_back(SmallNode(Name(i)));
  Hash root = BuildDir(&store, nodes, 512);
  std::string bytes;
  REQUIRE(store.LoadBlob(BlobType::kTree, root, &bytes).ok());
  write("built_root", bytes);
  TreePage page;
  REQUIRE(DecodeTreePage(bytes, &page).ok());
  REQUIRE_FALSE(page.leaf);
  REQUIRE(store.LoadBlob(BlobType::kTree, page.children[0].second, &bytes).ok());
  write("built_leaf", bytes);
  // Malformed seeds.
  std::string s = EncodeTreePage(leaf);
  write("bad_truncated", s.substr(0, s.size() / 2));
  TreePage unsorted;
  unsorted.nodes = {SmallNode("b"), SmallNode("a")};
  write("bad_unsorted", EncodeTreePage(unsorted));
  std::string hostile("\x01\x00", 2);
  PutVarint(&hostile, 1ull << 60);
  write("bad_hostile_count", hostile + std::string(64, '\0'));
}

}  // namespace kloset
