#!/usr/bin/env bash
# A store on a WebDAV server spoken natively (no rclone in between): the
# server is `rclone serve webdav` on loopback. init, backup, restore, check;
# credentials from the environment, a wrong password gives a clear message
# that does not contain it. Fails, never skips, when rclone is missing.
source "$(dirname "$0")/lib.bash"

command -v rclone >/dev/null || fail "rclone is missing (apt install rclone)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/dav"
RCLONE_USER=alice RCLONE_PASS=correct-horse rclone serve webdav "$T/dav" \
  --addr "127.0.0.1:$port" --config /dev/null 2> "$T/server.log" &
server=$!
trap 'st=$?; kill $server 2>/dev/null; wait $server 2>/dev/null || true; (exit $st); cleanup' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.05
done
store=webdav+http://127.0.0.1:$port/backups/kloset
export KLOSETFS_WEBDAV_USER=alice KLOSETFS_WEBDAV_PASSWORD=correct-horse

expect_rc() {  # wanted_exit_code command...
  local want=$1; shift
  set +e; "$@" >"$T/rc.out" 2>"$T/rc.err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "$*: exit $rc, wanted $want: $(cat "$T/rc.err")"
}

src=$T/src
make_tree "$src"
rm -f "$src/fifo"

step "init, backup, restore, check over WebDAV"
"$K" init "$store" > "$T/init"
[ -f "$T/dav/backups/kloset/config" ] || fail "config is not on the server"
"$K" backup "$store" "$src" > "$T/b1"
grep -q '^snapshot [0-9a-f]\{8\} saved' "$T/b1" || fail "backup: $(cat "$T/b1")"
"$K" restore "$store" "latest:$src" "$T/restored" > /dev/null
diff -r --no-dereference "$src" "$T/restored" || fail "restored contents differ"
"$K" check "$store" --read-data > "$T/check"
grep -q "no problems found" "$T/check" || fail "check: $(cat "$T/check")"
find "$T/dav" -name '.tmp~*' | grep -q . && fail "a temporary upload was left behind"

step "wrong password, no password, plain http to a remote host"
expect_rc 1 env KLOSETFS_WEBDAV_PASSWORD=wrong-battery "$K" snapshots "$store"
grep -q "check the user name and password for WebDAV server 127.0.0.1" "$T/rc.err" ||
  fail "wrong password: $(cat "$T/rc.err")"
grep -q "wrong-battery" "$T/rc.err" "$T/rc.out" && fail "the password shows in a message"
expect_rc 1 env -u KLOSETFS_WEBDAV_USER -u KLOSETFS_WEBDAV_PASSWORD HOME="$T" \
  "$K" snapshots "$store"
grep -q "KLOSETFS_WEBDAV_USER" "$T/rc.err" || fail "no credentials: $(cat "$T/rc.err")"
expect_rc 2 "$K" snapshots webdav+http://example.com/kloset
grep -q "use webdav+https://example.com/kloset" "$T/rc.err" || fail "http: $(cat "$T/rc.err")"
expect_rc 2 "$K" snapshots "webdav+https://alice:pw@example.com/kloset"
expect_rc 6 "$K" snapshots "webdav+http://127.0.0.1:$port/nothing-here"

step "credentials from ~/.netrc"
printf 'machine 127.0.0.1 login alice password correct-horse\n' > "$T/.netrc"
env -u KLOSETFS_WEBDAV_USER -u KLOSETFS_WEBDAV_PASSWORD HOME="$T" \
  "$K" snapshots "$store" > "$T/s"
[ "$(tail -n 1 "$T/s")" = "1 snapshot" ] || fail "netrc: $(cat "$T/s")"
echo "PASS"
