#!/usr/bin/env bash
# The site container (docker-compose.yml): say what this container can and
# cannot do, apply the migrations once, then serve with several processes
# behind nginx (scripts/serve-multi.sh) until stopped.
set -euo pipefail
cd /app

# Compose passes a setting it was not given as an empty value; these two
# must then be generated once into the site's volume instead.
for name in DOCKERLAB_DEPLOYMENT DOCKERLAB_SECRET_KEY; do
  [[ -n "${!name:-}" ]] || unset "$name"
done

# The report only prints: it runs beside the migrations rather than before.
python deploy/preflight.py &
python manage.py migrate --noinput -v 0
exec scripts/serve-multi.sh "${DOCKERLAB_LISTEN:-0.0.0.0:80}" "${DOCKERLAB_WORKERS:-3}"
