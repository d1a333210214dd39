#!/usr/bin/env bash
# Lean listings (KlosetFs::ReadDir): a name-only walk (find) of a fresh mount
# makes inodes for folders only, and the first stat of a file turns full
# listings back on and drops the lean ones the kernel cached, so a tar after
# the find costs a lookup per file of one folder, not of the whole tree.
source "$(dirname "$0")/lib.bash"
need_fuse

src=$T/src store=$T/store mnt=$T/mnt
dirs=30 per=30
for ((d = 0; d < dirs; d++)); do
  mkdir -p "$src/d$d/sub"
  for ((f = 0; f < per; f++)); do echo "file $d $f" > "$src/d$d/f$f"; done
  ln -s f0 "$src/d$d/link"
done
"$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --quiet

stat_of() {  # python expression over the statistics file's JSON j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$mnt/.klosetfs-stats.json"
}

for mode in "" --read-only; do
  step "[$mode] find on a fresh mount: names and types, inodes for folders only"
  mount_store "$store" "$mnt" $mode
  top=$mnt/latest$src
  diff <(cd "$src" && find . -printf '%y %p\n' | sort) <(cd "$top" && find . -printf '%y %p\n' | sort) ||
    fail "[$mode] find through the mount differs from the source"
  inodes=$(stat_of 'j["inodes"]') lookups=$(stat_of 'j["fuse_requests"]["lookup"]')
  # Folders of the tree (61 with the root) and its parents, plus the fixed ones.
  [ "$inodes" -lt 100 ] || fail "[$mode] a name-only walk made $inodes inodes"
  [ "$lookups" -lt 30 ] || fail "[$mode] a name-only walk cost $lookups lookups"

  step "[$mode] tar after the find: full listings again, bytes and sizes right"
  mkdir -p "$T/untar"
  (cd "$top" && tar cf - .) | (cd "$T/untar" && tar xf -) || fail "[$mode] tar through the mount failed"
  diff -r --no-dereference "$src" "$T/untar" || fail "[$mode] tar through the mount differs"
  rm -rf "$T/untar"
  lookups=$(stat_of 'j["fuse_requests"]["lookup"]')
  # One folder's files are looked up (the one whose stat ended lean
  # listings); the other folders are listed again with their inodes.
  [ "$lookups" -lt $((per * 3)) ] ||
    fail "[$mode] tar after find cost $lookups lookups for $((dirs * per)) files"
  [ "$(stat -c '%F %s' "$top/d7/f3")" = "regular file 9" ] || fail "[$mode] stat of a file"
  "$K" umount "$mnt"
  wait_unmounted "$mnt"
done
echo "mount_walk: all checks passed"
