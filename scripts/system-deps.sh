#!/usr/bin/env bash
# Install the Debian packages dockerlab needs on this machine, if any is missing.
# Idempotent: a no-op (well under a second) when everything is present.
#   docker.io    the Docker engine (dockerd) and its CLI
#   debootstrap  makes the classroom kit's minimal Debian base image
#   xfsprogs     formats the engine's XFS data root (disk quotas per sandbox)
#   iptables     keeps learner containers off the host's own services
#   chromium     the browser the browser tests drive (only with --browser)
#   postgresql, redis-server, nginx
#                several server processes behind one address (only with --multi);
#                the packages' own services are not started: dockerlab runs
#                instances of its own (scripts/stores.sh, scripts/serve-multi.sh)
set -euo pipefail

want=(docker.io debootstrap xfsprogs iptables)
quiet_services=()
for option in "$@"; do
  case "$option" in
    --browser) want+=(chromium fonts-dejavu-core) ;;
    --multi)
      want+=(postgresql redis-server nginx)
      quiet_services=(postgresql redis-server nginx)
      ;;
    *) echo "usage: $0 [--browser] [--multi]" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "dockerlab needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q

# Installing postgresql, redis-server or nginx would start their system-wide
# services (the default PostgreSQL cluster on 5432, Redis on 6379, nginx on
# port 80 of every interface). A policy-rc.d for the length of the install
# keeps those three from starting; any other service starts as usual.
policy=/usr/sbin/policy-rc.d
if ((${#quiet_services[@]} > 0)) && [[ ! -e $policy ]]; then
  printf '#!/bin/sh\ncase "$1" in %s) exit 101 ;; esac\nexit 0\n' \
    "$(IFS='|'; echo "${quiet_services[*]}")" >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

# With recommends: the combination this project is tested with.
apt-get install -y -q "${missing[@]}"
