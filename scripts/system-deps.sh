#!/usr/bin/env bash
# Install the Debian packages dockerlab needs on this machine, if any is missing.
# Idempotent: a no-op (well under a second) when everything is present.
#   docker.io    the Docker engine (dockerd) and its CLI
#   debootstrap  makes the classroom kit's minimal Debian base image
#   xfsprogs     formats the engine's XFS data root (disk quotas per sandbox)
#   iptables     keeps learner containers off the host's own services
#   chromium     the browser the browser tests drive (only with --browser)
set -euo pipefail

want=(docker.io debootstrap xfsprogs iptables)
if [[ "${1:-}" == "--browser" ]]; then
  want+=(chromium fonts-dejavu-core)
fi

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
# With recommends: the combination this project is tested with.
apt-get install -y -q "${missing[@]}"
