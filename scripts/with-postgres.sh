#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL on 127.0.0.1, stopped afterwards even when the
# command fails. PostgreSQL refuses to run as root, so the server runs as the postgres user.
# Exports KSMC_TEST_PG_URL for the tests. If no server can be started, the command still runs
# without it and the PostgreSQL tests report themselves as skipped with the reason.
set -uo pipefail

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
fi
if [ -z "${bindir:-}" ] || [ ! -x "$bindir/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "with-postgres: installing postgresql" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
  fi
fi

run_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port=${KSMC_TEST_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
dir=$(mktemp -d /tmp/ksmc-pg.XXXXXX)
started=0
if [ -n "${bindir:-}" ] && [ -x "$bindir/initdb" ]; then
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if run_as "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 &&
     run_as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
       -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null; then
    started=1
    export KSMC_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    echo "with-postgres: PostgreSQL on 127.0.0.1:$port" >&2
  else
    echo "with-postgres: could not start PostgreSQL:" >&2
    cat "$dir"/*.log >&2 || true
  fi
fi

stop() {
  if [ "$started" = 1 ]; then run_as "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; fi
  rm -rf "$dir"
}
trap stop EXIT INT TERM

"$@"
