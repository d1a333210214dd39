#!/usr/bin/env bash
# A large copy into ingest/ does not keep the whole draft in memory: with a
# small --draft-nodes, folders already copied are written ahead of the
# commit, the kernel is told to drop its entries of them, and the daemon
# unloads them (fs/ingest_memory.cc). Checked through the statistics file:
# the draft's nodes stay near the threshold while 20,000 files go in, the
# kernel really forgot entries (nodes were unloaded), and what ingest/ shows
# before and after the commit, and the snapshot, equal the source. Then a
# SIGKILL after 3,000 more files: the next mount recovers the journal
# (replayed with the same bound), commits, and `check --read-data` passes.
source "$(dirname "$0")/lib.bash"
need_fuse
src=$T/src store=$T/store mnt=$T/mnt limit=2000

python3 - "$src" <<'PY'
import os, sys
src = sys.argv[1]
for d in range(40):
    p = os.path.join(src, "d%02d" % d, "sub")
    os.makedirs(p)
    for i in range(250):
        with open(os.path.join(p if i % 2 else os.path.dirname(p), "f%03d" % i), "w") as f:
            f.write("file %d %d\n" % (d, i) * (1 + i % 7))
PY
"$K" init "$store" >/dev/null

stat_field() {  # field of "ingest" in the statistics file
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ingest"][sys.argv[2]])' \
    "$mnt/.klosetfs-stats.json" "$1"
}

step "copy 10,000 files in with --draft-nodes $limit"
mount_store "$store" "$mnt" --commit-idle 0 --draft-nodes "$limit"
peak=0
for d in "$src"/d*; do
  cp -a "$d" "$mnt/ingest/"
  n=$(stat_field draft_nodes)
  [ "$n" -gt "$peak" ] && peak=$n
done
sleep 1.5  # a release round or two for the last folders
n=$(stat_field draft_nodes)
cps=$(stat_field checkpoints)
unloaded=$(stat_field nodes_unloaded)
echo "draft nodes: peak $peak seen between folders, $n at the end; $cps checkpoints, $unloaded unloaded"
[ "$cps" -ge 3 ] || fail "expected several checkpoints, saw $cps"
[ "$unloaded" -ge 8000 ] || fail "the kernel's entries were not released: $unloaded nodes unloaded"
# Between two release rounds a folder of 250 files (or more) may go in.
[ "$peak" -le $((2 * limit + 1000)) ] || fail "draft grew to $peak nodes (limit $limit)"
[ "$n" -le $((limit + 1000)) ] || fail "draft holds $n nodes after the copy (limit $limit)"
diff -r "$src" "$mnt/ingest" >/dev/null || fail "ingest/ differs from the source before the commit"
id=$("$K" commit "$mnt")
[ -n "$id" ] || fail "commit printed no id"
diff -r "$src" "$mnt/ingest" >/dev/null || fail "ingest/ differs from the source after the commit"
diff -r "$src" "$mnt/latest" >/dev/null || fail "the snapshot differs from the source"

step "SIGKILL after more writes; the next mount recovers and commits"
for d in d03 d17; do
  rm -r "$mnt/ingest/$d/sub"
  echo "changed $d" >"$mnt/ingest/$d/new.txt"
done
mkdir "$mnt/ingest/copies"
for d in d05 d06 d07 d08 d09 d10 d11 d12 d13 d14 d15 d16; do cp -a "$src/$d" "$mnt/ingest/copies/"; done
pid=$(pgrep -f "klosetfs mount $store $mnt" | head -1)
[ -n "$pid" ] || fail "no mount daemon found"
kill -9 "$pid"
fusermount3 -uz "$mnt" 2>/dev/null || true
wait_unmounted "$mnt"
mount_store "$store" "$mnt" --commit-idle 0 --draft-nodes "$limit"
# The replay of ~15,000 journaled changes unloads as it goes.
n=$(stat_field draft_nodes)
echo "draft nodes after the recovery: $n"
[ "$n" -le $((limit + 1500)) ] || fail "the recovered draft holds $n nodes (limit $limit)"
[ "$(cat "$mnt/ingest/d17/new.txt")" = "changed d17" ] || fail "d17/new.txt lost in the crash"
[ ! -e "$mnt/ingest/d03/sub" ] || fail "d03/sub came back after the crash"
for d in d05 d16; do
  diff -r "$src/$d" "$mnt/ingest/copies/$d" >/dev/null || fail "copies/$d differs after the crash"
done
"$K" commit "$mnt" >/dev/null
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
"$K" check "$store" --read-data >/dev/null || fail "check --read-data failed"
"$K" ls "$store" latest:/d17/new.txt >/dev/null || fail "the last snapshot lacks d17/new.txt"
echo "PASS"
