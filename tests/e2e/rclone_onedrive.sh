#!/usr/bin/env bash
# A store on an rclone remote named `onedrive`, with the commands exactly as
# docs/REMOTES.md gives them: init, backup, snapshots, ls, cat, restore,
# check, mount; the objects are where rclone put them, the rclone daemon goes
# away with klosetfs, and bad input gets clear messages. The remote is backed
# by a local folder (an alias of a `local` remote), so `onedrive:/kloset` is
# $T/drive/kloset. Fails, never skips, when rclone is missing.
source "$(dirname "$0")/lib.bash"

command -v rclone >/dev/null || fail "rclone is missing (apt install rclone)"
export RCLONE_CONFIG=$T/rclone.conf
export XDG_CONFIG_HOME=$T/config
mkdir -p "$T/drive"
cat > "$RCLONE_CONFIG" <<EOF
[disk]
type = local

[onedrive]
type = alias
remote = disk:$T/drive
EOF

src=$T/src
make_tree "$src"
rm -f "$src/fifo"

expect_rc() {  # wanted_exit_code command...
  local want=$1; shift
  set +e; "$@" >"$T/rc.out" 2>"$T/rc.err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "$*: exit $rc, wanted $want: $(cat "$T/rc.err")"
}

# rclone daemons started with our config that are still running.
our_rclones() { pgrep -f "rclone rcd" | while read -r p; do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "RCLONE_CONFIG=$RCLONE_CONFIG" &&
      echo "$p"; done || true; }

step "init onedrive:/kloset"
"$K" init onedrive:/kloset > "$T/init"
grep -q "created klosetfs store .* at onedrive:/kloset" "$T/init" || fail "init: $(cat "$T/init")"
[ -f "$T/drive/kloset/config" ] || fail "config is not where rclone put it"

step "backup, twice"
"$K" backup onedrive:/kloset "$src" --tag first > "$T/b1"
grep -q '^snapshot [0-9a-f]\{8\} saved' "$T/b1" || fail "backup: $(cat "$T/b1")"
echo more >> "$src/a.txt"
"$K" backup onedrive:/kloset "$src" --tag second > "$T/b2"

step "snapshots, ls, cat"
"$K" snapshots onedrive:/kloset > "$T/s"
[ "$(tail -n 1 "$T/s")" = "2 snapshots" ] || fail "snapshots: $(cat "$T/s")"
"$K" ls onedrive:/kloset "latest:$src" > "$T/ls"
grep -qx "$src/sub/text.txt" "$T/ls" || fail "ls misses sub/text.txt"
"$K" cat onedrive:/kloset "latest:$src/sub/random.bin" > "$T/cat"
cmp -s "$T/cat" "$src/sub/random.bin" || fail "cat differs"

step "restore and check"
"$K" restore onedrive:/kloset "latest:$src" "$T/restored" > /dev/null
diff -r --no-dereference "$src" "$T/restored" || fail "restored contents differ"
diff <(attr_list "$src") <(attr_list "$T/restored") || fail "attributes differ"
"$K" check onedrive:/kloset --read-data > "$T/check"
grep -q "no problems found" "$T/check" || fail "check: $(cat "$T/check")"

step "the objects are where rclone put them"
rclone lsf -R --files-only onedrive:/kloset | sort > "$T/rclone.ls"
(cd "$T/drive/kloset" && find . -type f | sed 's|^\./||' | sort) > "$T/disk.ls"
cmp -s "$T/rclone.ls" "$T/disk.ls" || fail "rclone and the disk disagree"
grep -qx config "$T/rclone.ls" || fail "no config object"
grep -q '^packs/[0-9a-f][0-9a-f]/[0-9a-f]\{64\}$' "$T/rclone.ls" || fail "no packs/hh/<hex>"
grep -q '^snapshots/[0-9a-f]\{64\}$' "$T/rclone.ls" || fail "no snapshots/<hex>"
# Names that every drive accepts: lowercase hex, digits and a few words only.
grep -v '^[a-z0-9/]*$' "$T/rclone.ls" && fail "an object name outside [a-z0-9/]"
grep -q '\.tmp~' "$T/rclone.ls" && fail "a temporary upload was left behind"
[ -z "$(our_rclones)" ] || fail "an rclone daemon outlived klosetfs: $(our_rclones)"

step "mount, browse, unmount"
need_fuse
mnt=$T/mnt
mount_store onedrive:/kloset "$mnt"
ls "$mnt/snapshots" > "$T/snaps"
[ "$(wc -l < "$T/snaps")" = 2 ] || fail "mount shows: $(cat "$T/snaps")"
cmp -s "$mnt/latest$src/sub/text.txt" "$src/sub/text.txt" || fail "file differs in the mount"
[ -n "$(our_rclones)" ] || fail "no rclone daemon behind the mount"
# A cloud store's mount keeps what it read in the disk cache, sealed.
cached=$(find "$XDG_CACHE_HOME"/klosetfs/*/data -type f 2>/dev/null | wc -l)
[ "$cached" -gt 0 ] || fail "nothing in the disk cache after a read through the mount"
grep -rqs "line 100 of text" "$XDG_CACHE_HOME"/klosetfs && fail "plaintext in the cache"

step "the mount's request counters, in .klosetfs-stats.json"
ls "$mnt" | grep -q klosetfs-stats && fail "plain ls shows the statistics file"
ls -A "$mnt" | grep -qx .klosetfs-stats.json || fail "ls -A misses the statistics file"
cp "$mnt/.klosetfs-stats.json" "$T/mstats1.json"
[ "$(stat -c %s "$mnt/.klosetfs-stats.json")" -gt 100 ] || fail "the statistics file has no size"
cat "$mnt/latest$src/sub/random.bin" > /dev/null
cp "$mnt/.klosetfs-stats.json" "$T/mstats2.json"
echo x 2>/dev/null > "$mnt/.klosetfs-stats.json" && fail "the statistics file took a write"
python3 - "$T/mstats1.json" "$T/mstats2.json" "$(stat -c %s "$src/sub/random.bin")" <<'PY' ||
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["store"] == "onedrive:/kloset" and "rclone" in a["remote"], a
ops = b["requests"]["requests"]
assert set(ops) == {"read", "write", "list", "delete", "stat"}, ops
assert set(ops["read"]) == {"calls", "errors", "bytes", "mean_ms", "max_ms"}, ops["read"]
assert ops["list"]["calls"] >= 3 and ops["read"]["calls"] >= 1, ops
# Reading a file that was not read before costs requests for at least its bytes.
assert ops["read"]["bytes"] - a["requests"]["requests"]["read"]["bytes"] >= int(sys.argv[3]), (a, b)
assert b["memory_cache"]["misses"] > a["memory_cache"]["misses"], (a, b)
assert b["disk_cache"]["capacity"] > 0 and b["uptime_s"] >= a["uptime_s"], b
PY
  fail "statistics file: $(cat "$T/mstats1.json" "$T/mstats2.json")"
"$K" umount "$mnt"
wait_unmounted "$mnt"
for _ in $(seq 1 50); do [ -z "$(our_rclones)" ] && break; sleep 0.1; done
[ -z "$(our_rclones)" ] || fail "the rclone daemon outlived the mount"

step "a slow, throttled, failing drive (--simulate) still backs up"
"$K" --simulate latency=5ms,bandwidth=50MB,fail=0.1,throttle=0.05,seed=7 \
  --remote-stats "$T/rstats.json" backup onedrive:/kloset "$src" --tag simulated > "$T/b3"
grep -q '^snapshot [0-9a-f]\{8\} saved' "$T/b3" || fail "simulated backup: $(cat "$T/b3")"
python3 - "$T/rstats.json" <<'PY' || fail "--remote-stats: $(cat "$T/rstats.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j) == 1 and "simulated" in j[0]["remote"], j
ops = j[0]["requests"]
assert ops["write"]["calls"] >= 3 and ops["write"]["bytes"] > 0, ops  # a pack, an index, a snapshot
assert j[0]["retries"] > 0, j  # fail=0.1 and throttle=0.05 over dozens of requests
PY
"$K" stats onedrive:/kloset > "$T/stats"
grep -q '^  snapshots *3 ' "$T/stats" || fail "stats: $(cat "$T/stats")"
grep -q '^  list ' "$T/stats" || fail "stats shows no requests: $(cat "$T/stats")"
"$K" stats onedrive:/kloset --json > "$T/stats.json"
python3 - "$T/stats.json" <<'PY' || fail "stats --json: $(cat "$T/stats.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["objects"]["snapshots"]["count"] == 3 and j["objects"]["packs"]["count"] > 0
assert j["requests"]["requests"]["list"]["calls"] == 5 and j["space"]["free"] > 0
PY

step "the drive fills up in the middle of a backup"
head -c 6000000 /dev/urandom > "$T/big1"; head -c 6000000 /dev/urandom > "$T/big2"
expect_rc 1 "$K" --simulate quota=4MB backup onedrive:/kloset "$T/big1" "$T/big2"
grep -q "no snapshot was written" "$T/rc.err" || fail "full drive: $(cat "$T/rc.err")"
grep -q "the drive is full" "$T/rc.err" || fail "full drive: $(cat "$T/rc.err")"
"$K" snapshots onedrive:/kloset > "$T/s3"
[ "$(tail -n 1 "$T/s3")" = "3 snapshots" ] || fail "a snapshot was committed: $(cat "$T/s3")"
"$K" check onedrive:/kloset --read-data > "$T/check2" || fail "check after full drive failed"
grep -q "no problems found" "$T/check2" || fail "check: $(cat "$T/check2")"

step "bad input"
expect_rc 2 "$K" snapshots nosuch:/kloset
grep -q "rclone has no remote named 'nosuch'" "$T/rc.err" || fail "unknown remote: $(cat "$T/rc.err")"
expect_rc 6 "$K" snapshots onedrive:/nothing-here
grep -q "no store at onedrive:/nothing-here" "$T/rc.err" || fail "missing store: $(cat "$T/rc.err")"
expect_rc 1 env PATH=/nonexistent "$K" snapshots onedrive:/kloset
grep -q "rclone is not installed or not on PATH" "$T/rc.err" || fail "no rclone: $(cat "$T/rc.err")"
expect_rc 1 "$K" snapshots :protondrive:/kloset
grep -q "Proton Drive needs rclone 1.64 or later" "$T/rc.err" ||
  fail "missing backend: $(cat "$T/rc.err")"

step "remote import, for a service that does not see RCLONE_CONFIG"
rclone config show onedrive | "$K" remote import --as backupdrive > "$T/imp"
grep -q "imported remote backupdrive" "$T/imp" || fail "import: $(cat "$T/imp")"
[ "$(stat -c %a "$XDG_CONFIG_HOME/klosetfs/rclone.conf")" = 600 ] || fail "config not 0600"
# The alias points at `disk`, which must come along for this test.
rclone config show disk | "$K" remote import > /dev/null
env -u RCLONE_CONFIG "$K" snapshots backupdrive:/kloset > "$T/s2"
[ "$(tail -n 1 "$T/s2")" = "3 snapshots" ] || fail "imported remote: $(cat "$T/s2")"
echo "PASS"
