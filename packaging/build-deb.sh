#!/usr/bin/env bash
# Builds the klosetfs Debian package with CPack: a release build with Debian's hardening flags,
# the man page from the binary's --help (help2man), completions, systemd units and docs.
# Usage: packaging/build-deb.sh [BUILD_DIR]   (default build/pkg; the .deb lands in it and its
# path is the last line printed). Needs: cmake ninja-build g++ help2man dpkg-dev file and the
# build dependencies of scripts/deps.sh (`bash scripts/deps.sh package` installs them all).
# Environment: KLOSETFS_JOBS (default nproc), SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/pkg}
jobs=${KLOSETFS_JOBS:-$(nproc)}

missing=()
for tool in cmake ninja g++ help2man dpkg-shlibdeps file gzip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-deb.sh: missing ${missing[*]}; run: bash scripts/deps.sh package" >&2
  exit 1
fi

# The man page's date, and so the package, depend on this only.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

# Debian's flags (stack protector, _FORTIFY_SOURCE, relro, bindnow). CMake reads CXXFLAGS and
# LDFLAGS on the first configure only, so the folder starts clean; CMake ignores CPPFLAGS.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CXXFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)"
CFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
export CXXFLAGS CFLAGS LDFLAGS
rm -rf "$dir"
# -Werror stays with the test builds: a new compiler warning must not stop a package build.
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DKLOSETFS_PACKAGE=ON -DKLOSETFS_TESTS=OFF -DKLOSETFS_BENCH=OFF -DKLOSETFS_WERROR=OFF >/dev/null
cmake --build "$dir" -j "$jobs"
(cd "$dir" && cpack -G DEB >/dev/null)

deb=$(ls "$dir"/klosetfs_*.deb)
dpkg-deb --field "$deb"
echo "$deb"
