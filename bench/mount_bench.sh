#!/usr/bin/env bash
# Mount benchmark: `klosetfs mount` vs `restic mount` vs `borg mount` on the
# same data set, backed up by each tool, in one run.
#
#   bash bench/mount_bench.sh [KLOSETFS_BINARY]
#
# For each tool (klosetfs twice: its default mount, with ingest/, and
# --read-only, the browsing mount): time from starting the mount until the first `ls` of the
# snapshot returns; `find` over all entries (cold = fresh mount, then warm);
# `tar cf - . | wc -c` of the whole snapshot; `cat` of a 1 GiB file (cold,
# then warm). Then klosetfs alone: time to first `ls` with 1 and with 1,000
# snapshots in the store. Prints a table with klosetfs/peer ratios.
#
# Knobs for quick loops (a reported run uses the defaults): BENCH_PEERS="restic"
# or "" runs fewer peers; BENCH_SNAPSHOTS=0 skips the scaling check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
k=${1:-$root/build/release/klosetfs}
src_root=${BENCH_SRC:-/usr/share}
limit_mb=${BENCH_MB:-400}
big_mb=${BENCH_BIG_MB:-1024}
many=${BENCH_SNAPSHOTS:-1000}
peers=${BENCH_PEERS-restic borg}
work=${BENCH_DIR:-$(mktemp -d /tmp/klosetfs-mbench.XXXXXX)}
export KLOSETFS_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes XDG_CACHE_HOME=$work/cache
for tool in restic borg python3 fusermount3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install restic borgbackup fuse3 python3-llfuse)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import llfuse' 2>/dev/null || { echo "borg mount needs python3-llfuse (apt-get install python3-llfuse)" >&2; exit 1; }

data=$work/data
source "$here/data.bash"
prepare_data "$data" "$src_root" "$limit_mb" "$big_mb"
entries=$(find "$data" | wc -l)

now() { date +%s.%N; }
secs() { python3 -c "print('%.3f' % ($2 - $1))"; }
declare -A R
mnt=$work/mnt
mkdir -p "$mnt"
unmount() { fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
            for _ in $(seq 50); do grep -qs " $mnt " /proc/mounts || return 0; sleep 0.1; done; }
trap 'unmount' EXIT

bench_tool() {  # tool, mount command (background), path of the data inside the mount
  local t=$1 cmd=$2 inner=$3
  local t0 t1
  drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
  t0=$(now); eval "$cmd"
  until ls "$mnt/$inner" >/dev/null 2>&1; do sleep 0.02; done
  t1=$(now); R[$t.first_ls]=$(secs "$t0" "$t1")
  inner=$(cd "$mnt" && eval "echo $inner")
  t0=$(now); find "$mnt/$inner" >/dev/null; t1=$(now); R[$t.find_cold]=$(secs "$t0" "$t1")
  t0=$(now); find "$mnt/$inner" >/dev/null; t1=$(now); R[$t.find_warm]=$(secs "$t0" "$t1")
  drop  # tar is timed from disk, the store's as the source's below
  t0=$(now); (cd "$mnt/$inner" && tar cf - . | wc -c >/dev/null); t1=$(now); R[$t.tar]=$(secs "$t0" "$t1")
  unmount; eval "$cmd"; until ls "$mnt/$inner" >/dev/null 2>&1; do sleep 0.02; done
  t0=$(now); cat "$mnt/$inner/big.bin" >/dev/null; t1=$(now); R[$t.cat_cold]=$(secs "$t0" "$t1")
  t0=$(now); cat "$mnt/$inner/big.bin" >/dev/null; t1=$(now); R[$t.cat_warm]=$(secs "$t0" "$t1")
  cmp "$data/big.bin" "$mnt/$inner/big.bin" || { echo "$t: big.bin differs through the mount"; exit 1; }
  unmount
}

echo "backing up with each tool..."
rm -rf "$work"/{k,r,b}
has_peer() { [[ " $peers " == *" $1 "* ]]; }
$k init "$work/k" >/dev/null && $k backup "$work/k" "$data" --quiet
if has_peer restic; then
  restic init -r "$work/r" >/dev/null 2>&1 && restic -r "$work/r" backup "$data" --quiet >/dev/null
fi
if has_peer borg; then
  borg init -e repokey "$work/b" >/dev/null 2>&1 && borg create --compression zstd,3 "$work/b::one" "$data"
fi

bench_tool klosetfs "$k mount $work/k $mnt" "latest$data"
bench_tool klosetfs_ro "$k mount --read-only $work/k $mnt" "latest$data"
has_peer restic && bench_tool restic "(restic -r $work/r mount $mnt >/dev/null 2>&1 &)" "snapshots/latest$data"
has_peer borg && bench_tool borg "borg mount $work/b $mnt" "one$data"
# tar of the source folder itself, as the floor, from disk like the tools'
# (caches dropped first: this VM's DAMON pages out files untouched for a
# while, so without it the source was read from memory in one run, 1.2 s,
# and mostly from disk in another, 9.9 s).
sync; echo 3 > /proc/sys/vm/drop_caches
t0=$(now); (cd "$data" && tar cf - . | wc -c >/dev/null); t1=$(now); src_tar=$(secs "$t0" "$t1")

one=0 thousand=0
if [ "$many" -gt 1 ]; then
  echo "making $many snapshots for the time-to-first-ls scaling check..."
  t0=$(now); $k mount "$work/k" "$mnt"; ls "$mnt/latest/" >/dev/null; t1=$(now); one=$(secs "$t0" "$t1"); unmount
  small=$work/small; mkdir -p "$small"; echo x > "$small/f"
  for i in $(seq 2 "$many"); do echo "$i" > "$small/f"; $k backup "$work/k" "$small" --quiet; done
  t0=$(now); $k mount "$work/k" "$mnt"; ls "$mnt/latest/" >/dev/null; t1=$(now); thousand=$(secs "$t0" "$t1"); unmount
fi

ratio() { python3 -c "print('%.2f' % (float('$1') / max(float('$2'), 1e-9)))"; }
best() { python3 -c "print(min(float('$1'), float('$2')))"; }
for op in first_ls find_cold find_warm tar cat_cold cat_warm; do  # a skipped peer never wins
  for t in restic borg; do R[$t.$op]=${R[$t.$op]:-inf}; done
done
printf '\nData: %s entries, %s (+ a %s MiB file)\n' "$entries" "$src_root subset" "$big_mb"
printf 'Machine: %s, %s cores\n\n' "$(uname -srm)" "$(nproc)"
printf '| operation | klosetfs | klosetfs --read-only | restic | borg | k/faster peer | k --read-only/faster peer |\n|---|---|---|---|---|---|---|\n'
for op in first_ls find_cold find_warm tar cat_cold cat_warm; do
  b=$(best "${R[restic.$op]}" "${R[borg.$op]}")
  printf '| %s | %s s | %s s | %s s | %s s | %s | %s |\n' "$op" "${R[klosetfs.$op]}" "${R[klosetfs_ro.$op]}" \
    "${R[restic.$op]}" "${R[borg.$op]}" "$(ratio "${R[klosetfs.$op]}" "$b")" "$(ratio "${R[klosetfs_ro.$op]}" "$b")"
done
printf '| tar of the source folder | %s s | | | | k/source %s | k --read-only/source %s |\n' "$src_tar" \
  "$(ratio "${R[klosetfs.tar]}" "$src_tar")" "$(ratio "${R[klosetfs_ro.tar]}" "$src_tar")"
printf '| mount + first ls, 1 snapshot | %s s | | | | | |\n| mount + first ls, %s snapshots | %s s | | | | ratio %s | |\n' "$one" "$many" "$thousand" "$(ratio "$thousand" "$one")"
echo
echo "Targets: find <= 0.25x the faster peer; tar <= 0.5x the faster peer and <= 1.5x tar of the source;"
echo "1 GiB cold read >= 2x the faster peer's throughput (time ratio <= 0.5); first ls with $many snapshots within 20% of one."
