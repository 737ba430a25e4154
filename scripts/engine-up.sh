#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent and quick when one already does.
#
# - If DOCKER_HOST (or the default socket) answers, there is nothing to do.
# - Otherwise, as root on Debian, install docker.io if missing and start dockerd
#   in the background (log in var/dockerd.log), then wait until it answers.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
log="$here/var/dockerd.log"
timeout_s=${DOCKERLAB_ENGINE_WAIT:-60}

engine_answers() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if engine_answers; then
  echo "==> engine: running (server $(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

if [[ -n "${DOCKER_HOST:-}" ]]; then
  echo "The Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer." >&2
  echo "Start it there, or unset DOCKER_HOST to use a local engine." >&2
  exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "No Docker engine answers, and starting one needs root." >&2
  echo "Start dockerd (e.g. 'sudo systemctl start docker') or run this as root." >&2
  exit 1
fi

"$here/scripts/system-deps.sh"

start_dockerd() {
  mkdir -p "$(dirname "$log")"
  # A pid file left by a daemon that was killed blocks the next start.
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  # Every sandbox network takes one address pool. The engine's default
  # pools give about 30; many small (/24) ones let a classroom engine hold
  # one network per learner. A pool set in daemon.json wins (the engine
  # refuses the same setting twice).
  local args=()
  local pool=${DOCKERLAB_ENGINE_ADDRESS_POOL-172.20.0.0/14}
  if [[ -n "$pool" ]] && ! grep -qs default-address-pools /etc/docker/daemon.json; then
    args+=(--default-address-pool "base=$pool,size=24")
  fi
  echo "==> engine: starting dockerd in the background (log: $log)"
  setsid nohup dockerd "${args[@]}" >>"$log" 2>&1 </dev/null &
}

# Prefer the init system where there is one; otherwise run dockerd ourselves.
use_systemd=0
if [[ -d /run/systemd/system ]] && systemctl start docker >/dev/null 2>&1; then
  echo "==> engine: started by systemd"
  use_systemd=1
fi

starts=0
for ((i = 0; i < timeout_s * 4; i++)); do
  if engine_answers; then
    echo "==> engine: running (server $(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  # No daemon (none yet, or one that was dying when we looked): start one.
  if ((use_systemd == 0 && starts < 2)) && ! pgrep -x dockerd >/dev/null; then
    start_dockerd
    starts=$((starts + 1))
  fi
  sleep 0.25
done

echo "dockerd did not answer within ${timeout_s}s; the end of its log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
