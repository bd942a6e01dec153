#!/bin/sh
# Start one service the way every environment does: uvicorn with the routing table's app factory,
# on $PORT (default: the routing table's port, recorded in service.env at build time).
set -eu
# shellcheck disable=SC1090
. "${SERVICE_ENV_FILE:-/app/service.env}"
PORT="${PORT:-$DEFAULT_PORT}"
export PORT
# --timeout-keep-alive above the ALB's 60 s idle timeout: otherwise uvicorn can close a connection
# the ALB is about to reuse, and the client sees a 502. Graceful shutdown fits ECS's 30 s stop timeout.
# The platform writes its own structured access log, so uvicorn's is off.
exec uvicorn --factory "$APP_FACTORY" \
    --host 0.0.0.0 --port "$PORT" \
    --proxy-headers --forwarded-allow-ips '*' \
    --timeout-keep-alive 75 --timeout-graceful-shutdown 20 \
    --no-access-log --no-server-header
