#!/usr/bin/env bash
# Frozen stores of every released format (tests/fixtures/formatN/, made once
# by tests/fixtures/make_formatN.sh) stay readable: their snapshots list,
# check --read-data passes, and restore and the mount give back exactly the
# trees recorded when they were made.
source "$(dirname "$0")/lib.bash"
need_fuse
fixtures=$(cd "$(dirname "$0")/../fixtures" && pwd)
export KLOSETFS_PASSWORD=fixture-pass
manifest() { bash "$fixtures/manifest.sh" "$1"; }

for dir in "$fixtures"/format*/; do
  name=$(basename "$dir")
  step "$name: snapshots, check --read-data"
  store=$T/$name
  cp -a "$dir/store" "$store"   # a copy: reading may leave a cache, never a change
  "$K" snapshots "$store" --json > "$T/snaps.json"
  python3 - "$dir/snapshots.json" "$T/snaps.json" <<'PY' || fail "$name: snapshot list differs"
import json, sys
want, got = (json.load(open(p)) for p in sys.argv[1:])
keys = ("id", "host", "tags", "parent", "time", "tree", "paths")
assert [{k: s.get(k) for k in keys} for s in want] == [{k: s.get(k) for k in keys} for s in got], got
PY
  "$K" check "$store" --read-data >/dev/null || fail "$name: check --read-data"
  ids=$(python3 -c 'import json,sys; [print(s["id"]) for s in json.load(open(sys.argv[1]))]' "$dir/snapshots.json")
  set -- $ids
  # The backup snapshot holds its source under the absolute path it had.
  src=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["paths"][0])' "$dir/snapshots.json")
  step "$name: restore gives back the recorded trees"
  "$K" restore "$store" "$1:$src" "$T/r1" --quiet
  diff <(manifest "$T/r1") "$dir/backup.manifest" || fail "$name: restore of the backup snapshot"
  "$K" restore "$store" "$2" "$T/r2" --quiet
  diff <(manifest "$T/r2") "$dir/ingest.manifest" || fail "$name: restore of the ingest snapshot"
  step "$name: the mount shows the recorded trees"
  mount_store "$store" "$T/mnt" --read-only
  diff <(manifest "$(echo "$T/mnt/snapshots/"*"_${1:0:8}")$src") "$dir/backup.manifest" || fail "$name: mounted backup snapshot"
  diff <(manifest "$T/mnt/snapshots/"*"_${2:0:8}") "$dir/ingest.manifest" || fail "$name: mounted ingest snapshot"
  "$K" umount "$T/mnt" >/dev/null
  wait_unmounted "$T/mnt"
  rm -rf "$T/r1" "$T/r2"
done
echo OK
