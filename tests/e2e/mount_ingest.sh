#!/usr/bin/env bash
# Really mounts a store writable: whatever is copied into ingest/ becomes a
# snapshot on commit, on unmount, and survives a SIGKILL of the daemon.
source "$(dirname "$0")/lib.bash"
need_fuse
command -v rsync >/dev/null || fail "rsync is missing (apt install rsync)"

src=$T/src; store=$T/store; mnt=$T/mnt
make_tree "$src"
"$K" init "$store" >/dev/null
store_kb() { du -sk "$store" | cut -f1; }

# attr_list without st_blocks: holes are found per 64 KiB block on the way
# in, so a 4-byte island in a sparse file takes a block, not a page.
attrs() { attr_list "$1" | sed 's/ blocks=[0-9]*//'; }

step "cp -a into ingest/ and commit"
mount_store "$store" "$mnt" --commit-idle 0
[ "$(ls "$mnt")" = "$(printf 'hosts\ningest\nsnapshots\ntags')" ] || fail "top level: $(ls "$mnt")"
cp -a "$src/." "$mnt/ingest/"
diff -r --no-dereference -x fifo "$src" "$mnt/ingest" || fail "ingest/ reads back wrong before the commit"
id1=$("$K" commit "$mnt" --tag first -m "first round")
[[ "$id1" =~ ^[0-9a-f]{64}$ ]] || fail "commit printed: $id1"
snap1=$(ls "$mnt/snapshots")
[ "$(echo "$snap1" | wc -l)" = 1 ] || fail "snapshots: $snap1"
[[ "$snap1" == *_${id1:0:8} ]] || fail "snapshot name $snap1 does not end in ${id1:0:8}"
[ -L "$mnt/tags/first/$snap1" ] || fail "tag missing"
diff -r --no-dereference -x fifo "$src" "$mnt/latest/" || fail "committed snapshot differs (mount)"
diff <(attrs "$src") <(attrs "$mnt/latest/") || fail "committed attributes differ (mount)"
diff <(xattr_list "$src") <(xattr_list "$mnt/latest/") || fail "committed xattrs differ"
[ "$(stat -c %h "$mnt/latest/a.txt")" = 2 ] || fail "hardlink count not 2"
[ "$("$K" commit "$mnt")" = "nothing to commit" ] || fail "second commit was not empty"

step "restore of the committed snapshot equals the source"
"$K" restore "$store" "$id1" "$T/restored" --quiet
diff -r --no-dereference -x fifo "$src" "$T/restored" || fail "restored contents differ"
diff <(attrs "$src") <(attrs "$T/restored") || fail "restored attributes differ"
"$K" snapshots "$store" --json | python3 -c '
import json,sys; s=json.load(sys.stdin)[0]
assert s["paths"]==["/"], s["paths"]; assert s["tags"]==["first"], s["tags"]' || fail "snapshot JSON"

step "an unchanged rsync round commits nothing; a changed one only the change"
rsync -a --delete "$src/" "$mnt/ingest/"
[ "$("$K" commit "$mnt")" = "nothing to commit" ] || fail "unchanged rsync made a snapshot"
echo "changed" > "$src/a.txt"
rm "$src/empty.txt"
mkdir "$src/newdir"; echo new > "$src/newdir/new.txt"
rsync -aH --delete "$src/" "$mnt/ingest/"
id2=$("$K" commit "$mnt")
[[ "$id2" =~ ^[0-9a-f]{64}$ ]] || fail "second commit printed: $id2"
diff -r --no-dereference -x fifo "$src" "$mnt/latest/" || fail "second snapshot differs"
"$K" snapshots "$store" --json | python3 -c "
import json,sys; s=json.load(sys.stdin)
assert len(s)==2 and s[1]['parent']=='$id1', s" || fail "second snapshot has the wrong parent"

step "copying the same data again adds almost nothing to the store"
before=$(store_kb)
cp -a "$src/sub" "$mnt/ingest/sub-copy"
"$K" commit "$mnt" >/dev/null
after=$(store_kb)
[ $((after - before)) -lt 200 ] || fail "a second copy grew the store by $((after - before)) KiB"

step "random-offset writes and truncates match a model file"
python3 - "$mnt/ingest/random.dat" "$T/model.dat" <<'EOF'
import os, random, sys
r = random.Random(7)
fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o644) for p in sys.argv[1:3]]
for i in range(400):
    op = r.random()
    if op < 0.8:
        off = r.randrange(0, 6_000_000); data = os.urandom(r.randrange(1, 300_000))
        for fd in fds: os.pwrite(fd, data, off)
    elif op < 0.9:
        size = r.randrange(0, 6_000_000)
        for fd in fds: os.ftruncate(fd, size)
    else:
        off = r.randrange(0, 6_000_000); n = r.randrange(1, 200_000)
        a, b = (os.pread(fd, n, off) for fd in fds)
        assert a == b, "read back differs at %d" % off
for fd in fds: os.close(fd)
EOF
[ $? = 0 ] || fail "random writes"
cmp "$mnt/ingest/random.dat" "$T/model.dat" || fail "random-write file differs before commit"
"$K" commit "$mnt" >/dev/null
cmp "$mnt/latest/random.dat" "$T/model.dat" || fail "random-write file differs after commit"

step "rename and unlink edge cases"
cd "$mnt/ingest"
echo one > r1; echo two > r2
mv r1 r2; [ "$(cat r2)" = one ] || fail "rename over a file"
mkdir -p d1/x d2; mv d1 d2/; [ -d d2/d1/x ] || fail "rename of a directory"
out=$(mv d2 d2/d1/ 2>&1) && fail "moving a directory into itself succeeded"
exec 8<> held.txt; echo held >&8; rm held.txt
[ ! -e held.txt ] || fail "unlinked file still visible"
exec 8>&-
out=$(rmdir d2 2>&1) && fail "rmdir of a non-empty directory succeeded"
echo "$out" | grep -qi "not empty" || fail "rmdir message: $out"
ln -s r2 sl; [ "$(readlink sl)" = r2 ] || fail symlink
ln r2 hl; [ "$(stat -c %h r2)" = 2 ] || fail "hardlink count"
chmod 0600 r2; [ "$(stat -c %a hl)" = 600 ] || fail "chmod through a hardlink"
setfattr -n user.k -v v r2; [ "$(getfattr --only-values -n user.k hl)" = v ] || fail xattr
cd /
touch "$mnt/latest/nope" 2>/dev/null && fail "write outside ingest/ succeeded"
out=$(ln "$mnt/latest/a.txt" "$mnt/ingest/linked" 2>&1) && fail "hard link from a snapshot succeeded"
echo "$out" | grep -qi "cross-device" || fail "link from a snapshot: $out"
out=$("$K" commit "$T" 2>&1) && fail "commit of a folder that is no mount succeeded"
echo "$out" | grep -q "is not a writable klosetfs mount" || fail "commit outside a mount: $out"

step "umount commits and waits for the daemon; the next mount starts from that commit"
echo "at unmount" > "$mnt/ingest/last.txt"
out=$("$K" umount "$mnt")
echo "$out" | grep -q "committed snapshot" || fail "umount did not commit: $out"
wait_unmounted "$mnt"
pgrep -f "klosetfs mount $store" >/dev/null && fail "daemon still running after umount"
mount_store "$store" "$mnt" --commit-idle 0
[ "$(cat "$mnt/ingest/last.txt")" = "at unmount" ] || fail "ingest/ does not start from the last commit"
[ "$(cat "$mnt/latest/last.txt")" = "at unmount" ] || fail "latest lacks the unmount commit"

step "SIGKILL of the daemon loses nothing closed; the next mount recovers and commits"
mkdir "$mnt/ingest/crash"
for i in $(seq 1 20); do head -c $((i * 50000)) /dev/urandom > "$mnt/ingest/crash/f$i"; done
cp "$mnt/ingest/crash/f20" "$T/f20.expected"
pid=$(pgrep -f "klosetfs mount $store" | head -1)
[ -n "$pid" ] || fail "no daemon pid"
kill -9 "$pid"
fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt"
wait_unmounted "$mnt"
mount_store "$store" "$mnt" --commit-idle 0
[ "$(ls "$mnt/ingest/crash" | wc -l)" = 20 ] || fail "files lost by the crash: $(ls "$mnt/ingest/crash")"
cmp "$mnt/ingest/crash/f20" "$T/f20.expected" || fail "recovered file has wrong bytes"
"$K" commit "$mnt" >/dev/null
cmp "$mnt/latest/crash/f20" "$T/f20.expected" || fail "recovered file not committed"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
"$K" check "$store" --read-data >/dev/null || fail "check after recovery"

step "--ingest-base chooses what ingest/ starts from"
mount_store "$store" "$mnt" --ingest-base empty --commit-idle 0
[ -z "$(ls -A "$mnt/ingest")" ] || fail "--ingest-base empty: $(ls -A "$mnt/ingest")"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
mount_store "$store" "$mnt" --ingest-base "${id1:0:12}" --commit-idle 0
[ "$(cat "$mnt/ingest/a.txt")" = hello ] || fail "--ingest-base ID does not start from that snapshot"
[ ! -e "$mnt/ingest/newdir" ] || fail "--ingest-base ID shows a later snapshot's files"
"$K" umount "$mnt" >/dev/null
wait_unmounted "$mnt"
out=$("$K" mount "$store" "$mnt" --ingest-base deadbeef 2>&1) && fail "mount with an unknown base succeeded"
echo "$out" | grep -q "ingest-base deadbeef" || fail "unknown base message: $out"
grep -qs " $mnt " /proc/mounts && fail "a failed mount left a mount behind"

step "--read-only (or -o ro, as fstab says it) has no ingest/"
for ro in --read-only "-o ro" "-o allow_other,ro"; do
  mount_store "$store" "$mnt" $ro
  [ ! -e "$mnt/ingest" ] || fail "ingest/ present with $ro"
  grep " $mnt " /proc/mounts | grep -q " ro[ ,]" || fail "$ro: the superblock is not read-only"
  "$K" umount "$mnt"
  wait_unmounted "$mnt"
done
echo OK
