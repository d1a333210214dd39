#!/usr/bin/env bash
# Installs what is missing, builds klosetfs, and runs the main job on an
# embedded default: a store in a local folder; init, back up a sample folder,
# list snapshots, restore a file and compare it with the original, then mount
# the store, read the same file through the mount, and back the folder up
# again by copying it into the mount's ingest/ and committing.
# KLOSETFS_DEMO_DIR chooses where the demo store and restore go (default: a new temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DKLOSETFS_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target klosetfs
k=build/release/klosetfs
demo=${KLOSETFS_DEMO_DIR:-$(mktemp -d /tmp/klosetfs-demo.XXXXXX)}
mkdir -p "$demo"
sample=/usr/share/doc
# The demo's passphrase; real use reads it from a prompt, a file or a command.
export KLOSETFS_PASSWORD=${KLOSETFS_PASSWORD:-demo-passphrase}
set -x
$k --version
$k init "$demo/store"
$k backup "$demo/store" "$sample" --tag demo
$k backup "$demo/store" "$sample" --tag demo     # unchanged: reuses everything
$k snapshots "$demo/store"
file=$(find "$sample" -type f -size +1k | sort | awk 'NR == 1')  # awk reads all: no SIGPIPE
$k cat "$demo/store" "latest:$file" | cmp - "$file"
$k restore "$demo/store" "latest:$sample" "$demo/restore"
diff -r --no-dereference "$sample" "$demo/restore"   # the folder's contents go into the target
$k check "$demo/store"
set +x
if [ -c /dev/fuse ]; then
  mkdir -p "$demo/mnt"
  set -x
  $k mount "$demo/store" "$demo/mnt"
  ls "$demo/mnt" "$demo/mnt/snapshots"
  cmp "$demo/mnt/latest$file" "$file"
  # Backing up by copying: whatever lands in ingest/ becomes a snapshot.
  cp -a "$sample/." "$demo/mnt/ingest/"
  $k commit "$demo/mnt" --tag copied -m "copied into ingest/"
  ls "$demo/mnt/snapshots" "$demo/mnt/tags"
  diff -r --no-dereference "$sample" "$demo/mnt/latest/"
  $k umount "$demo/mnt"
  set +x
else
  echo "no /dev/fuse on this machine: skipping the mount part of the demo"
fi
echo "demo finished: store in $demo/store, restored tree in $demo/restore"
