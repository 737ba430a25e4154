#!/usr/bin/env bash
# `make run-multi`: the site as several server processes on this machine,
# sharing PostgreSQL and Redis, behind nginx on one address.
#
#   scripts/run-multi.sh HOST PORT WORKERS
#
# Starts (or finds running) the stores of scripts/stores.sh, applies the
# migrations to PostgreSQL, collects the static files nginx serves, then
# hands over to scripts/serve-multi.sh. Explicit DOCKERLAB_DATABASE_URL /
# DOCKERLAB_REDIS_URL / DOCKERLAB_CACHE_URL in the environment win over the
# local stores (for a PostgreSQL or Redis elsewhere).
set -euo pipefail

cd "$(dirname "$0")/.."
host=${1:-127.0.0.1}
port=${2:-8000}
workers=${3:-3}
python=${DOCKERLAB_PYTHON:-.venv/bin/python}

if [[ -z "${DOCKERLAB_DATABASE_URL:-}" || -z "${DOCKERLAB_REDIS_URL:-}" ]]; then
  scripts/stores.sh up
  while IFS='=' read -r name value; do
    [[ -n "${!name:-}" ]] || export "$name=$value"
  done < <(scripts/stores.sh env)
fi

"$python" manage.py migrate --noinput -v 0
"$python" manage.py collectstatic --noinput -v 0
exec scripts/serve-multi.sh "$host:$port" "$workers"
