#!/usr/bin/env bash
# Daemon memory while ingesting many small files: creates N one-line files
# (1,000 per folder) directly in MOUNTPOINT/ingest/, commits, and prints the
# daemon's peak RSS (VmHWM) after the copy and after the commit.
#
#   bash bench/ingest_memory.sh [KLOSETFS_BINARY] [N]     (default N: 200000)
#
# With BIG_GIB=G it then writes one file of G GiB of random data into a fresh
# mount and prints that peak too.
#
# The ingest issue's targets: <= 256 MB with N = 1,000,000, and with one
# 10 GiB file. Needs FUSE; MOUNT_ARGS adds mount options (--draft-nodes N).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
k=${1:-$root/build/release/klosetfs}
n=${2:-200000}
[ -x "$k" ] || { echo "missing klosetfs binary $k (build it first)" >&2; exit 1; }
work=${BENCH_DIR:-$(mktemp -d /tmp/klosetfs-imem.XXXXXX)}
export KLOSETFS_PASSWORD=bench XDG_CACHE_HOME=$work/cache
mnt=$work/mnt
trap 'fusermount3 -uz "$mnt" 2>/dev/null || true' EXIT
rm -rf "$work/k" "$work/cache"; mkdir -p "$mnt"
"$k" init "$work/k" >/dev/null
"$k" mount "$work/k" "$mnt" --commit-idle 0 ${MOUNT_ARGS:-}
pid=$(pgrep -f "klosetfs mount $work/k" | head -1)
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status"; }
t0=$(date +%s.%N)
python3 - "$n" "$mnt/ingest" <<'PY'
import os, sys
n, root = int(sys.argv[1]), sys.argv[2]
for d in range((n + 999) // 1000):
    p = "%s/d%04d" % (root, d)
    os.mkdir(p)
    for i in range(min(1000, n - d * 1000)):
        with open("%s/f%04d" % (p, i), "wb") as f:
            f.write(b"file %d %d\n" % (d, i))
PY
t1=$(date +%s.%N)
copied=$(hwm)
"$k" commit "$mnt" >/dev/null
printf 'files: %s; created in %.1f s; daemon peak RSS after the copy %s MB, after the commit %s MB\n' \
  "$n" "$(python3 -c "print($t1 - $t0)")" "$copied" "$(hwm)"
python3 -c 'import json,sys; print("draft:", json.load(open(sys.argv[1]))["ingest"])' \
  "$mnt/.klosetfs-stats.json"
"$k" umount "$mnt" >/dev/null
if [ "${BIG_GIB:-0}" -gt 0 ]; then
  # One large file of random data (nothing to deduplicate or compress), on a
  # fresh mount of a fresh store.
  rm -rf "$work/k" "$work/cache"
  "$k" init "$work/k" >/dev/null
  "$k" mount "$work/k" "$mnt" --commit-idle 0
  pid=$(pgrep -f "klosetfs mount $work/k" | head -1)
  t0=$(date +%s.%N)
  head -c $((BIG_GIB << 30)) /dev/urandom |
    dd of="$mnt/ingest/big.bin" bs=1M iflag=fullblock conv=fsync status=none
  t1=$(date +%s.%N)
  "$k" commit "$mnt" >/dev/null
  printf 'one file of %s GiB written in %.1f s; daemon peak RSS %s MB\n' "$BIG_GIB" \
    "$(python3 -c "print($t1 - $t0)")" "$(hwm)"
  "$k" umount "$mnt" >/dev/null
fi
