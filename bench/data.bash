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
