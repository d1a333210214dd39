# Shared by the bench scripts: prepare_data DIR SRC_ROOT LIMIT_MB BIG_MB builds
# the data set once (whole top-level folders of SRC_ROOT up to LIMIT_MB, plus
# big.bin of BIG_MB MiB, alternating compressible text and random MiBs).
prepare_data() {
  local data=$1 src_root=$2 limit_mb=$3 big_mb=$4
  [ -d "$data" ] && return 0
  echo "preparing data set in $data"
  mkdir -p "$data/tree"
  local total=0 d sz
  for d in $(ls "$src_root" | sort); do
    [ -d "$src_root/$d" ] || continue
    sz=$(du -sm "$src_root/$d" 2>/dev/null | cut -f1)
    [ $((total + sz)) -le "$limit_mb" ] || continue
    cp -a "$src_root/$d" "$data/tree/" 2>/dev/null || true
    total=$((total + sz))
  done
  python3 - "$data/big.bin" "$big_mb" <<'PY'
import os, sys, random
path, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = [("w%05d" % i) for i in range(20000)]
with open(path, "wb") as f:
    for i in range(mb):
        if i % 2 == 0:
            line = " ".join(rnd.choice(words) for _ in range(200)).encode()
            f.write((line * (1048576 // len(line) + 1))[:1048576])
        else:
            f.write(os.urandom(1048576))
PY
}

# Shared preamble of the bench scripts: bench_init DEFAULT_BIG_MB WORK_PREFIX
# KLOSETFS_ARG TOOL... sets k (the binary), work, data, src_root, limit_mb,
# big_mb, exports the tools'
# passphrases and a private cache folder, fails clearly on a missing tool or
# binary, and prepares the data set ($BENCH_SRC, $BENCH_MB, $BENCH_BIG_MB,
# $BENCH_DIR override the defaults).
bench_init() {
  local default_big=$1 prefix=$2 arg=$3; shift 3
  local root; root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  k=${arg:-$root/build/release/klosetfs}
  work=${BENCH_DIR:-$(mktemp -d "/tmp/$prefix.XXXXXX")}
  export KLOSETFS_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
  export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  export XDG_CACHE_HOME=$work/cache
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install it (see scripts/deps.sh test)" >&2; exit 1; }
  done
  [ -x "$k" ] || { echo "missing klosetfs binary $k (build it first)" >&2; exit 1; }
  src_root=${BENCH_SRC:-/usr/share}
  limit_mb=${BENCH_MB:-400}
  big_mb=${BENCH_BIG_MB:-$default_big}
  data=$work/data
  prepare_data "$data" "$src_root" "$limit_mb" "$big_mb"
}
