#!/usr/bin/env bash
# Makes sure the services the tests talk to are up: PostgreSQL on 127.0.0.1:5432 and Redis on
# 127.0.0.1:6379.
# Starts the local cluster when it is down; fails loudly when it cannot.
set -euo pipefail
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
        for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    fi
fi
if ! pg_up; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432; the tests need it." >&2
    echo "Install it (apt-get install postgresql) and start it, or set VISION_TEST_POSTGRES_URL." >&2
    exit 1
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up && command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
if ! redis_up; then
    echo "Redis is not reachable on 127.0.0.1:6379; the descriptor-cache tests need it." >&2
    echo "Install it (apt-get install redis-server) and start it, or set REDIS_URL." >&2
    exit 1
fi
