#!/usr/bin/env bash
# The command line exactly as a user types it: init, backup, snapshots, ls,
# cat, restore, check, passphrase sources, keys, and the exit codes scripts
# rely on. Outputs go to files first: with pipefail, `klosetfs ... | grep -q`
# would fail on SIGPIPE.
source "$(dirname "$0")/lib.bash"

src=$T/src; store=$T/store
make_tree "$src"

expect_rc() {  # wanted_exit_code command...
  local want=$1; shift
  set +e; "$@" >"$T/rc.out" 2>"$T/rc.err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "$*: exit $rc, wanted $want: $(cat "$T/rc.err")"
}

step "version and help"
"$K" --version > "$T/v"
grep -qx 'klosetfs [0-9]*\.[0-9]*\.[0-9]* (store format 1)' "$T/v" || fail "version: $(cat "$T/v")"
"$K" help restore > "$T/h1"; "$K" restore --help > "$T/h2"
cmp -s "$T/h1" "$T/h2" || fail "help restore differs from restore --help"

step "init, twice"
"$K" init "$store" > "$T/init"
grep -q "created klosetfs store" "$T/init" || fail "init said: $(cat "$T/init")"
expect_rc 1 "$K" init "$store"
grep -qx "klosetfs: a store already exists at $store" "$T/rc.err" ||
  fail "init twice: $(cat "$T/rc.err")"

step "backup"
"$K" backup "$store" "$src" --tag first --exclude '*.img' > "$T/b1" 2> "$T/b1.err"
grep -q '^snapshot [0-9a-f]\{8\} saved' "$T/b1" || fail "backup said: $(cat "$T/b1")"
grep -q $'\r\|\x1b' "$T/b1" "$T/b1.err" && fail "progress bar characters in non-terminal output"
echo changed >> "$src/a.txt"
"$K" backup "$store" "$src" --tag second --exclude '*.img' --quiet > "$T/b2"
[ -s "$T/b2" ] && fail "--quiet printed: $(cat "$T/b2")"

step "snapshots"
"$K" snapshots "$store" > "$T/s"
[ "$(tail -n 1 "$T/s")" = "2 snapshots" ] || fail "snapshots: $(cat "$T/s")"
"$K" snapshots "$store" --json > "$T/s.json"
python3 - "$T/s.json" <<'EOF' || fail "snapshots --json: $(cat "$T/s.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a) == 2 and a[1]["parent"] == a[0]["id"] and a[0]["tags"] == ["first"]
assert a[0]["short_id"] == a[0]["id"][:8] and a[0]["time"].endswith("Z")
EOF
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["short_id"])' \
  "$T/s.json")

step "ls and cat"
"$K" ls "$store" "latest:$src" > "$T/ls"
grep -qx "$src/sub/text.txt" "$T/ls" || fail "ls misses sub/text.txt"
grep -qx "$src/bytes\\\\xff\\\\xfe" "$T/ls" || fail "ls does not escape odd bytes: $(cat "$T/ls")"
grep -q 'sparse.img' "$T/ls" && fail "--exclude '*.img' did not exclude"
"$K" ls -l "$store" "latest:$src/link" > "$T/ll"
grep -q -- '-> a.txt$' "$T/ll" || fail "ls -l of a symlink: $(cat "$T/ll")"
"$K" cat "$store" "latest:$src/sub/text.txt" > "$T/cat"
cmp -s "$T/cat" "$src/sub/text.txt" || fail "cat differs"
"$K" cat "$store" "$first:$src/a.txt" > "$T/cat1"
[ "$(cat "$T/cat1")" = "hello" ] || fail "cat of the first snapshot by short id: $(cat "$T/cat1")"

step "restore"
"$K" restore "$store" "latest:$src" "$T/out" --quiet
diff -r --no-dereference -x sparse.img -x fifo "$src" "$T/out" || fail "restored contents differ"
diff <(attr_list "$src" | grep -av sparse.img) <(attr_list "$T/out") || fail "attributes differ"
diff <(xattr_list "$src") <(xattr_list "$T/out") || fail "xattrs differ"

step "check"
"$K" check "$store" --read-data > "$T/c"
grep -qx "no problems found" "$T/c" || fail "check: $(cat "$T/c")"

step "exit codes"
expect_rc 2 "$K" frobnicate
expect_rc 2 "$K" ls "$store" 'not a snapshot'
expect_rc 3 env KLOSETFS_PASSWORD=wrong "$K" snapshots "$store"
grep -qx "klosetfs: wrong passphrase for store $store" "$T/rc.err" ||
  fail "wrong passphrase: $(cat "$T/rc.err")"
expect_rc 6 "$K" snapshots "$T/nowhere"
expect_rc 1 "$K" cat "$store" "latest:$src/nope"
expect_rc 2 "$K" cat "$store" "latest:$src/sub"

step "passphrase sources, KLOSETFS_STORE, a second key"
printf '%s\n' "$KLOSETFS_PASSWORD" > "$T/pw"
KLOSETFS_PASSWORD= "$K" --password-file "$T/pw" snapshots "$store" --quiet
KLOSETFS_PASSWORD= "$K" snapshots "$store" --password-command "cat '$T/pw'" --quiet
KLOSETFS_STORE=$store "$K" snapshots --quiet
printf 'another passphrase\n' > "$T/pw2"
"$K" key add "$store" --new-password-file "$T/pw2" --quiet
KLOSETFS_PASSWORD='another passphrase' "$K" key list "$store" > "$T/keys"
[ "$(grep -c '^\*' "$T/keys")" = 1 ] && [ "$(wc -l < "$T/keys")" = 3 ] ||
  fail "keys: $(cat "$T/keys")"

echo "PASS"
