#!/usr/bin/env bash
# The mount daemon's memory does not grow with the store: walking and reading
# every file of a store of 100,000 small files and a big one, the daemon
# (VmHWM) stays under a fixed cap, and once its bounded caches are full
# (decoded chunks, tree pages) reading 40,000 more files adds next to
# nothing. The kernel holds a reference to every inode it caches and the
# daemon must keep those; so the walk goes in parts of 10,000 files and lets
# the kernel drop its unused dentries and inodes between parts
# (drop_caches=2, slab only): what must stay bounded is everything else.
source "$(dirname "$0")/lib.bash"
need_fuse
[ -w /proc/sys/vm/drop_caches ] || fail "needs root: writes /proc/sys/vm/drop_caches"

cap_kb=$((128 * 1024)) growth_kb=$((8 * 1024))
# Not `ldd | grep -q`: under pipefail, grep leaving at the first match can
# kill ldd with SIGPIPE, which made an ASan run look uninstrumented (256 MB
# quarantine against the plain build's cap: a 550 MB "peak" in CI).
libs=$(ldd "$K")
if [[ $libs == *libasan* ]]; then
  # An AddressSanitizer build: its shadow memory, redzones and per-size-class
  # caches weigh on every allocation, and its quarantine (256 MB unless told)
  # holds freed memory back. Everything is still walked, read and compared;
  # the bounds are those of the instrumented binary (measured: ~200 MB peak,
  # ~7 MB from 60,000 to 100,000 files with a 4 MB quarantine).
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
  cap_kb=$((256 * 1024)) growth_kb=$((16 * 1024))
fi
dirs=100  # of 1,000 files each
src=$T/src store=$T/store mnt=$T/mnt

step "a store of $((dirs * 1000)) small files and a 32 MiB one"
python3 - "$src" "$dirs" <<'PY'
import os, sys
src, dirs = sys.argv[1], int(sys.argv[2])
for d in range(dirs):
    p = os.path.join(src, "d%03d" % d)
    os.makedirs(p)
    for i in range(1000):
        with open(os.path.join(p, "f%04d" % i), "w") as f:
            f.write(("file %d %d\n" % (d, i)) * (1 + i % 50))
with open(os.path.join(src, "big.bin"), "wb") as f:
    f.write(os.urandom(32 << 20))
PY
"$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --quiet

step "walk and read everything through the mount"
# A small decoded-chunk cache, so that the big file passes through it.
mount_store "$store" "$mnt" --memory-cache 16M
pid=$(pgrep -f "klosetfs mount $store $mnt" | head -1)
[ -n "$pid" ] || fail "no mount daemon found"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
# What the peak is made of, for a failure's reader: anonymous vs file-backed
# pages, threads, and the daemon's own cache figures.
mem_detail() {
  awk '/^(RssAnon|RssFile|RssShmem|Threads):/ {printf "%s %s ", $1, $2}' "/proc/$pid/status"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("memory_cache", j["memory_cache"]["bytes"], "inodes", j["inodes"], "open_files", j["open_files"], "process", j["process"])' \
    "$mnt/.klosetfs-stats.json" 2>/dev/null || echo
}
top=$mnt/latest$src
cmp "$src/big.bin" "$top/big.bin" || fail "big.bin differs through the mount"
files=0
for ((part = 0; part < dirs; part += 10)); do
  for ((d = part; d < part + 10; d++)); do
    sub=$top/$(printf d%03d "$d")
    files=$((files + $(find "$sub" -type f | wc -l)))
    bytes=$(cd "$sub" && tar cf - . | wc -c) || fail "tar of $sub failed"
    [ "$bytes" -gt 1000000 ] || fail "tar of $sub gave only $bytes bytes"
  done
  sync
  echo 2 > /proc/sys/vm/drop_caches  # the kernel forgets unused inodes
  echo "  $files files: VmHWM $(hwm) kB; $(mem_detail)"
  [ "$files" = 60000 ] && mid_kb=$(hwm)
done
[ "$files" = $((dirs * 1000)) ] || fail "walked $files files, expected $((dirs * 1000))"
end_kb=$(hwm)
# The daemon's largest mappings by resident size, shown if a check fails.
maps=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {m=$1" "$6} /^Rss:/ {print $2" kB "m}' "/proc/$pid/smaps" |
       sort -rn | awk "NR <= 8")
"$K" umount "$mnt"
wait_unmounted "$mnt"

[ "$end_kb" -lt "$cap_kb" ] ||
  fail "daemon peaked at ${end_kb} kB, over the ${cap_kb} kB cap; largest mappings now:
$maps"
# By 60,000 files the caches are full; keeping the inodes or listings of the
# last 40,000 would cost about 30 MB more.
[ "$end_kb" -lt $((mid_kb + growth_kb)) ] ||
  fail "memory grows with the store: ${mid_kb} kB after 60,000 files, ${end_kb} kB after $files;
largest mappings now:
$maps"
echo "mount_memory: all checks passed"
