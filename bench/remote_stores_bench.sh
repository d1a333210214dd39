#!/usr/bin/env bash
# Cloud-drive benchmark over two kinds of store: what a far drive costs
# klosetfs, in requests, bytes and time, with every request shaped by
# --simulate (latency per request and one shared link; default
# latency=50ms,bandwidth=20MB). Both stores are folders on this machine: a
# plain local store, and the same through rclone (a `local` remote of a
# temporary rclone config), so the rclone bridge is measured too.
#
#   bash bench/remote_stores_bench.sh [KLOSETFS_BINARY]
#
# For each store it measures and prints:
#  1. backup of the data set (BENCH_MB MiB of /usr/share plus a BENCH_BIG_MB
#     MiB file): requests by kind, bytes and time, against the packs and
#     indexes written. Target: requests <= packs + indexes + a small constant.
#  2. round trips from `klosetfs mount` to the end of the first `ls` of
#     snapshots/ on a warm cache, writable and --read-only: the median time
#     at the spec's latency minus the median at latency 0, over the latency
#     (the stores use the fast test KDF so the passphrase work does not blur
#     it). Target <= 3. Requests: the mount's .klosetfs-stats.json plus the
#     mount command's own (--remote-stats).
#  3. sequential read (cat) of the big file through a fresh mount (no disk
#     cache): time, file throughput, requests, and the bytes fetched over
#     the time against the link's limit. Target >= 80% of the bandwidth.
#
# Knobs: BENCH_BIG_MB (default 1024), BENCH_MB (default 200), BENCH_SIMULATE
# (default latency=50ms,bandwidth=20MB), BENCH_STORES ("local rclone"),
# BENCH_RUNS (mount timings per latency, default 5), BENCH_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/data.bash"
export BENCH_MB=${BENCH_MB:-200}
bench_init 1024 klosetfs-rsbench "${1:-}" rclone python3 fusermount3
shape=${BENCH_SIMULATE:-latency=50ms,bandwidth=20MB}
stores=${BENCH_STORES:-local rclone}
runs=${BENCH_RUNS:-5}
export KLOSETFS_TEST_FAST_KDF=1  # init only: see 2. above
latency_s=$(python3 -c "import re,sys; m=re.search(r'latency=([0-9.]+)(ms|s)', sys.argv[1]); print(float(m.group(1))/(1000 if m.group(2)=='ms' else 1) if m else 0)" "$shape")
bandwidth=$(python3 -c "
import re,sys
m=re.search(r'bandwidth=([0-9.]+)(KB|MB|GB|KiB|MiB|GiB|B)?', sys.argv[1])
u={'KB':1e3,'MB':1e6,'GB':1e9,'KiB':1024,'MiB':1<<20,'GiB':1<<30,'B':1,None:1}
print(float(m.group(1))*u[m.group(2)] if m else 0)" "$shape")
[ "$(python3 -c "print($latency_s > 0 and $bandwidth > 0)")" = True ] ||
  { echo "BENCH_SIMULATE needs latency= and bandwidth=: $shape" >&2; exit 1; }

mnt=$work/mnt
mkdir -p "$mnt"
unmount() { fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
            for _ in $(seq 50); do grep -qs " $mnt " /proc/mounts || return 0; sleep 0.1; done; }
trap 'unmount' EXIT
cat > "$work/rclone.conf" <<EOF
[benchdisk]
type = local
EOF
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() { python3 -c "import statistics,sys; print('%.3f' % statistics.median(map(float, sys.argv[1:])))" "$@"; }
data_bytes=$(du -sb "$data" | cut -f1)

# Totals of request counters: "calls<TAB>bytes<TAB>read 3 (1.2 MiB), list 4".
# mount: a .klosetfs-stats.json; process: a --remote-stats file.
summary() {  # json_file mount|process
  python3 - "$@" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
reqs = [j["requests"]] if sys.argv[2] == "mount" else j
ops = {}
for r in reqs:
    for op, v in r["requests"].items():
        o = ops.setdefault(op, [0, 0])
        o[0] += v["calls"]; o[1] += v["bytes"]
def size(n):
    for u in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or u == "GiB": return ("%d %s" % (n, u)) if u == "B" else ("%.1f %s" % (n, u))
        n /= 1024
calls = sum(v[0] for v in ops.values()); nbytes = sum(v[1] for v in ops.values())
parts = ["%s %d" % (op, v[0]) + (" (%s)" % size(v[1]) if v[1] else "") for op, v in ops.items() if v[0]]
print("%d\t%d\t%s" % (calls, nbytes, ", ".join(parts) or "none"))
PY
}

declare -A R
bench_store() {  # name store_string store_folder
  local name=$1 store=$2 folder=$3 k_=("$k" --rclone-config "$work/rclone.conf")
  echo "== $name: $store, --simulate $shape"
  rm -rf "$folder" "$XDG_CACHE_HOME"
  "${k_[@]}" init "$store" >/dev/null

  # 1. Backup.
  local t0 t1 s
  t0=$(now)
  "${k_[@]}" --simulate "$shape" --remote-stats "$work/backup.json" backup "$store" "$data" --quiet
  t1=$(now)
  s=$(summary "$work/backup.json" process)
  local packs indexes
  packs=$(find "$folder/packs" -type f ! -name '.tmp~*' | wc -l)
  indexes=$(find "$folder/index" -type f ! -name '.tmp~*' | wc -l)
  R[$name.backup_s]=$(calc "round($t1 - $t0, 2)")
  R[$name.backup_req]=$(cut -f1 <<<"$s")
  R[$name.backup_bytes]=$(cut -f2 <<<"$s")
  R[$name.backup_kinds]=$(cut -f3 <<<"$s")
  R[$name.packs]=$packs
  R[$name.indexes]=$indexes
  R[$name.backup_extra]=$((R[$name.backup_req] - packs - indexes))
  echo "  backup: ${R[$name.backup_s]} s, ${R[$name.backup_req]} requests (${R[$name.backup_kinds]}); $packs packs + $indexes indexes"

  # 2. Mount to first ls, warm cache: one mount warms it, then timed ones.
  "${k_[@]}" mount "$store" "$mnt" && ls "$mnt/snapshots/" >/dev/null && unmount
  local mode lat i spec
  for mode in writable read-only; do
    local opt=()
    [ "$mode" = read-only ] && opt=(--read-only)
    for lat in 0 "$latency_s"; do
      local times=()
      spec=$(sed -E "s/latency=[^,]*/latency=${lat}s/" <<<"$shape")
      for i in $(seq "$runs"); do
        t0=$(now)
        "${k_[@]}" --simulate "$spec" --remote-stats "$work/mount-cmd.json" \
          mount "${opt[@]}" "$store" "$mnt"
        ls "$mnt/snapshots/" >/dev/null
        t1=$(now)
        times+=("$(calc "$t1 - $t0")")
        if [ "$lat" != 0 ] && [ "$i" = 1 ]; then
          local daemon cmd
          daemon=$(summary "$mnt/.klosetfs-stats.json" mount)
          cmd=$(summary "$work/mount-cmd.json" process)
          R[$name.$mode.req]=$(($(cut -f1 <<<"$daemon") + $(cut -f1 <<<"$cmd")))
          R[$name.$mode.kinds]="daemon: $(cut -f3 <<<"$daemon"); mount command: $(cut -f3 <<<"$cmd")"
        fi
        unmount
      done
      R[$name.$mode.t$lat]=$(median "${times[@]}")
    done
    R[$name.$mode.rt]=$(calc "round((${R[$name.$mode.t$latency_s]} - ${R[$name.$mode.t0]}) / $latency_s, 1)")
    echo "  mount + first ls ($mode): ${R[$name.$mode.t$latency_s]} s at latency ${latency_s}s," \
         "${R[$name.$mode.t0]} s at 0: ${R[$name.$mode.rt]} round trips;" \
         "${R[$name.$mode.req]} requests (${R[$name.$mode.kinds]})"
  done

  # 3. Sequential read of the big file through a fresh mount, no disk cache.
  rm -rf "$XDG_CACHE_HOME"/klosetfs/*/data
  "${k_[@]}" --simulate "$shape" mount --read-only "$store" "$mnt"
  local big r0 r1 size
  big=$(echo "$mnt"/latest"$data"/big.bin)
  r0=$(summary "$mnt/.klosetfs-stats.json" mount)
  t0=$(now)
  cat "$big" >/dev/null
  t1=$(now)
  r1=$(summary "$mnt/.klosetfs-stats.json" mount)
  unmount
  size=$(stat -c %s "$data/big.bin")
  R[$name.read_s]=$(calc "round($t1 - $t0, 2)")
  R[$name.read_mbs]=$(calc "round($size / ($t1 - $t0) / 1e6, 2)")
  R[$name.read_req]=$(($(cut -f1 <<<"$r1") - $(cut -f1 <<<"$r0")))
  R[$name.read_bytes]=$(($(cut -f2 <<<"$r1") - $(cut -f2 <<<"$r0")))
  # Half of big.bin is text that compresses well: the link carries fewer
  # bytes than the file has, so its use is judged by the bytes fetched.
  R[$name.read_pct]=$(calc "round(100 * ${R[$name.read_bytes]} / ($t1 - $t0) / $bandwidth)")
  echo "  read of $((size >> 20)) MiB: ${R[$name.read_s]} s, ${R[$name.read_mbs]} MB/s of file;" \
       "${R[$name.read_req]} requests fetched ${R[$name.read_bytes]} bytes = ${R[$name.read_pct]}% of the link"
}

for s in $stores; do
  case $s in
    local) bench_store local "$work/local-store" "$work/local-store" ;;
    rclone) bench_store rclone "benchdisk:$work/rclone-store" "$work/rclone-store" ;;
    *) echo "unknown store kind $s (local, rclone)" >&2; exit 1 ;;
  esac
done

printf '\nData: %s bytes (%s MiB of %s plus a %s MiB file); --simulate %s\n' \
  "$data_bytes" "$limit_mb" "$src_root" "$big_mb" "$shape"
printf 'Machine: %s, %s cores; %s\n\n' "$(uname -srm)" "$(nproc)" "$(rclone version | head -n 1)"
printf '| store | operation | time | requests | bytes | result | target |\n|---|---|---|---|---|---|---|\n'
for s in $stores; do
  printf '| %s | backup | %s s | %s (%s) | %s | %s packs + %s indexes + %s | <= packs + indexes + small constant |\n' \
    "$s" "${R[$s.backup_s]}" "${R[$s.backup_req]}" "${R[$s.backup_kinds]}" "${R[$s.backup_bytes]}" \
    "${R[$s.packs]}" "${R[$s.indexes]}" "${R[$s.backup_extra]}"
  for mode in writable read-only; do
    printf '| %s | mount + first ls, %s, warm | %s s (%s s at latency 0) | %s (%s) | | %s round trips | <= 3 |\n' \
      "$s" "$mode" "${R[$s.$mode.t$latency_s]}" "${R[$s.$mode.t0]}" "${R[$s.$mode.req]}" \
      "${R[$s.$mode.kinds]}" "${R[$s.$mode.rt]}"
  done
  printf '| %s | cat %s MiB, cold | %s s | %s | %s | %s MB/s of file; link %s%% busy | >= 80%% |\n' \
    "$s" "$big_mb" "${R[$s.read_s]}" "${R[$s.read_req]}" "${R[$s.read_bytes]}" "${R[$s.read_mbs]}" \
    "${R[$s.read_pct]}"
done
