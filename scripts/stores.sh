#!/usr/bin/env bash
# PostgreSQL and Redis of dockerlab's own on this machine, for several server
# processes (make run-multi) and for the tests that need them.
#
#   scripts/stores.sh up       start both (idempotent; quick when they run)
#   scripts/stores.sh env      print DOCKERLAB_DATABASE_URL, _REDIS_URL, _CACHE_URL
#   scripts/stores.sh status   say whether each answers (exit 1 if one does not)
#   scripts/stores.sh down     stop both (their data stays)
#
# Data, logs and generated passwords live under DOCKERLAB_STORES_DIR
# (default var/stores). Both listen on 127.0.0.1 only, on DOCKERLAB_PG_PORT
# (default 5433) and DOCKERLAB_REDIS_PORT (default 6380): the ports of the
# packages' own services (5432, 6379) are left to them. Both require a
# password, generated once. Run as root, the servers run as the packages'
# users (postgres, redis) and own their data directories; otherwise as the
# caller. The Debian packages come from `scripts/system-deps.sh --multi`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${DOCKERLAB_STORES_DIR:-$here/var/stores}
pg_port=${DOCKERLAB_PG_PORT:-5433}
redis_port=${DOCKERLAB_REDIS_PORT:-6380}
pg=$dir/postgres
rd=$dir/redis

die() { echo "stores: $*" >&2; exit 1; }

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$bin" && -x "$bin/pg_ctl" ]] ||
    die "PostgreSQL is not installed (run: scripts/system-deps.sh --multi)"
  echo "$bin"
}

# as USER CMD...: run CMD as the service user when we are root, else as we are.
as() {
  local user=$1
  shift
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

own() {
  local user=$1 path=$2
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$user:" "$path"
  fi
}

secret() {
  # A password made once: hex, so it needs no escaping in a URL or a config file.
  local file=$1
  mkdir -p "$(dirname "$file")"
  if [[ ! -s $file ]]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
  fi
  cat "$file"
}

# --- PostgreSQL --------------------------------------------------------------

pg_password() { secret "$pg/password"; }

pg_answers() {
  PGPASSWORD=$(pg_password) PGCONNECT_TIMEOUT=2 "$(pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" \
    -U dockerlab -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

pg_up() {
  local bin
  bin=$(pg_bin)
  mkdir -p "$pg/run"
  pg_password >/dev/null
  if [[ ! -s $pg/data/PG_VERSION ]]; then
    echo "==> stores: creating a PostgreSQL cluster in $pg/data"
    rm -rf "$pg/data"
    own postgres "$pg"
    # The superuser is "dockerlab", with the generated password; every
    # connection, socket or TCP, must give it.
    as postgres "$bin/initdb" -D "$pg/data" -U dockerlab --pwfile="$pg/password" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$pg/initdb.log" 2>&1 || { cat "$pg/initdb.log" >&2; die "initdb failed"; }
  fi
  own postgres "$pg"
  if ! as postgres "$bin/pg_ctl" -D "$pg/data" status >/dev/null 2>&1; then
    echo "==> stores: starting PostgreSQL on 127.0.0.1:$pg_port (log: $pg/postgres.log)"
    as postgres "$bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$pg/run -c max_connections=200" \
      >/dev/null || { tail -n 20 "$pg/postgres.log" >&2; die "PostgreSQL did not start"; }
  fi
  pg_answers || die "PostgreSQL in $pg/data runs but does not answer on 127.0.0.1:$pg_port (another port?)"
  if [[ -z $(PGPASSWORD=$(pg_password) "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U dockerlab \
    -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'dockerlab'") ]]; then
    PGPASSWORD=$(pg_password) "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U dockerlab dockerlab
  fi
}

pg_down() {
  [[ -s $pg/data/PG_VERSION ]] || return 0
  as postgres "$(pg_bin)/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true
}

# --- Redis -------------------------------------------------------------------

redis_password() { secret "$rd/password"; }

redis_answers() {
  [[ $(REDISCLI_AUTH=$(redis_password) timeout 3 redis-cli -h 127.0.0.1 -p "$redis_port" ping \
    2>/dev/null) == PONG ]]
}

redis_up() {
  command -v redis-server >/dev/null ||
    die "Redis is not installed (run: scripts/system-deps.sh --multi)"
  mkdir -p "$rd"
  # Nothing in it outlives the processes that use it (channel messages,
  # counters), so it is never written to disk.
  (umask 077 && cat >"$rd/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
protected-mode yes
requirepass $(redis_password)
dir $rd
pidfile $rd/redis.pid
logfile $rd/redis.log
daemonize yes
save ""
appendonly no
EOF
  )
  own redis "$rd"
  if [[ -s $rd/redis.pid ]] && kill -0 "$(cat "$rd/redis.pid")" 2>/dev/null; then
    redis_answers && return 0
    die "Redis of $rd runs but does not answer on 127.0.0.1:$redis_port (another port?)"
  fi
  echo "==> stores: starting Redis on 127.0.0.1:$redis_port (log: $rd/redis.log)"
  as redis redis-server "$rd/redis.conf"
  for _ in $(seq 100); do
    redis_answers && return 0
    sleep 0.1
  done
  tail -n 20 "$rd/redis.log" >&2 || true
  die "Redis did not start"
}

redis_down() {
  [[ -s $rd/redis.pid ]] || return 0
  local pid
  pid=$(cat "$rd/redis.pid")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# --- commands ------------------------------------------------------------------

print_env() {
  mkdir -p "$pg" "$rd"
  echo "DOCKERLAB_DATABASE_URL=postgres://dockerlab:$(pg_password)@127.0.0.1:$pg_port/dockerlab"
  # Database 0 carries the channel layer, 1 the cache.
  echo "DOCKERLAB_REDIS_URL=redis://:$(redis_password)@127.0.0.1:$redis_port/0"
  echo "DOCKERLAB_CACHE_URL=redis://:$(redis_password)@127.0.0.1:$redis_port/1"
}

reachable_by() {
  # The servers run as their own users: every directory above their data
  # must let them through (a checkout under /root does not).
  local user=$1
  [[ $(id -u) -ne 0 ]] && return 0
  runuser -u "$user" -- test -x "$dir" 2>/dev/null ||
    die "the $user user cannot reach $dir (a directory above it is private, like /root);" \
      "set DOCKERLAB_STORES_DIR to one it can reach, e.g. /var/lib/dockerlab/stores"
}

case "${1:-}" in
  up)
    mkdir -p "$dir"
    reachable_by postgres
    reachable_by redis
    pg_up
    redis_up
    ;;
  env) print_env ;;
  status)
    ok=0
    if pg_answers; then echo "PostgreSQL: answers on 127.0.0.1:$pg_port"; else echo "PostgreSQL: down"; ok=1; fi
    if redis_answers; then echo "Redis: answers on 127.0.0.1:$redis_port"; else echo "Redis: down"; ok=1; fi
    exit $ok
    ;;
  down)
    pg_down
    redis_down
    ;;
  *)
    echo "usage: $0 up|env|status|down" >&2
    exit 2
    ;;
esac
