#!/bin/bash
# Healthy once the server accepts connections over TCP (what other containers
# use). Accepts the official image's flags (--connect, --innodb_initialized);
# both mean the same check here.
config=/var/lib/mysql/.my-healthcheck.cnf
[[ -f $config ]] || exit 1
exec mariadb-admin --defaults-extra-file="$config" --connect-timeout=2 ping >/dev/null 2>&1
