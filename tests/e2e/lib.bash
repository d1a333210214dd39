# Shared helpers for the shell end-to-end tests. Source it; $1 of the test is
# the klosetfs binary. Every test runs in its own temp dir, with a fast KDF,
# and fails (never skips) when a real part cannot run.
set -euo pipefail
K=${1:?usage: $0 KLOSETFS_BINARY}
T=$(mktemp -d /tmp/klosetfs-e2e.XXXXXX)
export KLOSETFS_PASSWORD=e2e-pass KLOSETFS_TEST_FAST_KDF=1
export XDG_CACHE_HOME=$T/cache
MOUNTS=()       # FUSE mounts a test made: one left behind fails the test
BIND_MOUNTS=()  # other mounts a test made (bind mounts): undone quietly

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

cleanup() {
  local rc=$?
  for m in "${BIND_MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
  for m in "${MOUNTS[@]}"; do
    if grep -qs " $m " /proc/mounts; then
      fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
      echo "FAIL: mount left behind at $m" >&2
      rc=1
    fi
  done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

need_fuse() {
  [ -c /dev/fuse ] || fail "/dev/fuse is missing: mount tests need FUSE"
  command -v fusermount3 >/dev/null || fail "fusermount3 is missing (apt install fuse3)"
}

# Waits until nothing is mounted on $1 (the daemon may take a moment to go).
wait_unmounted() {
  for _ in $(seq 1 100); do
    grep -qs " $1 " /proc/mounts || return 0
    sleep 0.1
  done
  fail "still mounted: $1"
}

mount_store() {  # store mountpoint [options...]
  local store=$1 mnt=$2; shift 2
  mkdir -p "$mnt"
  MOUNTS+=("$mnt")
  "$K" mount "$store" "$mnt" "$@"
}

# One line per entry: path, type, mode, uid, gid, size (files), mtime with ns,
# link target, link count (files); and st_blocks for files so sparse files match.
attr_list() {  # dir
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U %G %T@ %l\n' | sort
   cd "$1" && find . -mindepth 1 -type f -printf '%p size=%s blocks=%b nlink=%n\n' | sort)
}

xattr_list() {  # dir
  (cd "$1" && getfattr -R -d -m - --absolute-names . 2>/dev/null | grep -v '^#' | sort || true)
}

# Builds a tree with every kind of entry under $1.
make_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/empty"
  echo hello > "$d/a.txt"
  head -c 3000000 /dev/urandom > "$d/sub/random.bin"
  python3 -c "import sys; sys.stdout.write(''.join('line %d of text\n' % i for i in range(200000)))" > "$d/sub/text.txt"
  : > "$d/empty.txt"
  truncate -s 64M "$d/sparse.img"; printf 'data' | dd of="$d/sparse.img" bs=1 seek=1000000 conv=notrunc 2>/dev/null
  ln -s a.txt "$d/link"
  ln -s /nonexistent "$d/dangling"
  ln "$d/a.txt" "$d/sub/hardlink.txt"
  mkfifo "$d/fifo"
  printf 'x' > "$d/$(printf 'name with\nnewline')"
  printf 'y' > "$d/$(printf 'bytes\xff\xfe')"
  setfattr -n user.color -v blue "$d/a.txt"
  touch -d '2001-02-03 04:05:06.123456789' "$d/sub/deeper"
  chmod 0640 "$d/sub/text.txt"
  chmod 4755 "$d/sub/random.bin"
  touch -h -d '2010-01-01 00:00:00.5' "$d/link"
}
