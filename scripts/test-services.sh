#!/usr/bin/env bash
# Start PostgreSQL and Redis on loopback for the scale-out tests (idempotent), and print the
# environment that points the tests at them. Used by .ci/run; developers may `eval` its output.
set -euo pipefail

PG_PORT=${PG_PORT:-5433}
REDIS_PORT=${REDIS_PORT:-6390}
STATE=${TEST_SERVICES_DIR:-/tmp/community-guide-bot-services}

need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
    else
        echo "missing: ${need[*]} (install them with apt-get)" >&2
        exit 1
    fi
fi

mkdir -p "$STATE"
chmod 777 "$STATE"

# PostgreSQL: a private cluster in $STATE, owned by the postgres user, listening on loopback.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if [ ! -f "$STATE/pg/PG_VERSION" ]; then
    mkdir -p "$STATE/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$STATE/pg"; }
    as_pg "$PG_BIN/initdb -D $STATE/pg -A trust -U postgres" >/dev/null
fi
if ! as_pg "$PG_BIN/pg_ctl -D $STATE/pg status" >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl -D $STATE/pg -l $STATE/pg.log -w -o '-p $PG_PORT -k $STATE -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
fi
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='bot_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE bot_test" >/dev/null

# Redis: no persistence, loopback only.
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$STATE" --logfile "$STATE/redis.log" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "export TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/bot_test"
echo "export TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
