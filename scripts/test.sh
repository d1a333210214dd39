#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. a RelWithDebInfo build with -Werror, every CTest case;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build, every CTest case;
#   3. the tests of the threaded parts (thread pool, file writer, repository uploads, the pack
#      spool, the ingest draft, journal, file writer and tree,
#      archiver, FUSE node logic, ingest stream, batched restore) under ThreadSanitizer;
#   4. each libFuzzer target for a short run (clang), starting from its seed corpus;
#   5. the Debian package: built, installed with apt, checked (--version, man page, completions,
#      units, `mount -t fuse.klosetfs`, an fstab line), purged (docs/PACKAGING.md).
# Environment: KLOSETFS_JOBS (default: nproc), KLOSETFS_FUZZ_SECONDS (default 20; 0 skips step 3),
# KLOSETFS_SKIP_SANITIZERS=1 skips step 2 (for quick local runs only; CI runs everything),
# KLOSETFS_SKIP_PACKAGE=1 skips step 5 (likewise; it needs root and installs a package).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
jobs=${KLOSETFS_JOBS:-$(nproc)}
fuzz_seconds=${KLOSETFS_FUZZ_SECONDS:-20}

run_suite() {  # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DKLOSETFS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900)
}

echo "== build and test (RelWithDebInfo)"
run_suite build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${KLOSETFS_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DKLOSETFS_SANITIZE=address,undefined
fi

if [ "${KLOSETFS_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== threaded parts under ThreadSanitizer"
  tsan_tests="crypto_test file_io_test repository_test archiver_test kloset_fs_test fault_remote_test
    draft_test draft_journal_test ingest_file_test ingest_fs_test repository_spool_test
    ingest_stream_test restore_files_test"
  cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKLOSETFS_SANITIZE=thread \
    -DKLOSETFS_BENCH=OFF >/dev/null
  cmake --build build/tsan -j "$jobs" --target $tsan_tests
  for t in $tsan_tests; do
    echo "-- $t"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/tests/$t
  done
fi

if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz each parser of stored bytes for ${fuzz_seconds}s"
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKLOSETFS_FUZZ=ON -DKLOSETFS_WERROR=OFF -DKLOSETFS_SANITIZE=address,undefined -DKLOSETFS_TESTS=ON \
    -DKLOSETFS_BENCH=OFF >/dev/null
  targets=$(cd fuzz && ls *_fuzz.cc 2>/dev/null | sed 's/\.cc$//' || true)
  [ -z "$targets" ] || cmake --build build/fuzz -j "$jobs" --target $targets
  for t in $targets; do
    work=$(mktemp -d)
    cp -r "fuzz/corpus/$t/." "$work/"
    echo "-- $t"
    build/fuzz/fuzz/$t -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" 2>&1 | tail -2
    rm -rf "$work"
  done
fi
# Builds the .deb, installs it, checks it and purges it again; it never stays installed.
package_stage() {
  echo "== Debian package: build, apt install, mount -t fuse.klosetfs, purge"
  bash scripts/deps.sh package
  KLOSETFS_JOBS=$jobs bash packaging/build-deb.sh build/pkg
  bash packaging/test-package.sh build/pkg/klosetfs_*.deb
}
if [ "${KLOSETFS_SKIP_PACKAGE:-0}" != 1 ]; then
  package_stage
fi
echo "all test stages passed"
