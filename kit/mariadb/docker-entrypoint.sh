#!/bin/bash
# Start MariaDB, creating the database on first start from the same variables
# as the official image: MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
# / MARIADB_RANDOM_ROOT_PASSWORD), MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD.
# The MYSQL_* spellings are accepted too.
set -euo pipefail

var() {
  local name=$1
  local value=${!name:-}
  local old="MYSQL_${name#MARIADB_}"
  echo "${value:-${!old:-}}"
}

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

if [[ "${1:-}" == -* ]]; then
  set -- mariadbd "$@"
fi
if [[ "$1" != mariadbd && "$1" != mysqld ]]; then
  exec "$@"
fi

sql_escape() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }

initialize() {
  local root_password database user password
  root_password=$(var MARIADB_ROOT_PASSWORD)
  database=$(var MARIADB_DATABASE)
  user=$(var MARIADB_USER)
  password=$(var MARIADB_PASSWORD)

  if [[ -z "$root_password" ]]; then
    if [[ -n "$(var MARIADB_RANDOM_ROOT_PASSWORD)" ]]; then
      root_password=$(head -c 18 /dev/urandom | base64)
      echo "GENERATED ROOT PASSWORD: $root_password"
    elif [[ -z "$(var MARIADB_ALLOW_EMPTY_ROOT_PASSWORD)" ]]; then
      echo "error: database is uninitialized and no root password is set." >&2
      echo "  Set MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1," >&2
      echo "  or MARIADB_RANDOM_ROOT_PASSWORD=1)." >&2
      exit 1
    fi
  fi

  # The health check logs in as its own user, so checks do not fill the log
  # with "access denied" lines.
  local health_password
  health_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '[client]\nprotocol=tcp\nhost=127.0.0.1\nport=3306\nuser=healthcheck\npassword=%s\n' \
    "$health_password" >"$datadir/.my-healthcheck.cnf"
  echo "Initializing the database in $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null

  # A private server (no network) applies the settings, then stops.
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  local pid=$!
  for _ in $(seq 60); do
    mariadb-admin --socket="$socket" ping >/dev/null 2>&1 && break
    sleep 0.5
  done

  {
    echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host <> 'localhost');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
    echo "CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$health_password';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(sql_escape "$root_password")';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql_escape "$root_password")';"
    if [[ -n "$database" ]]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
    fi
    if [[ -n "$user" && -n "$password" ]]; then
      echo "CREATE USER '$(sql_escape "$user")'@'%' IDENTIFIED BY '$(sql_escape "$password")';"
      if [[ -n "$database" ]]; then
        echo "GRANT ALL ON \`$database\`.* TO '$(sql_escape "$user")'@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot

  # Like the official image: run *.sql and *.sh files from the init folder once.
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sql) echo "Running $file"; mariadb --socket="$socket" -uroot ${root_password:+"-p$root_password"} ${database:+"$database"} <"$file" ;;
      *.sh) echo "Running $file"; . "$file" ;;
    esac
  done

  chown mysql:mysql "$datadir/.my-healthcheck.cnf"
  chmod 600 "$datadir/.my-healthcheck.cnf"
  kill "$pid"
  wait "$pid"
  echo "Database initialized"
}

if [[ ! -d "$datadir/mysql" ]]; then
  initialize
fi

exec "$@" --user=mysql
