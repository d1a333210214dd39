#!/usr/bin/env bash
# The mount(8) helper form, `klosetfs STORE MOUNTPOINT -o OPTIONS`, driven through the real
# /sbin/mount.fuse3 as `mount -t fuse.klosetfs` runs it (mount(8) itself only finds an installed
# klosetfs; the package stage of scripts/test.sh covers that), plus the private password file
# rules and the systemd credential.
source "$(dirname "$0")/lib.bash"
need_fuse
[ -x /sbin/mount.fuse3 ] || fail "/sbin/mount.fuse3 is missing (apt install fuse3)"
[ "$(id -u)" = 0 ] || fail "needs root: mount.fuse3 mounts as the caller, and the ownership checks chown"

# mount.fuse3 runs 'klosetfs' from PATH.
mkdir -p "$T/bin"
ln -s "$(realpath "$K")" "$T/bin/klosetfs"
export PATH=$T/bin:$PATH

src=$T/src; store=$T/store; mnt=$T/mnt
mkdir -p "$src" "$mnt"
echo "through mount.fuse3" > "$src/hello.txt"
"$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --quiet
unset KLOSETFS_PASSWORD  # from here on the passphrase comes from files and credentials

pf=$T/pass
echo e2e-pass > "$pf"
chmod 600 "$pf"

helper() {  # runs mount.fuse3 like mount(8) does; prints stderr, returns the exit code
  local rc=0
  /sbin/mount.fuse3 "$store" "$mnt" -t fuse.klosetfs -o "$1" 2> "$T/err" || rc=$?
  return $rc
}
expect_refused() {  # rc, pattern, options
  local want=$1 pattern=$2 rc=0
  MOUNTS+=("$mnt")
  helper "$3" || rc=$?
  [ "$rc" = "$want" ] || fail "-o $3: exit $rc, wanted $want: $(cat "$T/err")"
  grep -q -- "$pattern" "$T/err" || fail "-o $3: message lacks '$pattern': $(cat "$T/err")"
  [ "$(wc -l < "$T/err")" = 1 ] || fail "-o $3: not one line: $(cat "$T/err")"
  grep -qs " $mnt " /proc/mounts && fail "-o $3: mounted anyway"
  true
}

step "a password file others can read is refused with exit 2"
cp -p "$pf" "$T/open"; chmod 644 "$T/open"
expect_refused 2 "refusing password file $T/open: its mode 0644.*chmod 600 $T/open" "password_file=$T/open"
chmod 640 "$T/open"
expect_refused 2 "mode 0640" "password_file=$T/open"
chmod 620 "$T/open"  # group-writable: someone else could swap the passphrase
expect_refused 2 "mode 0620" "password_file=$T/open"
cp -p "$pf" "$T/theirs"; chown nobody "$T/theirs"
expect_refused 2 "owned by uid $(id -u nobody), not by uid 0" "password_file=$T/theirs"
expect_refused 2 "not a regular file" "password_file=$T"
chmod 644 "$T/open"
KLOSETFS_PASSWORD_FILE=$T/open expect_refused 2 "refusing password file" "rw"

step "no passphrase on the command line, bad klosetfs options, a clear way out"
expect_refused 2 "password= is refused.*password_file=PATH" "password=e2e-pass"
expect_refused 2 "passphrase= is refused" "allow_other,passphrase=e2e-pass"
expect_refused 2 "no_cache takes no value" "password_file=$pf,no_cache=1"
expect_refused 2 "refresh_interval needs a value" "password_file=$pf,refresh_interval"
rc=0; setsid -w /sbin/mount.fuse3 "$store" "$mnt" -t fuse.klosetfs -o rw 2> "$T/err" < /dev/null || rc=$?
[ "$rc" = 2 ] || fail "no passphrase source: exit $rc: $(cat "$T/err")"
grep -q "password_file=PATH" "$T/err" || fail "no-source message: $(cat "$T/err")"
echo wrong > "$T/wrong"; chmod 600 "$T/wrong"
expect_refused 3 "wrong passphrase" "password_file=$T/wrong"
out=$("$K" "" "$mnt" -o "" 2>&1) && fail "empty STORE accepted"
echo "$out" | grep -q "no STORE given" || fail "empty STORE: $out"
out=$("$K" snapshot "$store" 2>&1) && fail "a mistyped command became a mount"
echo "$out" | grep -q "unknown command 'snapshot'" || fail "mistyped command: $out"
step "the ordinary --password-file still takes any readable file"
"$K" --password-file "$T/open" snapshots "$store" --quiet >/dev/null || fail "--password-file 0644"

step "mount.fuse3 with fstab options: klosetfs options out, mount(8) options dropped, FUSE options in"
MOUNTS+=("$mnt")
helper "rw,password_file=$pf,noauto,_netdev,nofail,x-systemd.automount,comment=x,allow_other,default_permissions,nosuid,nodev,cache_dir=$T/hcache,refresh_interval=1" ||
  fail "mount.fuse3: $(cat "$T/err")"
line=$(grep " $mnt " /proc/mounts) || fail "not mounted"
for want in "^klosetfs:$store " " fuse.klosetfs " "nosuid" "nodev" "allow_other" "default_permissions"; do
  echo "$line" | grep -q -- "$want" || fail "/proc/mounts lacks $want: $line"
done
echo "$line" | grep -q "password_file\|cache_dir\|refresh" && fail "klosetfs options reached the kernel: $line"
[ "$(cat "$mnt/latest$src/hello.txt")" = "through mount.fuse3" ] || fail "read through the mount"
[ -d "$T/hcache" ] || fail "cache_dir= was not used"
echo again > "$src/second.txt"
KLOSETFS_PASSWORD=e2e-pass "$K" backup "$store" "$src" --quiet
sleep 2  # refresh_interval=1
[ "$(ls "$mnt/snapshots" | wc -l)" = 2 ] || fail "refresh_interval=1 was not applied"
umount "$mnt"
wait_unmounted "$mnt"

step "the systemd credential, for mounts and other commands"
mkdir -p "$T/creds"
cp "$pf" "$T/creds/klosetfs-password"; chmod 400 "$T/creds/klosetfs-password"
CREDENTIALS_DIRECTORY=$T/creds "$K" snapshots "$store" --quiet >/dev/null || fail "credential: snapshots"
MOUNTS+=("$mnt")
CREDENTIALS_DIRECTORY=$T/creds "$K" "$store" "$mnt" -o "cache_dir=$T/hcache" -o "" ||
  fail "credential: helper form"
[ "$(cat "$mnt/latest$src/hello.txt")" = "through mount.fuse3" ] || fail "credential: read"
"$K" umount "$mnt"
wait_unmounted "$mnt"
# systemd may grant the unit's user access by an ACL, whose mask shows as group bits: fine.
chmod 440 "$T/creds/klosetfs-password"
CREDENTIALS_DIRECTORY=$T/creds "$K" snapshots "$store" --quiet >/dev/null || fail "credential 0440"
chown nobody "$T/creds/klosetfs-password"
out=$(CREDENTIALS_DIRECTORY=$T/creds "$K" snapshots "$store" 2>&1) && fail "someone else's credential accepted"
echo "$out" | grep -q "refusing systemd credential .*owned by uid $(id -u nobody)" ||
  fail "someone else's credential: $out"
echo "package_mount_helper: all checks passed"
