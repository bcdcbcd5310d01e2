#!/usr/bin/env bash
# Make sure commands exist, installing their Debian packages with apt-get where they do not (quietly; only the
# missing ones; `apt-get update` only when the first try fails, as on a machine with no package lists yet).
#   scripts/apt_ensure.sh COMMAND:PACKAGE [COMMAND:PACKAGE ...]
# Exit 0 when every command is there afterwards; otherwise 1 with one line on stderr saying what is missing
# and why (not root, no apt-get, or apt-get's own last error: a Debian registry that cannot be reached).
set -uo pipefail
missing=()
for spec in "$@"; do
  cmd=${spec%%:*} pkg=${spec#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]}: install them (sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "apt-get could not install ${missing[*]} (Debian registry unreachable?): $(grep -E '^(E|W|Err):' "$log" | tail -1)" >&2
    rm -f "$log"
    exit 1
  fi
fi
rm -f "$log"
for spec in "$@"; do
  cmd=${spec%%:*}
  command -v "$cmd" >/dev/null 2>&1 || { echo "apt-get installed ${missing[*]} but $cmd is still not on PATH" >&2; exit 1; }
done
