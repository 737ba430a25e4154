#!/usr/bin/env bash
# Deploy dockerlab for a class with docker-compose.yml (README: Deploying for a class).
#
#   scripts/deploy.sh up                 make what is missing, then start (make deploy)
#   scripts/deploy.sh down [--volumes]   stop and remove the containers; with
#                                        --volumes the data too (make deploy-down)
#   scripts/deploy.sh compose ARGS...    any compose command on this deployment
#                                        (logs site, ps, restart site, ...)
#
# `up` runs, each step quick when already done:
#   1. a Compose v2 tool (deploy/compose.sh);
#   2. the lesson images and the deployment's images (manage.py kit, kit --deploy);
#   3. the site's wheels for the site image's Python (deploy/fetch-wheels.sh);
#   4. the site image: its runtime (interpreter, packages, nginx), then the app;
#   5. the passwords, generated once, and the compose settings, written to
#      var/deploy/<project>/compose.env (mode 0600);
#   6. `compose up --wait`: back once every service is healthy.
#
# Settings (environment; see README for all):
#   DOCKERLAB_DEPLOY_PROJECT   compose project name (default dockerlab)
#   DOCKERLAB_DEPLOY_LISTEN    address:port nginx listens on (default 0.0.0.0:80)
#   DOCKERLAB_DEPLOY_WORKERS   server processes (default 3)
#   DOCKERLAB_DEPLOY_WORKER_PORT, _PG_PORT, _REDIS_PORT
#                              loopback ports (defaults 8101 and up, 5434, 6381)
#   DOCKERLAB_DEPLOY_ENGINE_SOCKET  the engine's socket (default /var/run/docker.sock)
#   DOCKERLAB_DEPLOY_ENGINE_CERTS   TLS client certificates for a remote engine
#   DOCKERLAB_DEPLOY_BUILD_LIMITS   1: the host's cgroups writable in the site
#                              container, for build process limits (default 0)
#   DOCKERLAB_SITE_IMAGE       the site image's name (default dockerlab/site:latest)
#   DOCKERLAB_ALLOWED_HOSTS    default: this machine's names and addresses
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=${DOCKERLAB_PYTHON:-$here/.venv/bin/python}
project=${DOCKERLAB_DEPLOY_PROJECT:-dockerlab}
[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ ]] || {
  echo "deploy: DOCKERLAB_DEPLOY_PROJECT must be lower-case letters, digits, - or _" >&2
  exit 2
}
state=${DOCKERLAB_DEPLOY_DIR:-$here/var/deploy/$project}
env_file=$state/compose.env

compose() {
  local files=(-f "$here/docker-compose.yml")
  if grep -qx 'DOCKERLAB_DEPLOY_BUILD_LIMITS=1' "$env_file" 2>/dev/null; then
    files+=(-f "$here/deploy/compose.build-limits.yml")
  fi
  deploy/compose.sh --project-name "$project" --project-directory "$here" \
    "${files[@]}" --env-file "$env_file" "$@"
}

elapsed() { echo "$((SECONDS - $1))s"; }

secret() {
  # Hex: safe in URLs and on command lines without quoting.
  local file=$state/$1
  [[ -s $file ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
  cat "$file"
}

allowed_hosts() {
  # This machine as a class reaches it: its names and its addresses.
  local hosts=(127.0.0.1 localhost)
  hosts+=("$(hostname)")
  local fqdn
  fqdn=$(hostname -f 2>/dev/null || true)
  [[ -n $fqdn && $fqdn != "$(hostname)" ]] && hosts+=("$fqdn")
  # shellcheck disable=SC2207 - addresses are single words
  hosts+=($(hostname -I 2>/dev/null || true))
  local IFS=,
  echo "${hosts[*]}"
}

write_env() {
  local site_image=${DOCKERLAB_SITE_IMAGE:-dockerlab/site:latest}
  (
    umask 077
    cat >"$env_file" <<EOF
# Written by scripts/deploy.sh up; read by every compose command of this deployment.
DOCKERLAB_DEPLOY_PROJECT=$project
DOCKERLAB_DEPLOY_LISTEN=${DOCKERLAB_DEPLOY_LISTEN:-0.0.0.0:80}
DOCKERLAB_DEPLOY_WORKERS=${DOCKERLAB_DEPLOY_WORKERS:-3}
DOCKERLAB_DEPLOY_WORKER_PORT=${DOCKERLAB_DEPLOY_WORKER_PORT:-8101}
DOCKERLAB_DEPLOY_PG_PORT=${DOCKERLAB_DEPLOY_PG_PORT:-5434}
DOCKERLAB_DEPLOY_REDIS_PORT=${DOCKERLAB_DEPLOY_REDIS_PORT:-6381}
DOCKERLAB_DEPLOY_PG_PASSWORD=$(secret postgres-password)
DOCKERLAB_DEPLOY_REDIS_PASSWORD=$(secret redis-password)
DOCKERLAB_DEPLOY_ENGINE_SOCKET=${DOCKERLAB_DEPLOY_ENGINE_SOCKET:-/var/run/docker.sock}
DOCKERLAB_DEPLOY_ENGINE_CERTS=${DOCKERLAB_DEPLOY_ENGINE_CERTS:-$state/engine-certs}
DOCKERLAB_DEPLOY_BUILD_LIMITS=${DOCKERLAB_DEPLOY_BUILD_LIMITS:-0}
DOCKERLAB_DEPLOY_SITE_ENV=$state/site.env
DOCKERLAB_SITE_IMAGE=$site_image
DOCKERLAB_POSTGRES_IMAGE=${DOCKERLAB_POSTGRES_IMAGE:-postgres:15}
DOCKERLAB_REDIS_IMAGE=${DOCKERLAB_REDIS_IMAGE:-redis:7}
DOCKERLAB_PYTHON_IMAGE=${DOCKERLAB_PYTHON_IMAGE:-python:3.12-slim}
DOCKERLAB_MARIADB_IMAGE=${DOCKERLAB_MARIADB_IMAGE:-mariadb:11}
DOCKERLAB_REGISTRY_IMAGE=${DOCKERLAB_REGISTRY_IMAGE:-registry:2}
DOCKERLAB_ALLOWED_HOSTS=${DOCKERLAB_ALLOWED_HOSTS:-$(allowed_hosts)}
DOCKERLAB_DEPLOYMENT=${DOCKERLAB_DEPLOYMENT:-}
EOF
  )
  mkdir -p "$state/engine-certs"
  if [[ ! -e $state/site.env ]]; then
    cat >"$state/site.env" <<'EOF'
# More settings for the site of this deployment, one NAME=value a line
# (README: Configuration), e.g.
# DOCKERLAB_SANDBOX_TTL_HOURS=4
EOF
  fi
}

build_images() {
  local base=${DOCKERLAB_PYTHON_IMAGE:-python:3.12-slim}
  local site=${DOCKERLAB_SITE_IMAGE:-dockerlab/site:latest}
  local runtime="${site%:*}-runtime:${site##*:}"
  [[ $site == *:* ]] || runtime="$site-runtime:latest"
  deploy/fetch-wheels.sh "$base" "$here/var/wheels"
  # The engine's classic builder, as for every other image of the project.
  echo "==> deploy: building $runtime (packages and nginx on $base)"
  docker_build "$runtime" -f deploy/runtime.Dockerfile --build-arg "BASE=$base" \
    --label "org.opencontainers.image.description=dockerlab site runtime" var/wheels
  echo "==> deploy: building $site (the app)"
  docker_build "$site" -f deploy/site.Dockerfile --build-arg "RUNTIME=$runtime" \
    --label "org.opencontainers.image.description=dockerlab site" .
}

docker_build() {
  local tag=$1
  shift
  if ! DOCKER_BUILDKIT=0 docker build -t "$tag" "$@" >"$state/build.log" 2>&1; then
    tail -n 30 "$state/build.log" >&2
    echo "deploy: building $tag failed (whole log: $state/build.log)" >&2
    exit 1
  fi
}

up() {
  local started=$SECONDS step
  mkdir -p "$state"
  chmod 700 "$state"
  step=$SECONDS
  deploy/compose.sh version >/dev/null
  "$python" manage.py kit
  "$python" manage.py kit --deploy
  echo "==> deploy: tools and images ready ($(elapsed "$step"))"
  step=$SECONDS
  build_images
  echo "==> deploy: site image ready ($(elapsed "$step"))"
  write_env
  step=$SECONDS
  if ! compose up --detach --wait --wait-timeout 600 --remove-orphans; then
    echo "deploy: a service did not become healthy; the end of its logs:" >&2
    compose logs --tail 40 >&2 || true
    exit 1
  fi
  # Earlier builds of the site image that no container uses any more.
  for description in "dockerlab site" "dockerlab site runtime"; do
    docker image prune --force --filter "label=org.opencontainers.image.description=$description" \
      >/dev/null || true
  done
  local listen
  listen=$(sed -n 's/^DOCKERLAB_DEPLOY_LISTEN=//p' "$env_file")
  echo "==> deploy: up and healthy ($(elapsed "$step"); $(elapsed "$started") in all)"
  echo "==> dockerlab serves http://${listen/0.0.0.0/$(hostname)}/  (logs: scripts/deploy.sh compose logs site)"
}

down() {
  if [[ ! -f $env_file ]]; then
    echo "deploy: no deployment '$project' here ($env_file is missing)"
    return 0
  fi
  if [[ "${1:-}" == --volumes ]]; then
    compose down --volumes --remove-orphans
    rm -rf "$state"
    echo "==> deploy: '$project' removed, with its data"
  else
    compose down --remove-orphans
    echo "==> deploy: '$project' stopped; its data stays (down --volumes removes it)"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  compose)
    shift
    [[ -f $env_file ]] || { echo "deploy: run scripts/deploy.sh up first" >&2; exit 1; }
    compose "$@"
    ;;
  *)
    echo "usage: $0 up | down [--volumes] | compose ARGS..." >&2
    exit 2
    ;;
esac
