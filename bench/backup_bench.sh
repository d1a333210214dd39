#!/usr/bin/env bash
# Backup benchmark: klosetfs vs restic vs borg on the same data, same run.
#
#   bash bench/backup_bench.sh [KLOSETFS_BINARY]
#
# Data set: a copy of /usr/share (or $BENCH_SRC) limited to $BENCH_MB MB of
# mixed real files, plus one large file of $BENCH_BIG_MB MB (half compressible
# text, half random). Each tool: first backup, unchanged second backup, full
# restore. Prints wall time, peak RSS and store size, and klosetfs/peer ratios;
# with BENCH_RUNS=N, medians of N interleaved rounds and each round's ratios.
# Page cache is warm for every tool alike (the data is read once before).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/data.bash"
bench_init 200 klosetfs-bench "${1:-}" restic borg /usr/bin/time
files=$(find "$data" -type f | wc -l)
bytes=$(du -sb "$data" | cut -f1)
cat "$data/big.bin" >/dev/null; tar cf - "$data" 2>/dev/null | cat >/dev/null

declare -A T M S
measure() {  # key, command...
  local key=$1; shift
  local out=$work/time.$key
  # Each step starts with nothing left to write back from the steps before,
  # so no tool pays for another's writes (restores were 6-9x slower right
  # after a few GB of writes).
  sync
  /usr/bin/time -f "%e %M" -o "$out" "$@" >/dev/null 2>"$work/log.$key" || {
    echo "FAILED: $key ($*)"; tail -5 "$work/log.$key"; exit 1; }
  read -r T[$key] M[$key] < "$out"
}

# One round: each tool backs up twice into a fresh store and restores. With
# BENCH_RUNS=N (default 1) the rounds repeat, tools interleaved, and the
# table shows medians (the peers' restore times alone move 1.6x between runs).
# Nothing is deleted while tools are timed: for minutes after a mass delete,
# ext4 skips the recently freed inodes each time it allocates one
# (recently_deleted in its allocator), and a restore right after an
# `rm -rf` of 40,000 files was seen to take 13 s of which 24 s CPU in that
# search, against 2 s otherwise. Each round gets fresh folders; a rerun in
# the same BENCH_DIR deletes the last run's first and waits that out.
one_round() {  # round number
  local i=$1
  local work=$work/round$i
  mkdir -p "$work"
  echo "klosetfs..."
  $k init "$work/k" >/dev/null
  measure "k1_$i" $k backup "$work/k" "$data" --quiet
  measure "k2_$i" $k backup "$work/k" "$data" --quiet
  measure "k3_$i" $k restore "$work/k" latest "$work/restore-k" --quiet
  S[k]=$(du -sb "$work/k" | cut -f1)
  echo "restic..."
  restic init -r "$work/r" >/dev/null 2>&1
  measure "r1_$i" restic -r "$work/r" backup "$data" --quiet
  measure "r2_$i" restic -r "$work/r" backup "$data" --quiet
  measure "r3_$i" restic -r "$work/r" restore latest --target "$work/restore-r"
  S[r]=$(du -sb "$work/r" | cut -f1)
  echo "borg..."
  borg init -e repokey "$work/b" >/dev/null 2>&1
  measure "b1_$i" borg create --compression zstd,3 "$work/b::one" "$data"
  measure "b2_$i" borg create --compression zstd,3 "$work/b::two" "$data"
  mkdir -p "$work/restore-b"
  measure "b3_$i" bash -c "cd '$work/restore-b' && exec borg extract '$work/b::one'"
  S[b]=$(du -sb "$work/b" | cut -f1)
  # Restored bytes must match the source.
  diff -r --no-dereference "$data" "$work/restore-k$data" >/dev/null || { echo "klosetfs restore differs"; exit 1; }
}
runs=${BENCH_RUNS:-1}
if compgen -G "$work/round*" >/dev/null || [ -e "$work/k" ]; then
  rm -rf "$work"/round* "$work"/{k,r,b,restore-*}
  echo "removed the last run's stores and restores; waiting 6 minutes for ext4 to reuse their inodes..."
  sleep 360
fi
for i in $(seq 1 "$runs"); do
  echo "round $i of $runs"
  one_round "$i"
done
median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
for key in k1 k2 k3 r1 r2 r3 b1 b2 b3; do
  ts=() ms=()
  for i in $(seq 1 "$runs"); do ts+=("${T[${key}_$i]}"); ms+=("${M[${key}_$i]}"); done
  T[$key]=$(median "${ts[@]}")
  M[$key]=$(median "${ms[@]}")
done

ratio() { python3 -c "print('%.2f' % ($1 / max($2, 1e-9)))"; }
mb() { python3 -c "print('%.1f' % ($1 / 1e6))"; }
printf '\nData: %s files, %s MB (%s)\n' "$files" "$(mb "$bytes")" "$src_root subset + ${big_mb} MB file"
printf 'Runs: %s (medians; each run: klosetfs, restic, borg in turn)\n' "$runs"
printf 'Machine: %s, %s cores, %s\n\n' "$(uname -srm)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '| operation | klosetfs | restic | borg | k/restic | k/borg |\n|---|---|---|---|---|---|\n'
row() {  # label, suffix, unit (s|MB)
  local kv rv bv
  if [ "$3" = s ]; then kv=${T[k$2]}; rv=${T[r$2]}; bv=${T[b$2]}
  else kv=$(python3 -c "print(${M[k$2]}/1024)"); rv=$(python3 -c "print(${M[r$2]}/1024)"); bv=$(python3 -c "print(${M[b$2]}/1024)"); fi
  printf '| %s | %.2f %s | %.2f %s | %.2f %s | %s | %s |\n' "$1" "$kv" "$3" "$rv" "$3" "$bv" "$3" \
    "$(ratio "$kv" "$rv")" "$(ratio "$kv" "$bv")"
}
row "first backup (wall)" 1 s
row "unchanged re-backup (wall)" 2 s
row "full restore (wall)" 3 s
row "first backup peak RSS" 1 MB
row "restore peak RSS" 3 MB
printf '| store size | %s MB | %s MB | %s MB | %s | %s |\n' "$(mb "${S[k]}")" "$(mb "${S[r]}")" \
  "$(mb "${S[b]}")" "$(ratio "${S[k]}" "${S[r]}")" "$(ratio "${S[k]}" "${S[b]}")"
if [ "$runs" -gt 1 ]; then
  per_run() {  # label, k key, peer key
    local out="" i
    for i in $(seq 1 "$runs"); do out+=" $(ratio "${T[${2}_$i]}" "${T[${3}_$i]}")"; done
    printf '%s by run:%s\n' "$1" "$out"
  }
  echo
  per_run "first backup k/borg" k1 b1
  per_run "re-backup k/borg" k2 b2
  per_run "restore k/restic" k3 r3
fi
echo
echo "Targets: first backup <= 0.40x borg; re-backup <= 0.50x borg; restore <= 0.60x restic;"
echo "store size within 5% of borg; peak memory <= restic."
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"/{k,r,b,restore-*}
