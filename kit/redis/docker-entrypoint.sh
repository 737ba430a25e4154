#!/bin/bash
# `redis-server [ARGS]` runs as the redis user in /data; other commands run
# as given. As in the official image, a server started without a
# configuration file turns protected mode off, so other containers on its
# network reach it: give it --requirepass (or a network only it and its
# clients share).
set -euo pipefail

if [[ "${1:-}" == -* || "${1:-}" == *.conf ]]; then
  set -- redis-server "$@"
fi
if [[ "$1" != redis-server ]]; then
  exec "$@"
fi

if [[ $(id -u) -eq 0 ]]; then
  find . \! -user redis -exec chown redis: '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [[ "${2:-}" != *.conf ]] || ! grep -q '^protected-mode' "$2"; then
  set -- "$@" --protected-mode no
fi
exec "$@"
