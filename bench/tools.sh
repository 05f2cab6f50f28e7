#!/usr/bin/env bash
# The Debian tools some benchmark figures need: wrk (submit beside a standard load
# generator) and nginx (two api replicas behind the repository's config). Installed when
# missing and this is a root shell with apt-get; otherwise named, and `python -m bench`
# leaves out the figures that need them.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "bench: ${missing[*]} not installed (apt-get install ${missing[*]});" \
    "the figures that need them are left out" >&2
fi
