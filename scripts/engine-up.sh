#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent and quick when one already does.
#
# - If the engine (DOCKER_HOST, else the local socket) answers, only the host
#   guard below is checked, and the engine's disk quotas are reported.
# - Otherwise, as root on Debian, install what is missing and start dockerd in
#   the background (log in var/dockerd.log), then wait until it answers. The
#   engine it starts gets:
#     * a data root on XFS with project quotas, so every container's writable
#       layer and every volume can have a size: the engine's default data root
#       when it already is one, else a sparse loop file formatted XFS and
#       mounted with pquota at a path of this project's. A kernel without XFS
#       quota support gets the loop file mounted without quotas: the engine
#       still cannot fill the machine's disk, and sandboxes are measured;
#     * a default writable-layer size (overlay2.size), which also caps the
#       classic builder's RUN steps, whose containers take no size of their own;
#     * --live-restore: containers keep running while dockerd restarts;
#     * many small address pools, one /24 per sandbox network.
#   A setting in daemon.json always wins over the flag that would repeat it
#   (the engine refuses the same setting twice).
# - As root with a local engine (found or started), it installs the host
#   guard: traffic from sandbox bridges (interfaces dl-*) to the host itself
#   is refused, except replies to connections the host made (published ports)
#   and DNS.
#
# Settings (environment; defaults in brackets), documented in README.md:
#   DOCKERLAB_ENGINE_XFS [1]            0: keep the engine's own data root, no loop file
#   DOCKERLAB_ENGINE_STORE [/var/lib/dockerlab/engine]   mount point and data root
#   DOCKERLAB_ENGINE_STORE_FILE [$DOCKERLAB_ENGINE_STORE.xfs]  the loop file
#   DOCKERLAB_ENGINE_STORE_SIZE [40G]   the loop file's size (sparse: grows as used)
#   DOCKERLAB_ENGINE_LAYER_SIZE [1G]    default writable-layer size; empty: none
#   DOCKERLAB_ENGINE_LIVE_RESTORE [1]   0: no --live-restore
#   DOCKERLAB_ENGINE_ADDRESS_POOL [172.20.0.0/14]  empty: the engine's default pools
#   DOCKERLAB_HOST_GUARD [1]            0: leave the host's firewall alone
#   DOCKERLAB_ENGINE_WAIT [60]          seconds to wait for a starting engine
# and, to run a second engine beside another one (development, tests):
#   DOCKERLAB_ENGINE_SOCKET [from DOCKER_HOST=unix://..., else /var/run/docker.sock]
#   DOCKERLAB_ENGINE_PIDFILE [/var/run/docker.pid]
#   DOCKERLAB_ENGINE_EXEC_ROOT [the engine's default]
#   DOCKERLAB_ENGINE_CONFIG [/etc/docker/daemon.json]
#   DOCKERLAB_ENGINE_LOG [var/dockerd.log]
#   DOCKERLAB_ENGINE_ARGS               more dockerd arguments, split on spaces
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
log=${DOCKERLAB_ENGINE_LOG:-$here/var/dockerd.log}
timeout_s=${DOCKERLAB_ENGINE_WAIT:-60}
config=${DOCKERLAB_ENGINE_CONFIG:-/etc/docker/daemon.json}
pidfile=${DOCKERLAB_ENGINE_PIDFILE:-/var/run/docker.pid}
store=${DOCKERLAB_ENGINE_STORE:-/var/lib/dockerlab/engine}
store_file=${DOCKERLAB_ENGINE_STORE_FILE:-$store.xfs}
store_size=${DOCKERLAB_ENGINE_STORE_SIZE:-40G}
layer_size=${DOCKERLAB_ENGINE_LAYER_SIZE-1G}
guard_chain=DOCKERLAB-GUARD
# The bridge of every sandbox network is called dl-<sandbox id>.
guard_interfaces=dl-+

# Which engine: a unix socket is local (this script may start an engine on
# it); any other DOCKER_HOST is remote, and only checked.
default_socket=/var/run/docker.sock
socket=${DOCKERLAB_ENGINE_SOCKET:-}
if [[ -z "$socket" && "${DOCKER_HOST:-}" == unix://* ]]; then
  socket=${DOCKER_HOST#unix://}
fi
remote=0
if [[ -z "$socket" && -n "${DOCKER_HOST:-}" ]]; then
  remote=1
else
  socket=${socket:-$default_socket}
  export DOCKER_HOST="unix://$socket"
fi

die() {
  echo "$*" >&2
  exit 1
}

# True when the engine answers; its version is then in $server.
server=""
engine_answers() {
  server=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
}

is_root() {
  [[ $(id -u) -eq 0 ]]
}

# True when daemon.json sets KEY (the engine refuses a flag that repeats it).
config_sets() {
  grep -qs "\"$1\"" "$config"
}

config_value() {
  [[ -f "$config" ]] || return 0
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$config" | head -n 1
}

# True when PATH lives on XFS mounted with project quotas enforced.
xfs_pquota() {
  [[ -e "$1" ]] || return 1
  [[ $(findmnt -n -o FSTYPE --target "$1") == xfs ]] || return 1
  [[ ,$(findmnt -n -o OPTIONS --target "$1"), == *,prjquota,* ]]
}

# ---------------------------------------------------------------- host guard

guard_rules=(
  "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
  "-p udp --dport 53 -j RETURN"
  "-p tcp --dport 53 -j RETURN"
  "-p tcp -j REJECT --reject-with tcp-reset"
  "-j REJECT"
)

# One chain per address family: what comes in from a sandbox bridge and is
# meant for the host itself (INPUT, any of its addresses) is refused, unless
# it answers a connection the host opened (the proxy of a published port) or
# asks DNS. Traffic between containers and out to the world is forwarded,
# not input, so it never meets this chain.
guard_family() {
  local ipt=$1 rule ok=1
  if ! "$ipt" -w -n -L "$guard_chain" >/dev/null 2>&1; then
    "$ipt" -w -N "$guard_chain"
    ok=0
  elif (($("$ipt" -w -S "$guard_chain" | grep -c '^-A') != ${#guard_rules[@]})); then
    ok=0
  else
    for rule in "${guard_rules[@]}"; do
      # shellcheck disable=SC2086  # a rule is several words
      "$ipt" -w -C "$guard_chain" $rule 2>/dev/null || ok=0
    done
  fi
  if ((ok == 0)); then
    "$ipt" -w -F "$guard_chain"
    for rule in "${guard_rules[@]}"; do
      # shellcheck disable=SC2086
      "$ipt" -w -A "$guard_chain" $rule
    done
  fi
  if ! "$ipt" -w -C INPUT -i "$guard_interfaces" -j "$guard_chain" 2>/dev/null; then
    "$ipt" -w -I INPUT 1 -i "$guard_interfaces" -j "$guard_chain"
    ok=0
  fi
  ((ok == 0)) && echo "==> host guard: $ipt refuses connections from sandbox bridges to this host"
  return 0
}

install_host_guard() {
  [[ "${DOCKERLAB_HOST_GUARD:-1}" != 0 ]] || return 0
  ((remote == 0)) || return 0
  if ! is_root; then
    echo "==> host guard: not checked (needs root)"
    return 0
  fi
  local ipt found=0
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    found=1
    guard_family "$ipt"
  done
  ((found)) || echo "==> host guard: iptables is missing; sandbox containers can reach this host's services" >&2
}

# ------------------------------------------------------------------ storage

report_storage() {
  local facts root backing
  facts=$(docker info --format '{{.DockerRootDir}}|{{range .DriverStatus}}{{index . 0}}={{index . 1}};{{end}}' 2>/dev/null) || return 0
  root=${facts%%|*}
  backing=$(sed -n 's/.*Backing Filesystem=\([^;]*\);.*/\1/p' <<<"$facts")
  if ((remote == 0)) && xfs_pquota "$root"; then
    echo "==> engine: disk quotas on ($root: XFS with project quotas)"
  elif ((remote == 0)); then
    echo "==> engine: disk quotas off ($root on ${backing:-?}); sandboxes are only measured"
  else
    echo "==> engine: remote, data root $root on ${backing:-?}"
  fi
}

# Mount the project's XFS loop file at $store, creating it on first use.
# Never formats a file that exists: a half-made one is only ever *.new.
mount_store() {
  mkdir -p "$store"
  if mountpoint -q "$store"; then
    local fstype
    fstype=$(findmnt -n -o FSTYPE --mountpoint "$store")
    [[ "$fstype" == xfs ]] || die "$store is a mount point, but not XFS ($fstype): unmount it or set DOCKERLAB_ENGINE_STORE."
    return 0
  fi
  if [[ ! -e "$store_file" ]]; then
    command -v mkfs.xfs >/dev/null || die "mkfs.xfs is missing: install xfsprogs."
    echo "==> engine store: a sparse $store_size XFS file system in $store_file"
    mkdir -p "$(dirname "$store_file")"
    rm -f "$store_file.new"
    truncate -s "$store_size" "$store_file.new"
    mkfs.xfs -q -L dockerlab "$store_file.new"
    mv "$store_file.new" "$store_file"
  fi
  # Where nothing loads modules on demand (no udev), load them now.
  modprobe -q loop 2>/dev/null || true
  modprobe -q xfs 2>/dev/null || true
  # discard: space freed inside is handed back, so the file stays sparse.
  if mount -o loop,discard,pquota "$store_file" "$store" 2>/dev/null; then
    echo "==> engine store: $store_file mounted on $store with project quotas"
  elif [[ ! -e /proc/fs/xfs/xqmstat ]]; then
    mount -o loop,discard "$store_file" "$store" ||
      die "Could not mount $store_file on $store."
    echo "==> engine store: $store_file mounted on $store without quotas:"
    echo "    this kernel has no XFS quota support (CONFIG_XFS_QUOTA). The engine"
    echo "    cannot grow past $store_size; sandboxes are only measured."
  else
    dmesg 2>/dev/null | tail -n 3 >&2 || true
    die "Could not mount $store_file on $store with project quotas."
  fi
}

# Sets data_root (empty: the engine's own) and quotas (1 when it is XFS+pquota).
choose_data_root() {
  local configured
  configured=$(config_value data-root)
  data_root=""
  if [[ -n "$configured" ]]; then
    # daemon.json decides; mount the project's store when that is what it names.
    if [[ "$configured" == "$store" && "${DOCKERLAB_ENGINE_XFS:-1}" != 0 ]]; then
      mount_store
    fi
    xfs_pquota "$configured" && quotas=1 || quotas=0
    return 0
  fi
  if [[ "${DOCKERLAB_ENGINE_XFS:-1}" == 0 ]]; then
    echo "==> engine store: the engine's own data root (DOCKERLAB_ENGINE_XFS=0)"
    quotas=0
  elif xfs_pquota /var/lib/docker; then
    quotas=1
  else
    mount_store
    data_root=$store
    xfs_pquota "$store" && quotas=1 || quotas=0
  fi
}

# ------------------------------------------------------------------- engine

# The daemon this script started (its pid file comes a moment later), or the
# one named by the pid file.
started_pid=""
daemon_running() {
  if [[ -n "$started_pid" ]] && kill -0 "$started_pid" 2>/dev/null; then
    return 0
  fi
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_dockerd() {
  mkdir -p "$(dirname "$log")"
  # A pid file left by a daemon that was killed blocks the next start.
  if [[ -f "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
  fi
  local args=()
  [[ -n "${DOCKERLAB_ENGINE_CONFIG:-}" ]] && args+=(--config-file "$config")
  [[ "$socket" != "$default_socket" ]] && args+=(--host "unix://$socket")
  [[ -n "${DOCKERLAB_ENGINE_PIDFILE:-}" ]] && args+=(--pidfile "$pidfile")
  [[ -n "${DOCKERLAB_ENGINE_EXEC_ROOT:-}" ]] && args+=(--exec-root "$DOCKERLAB_ENGINE_EXEC_ROOT")
  [[ -n "$data_root" ]] && args+=(--data-root "$data_root")
  if ((quotas)) && [[ -n "$layer_size" ]] && ! config_sets storage-opts && ! config_sets storage-driver; then
    args+=(--storage-opt "overlay2.size=$layer_size")
  fi
  if [[ "${DOCKERLAB_ENGINE_LIVE_RESTORE:-1}" != 0 ]] && ! config_sets live-restore; then
    args+=(--live-restore)
  fi
  # Every sandbox network takes one address pool. The engine's default
  # pools give about 30; many small (/24) ones let a classroom engine hold
  # one network per learner.
  local pool=${DOCKERLAB_ENGINE_ADDRESS_POOL-172.20.0.0/14}
  if [[ -n "$pool" ]] && ! config_sets default-address-pools; then
    args+=(--default-address-pool "base=$pool,size=24")
  fi
  local extra=()
  read -r -a extra <<<"${DOCKERLAB_ENGINE_ARGS:-}"
  args+=("${extra[@]}")
  echo "==> engine: starting dockerd in the background (log: $log)"
  echo "    dockerd ${args[*]}"
  setsid nohup dockerd "${args[@]}" >>"$log" 2>&1 </dev/null &
  started_pid=$!
}

if engine_answers; then
  echo "==> engine: running (server $server)"
  install_host_guard
  report_storage
  exit 0
fi

if ((remote)); then
  echo "The Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer." >&2
  die "Start it there, or unset DOCKER_HOST to use a local engine."
fi

if ! is_root; then
  echo "No Docker engine answers, and starting one needs root." >&2
  die "Start dockerd (e.g. 'sudo systemctl start docker') or run this as root."
fi

"$here/scripts/system-deps.sh"

quotas=0
data_root=""
use_systemd=0
# The init system starts the engine where there is one (its settings then
# come from daemon.json alone); otherwise this script runs dockerd itself.
if [[ -d /run/systemd/system && "$socket" == "$default_socket" && -z "${DOCKERLAB_ENGINE_ARGS:-}" ]]; then
  configured=$(config_value data-root)
  if [[ -n "$configured" && "$configured" == "$store" ]]; then
    mount_store
  fi
  if systemctl start docker >/dev/null 2>&1; then
    echo "==> engine: started by systemd (settings from $config)"
    use_systemd=1
  fi
fi
if ((use_systemd == 0)); then
  choose_data_root
fi

starts=0
for ((i = 0; i < timeout_s * 4; i++)); do
  if engine_answers; then
    echo "==> engine: running (server $server)"
    install_host_guard
    report_storage
    exit 0
  fi
  # No daemon (none yet, or one that was dying when we looked): start one.
  if ((use_systemd == 0 && starts < 2)) && ! daemon_running; then
    start_dockerd
    starts=$((starts + 1))
  fi
  sleep 0.25
done

echo "dockerd did not answer within ${timeout_s}s; the end of its log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
