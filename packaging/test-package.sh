#!/usr/bin/env bash
# Installs a klosetfs .deb, checks what it installed and that mounting through mount(8) and
# /etc/fstab lines works, then purges it and checks that nothing of it is left. Runs as root on
# Debian 12 (the CI machine). It never leaves the package installed or anything mounted, also
# when a check fails; it refuses to start when klosetfs is installed already.
# Usage: packaging/test-package.sh PATH/klosetfs_VERSION_ARCH.deb
set -euo pipefail
deb=$(realpath "${1:?usage: $0 KLOSETFS_DEB}")
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges a package and mounts"
[ -c /dev/fuse ] || fail "/dev/fuse is missing: the mount checks need FUSE"
if dpkg-query -W -f='${db:Status-Status}' klosetfs 2>/dev/null | grep -qv '^not-installed$'; then
  fail "a klosetfs package is installed already and this test would purge it; run 'apt-get purge klosetfs' first"
fi

T=$(mktemp -d /tmp/klosetfs-pkg.XXXXXX)
mnt=$T/mnt
installed=0
root_cache_before=$([ -e /root/.cache/klosetfs ] && echo yes || echo no)

cleanup() {
  local rc=$?
  if grep -qs " $T/" /proc/mounts; then
    echo "FAIL: a mount was left behind under $T" >&2
    grep " $T/" /proc/mounts | while read -r _ where _; do umount -l "$where" || true; done
    rc=1
  fi
  if [ $installed = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq klosetfs >/dev/null 2>&1 ||
      dpkg --purge klosetfs >/dev/null 2>&1 || true
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_unmounted() {
  for _ in $(seq 1 100); do
    grep -qs " $1 " /proc/mounts || return 0
    sleep 0.1
  done
  fail "still mounted: $1"
}

step "control fields"
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
for want in fuse3 libfuse3-3 libsodium23 libzstd1 libc6 libstdc++6; do
  tr ',' '\n' <<< "$depends" | sed 's/^ *//; s/ .*//' | grep -qxF "$want" ||
    fail "Depends lacks $want: $depends"
done
[ "$(dpkg-deb -f "$deb" Recommends)" = rclone ] || fail "Recommends: $(dpkg-deb -f "$deb" Recommends)"

step "apt-get install $(basename "$deb")"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
dpkg -L klosetfs | sort > "$T/files"
grep -qx /usr/share/doc/klosetfs/copyright "$T/files" || fail "no /usr/share/doc/klosetfs/copyright"

step "the binary, the man page, completions, units"
[ "$(command -v klosetfs)" = /usr/bin/klosetfs ] || fail "klosetfs is not /usr/bin/klosetfs"
klosetfs --version | grep -qx "klosetfs ${version%-*} (store format [0-9]*)" ||
  fail "klosetfs --version: $(klosetfs --version) (package $version)"
[ "$(man -w klosetfs)" = /usr/share/man/man1/klosetfs.1.gz ] || fail "man -w: $(man -w klosetfs)"
page=$(MANWIDTH=100 man klosetfs 2>"$T/man.err" | col -b)
[ ! -s "$T/man.err" ] || fail "man klosetfs warns: $(cat "$T/man.err")"
for want in "SYNOPSIS" "COMMANDS" "klosetfs mount" "klosetfs key add" "ENVIRONMENT" "EXIT STATUS" \
            "MOUNTING WITH MOUNT(8) AND /ETC/FSTAB" "password_file=PATH" "x-systemd.automount" \
            "SYSTEMD UNITS" "--password-file" "$(klosetfs help mount | sed -n 1p)"; do
  grep -qF -- "$want" <<< "$page" || fail "the man page lacks '$want'"
done

out=$(bash -c 'source /usr/share/bash-completion/bash_completion
  _completion_loader klosetfs
  complete -p klosetfs
  COMP_WORDS=(klosetfs mo); COMP_CWORD=1; _klosetfs; echo "words: ${COMPREPLY[*]}"
  COMP_WORDS=(klosetfs key ""); COMP_CWORD=2; _klosetfs; echo "words: ${COMPREPLY[*]}"
  COMP_WORDS=(klosetfs mount --fore); COMP_CWORD=2; _klosetfs; echo "words: ${COMPREPLY[*]}"')
grep -q -- "-F _klosetfs klosetfs" <<< "$out" || fail "bash completion not loaded: $out"
grep -qx "words: mount" <<< "$out" || fail "bash: 'klosetfs mo': $out"
grep -qx "words: add list remove" <<< "$out" || fail "bash: 'klosetfs key': $out"
grep -qx "words: --foreground" <<< "$out" || fail "bash: 'klosetfs mount --fore': $out"
out=$(HOME=$T zsh -fc 'autoload -Uz compinit && compinit -u -d $HOME/.zcompdump && print -r -- $_comps[klosetfs]')
[ "$out" = _klosetfs ] || fail "zsh compinit does not know klosetfs: '$out'"
zsh -n /usr/share/zsh/vendor-completions/_klosetfs || fail "zsh: syntax of _klosetfs"

out=$(systemd-analyze verify /lib/systemd/system/klosetfs@mnt-backups.service 2>&1) ||
  fail "systemd-analyze verify (system unit): $out"
[ -z "$out" ] || fail "systemd-analyze verify (system unit) complains: $out"
out=$(XDG_RUNTIME_DIR=$T systemd-analyze --user verify \
        /usr/lib/systemd/user/klosetfs@home-me-backups.service 2>&1) ||
  fail "systemd-analyze verify (user unit): $out"
[ -z "$out" ] || fail "systemd-analyze verify (user unit) complains: $out"

step "a store made with the installed binary"
export KLOSETFS_TEST_FAST_KDF=1 XDG_CACHE_HOME=$T/cache
mkdir -p "$T/src" "$mnt"
echo "read through mount -t fuse.klosetfs" > "$T/src/hello.txt"
KLOSETFS_PASSWORD=pkg-pass klosetfs init "$T/store" --quiet
KLOSETFS_PASSWORD=pkg-pass klosetfs backup "$T/store" "$T/src" --quiet
install -m 600 /dev/null "$T/pass"
echo pkg-pass > "$T/pass"
install -m 640 "$T/pass" "$T/pass-640"

step "mount -t fuse.klosetfs refuses a group-readable password file and -o password="
rc=0
mount -t fuse.klosetfs "$T/store" "$mnt" -o "password_file=$T/pass-640" 2> "$T/err" || rc=$?
[ $rc = 2 ] || fail "group-readable password file: exit $rc: $(cat "$T/err")"
grep -q "refusing password file $T/pass-640: its mode 0640" "$T/err" || fail "message: $(cat "$T/err")"
rc=0
mount -t fuse.klosetfs "$T/store" "$mnt" -o password=pkg-pass 2> "$T/err" || rc=$?
[ $rc = 2 ] || fail "-o password=: exit $rc: $(cat "$T/err")"
grep -qs " $mnt " /proc/mounts && fail "mounted after a refusal"

step "mount -t fuse.klosetfs STORE MOUNTPOINT -o password_file=...,_netdev,noauto,x-systemd.automount"
mount -t fuse.klosetfs "$T/store" "$mnt" \
  -o "password_file=$T/pass,cache_dir=$T/cache,_netdev,noauto,x-systemd.automount,nosuid,nodev,allow_other,default_permissions"
[ "$(findmnt -n -o FSTYPE,SOURCE "$mnt")" = "fuse.klosetfs klosetfs:$T/store" ] ||
  fail "findmnt: $(findmnt -n "$mnt")"
[ "$(cat "$mnt/latest$T/src/hello.txt")" = "read through mount -t fuse.klosetfs" ] ||
  fail "reading through the mount"
umount "$mnt"
wait_unmounted "$mnt"

step "an /etc/fstab line (mount -T FSTAB MOUNTPOINT), and what systemd makes of it"
printf '%s %s fuse.klosetfs %s 0 0\n' "$T/store" "$mnt" \
  "noauto,x-systemd.automount,x-systemd.idle-timeout=10min,_netdev,nofail,nosuid,nodev,allow_other,default_permissions,password_file=$T/pass,cache_dir=$T/cache" \
  > "$T/fstab"
mount -T "$T/fstab" "$mnt"
[ "$(cat "$mnt/latest$T/src/hello.txt")" = "read through mount -t fuse.klosetfs" ] ||
  fail "reading through the fstab mount"
umount "$mnt"
wait_unmounted "$mnt"
mkdir "$T/gen"
SYSTEMD_FSTAB=$T/fstab /lib/systemd/system-generators/systemd-fstab-generator \
  "$T/gen" "$T/gen" "$T/gen"
unit=$(systemd-escape --path "$mnt")
[ -f "$T/gen/$unit.automount" ] || fail "no $unit.automount from the fstab line: $(ls "$T/gen")"
grep -qx "Type=fuse.klosetfs" "$T/gen/$unit.mount" || fail "mount unit: $(cat "$T/gen/$unit.mount")"
grep -qx "What=$T/store" "$T/gen/$unit.mount" || fail "mount unit What=: $(cat "$T/gen/$unit.mount")"
grep -q "^Options=.*password_file=$T/pass" "$T/gen/$unit.mount" || fail "mount unit Options="
# _netdev: a network mount, pulled in by remote-fs.target (systemd then orders it after
# network-online.target when it loads the unit).
[ -e "$T/gen/remote-fs.target.wants/$unit.automount" ] ||
  fail "_netdev did not make a network mount: $(cd "$T/gen" && find . -path "*.wants/*" -o -path "*.requires/*")"
grep -qx "TimeoutIdleSec=10min" "$T/gen/$unit.automount" || fail "automount idle timeout"

step "the system unit's ExecStart with the passphrase as a systemd credential"
read -r -a exec_start <<< "$(sed -n 's/^ExecStart=//p' /lib/systemd/system/klosetfs@.service)"
args=()
for word in "${exec_start[@]}"; do
  word=${word//'${KLOSETFS_STORE}'/$T/store}
  word=${word//'${KLOSETFS_OPTIONS}'/allow_other,default_permissions}
  word=${word//%f/$mnt}
  word=${word//%C/$T/cache}
  args+=("$word")
done
mkdir -m 700 "$T/creds"
install -m 400 "$T/pass" "$T/creds/klosetfs-password"
env -u KLOSETFS_PASSWORD CREDENTIALS_DIRECTORY="$T/creds" "${args[@]}"
[ "$(cat "$mnt/latest$T/src/hello.txt")" = "read through mount -t fuse.klosetfs" ] ||
  fail "reading through the unit's mount"
[ -d "$T/cache/klosetfs" ] || fail "the unit's cache_dir=%C/klosetfs was not used"
umount "$mnt"
wait_unmounted "$mnt"

step "apt-get purge klosetfs leaves nothing behind"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq klosetfs >/dev/null
installed=0
status=$(dpkg-query -W -f='${db:Status-Status}' klosetfs 2>/dev/null || echo not-installed)
[ "$status" = not-installed ] || fail "dpkg still lists klosetfs: $status"
while read -r path; do
  # Folders shared with other packages (/usr, /usr/share/man/man1, ...) stay.
  if [ -e "$path" ] && { [ ! -d "$path" ] || [[ $path == */klosetfs* ]]; }; then
    fail "left behind: $path"
  fi
done < "$T/files"
hash -r
command -v klosetfs >/dev/null && fail "klosetfs is still on PATH: $(command -v klosetfs)"
for pid in $(pgrep -x klosetfs || true); do  # only the installed binary's: others may run tests
  [[ $(readlink "/proc/$pid/exe" || true) != /usr/bin/klosetfs* ]] ||
    fail "a process of the package is still running: $(ps -o pid,args -p "$pid")"
done
grep -qs " fuse.klosetfs " /proc/mounts && fail "a klosetfs mount is left: $(grep fuse.klosetfs /proc/mounts)"
[ "$root_cache_before" = yes ] || [ ! -e /root/.cache/klosetfs ] || fail "left /root/.cache/klosetfs"
echo "test-package: all checks passed ($(basename "$deb"))"
