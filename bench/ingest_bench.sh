#!/usr/bin/env bash
# Ingest benchmark: backing up by copying into a mount's ingest/, against
# borg create of the same data in the same run.
#
#   bash bench/ingest_bench.sh [KLOSETFS_BINARY]
#
# Same data set as bench/backup_bench.sh. Times:
#   cp -a DATA MOUNTPOINT/ingest/ && klosetfs commit      vs  borg create (first)
#   cp -a DATA into bench/fuse_floor (no work but FUSE's) vs  borg create (first)
#   rsync -a --delete DATA/ MOUNTPOINT/ingest/ && commit   vs  borg create (unchanged)
#   one large compressible file written through the mount (MB/s)
# and the daemon's peak RSS (VmHWM) over the whole run. Needs root or FUSE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/data.bash"
bench_init 200 klosetfs-ibench "${1:-}" borg rsync fusermount3 /usr/bin/time
files=$(find "$data" -type f | wc -l)
bytes=$(du -sb "$data" | cut -f1)
tar cf - "$data" 2>/dev/null | cat >/dev/null   # warm page cache for every tool alike

mnt=$work/mnt
cleanup() { fusermount3 -uz "$mnt" 2>/dev/null || true; }
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }

rm -rf "$work"/{k,b,cache} "$mnt"; mkdir -p "$mnt"
echo "klosetfs ingest..."
$k init "$work/k" >/dev/null
$k mount "$work/k" "$mnt" --commit-idle 0
pid=$(pgrep -f "klosetfs mount $work/k" | head -1)
t0=$(now); cp -a "$data/." "$mnt/ingest/"; $k commit "$mnt" >/dev/null; t1=$(now)
k1=$(secs "$t0" "$t1")
t0=$(now); rsync -a --delete "$data/" "$mnt/ingest/"; $k commit "$mnt" >/dev/null; t1=$(now)
k2=$(secs "$t0" "$t1")
python3 - "$work/big.txt" 1024 <<'PY'
import sys, random
rnd = random.Random(1); words = [("w%05d" % i) for i in range(20000)]
line = " ".join(rnd.choice(words) for _ in range(20000)).encode()
chunk = (line * (1048576 // len(line) + 1))[:1048576]
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(chunk[i % 1000:] + chunk[:i % 1000])
PY
cat "$work/big.txt" >/dev/null
t0=$(now); dd if="$work/big.txt" of="$mnt/ingest/big.txt" bs=1M conv=fsync status=none; t1=$(now)
kbig=$(python3 -c "print('%.0f' % (1024 * 1.048576 / ($t1 - $t0)))")
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
$k commit "$mnt" >/dev/null
diff -r --no-dereference "$data" "$mnt/ingest" -x big.txt >/dev/null || { echo "ingest/ differs from the data"; exit 1; }
$k umount "$mnt" >/dev/null
ks=$(du -sb "$work/k" | cut -f1)

# The floor: the same cp -a into a FUSE file system that keeps names and
# throws contents away (bench/fuse_floor.cc): the kernel's round trips alone.
floor_bin=${FUSE_FLOOR:-$(dirname "$k")/bench/fuse_floor}
[ -x "$floor_bin" ] || { echo "missing $floor_bin (built with the bench targets)" >&2; exit 1; }
echo "fuse_floor..."
"$floor_bin" "$mnt" &
floor_pid=$!
for _ in $(seq 1 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "fuse_floor did not mount" >&2; exit 1; }
t0=$(now); cp -a "$data/." "$mnt/"; t1=$(now); f1=$(secs "$t0" "$t1")
fusermount3 -u "$mnt"
wait "$floor_pid" || true

echo "borg..."
borg init -e repokey "$work/b" >/dev/null 2>&1
t0=$(now); borg create --compression zstd,3 "$work/b::one" "$data"; t1=$(now); b1=$(secs "$t0" "$t1")
t0=$(now); borg create --compression zstd,3 "$work/b::two" "$data"; t1=$(now); b2=$(secs "$t0" "$t1")

ratio() { python3 -c "print('%.2f' % ($1 / max($2, 1e-9)))"; }
printf '\nData: %s files, %s MB (%s subset + %s MB file)\n' "$files" \
  "$(python3 -c "print('%.1f' % ($bytes / 1e6))")" "$src_root" "$big_mb"
printf 'Machine: %s, %s cores, %s\n\n' "$(uname -srm)" "$(nproc)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '| operation | klosetfs ingest | borg | k/borg | target |\n|---|---|---|---|---|\n'
printf '| cp -a + commit vs first borg create | %s s | %s s | %s | <= 0.75 |\n' "$k1" "$b1" "$(ratio "$k1" "$b1")"
printf '| cp -a into fuse_floor (FUSE round trips only) vs first borg create | %s s | %s s | %s | (floor) |\n' "$f1" "$b1" "$(ratio "$f1" "$b1")"
printf '| unchanged rsync + commit vs borg re-create | %s s | %s s | %s | <= 1.00 |\n' "$k2" "$b2" "$(ratio "$k2" "$b2")"
printf '| 1 GiB compressible file written (dd, fsync) | %s MB/s | | | >= 300 MB/s |\n' "$kbig"
printf '| daemon peak RSS | %s MB | | | <= 256 MB |\n' "$rss"
printf '| store size after both rounds + 1 GiB file | %s MB | | | |\n' "$(python3 -c "print('%.1f' % ($ks / 1e6))")"
