#!/usr/bin/env bash
# Run Docker Compose v2 with the given arguments, providing it first if this
# machine has none:  deploy/compose.sh ARGS...   (deploy/compose.sh --path
# prints the command instead of running it).
#
# Looked for in this order: the `docker compose` CLI plugin; a
# `docker-compose` that is v2; var/tools/docker-compose.
#
# Why that last one: Debian 12 packages only Compose 1.29 (`docker-compose`,
# Python, end of life, no `up --wait`). Debian 13 packages Compose 2.26 as
# one Go program that needs nothing but the C library, so it runs on Debian
# 12 as well. It is fetched with apt itself, from the Debian mirror apt on
# this machine is configured with, into an apt state of its own
# (var/tools/apt: the machine's package lists and installed packages are not
# touched); apt checks the archive's signature against the Debian archive
# keyring, as for any package. Only the one program is unpacked, into
# var/tools/. Nothing is installed system-wide and no binary is kept in the
# repository.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=$here/var/tools
suite=${DOCKERLAB_COMPOSE_SUITE:-trixie}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
python=${DOCKERLAB_PYTHON:-$here/.venv/bin/python}

is_v2() {
  local version
  version=$("$@" version --short 2>/dev/null) || return 1
  [[ ${version#v} == 2.* ]]
}

fetch() {
  local apt=$tools/apt mirror
  mirror=$("$python" -c 'from engine import kit; print(kit.debian_mirror(kit.apt_sources(), "'"$suite"'"))') || {
    echo "compose: cannot read a Debian mirror from apt's configuration" >&2
    return 1
  }
  [[ -r $keyring ]] || {
    echo "compose: the Debian archive keyring ($keyring) is missing: apt-get install debian-archive-keyring" >&2
    return 1
  }
  echo "==> compose: fetching Debian $suite's docker-compose from $mirror (checked by apt)" >&2
  rm -rf "$apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/download"
  echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt/sources.list"
  local options=(
    -q -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
    -o APT::Sandbox::User=root -o Acquire::Languages=none
  )
  apt-get "${options[@]}" update >"$apt/update.log" 2>&1 || {
    cat "$apt/update.log" >&2
    echo "compose: apt could not read Debian $suite from $mirror" >&2
    return 1
  }
  (cd "$apt/download" && apt-get "${options[@]}" download docker-compose >"$apt/download.log" 2>&1) || {
    cat "$apt/download.log" >&2
    return 1
  }
  dpkg-deb --fsys-tarfile "$apt"/download/docker-compose_*.deb |
    tar -xO ./usr/libexec/docker/cli-plugins/docker-compose >"$tools/docker-compose.partial"
  chmod 755 "$tools/docker-compose.partial"
  is_v2 "$tools/docker-compose.partial" || {
    echo "compose: the fetched docker-compose is not Compose v2" >&2
    return 1
  }
  mv "$tools/docker-compose.partial" "$tools/docker-compose"
  rm -rf "$apt"
  echo "==> compose: $("$tools/docker-compose" version --short) in ${tools#"$here"/}/docker-compose" >&2
}

find_compose() {
  if is_v2 docker compose; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null && is_v2 docker-compose; then
    echo docker-compose
  elif [[ -x $tools/docker-compose ]] && is_v2 "$tools/docker-compose"; then
    echo "$tools/docker-compose"
  else
    mkdir -p "$tools"
    fetch
    echo "$tools/docker-compose"
  fi
}

compose=$(find_compose)
if [[ "${1:-}" == --path ]]; then
  echo "$compose"
  exit 0
fi
# shellcheck disable=SC2086 - "docker compose" is two words
exec $compose "$@"
