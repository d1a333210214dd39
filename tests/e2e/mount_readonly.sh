#!/usr/bin/env bash
# Really mounts a store and checks the read-only view against the source.
source "$(dirname "$0")/lib.bash"
need_fuse

src=$T/src; store=$T/store; mnt=$T/mnt
make_tree "$src"
"$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --tag first --host hostA --quiet

# Both kinds of mount show snapshots the same way; --read-only also uses
# zero-message opens and a read-only superblock (fs/fuse_ops.cc).
check_view() {  # mount options...
  local mode="$*" top
  step "[$mode] mount returns only when the mount is ready"
  mount_store "$store" "$mnt" "$@"
  ls "$mnt/snapshots" | grep -q '^[0-9-]*T[0-9-]*Z_[0-9a-f]\{8\}$' || fail "no snapshot dir: $(ls "$mnt/snapshots")"
  top=$(printf 'hosts\ningest\nlatest\nsnapshots\ntags')
  [ -z "$mode" ] || top=$(printf 'hosts\nlatest\nsnapshots\ntags')
  [ "$(ls "$mnt")" = "$top" ] || fail "top level: $(ls "$mnt")"
  ls "$mnt/snapshots" | grep -q : && fail "colon in a snapshot name"
  [ -d "$mnt/latest$src" ] || fail "latest does not lead to the source path"
  local first; first=$(ls "$mnt/snapshots" | head -1)
  [ -L "$mnt/hosts/hostA/$first" ] || fail "hosts/hostA link missing"
  [ -d "$mnt/tags/first/$first$src" ] || fail "tags/first link does not resolve"

  step "[$mode] bytes and attributes match the source"
  diff -r --no-dereference -x fifo "$src" "$mnt/latest$src" || fail "contents differ"
  diff <(attr_list "$src") <(attr_list "$mnt/latest$src") || fail "attributes differ"
  diff <(xattr_list "$src") <(xattr_list "$mnt/latest$src") || fail "xattrs differ"
  # A store in a local folder is read in place: no copy in the disk cache.
  [ -z "$(find "$XDG_CACHE_HOME"/klosetfs/*/data -type f 2>/dev/null)" ] ||
    fail "a local store's mount filled the disk cache"
  [ "$(stat -c %i "$mnt/latest$src/a.txt")" != "" ] || fail "no inode"
  [ "$(stat -c %h "$mnt/latest$src/a.txt")" = 2 ] || fail "hardlink count not 2"
  # tar reads each file, then stats it to see whether it changed meanwhile.
  (cd "$mnt/latest$src" && tar cf - --exclude=./fifo .) | (mkdir -p "$T/untar" && cd "$T/untar" && tar xf -) ||
    fail "tar of the mounted snapshot failed"
  diff -r --no-dereference -x fifo "$src" "$T/untar" || fail "tar through the mount differs"
  rm -rf "$T/untar"
  # What that cost in requests: with zero-message opens (--read-only) the
  # kernel opens, closes and stats the files itself, and only reads reach
  # the daemon; a writable mount is asked to open and release each file.
  local fuse; fuse=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["fuse_requests"]; print(d["open"], d["release"], d["flush"], d["getattr"], d["read"], d["opendir"], d["releasedir"])' "$mnt/.klosetfs-stats.json")
  read -r n_open n_release n_flush n_getattr n_read n_opendir n_releasedir <<<"$fuse"
  local files; files=$(find "$src" -type f | wc -l)
  [ "$n_read" -ge 1 ] || fail "no read requests counted: $fuse"
  if [ -n "$mode" ]; then
    # One OPEN and one FLUSH, each answered ENOSYS, tell the kernel to send no more.
    [ "$n_open" -le 1 ] && [ "$n_release" = 0 ] && [ "$n_flush" -le 1 ] ||
      fail "--read-only mount was asked to open, release or flush files: open release flush getattr read = $fuse"
    [ "$n_getattr" -lt "$files" ] || fail "--read-only mount was asked a getattr per file: $fuse"
    [ "$n_opendir" -le 1 ] && [ "$n_releasedir" = 0 ] ||
      fail "--read-only mount was asked to open or release folders: $fuse (last two)"
  else
    [ "$n_open" -ge "$files" ] && [ "$n_release" -ge 1 ] && [ "$n_opendir" -ge 1 ] ||
      fail "writable mount opens not counted: $fuse"
  fi

  step "[$mode] the statistics file is made anew at each read"
  local u1 u2
  u1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uptime_s"])' "$mnt/.klosetfs-stats.json") ||
    fail "statistics file is not JSON"
  sleep 0.2
  u2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uptime_s"])' "$mnt/.klosetfs-stats.json")
  python3 -c "import sys; sys.exit(0 if $u2 > $u1 else 1)" || fail "statistics file read stale: $u1 then $u2"
  cp "$mnt/.klosetfs-stats.json" "$T/stats.json" && python3 -m json.tool "$T/stats.json" >/dev/null ||
    fail "a copy of the statistics file is not whole JSON"

  step "[$mode] many concurrent readers"
  for i in $(seq 1 8); do
    (cmp "$src/sub/random.bin" "$mnt/latest$src/sub/random.bin" && cmp "$src/sub/text.txt" "$mnt/latest$src/sub/text.txt") &
  done
  for j in $(jobs -p); do wait "$j" || fail "a concurrent reader saw wrong bytes"; done

  step "[$mode] writes get EROFS"
  for cmd in "touch $mnt/latest$src/new" "mkdir $mnt/latest$src/d" "rm $mnt/latest$src/a.txt" \
             "mv $mnt/latest$src/a.txt $mnt/latest$src/b.txt" "chmod 0777 $mnt/latest$src/a.txt"; do
    out=$($cmd 2>&1) && fail "'$cmd' succeeded"
    echo "$out" | grep -qi "read-only file system" || fail "'$cmd' failed without EROFS: $out"
  done
  out=$( (echo x >> "$mnt/latest$src/a.txt") 2>&1) && fail "append succeeded"
  echo "$out" | grep -qi "read-only" || fail "append: $out"
  out=$( (echo x > "$mnt/.klosetfs-stats.json") 2>&1) && fail "write to the statistics file succeeded"

  step "[$mode] a snapshot made while mounted appears; latest follows"
  local n; n=$(ls "$mnt/snapshots" | wc -l)
  cp -a "$src/a.txt" "$T/a.txt.orig"
  echo "changed $mode" > "$src/a.txt"
  "$K" backup "$store" "$src" --quiet
  sleep 6   # documented refresh interval: 5 s
  [ "$(ls "$mnt/snapshots" | wc -l)" = $((n + 1)) ] || fail "new snapshot did not appear: $(ls "$mnt/snapshots")"
  [ "$(cat "$mnt/latest$src/a.txt")" = "changed $mode" ] || fail "latest did not follow"

  step "[$mode] a snapshot removed from the store disappears; latest goes back"
  local newest
  newest=$("$K" snapshots "$store" --json |
    python3 -c 'import json, sys; print(max(json.load(sys.stdin), key=lambda s: s["time"])["id"])')
  [ -f "$store/snapshots/$newest" ] || fail "no snapshot object $newest"
  rm "$store/snapshots/$newest"  # as a forget from another process or host would
  sleep 6
  [ "$(ls "$mnt/snapshots" | wc -l)" = "$n" ] || fail "removed snapshot still shown: $(ls "$mnt/snapshots")"
  cmp -s "$mnt/latest$src/a.txt" "$T/a.txt.orig" || fail "latest did not go back to the older snapshot"
  # Back to the old bytes and mtime in place (a.txt has a hard link).
  cat "$T/a.txt.orig" > "$src/a.txt"
  touch -r "$T/a.txt.orig" "$src/a.txt"

  step "[$mode] unmount while a file is open, then no mount is left"
  exec 7< "$mnt/latest$src/sub/text.txt"
  "$K" umount "$mnt" 2>/dev/null && fail "umount of a busy mount succeeded"
  exec 7<&-
  "$K" umount "$mnt"
  wait_unmounted "$mnt"
  out=$("$K" umount "$mnt" 2>&1) && fail "second umount succeeded"
  echo "$out" | grep -qi "nothing is mounted" || fail "second umount message: $out"
}
check_view
check_view --read-only

step "a busy mountpoint gets a clear message"
mount_store "$store" "$mnt"
out=$("$K" mount "$store" "$mnt" 2>&1) && fail "double mount succeeded"
echo "$out" | grep -qi "already mounted" || fail "double mount message: $out"
kill -TERM "$(pgrep -f "klosetfs mount $store $mnt" | head -1)"
wait_unmounted "$mnt"
echo "mount_readonly: all checks passed"
