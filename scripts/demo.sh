#!/usr/bin/env bash
# Runs tickrouter with live demo traffic: uses the local redis-server on REDIS_PORT (default
# 6379), or installs and starts one when none is running; builds tickrouter; starts it in demo
# mode with the demo producer; prints the dashboard URL. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

PORT="${PORT:-8080}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

need_package redis-server redis-server
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "==> Starting redis-server on port $REDIS_PORT"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "/tmp/tickrouter-demo-redis-$REDIS_PORT.pid" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "==> Building tickrouter (release)"
cargo build --release --quiet -p tickrouter

./target/release/tickrouter serve --bind "127.0.0.1:$PORT" --redis-url "$REDIS_URL" \
    --config config/demo.toml &
pids+=($!)
./target/release/tickrouter demo --redis-url "$REDIS_URL" &
pids+=($!)

for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1 && break
    sleep 0.1
done
echo
echo "    tickrouter is running with live demo data."
echo "    Dashboard:  http://127.0.0.1:$PORT/"
echo "    WebSocket:  ws://127.0.0.1:$PORT/ws     Stats: http://127.0.0.1:$PORT/stats"
echo "    Press Ctrl-C to stop."
echo
wait -n "${pids[@]}"
