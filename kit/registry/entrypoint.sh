#!/bin/sh
# `docker run registry-image [config.yml]` serves; other commands run as given.
set -e
case "$1" in
  *.yaml|*.yml) set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
