#!/usr/bin/env bash
# The dashboard in a real browser: installs Debian's chromium and redis-server when missing and
# playwright-core (tests/browser), builds tickrouter (debug, the profile `cargo test` uses),
# starts a private redis-server, tickrouter in demo mode and the demo producer, then runs
# tests/browser/dashboard.test.mjs against Debian's chromium, headless (REDIS_SOCKET tells it
# where to publish a producer error). It saves a screenshot
# of the dashboard to docs/dashboard.png. Everything it started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_package redis-server redis-server
need_package chromium chromium
need_package node nodejs
need_package npm npm
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

work="$(mktemp -d "${TMPDIR:-/tmp}/tickrouter-browser.XXXXXX")"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for log in "$work"/*.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $(basename "$log") ----"
            tail -n 30 "$log"
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

echo "==> cargo build"
cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/tickrouter"

# Redis on a Unix socket in the private directory: no port to collide with anything.
socket="$work/redis.sock"
redis-server --port 0 --unixsocket "$socket" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    redis-cli -s "$socket" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -s "$socket" ping >/dev/null
redis_url="unix://$socket"

# Port 0: the system picks a free port, and tickrouter logs the address it got.
RUST_LOG=info "$bin" serve --bind 127.0.0.1:0 --redis-url "$redis_url" --config config/demo.toml \
    >"$work/tickrouter.log" 2>&1 &
pids+=($!)
url=""
for _ in $(seq 300); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$work/tickrouter.log" | head -n 1 | sed 's/^listening on //')" || true
    [ -n "$url" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "tickrouter exited early"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "tickrouter did not start listening"; exit 1; }
echo "==> tickrouter at $url"

RUST_LOG=info "$bin" demo --redis-url "$redis_url" >"$work/demo.log" 2>&1 &
pids+=($!)

echo "==> Playwright (playwright-core) driving $CHROMIUM"
# REDIS_SOCKET: the test publishes a producer error there (redis-cli) for the admin panel.
TICKROUTER_URL="$url" CHROMIUM="$CHROMIUM" REDIS_SOCKET="$socket" node tests/browser/dashboard.test.mjs
