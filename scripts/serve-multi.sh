#!/usr/bin/env bash
# Serve dockerlab as several server processes behind one nginx front, with the
# sandbox reaper beside them. Runs in the foreground until stopped (or until
# any of its processes ends: then it stops the rest and fails, so whatever
# supervises it - a terminal, the container's restart policy - sees it).
#
#   scripts/serve-multi.sh LISTEN WORKERS      e.g. 127.0.0.1:8000 3
#   scripts/serve-multi.sh --server-command     print the command one process runs
#
# The processes must share their state: DOCKERLAB_DATABASE_URL and
# DOCKERLAB_REDIS_URL are required (scripts/run-multi.sh sets them on the
# host; docker-compose.yml in the site image). Other settings:
#   DOCKERLAB_PYTHON        the interpreter (default .venv/bin/python)
#   DOCKERLAB_WORKER_PORT   loopback port of the first process (default 8001;
#                           the others follow)
#   DOCKERLAB_STATIC_ROOT   collected static files nginx serves (default staticfiles)
#   DOCKERLAB_NGINX_DIR     nginx's configuration, pid and temporary files
#                           (default var/nginx)
#   DOCKERLAB_REAP_EVERY    seconds between sweeps of the reaper (default 300)
set -euo pipefail

cd "$(dirname "$0")/.."
python=${DOCKERLAB_PYTHON:-.venv/bin/python}
# The server command: the one line to change for another launcher. Tests and
# benchmarks start their processes with it too (--server-command prints it).
server=("$python" -m dockerlab.serve --proxy-headers)
if [[ "${1:-}" == --server-command ]]; then
  printf '%s\n' "${server[@]}"
  exit 0
fi

listen=${1:?usage: $0 LISTEN WORKERS}
workers=${2:?usage: $0 LISTEN WORKERS}
first_port=${DOCKERLAB_WORKER_PORT:-8001}
static_root=${DOCKERLAB_STATIC_ROOT:-$PWD/staticfiles}
state=${DOCKERLAB_NGINX_DIR:-$PWD/var/nginx}
every=${DOCKERLAB_REAP_EVERY:-300}

if [[ -z "${DOCKERLAB_DATABASE_URL:-}" || -z "${DOCKERLAB_REDIS_URL:-}" ]]; then
  echo "serve-multi: several processes need DOCKERLAB_DATABASE_URL and DOCKERLAB_REDIS_URL" >&2
  echo "(one process's SQLite and memory are not shared); see README: Several processes." >&2
  exit 2
fi
if ! [[ $workers =~ ^[1-9][0-9]?$ ]]; then
  echo "serve-multi: WORKERS must be a number from 1 to 99, got '$workers'" >&2
  exit 2
fi
command -v nginx >/dev/null || {
  echo "serve-multi: nginx is not installed (run: scripts/system-deps.sh --multi)" >&2
  exit 1
}
# The client's address comes from nginx's X-Forwarded-For (sign-up and
# sign-in limits count per address).
export DOCKERLAB_PROXY_HEADERS=1

# nginx's workers drop root (www-data); a checkout under a private home
# directory is then out of their reach, and the processes serve /static/.
if [[ $(id -u) -eq 0 ]] && id www-data >/dev/null 2>&1 &&
  ! runuser -u www-data -- test -r "$static_root/." 2>/dev/null; then
  echo "serve-multi: nginx's workers (www-data) cannot read $static_root;" \
    "the server processes serve /static/ instead" >&2
  static_root=-
fi

mkdir -p "$state"
upstreams=()
for ((i = 0; i < workers; i++)); do
  upstreams+=("127.0.0.1:$((first_port + i))")
done
deploy/nginx-conf.sh "$listen" "$static_root" "$state" "${upstreams[@]}" >"$state/nginx.conf"
nginx -e stderr -p "$state" -c "$state/nginx.conf" -t -q

pids=()
stop() {
  trap - INT TERM EXIT
  # The front first, so nothing new arrives at a process that is going.
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for upstream in "${upstreams[@]}"; do
  "${server[@]}" -b 127.0.0.1 -p "${upstream##*:}" dockerlab.asgi:application &
  pids+=($!)
done
"$python" manage.py reap --every "$every" &
pids+=($!)
nginx -e stderr -p "$state" -c "$state/nginx.conf" &
pids=($! "${pids[@]}")

# Say so once every process answers (nginx answers 502 until then).
for ((tries = 0; tries < 600; tries++)); do
  ready=1
  for upstream in "${upstreams[@]}"; do
    (exec 3<>"/dev/tcp/127.0.0.1/${upstream##*:}") 2>/dev/null || { ready=0; break; }
  done
  ((ready)) && break
  sleep 0.1
done
echo "==> dockerlab: $workers server processes (${upstreams[*]}) behind http://$listen/"

set +e
wait -n "${pids[@]}"
status=$?
echo "serve-multi: a process ended (exit $status); stopping the others" >&2
exit $((status == 0 ? 1 : status))
