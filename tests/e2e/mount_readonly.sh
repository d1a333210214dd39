#!/usr/bin/env bash
# Really mounts a store and checks the read-only view against the source.
source "$(dirname "$0")/lib.bash"
need_fuse

src=$T/src; store=$T/store; mnt=$T/mnt
make_tree "$src"
"$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --tag first --host hostA --quiet

step "mount returns only when the mount is ready"
mount_store "$store" "$mnt"
ls "$mnt/snapshots" | grep -q '^[0-9-]*T[0-9-]*Z_[0-9a-f]\{8\}$' || fail "no snapshot dir: $(ls "$mnt/snapshots")"
[ "$(ls "$mnt")" = "$(printf 'hosts\ningest\nlatest\nsnapshots\ntags')" ] || fail "top level: $(ls "$mnt")"
ls "$mnt/snapshots" | grep -q : && fail "colon in a snapshot name"
[ -d "$mnt/latest$src" ] || fail "latest does not lead to the source path"
[ -L "$mnt/hosts/hostA/$(ls "$mnt/snapshots")" ] || fail "hosts/hostA link missing"
[ -d "$mnt/tags/first/$(ls "$mnt/snapshots")$src" ] || fail "tags/first link does not resolve"

step "bytes and attributes match the source"
diff -r --no-dereference -x fifo "$src" "$mnt/latest$src" || fail "contents differ"
diff <(attr_list "$src") <(attr_list "$mnt/latest$src") || fail "attributes differ"
diff <(xattr_list "$src") <(xattr_list "$mnt/latest$src") || fail "xattrs differ"
# A store in a local folder is read in place: no copy in the disk cache.
[ -z "$(find "$XDG_CACHE_HOME"/klosetfs/*/data -type f 2>/dev/null)" ] ||
  fail "a local store's mount filled the disk cache"
[ "$(stat -c %i "$mnt/latest$src/a.txt")" != "" ] || fail "no inode"
[ "$(stat -c %h "$mnt/latest$src/a.txt")" = 2 ] || fail "hardlink count not 2"

step "many concurrent readers"
for i in $(seq 1 8); do
  (cmp "$src/sub/random.bin" "$mnt/latest$src/sub/random.bin" && cmp "$src/sub/text.txt" "$mnt/latest$src/sub/text.txt") &
done
for j in $(jobs -p); do wait "$j" || fail "a concurrent reader saw wrong bytes"; done

step "writes get EROFS"
for cmd in "touch $mnt/latest$src/new" "mkdir $mnt/latest$src/d" "rm $mnt/latest$src/a.txt" \
           "mv $mnt/latest$src/a.txt $mnt/latest$src/b.txt" "chmod 0777 $mnt/latest$src/a.txt"; do
  out=$($cmd 2>&1) && fail "'$cmd' succeeded"
  echo "$out" | grep -qi "read-only file system" || fail "'$cmd' failed without EROFS: $out"
done
out=$( (echo x >> "$mnt/latest$src/a.txt") 2>&1) && fail "append succeeded"
echo "$out" | grep -qi "read-only" || fail "append: $out"

step "a snapshot made while mounted appears; latest follows"
echo changed > "$src/a.txt"
"$K" backup "$store" "$src" --quiet
sleep 6   # documented refresh interval: 5 s
[ "$(ls "$mnt/snapshots" | wc -l)" = 2 ] || fail "second snapshot did not appear: $(ls "$mnt/snapshots")"
[ "$(cat "$mnt/latest$src/a.txt")" = changed ] || fail "latest did not follow"

step "unmount while a file is open, then no mount is left"
exec 7< "$mnt/latest$src/sub/text.txt"
"$K" umount "$mnt" 2>/dev/null && fail "umount of a busy mount succeeded"
exec 7<&-
"$K" umount "$mnt"
wait_unmounted "$mnt"
out=$("$K" umount "$mnt" 2>&1) && fail "second umount succeeded"
echo "$out" | grep -qi "nothing is mounted" || fail "second umount message: $out"

step "a busy mountpoint gets a clear message"
mount_store "$store" "$mnt"
out=$("$K" mount "$store" "$mnt" 2>&1) && fail "double mount succeeded"
echo "$out" | grep -qi "already mounted" || fail "double mount message: $out"
kill -TERM "$(pgrep -f "klosetfs mount $store $mnt" | head -1)"
wait_unmounted "$mnt"
echo "mount_readonly: all checks passed"
