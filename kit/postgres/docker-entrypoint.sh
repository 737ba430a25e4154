#!/bin/bash
# Start PostgreSQL, creating the cluster on first start from the same
# variables as the official image: POSTGRES_PASSWORD (or
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (default postgres),
# POSTGRES_DB (default: the user's name), POSTGRES_INITDB_ARGS, and PGDATA.
# *.sql and *.sh files in /docker-entrypoint-initdb.d run once, after that.
# Connections over TCP must give the password; the socket inside the
# container is trusted, as in the official image.
set -euo pipefail

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi
if [[ "$1" != postgres ]]; then
  exec "$@"
fi

# As root: own the data directory, then run this script again as postgres.
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

initialize() {
  if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
    echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
    echo "  Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, which lets" >&2
    echo "  anyone who reaches the port in without one)." >&2
    exit 1
  fi
  echo "Initializing the database in $PGDATA"
  # shellcheck disable=SC2086 - the extra arguments are words, as in the official image
  initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$auth" -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} >/dev/null
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # A private server (socket only) applies the settings, then stops.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [[ "$database" != postgres ]]; then
    # From standard input: psql quotes the name (:"db") only there, not with -c.
    echo 'CREATE DATABASE :"db";' |
      psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres --set db="$database" >/dev/null
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sql) echo "Running $file"; psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$database" -f "$file" ;;
      *.sh) echo "Running $file"; . "$file" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "Database initialized"
}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  initialize
fi

exec "$@"
