#!/usr/bin/env bash
# Serve dockerlab: the ASGI server in the foreground, the sandbox reaper beside it.
# Usage: scripts/serve.sh HOST PORT   (run from the repository root by `make run`)
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
every=${DOCKERLAB_REAP_EVERY:-300}

.venv/bin/python manage.py reap --every "$every" &
reaper=$!
trap 'kill "$reaper" 2>/dev/null || true' EXIT INT TERM

# Daphne with the lab's websocket frame limit and send back-pressure (dockerlab/serve.py).
.venv/bin/python -m dockerlab.serve -b "$host" -p "$port"
