#!/usr/bin/env bash
# ingest/ under stress and faults: concurrent writers, dedup of an edit in
# the middle of a large file, a SIGKILL of the
# daemon in the middle of a copy and of a commit, and a store that cannot be
# written. After every crash the next mount recovers, commits, and the store
# passes check --read-data.
source "$(dirname "$0")/lib.bash"
need_fuse

store=$T/store; mnt=$T/mnt; model=$T/model
"$K" init "$store" >/dev/null
daemon_pid() { pgrep -f "klosetfs.* mount $store $mnt" | head -1; }
kill_daemon() {
  local pid; pid=$(daemon_pid)
  [ -n "$pid" ] || fail "no daemon pid"
  kill -9 "$pid"
  fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt"
  wait_unmounted "$mnt"
}
snapshot_count() { "$K" snapshots "$store" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

step "concurrent writers: files of their own, and disjoint ranges of one shared file"
mount_store "$store" "$mnt" --commit-idle 0
mkdir -p "$model"
head -c $((8 * 1048576)) /dev/urandom > "$T/pool"
: > "$mnt/ingest/shared.bin"
writer() {  # n: writes into dir wN, and block N of shared.bin
  local n=$1 d i
  for d in "$mnt/ingest" "$model"; do
    mkdir -p "$d/w$n"
    for i in $(seq 1 15); do
      dd if="$T/pool" of="$d/w$n/f$i" bs=4096 skip=$(((n * 97 + i * 13) % 1500)) \
        count=$(((n + i) * 7 % 300 + 1)) status=none
    done
    dd if="$T/pool" of="$d/shared.bin" bs=65536 skip=$((n * 3)) seek="$n" count=1 \
      conv=notrunc status=none
  done
}
: > "$model/shared.bin"
pids=()
for n in $(seq 0 7); do writer "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "writer $p failed"; done
diff -r "$model" "$mnt/ingest" || fail "concurrent writes read back wrong before the commit"
"$K" commit "$mnt" >/dev/null
diff -r "$model" "$mnt/latest" || fail "concurrent writes committed wrong"

step "a few bytes inserted in the middle of a large file add only the chunks around the edit"
store_kb() { du -sk "$store" | cut -f1; }
head -c $((48 * 1048576)) /dev/urandom > "$T/big.bin"
cp "$T/big.bin" "$mnt/ingest/big.bin"
"$K" commit "$mnt" >/dev/null
before=$(store_kb)
# In place through the mount: rewriting from the middle on is a random
# write (staged, chunked at close); then the same edit by a sequential copy.
python3 - "$mnt/ingest/big.bin" "$T/big.bin" <<'PY'
import sys
with open(sys.argv[2], "rb") as f: data = f.read()
mid = len(data) // 2
edited = data[:mid] + b"inserted bytes" + data[mid:]
with open(sys.argv[1], "r+b") as f:
    f.seek(mid); f.write(edited[mid:])
with open(sys.argv[2], "wb") as f: f.write(edited)
PY
cmp "$mnt/ingest/big.bin" "$T/big.bin" || fail "the edited file reads back wrong"
cp "$T/big.bin" "$mnt/ingest/big-copy.bin"
"$K" commit "$mnt" >/dev/null
growth=$(( $(store_kb) - before ))
echo "  the store grew by $growth KiB for two edited copies of a 48 MiB file"
[ "$growth" -lt 8192 ] || fail "an insertion grew the store by $growth KiB"
cmp "$mnt/latest/big-copy.bin" "$T/big.bin" || fail "the committed copy differs"
rm "$mnt/ingest/big.bin" "$mnt/ingest/big-copy.bin"

step "SIGKILL during a copy: every file closed before the kill survives"
mkdir "$mnt/ingest/copy"
for i in $(seq 1 40); do
  head -c $((i * 40000)) "$T/pool" > "$mnt/ingest/copy/f$i"
done
( while :; do head -c 4000000 /dev/urandom; done > "$mnt/ingest/copy/open-while-killed" ) 2>/dev/null &
writer_pid=$!
sleep 1
kill_daemon
wait "$writer_pid" 2>/dev/null || true
mount_store "$store" "$mnt" --commit-idle 0
for i in $(seq 1 40); do
  cmp -s "$mnt/ingest/copy/f$i" <(head -c $((i * 40000)) "$T/pool") || fail "copy/f$i lost or wrong after the kill"
done
"$K" commit "$mnt" >/dev/null
cmp -s "$mnt/latest/copy/f40" <(head -c 1600000 "$T/pool") || fail "recovered files not committed"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
"$K" check "$store" --read-data >/dev/null || fail "check after a kill during a copy"

step "SIGKILL during a commit: no snapshot or a complete one; the next mount commits it all"
# A slow store (every request takes 300 ms) holds the commit open long enough.
mount_store "$store" "$mnt" --commit-idle 0
mkdir "$mnt/ingest/late"
for i in $(seq 1 10); do head -c $((i * 300000)) /dev/urandom > "$mnt/ingest/late/g$i"; done
cp -a "$mnt/ingest/late" "$T/late.expected"
"$K" umount "$mnt" >/dev/null 2>&1 || true   # commits: makes room for a slow remount below
wait_unmounted "$mnt"
before=$(snapshot_count)
mkdir -p "$mnt"; MOUNTS+=("$mnt")
"$K" --simulate latency=300ms mount "$store" "$mnt" --commit-idle 0
for i in $(seq 1 10); do head -c $((i * 200000)) /dev/urandom > "$mnt/ingest/late/h$i"; done
cp -a "$mnt/ingest/late/." "$T/late.expected/"
"$K" commit "$mnt" >/dev/null 2>&1 &
commit_pid=$!
sleep 0.7
kill_daemon
wait "$commit_pid" 2>/dev/null || true
after=$(snapshot_count)
echo "  snapshots before the killed commit: $before, after: $after"
[ "$after" -le $((before + 1)) ] || fail "snapshots went from $before to $after"
"$K" check "$store" --read-data >/dev/null || fail "check after a kill during a commit"
mount_store "$store" "$mnt" --commit-idle 0
diff -r "$T/late.expected" "$mnt/ingest/late" || fail "ingest/ lost files after a kill during a commit"
"$K" commit "$mnt" >/dev/null || true   # may say "nothing to commit" if the killed one completed
diff -r "$T/late.expected" "$mnt/latest/late" || fail "latest lacks files after a kill during a commit"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
"$K" check "$store" --read-data >/dev/null || fail "check after the recovery commit"

step "a store that cannot be written: the mount refuses ingest/ and says what to do"
ro=$T/ro
mkdir -p "$ro"
mount --bind "$store" "$ro"
BIND_MOUNTS+=("$ro")
mount -o remount,bind,ro "$ro"
out=$("$K" mount "$ro" "$mnt" 2>&1) && fail "a writable mount of a read-only store succeeded"
echo "  $out"
echo "$out" | grep -q -- "--read-only" || fail "read-only store message: $out"
grep -qs " $mnt " /proc/mounts && fail "a refused mount left a mount behind"
mount_store "$ro" "$mnt" --read-only
diff -r "$T/late.expected" "$mnt/latest/late" || fail "read-only mount of a read-only store"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
umount "$ro"
echo OK
