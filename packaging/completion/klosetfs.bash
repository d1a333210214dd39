# bash completion for klosetfs(1). Commands and options are read from `klosetfs help`, so they
# always match the installed klosetfs.

# Lines of SECTION ("Options", "Subcommands") of `klosetfs help WORDS...`.
_klosetfs_section() {
  local section=$1
  shift
  klosetfs help "$@" 2>/dev/null | sed -n "/^$section:\$/,/^\$/p" | sed 1d
}

# The command names below WORDS... (none for a command without subcommands).
_klosetfs_commands() {
  _klosetfs_section Subcommands "$@" | awk 'NF { print $1 }'
}

# The options of WORDS... (of klosetfs itself without WORDS); with --value, only those that take
# a value ("--cache-dir TEXT").
_klosetfs_options() {
  local want_value=0
  if [[ $1 == --value ]]; then
    want_value=1
    shift
  fi
  _klosetfs_section Options "$@" | awk -F '  +' -v v=$want_value '
    NF >= 2 {
      n = split($2, part, " ")
      if (v && (n < 2 || part[2] !~ /^[A-Z]/)) next
      m = split(part[1], names, ",")
      for (i = 1; i <= m; i++) print names[i]
    }'
}

_klosetfs() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local -a cmdpath=() topic=()
  local value_options positionals=0 skip=0 i w
  value_options=" $(_klosetfs_options --value | tr '\n' ' ') "

  # Which command is being typed ("key add"), skipping options and their values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((skip)); then
      skip=0
      continue
    fi
    if [[ $w == -* ]]; then
      [[ $value_options == *" $w "* ]] && skip=1
      continue
    fi
    if [[ ${cmdpath[0]} == help ]]; then
      topic+=("$w")  # "help key add": the words name a command, too
    elif ((positionals == 0)) && _klosetfs_commands "${cmdpath[@]}" | grep -qxF -- "$w"; then
      cmdpath+=("$w")
      value_options+=" $(_klosetfs_options --value "${cmdpath[@]}" | tr '\n' ' ') "
    else
      positionals=$((positionals + 1))
    fi
  done

  if [[ $value_options == *" $prev "* ]]; then
    case $prev in
      --password-command) mapfile -t COMPREPLY < <(compgen -c -- "$cur") ;;
      -o) COMPREPLY=() ;;  # FUSE options: nothing sensible to offer
      *) _klosetfs_files ;;
    esac
    return
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$({ _klosetfs_options; _klosetfs_options "${cmdpath[@]}"; } |
      sort -u)" -- "$cur")
    return
  fi
  if [[ ${cmdpath[0]} == help ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_klosetfs_commands "${topic[@]}")" -- "$cur")
    return
  fi
  local subcommands
  subcommands=$(_klosetfs_commands "${cmdpath[@]}")
  if [[ -n $subcommands ]] && ((positionals == 0)); then
    mapfile -t COMPREPLY < <(compgen -W "$subcommands" -- "$cur")
    return
  fi
  _klosetfs_files
}

# Files and folders (STORE, PATH, MOUNTPOINT, TARGET_DIR, password files).
_klosetfs_files() {
  if declare -F _filedir >/dev/null; then
    _filedir
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

complete -F _klosetfs klosetfs
