#!/usr/bin/env bash
# A damaged pack gives EIO on the file whose data it holds; everything else reads fine.
source "$(dirname "$0")/lib.bash"
need_fuse
src=$T/src; store=$T/store; mnt=$T/mnt
mkdir -p "$src"
head -c 2000000 /dev/urandom > "$src/victim.bin"
"$K" init "$store" --pack-size 1048576 >/dev/null 2>&1 || "$K" init "$store" >/dev/null
"$K" backup "$store" "$src" --quiet
# A second file in its own pack(s), after the first backup.
head -c 2000000 /dev/urandom > "$src/healthy.bin"
"$K" backup "$store" "$src" --quiet
# Flip a byte in the middle of the largest pack of the first backup.
first_pack=$(ls -S $(find "$store/packs" -type f) | head -1)
python3 - "$first_pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 3] ^= 0x40
open(p, 'wb').write(bytes(b))
PY
for mode in "" --read-only; do  # with handles, and with zero-message opens
  mount_store "$store" "$mnt" $mode
  bad=0; good=0
  for f in victim.bin healthy.bin; do
    if cmp -s "$src/$f" "$mnt/latest$src/$f"; then good=$((good+1)); else
      err=$(cat "$mnt/latest$src/$f" 2>&1 >/dev/null) || true
      echo "$err" | grep -qi "input/output error" || fail "[$mode] $f: wrong bytes instead of EIO ($err)"
      bad=$((bad+1))
    fi
  done
  [ $bad = 1 ] && [ $good = 1 ] || fail "[$mode] expected one damaged and one healthy file, got bad=$bad good=$good"
  ls -la "$mnt/latest$src" >/dev/null || fail "[$mode] listing failed after damage"
  "$K" umount "$mnt"
  wait_unmounted "$mnt"
done
echo "mount_damage: all checks passed"
