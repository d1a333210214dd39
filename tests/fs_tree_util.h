// Test helpers for backup/restore round trips: build a source folder with
// every kind of entry, and compare two folders entry by entry (type, mode,
// owner, ns mtime, size, bytes, sparse holes, symlink targets, devices,
// xattrs, hardlink groups). Uses Catch2 assertions.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/fs_scan.h"
#include "tests/test_util.h"

namespace kloset::testing {

constexpr uint64_t kHugeSize = 5ull << 30;        // the >4 GiB sparse file
constexpr uint64_t kHugeTailOffset = 4608ull << 20;  // 4.5 GiB

inline void SetNsTimes(const std::string& path, int64_t mtime_ns) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = mtime_ns / 1000000000;
  ts[0].tv_nsec = ts[1].tv_nsec = mtime_ns % 1000000000;
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

inline void PwriteAt(int fd, const std::string& data, uint64_t off) {
  REQUIRE(pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)) ==
          static_cast<ssize_t>(data.size()));
}

// Creates `src` holding every kind of entry the archiver handles.
inline void MakeFullTree(const std::string& src) {
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  auto p = [&](const std::string& rel) { return src + "/" + rel; };
  WriteFile(p("regular.txt"), "hello world\n");
  WriteFile(p("empty"), "");
  WriteFile(p("random5m"), RandomData(5 << 20, 1));
  {  // 1 MiB data, 8 MiB hole, 1 MiB data, 2 MiB trailing hole
    int fd = open(p("sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    PwriteAt(fd, RandomData(1 << 20, 2), 0);
    PwriteAt(fd, RandomData(1 << 20, 3), 9 << 20);
    REQUIRE(ftruncate(fd, 12 << 20) == 0);
    close(fd);
  }
  {  // > 4 GiB, almost all hole
    int fd = open(p("huge").c_str(), O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    PwriteAt(fd, "head of the huge file", 0);
    PwriteAt(fd, RandomData(100000, 4), kHugeTailOffset);
    REQUIRE(ftruncate(fd, static_cast<off_t>(kHugeSize)) == 0);
    close(fd);
  }
  REQUIRE(mkdir(p("empty_dir").c_str(), 0700) == 0);
  REQUIRE(mkdir(p("nested").c_str(), 0755) == 0);
  REQUIRE(mkdir(p("nested/a").c_str(), 0750) == 0);
  REQUIRE(mkdir(p("nested/a/b").c_str(), 01777) == 0);
  REQUIRE(chmod(p("nested/a/b").c_str(), 01777) == 0);  // umask-proof
  WriteFile(p("nested/a/b/deep.txt"), RandomData(3000, 5));
  REQUIRE(symlink("regular.txt", p("link").c_str()) == 0);
  REQUIRE(symlink("/nonexistent/dangling/target", p("dangling").c_str()) == 0);
  WriteFile(p("hardlink1"), RandomData(70000, 6));
  REQUIRE(link(p("hardlink1").c_str(), p("nested/hardlink2").c_str()) == 0);
  REQUIRE(link(p("hardlink1").c_str(), p("nested/a/hardlink3").c_str()) == 0);
  REQUIRE(mkfifo(p("fifo").c_str(), 0640) == 0);
  {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    struct sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sp = p("sock");
    REQUIRE(sp.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, sp.c_str(), sp.size() + 1);
    REQUIRE(bind(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0);
    close(s);
  }
  if (geteuid() == 0) {
    REQUIRE(mknod(p("chardev").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
    WriteFile(p("owned"), "owned by someone else");
    REQUIRE(chown(p("owned").c_str(), 1234, 5678) == 0);
    WriteFile(p("setuid"), "#!/bin/sh\n");
    REQUIRE(chown(p("setuid").c_str(), 1234, 5678) == 0);
    REQUIRE(chmod(p("setuid").c_str(), 06755) == 0);
  }
  REQUIRE(chmod(p("regular.txt").c_str(), 0640) == 0);
  WriteFile(p(std::string("bad\xff\xfename", 9)), "non-UTF-8 name");
  WriteFile(p("new\nline"), "newline in name");
  std::string bin("v\0\xff", 3);
  REQUIRE(setxattr(p("regular.txt").c_str(), "user.color", "blue", 4, 0) == 0);
  REQUIRE(setxattr(p("regular.txt").c_str(), "user.bin", bin.data(), bin.size(), 0) == 0);
  REQUIRE(setxattr(p("nested").c_str(), "user.dir", "d", 1, 0) == 0);
  REQUIRE(setxattr(p("empty").c_str(), "user.empty", "", 0, 0) == 0);
  SetNsTimes(p("regular.txt"), 1600000000123456789);
  SetNsTimes(p("link"), 1500000000000000001);
  SetNsTimes(p("nested/a/b"), 1400000000999999999);
  SetNsTimes(p("nested"), 1300000000000000007);
}

struct EntryInfo {
  struct stat st;
  std::string target;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// Every entry below `root` (not root itself) by relative path.
inline void Scan(const std::string& root, const std::string& rel,
                 std::map<std::string, EntryInfo>* out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = fdopendir(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOATIME));
  REQUIRE(d);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string full = root + "/" + r;
    EntryInfo info;
    REQUIRE(lstat(full.c_str(), &info.st) == 0);
    if (S_ISLNK(info.st.st_mode)) {
      char buf[4096];
      ssize_t len = readlink(full.c_str(), buf, sizeof buf);
      REQUIRE(len >= 0);
      info.target.assign(buf, static_cast<size_t>(len));
    }
    REQUIRE(ReadXattrs(full, &info.xattrs).ok());
    (*out)[r] = info;
    if (S_ISDIR(info.st.st_mode)) Scan(root, r, out);
  }
}

// Data segments of a file as [start, end) pairs (SEEK_DATA/SEEK_HOLE).
inline std::vector<std::pair<uint64_t, uint64_t>> DataSegments(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> segs;
  uint64_t off = 0;
  while (off < size) {
    off_t d = lseek(fd, static_cast<off_t>(off), SEEK_DATA);
    if (d < 0) break;
    off_t h = lseek(fd, d, SEEK_HOLE);
    segs.push_back({static_cast<uint64_t>(d), static_cast<uint64_t>(h)});
    off = static_cast<uint64_t>(h);
  }
  return segs;
}

inline std::string ReadRange(int fd, uint64_t off, size_t len) {
  std::string s(len, '\0');
  ssize_t n = pread(fd, s.data(), len, static_cast<off_t>(off));
  REQUIRE(n == static_cast<ssize_t>(len));
  return s;
}

// Bytes equal; for large files only the data segments of each side are read
// (the rest is a hole on both sides if st_blocks agree).
inline void CompareContent(const std::string& a, const std::string& b, uint64_t size) {
  // O_NOATIME: comparing must not change what a later backup sees.
  int fa = open(a.c_str(), O_RDONLY | O_NOATIME), fb = open(b.c_str(), O_RDONLY | O_NOATIME);
  REQUIRE(fa >= 0);
  REQUIRE(fb >= 0);
  if (size <= (64u << 20)) {
    CHECK(ReadRange(fa, 0, size) == ReadRange(fb, 0, size));
  } else {
    for (int side = 0; side < 2; side++) {
      for (auto [s, e] : DataSegments(side ? fb : fa, size)) {
        for (uint64_t o = s; o < e; o += 8 << 20) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(8 << 20, e - o));
          CHECK(ReadRange(fa, o, n) == ReadRange(fb, o, n));
        }
      }
    }
  }
  close(fa);
  close(fb);
}

// Compares the trees under `src` and `dst` (both sides' root folders excluded).
// check_nlink: false when dst holds only part of a hardlink group.
inline void CompareTrees(const std::string& src, const std::string& dst, bool check_nlink = true) {
  std::map<std::string, EntryInfo> a, b;
  Scan(src, "", &a);
  Scan(dst, "", &b);
  std::set<std::string> na, nb;
  for (auto& [k, v] : a) na.insert(k);
  for (auto& [k, v] : b) nb.insert(k);
  REQUIRE(na == nb);
  std::map<ino_t, ino_t> inode_map;  // src inode -> dst inode
  std::map<ino_t, ino_t> inode_back;
  for (auto& [rel, x] : a) {
    INFO("entry " << rel);
    const EntryInfo& y = b[rel];
    CHECK((x.st.st_mode & S_IFMT) == (y.st.st_mode & S_IFMT));
    if (!S_ISLNK(x.st.st_mode)) CHECK((x.st.st_mode & 07777) == (y.st.st_mode & 07777));
    CHECK(x.st.st_uid == y.st.st_uid);
    CHECK(x.st.st_gid == y.st.st_gid);
    CHECK(x.st.st_mtim.tv_sec == y.st.st_mtim.tv_sec);
    CHECK(x.st.st_mtim.tv_nsec == y.st.st_mtim.tv_nsec);
    CHECK(x.xattrs == y.xattrs);
    if (S_ISREG(x.st.st_mode)) {
      CHECK(x.st.st_size == y.st.st_size);
      // Sparse stays sparse: no more blocks than the source plus a little.
      CHECK(y.st.st_blocks <= x.st.st_blocks + 64);
      CompareContent(src + "/" + rel, dst + "/" + rel, static_cast<uint64_t>(x.st.st_size));
    }
    if (S_ISLNK(x.st.st_mode)) CHECK(x.target == y.target);
    if (S_ISCHR(x.st.st_mode) || S_ISBLK(x.st.st_mode)) CHECK(x.st.st_rdev == y.st.st_rdev);
    if (!S_ISDIR(x.st.st_mode)) {
      if (check_nlink) CHECK(x.st.st_nlink == y.st.st_nlink);
      // Hardlink groups: the src -> dst inode mapping is one-to-one.
      auto [it, fresh] = inode_map.emplace(x.st.st_ino, y.st.st_ino);
      CHECK(it->second == y.st.st_ino);
      auto [jt, fresh2] = inode_back.emplace(y.st.st_ino, x.st.st_ino);
      CHECK(jt->second == x.st.st_ino);
      (void)fresh;
      (void)fresh2;
    }
  }
}

}  // namespace kloset::testing
