#!/usr/bin/env bash
# Writes the klosetfs(1) man page from the binary's own help text: help2man turns
# `klosetfs --help` into NAME, SYNOPSIS, OPTIONS, ENVIRONMENT and EXIT CODES; every
# `klosetfs help COMMAND` becomes a subsection of COMMANDS; INCLUDE (klosetfs.h2m) adds the
# sections the help text has no room for (mount(8), fstab, systemd, files).
# Usage: make-man.sh KLOSETFS_BINARY INCLUDE OUTPUT
# SOURCE_DATE_EPOCH, when set, fixes the date in the page (reproducible builds).
set -euo pipefail
bin=$1 include=$2 out=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# help2man runs this wrapper, which adds a blank line before each "Heading:" line of the help
# text: help2man needs one to start a section ("Exit codes:" follows a paragraph directly).
{
  echo '#!/bin/sh'
  printf '%q "$@" | ' "$(realpath "$bin")"
  echo "awk 'NR > 1 && /^[A-Z][A-Za-z ]*:\$/ && prev != \"\" { print \"\" } { print; prev = \$0 }'"
} > "$work/klosetfs"
chmod +x "$work/klosetfs"

# The names listed under "Subcommands:" in a help text.
commands_in() {
  sed -n '/^Subcommands:$/,/^$/p' | awk 'NR > 1 && NF { print $1 }'
}

# roff-safe verbatim lines.
verbatim() {
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

command_section() {  # words of the command, e.g. "key add"
  echo ".SS \"klosetfs $*\""
  echo ".nf"
  # The footer about global options repeats on every command; the page says it once.
  "$bin" help "$@" | sed '/^Global options (/,$d' | verbatim
  echo ".fi"
  local sub
  for sub in $("$bin" help "$@" | commands_in); do
    command_section "$@" "$sub"
  done
}

{
  echo "[COMMANDS]"
  echo "Each command's help, as printed by \\fBklosetfs help\\fR \\fICOMMAND\\fR."
  echo "Global options may come before or after the command."
  for cmd in $("$bin" --help | commands_in); do
    [ "$cmd" = help ] || command_section "$cmd"
  done
} > "$work/commands.h2m"

help2man --no-info --no-discard-stderr \
  --name "encrypted, deduplicated backups you browse as a file system" \
  --include "$work/commands.h2m" --include "$include" \
  --help-option=--help --version-option=--version \
  --output "$out.tmp" "$work/klosetfs"
# The exit codes close the help text, so help2man files them under ENVIRONMENT.
sed 's/^\.SS "Exit codes:"$/.SH "EXIT STATUS"/' "$out.tmp" > "$out"
rm -f "$out.tmp"
grep -q '^\.SH "EXIT STATUS"' "$out" || { echo "make-man.sh: no exit codes in the help" >&2; exit 1; }
