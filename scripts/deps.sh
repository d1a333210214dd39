#!/usr/bin/env bash
# Installs what klosetfs needs to build and test on Debian 12, only what is missing.
# Usage: scripts/deps.sh [build|test|package]
set -euo pipefail
mode=${1:-build}
pkgs=(cmake ninja-build g++ pkg-config libfuse3-dev fuse3 libsodium-dev libzstd-dev
      libxxhash-dev libcurl4-openssl-dev catch2 nlohmann-json3-dev libcli11-dev attr)
if [ "$mode" = test ]; then
  # clang + its runtime for the libFuzzer runs; restic/borg/rclone for tests and benchmarks.
  pkgs+=(clang libclang-rt-14-dev acl rclone restic borgbackup rsync)
fi
if [ "$mode" = test ] || [ "$mode" = package ]; then
  # The Debian package: help2man writes the man page, dpkg-dev and file serve CPack's
  # dpkg-shlibdeps; man-db, bash-completion and zsh check the installed package.
  pkgs+=(help2man dpkg-dev file man-db bash-completion zsh)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
