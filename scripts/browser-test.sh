#!/usr/bin/env bash
# The dashboard in a real browser: installs Debian's chromium and redis-server when missing and
# playwright-core (tests/browser), builds tickrouter (debug, the profile `cargo test` uses),
# starts a private redis-server, tickrouter in demo mode and the demo producer, then runs
# tests/browser/dashboard.test.mjs against Debian's chromium, headless (REDIS_SOCKET tells it
# where to publish a producer error), with layout checks at 1440x900, 1280 and 1920 wide
# (tests/browser/layout.mjs). It takes a 1440x900 screenshot of the dashboard into its temporary
# directory, so a run never changes the source tree; SCREENSHOT=PATH keeps it there instead, and
# the README's picture is refreshed with
#     SCREENSHOT=docs/dashboard.png scripts/browser-test.sh
# Then tests/browser/signin.test.mjs signs in outside
# demo mode, against a second tickrouter on the same Redis with a JWT secret (the test mints
# tokens with it), and checks a third one without a secret offers no sign-in. Last,
# tests/browser/recovery.test.mjs drives static/tickrouter.js itself: resuming after a lost
# connection (alerts it publishes on the Redis while the page is down), and the user's stream
# queued, acknowledged by the client and not sent again (a user it mints tokens for on the
# second server). Then tests/browser/socketio.test.mjs loads socket.io-client's browser bundle
# (tests/socketio: the latest 4.x and 3.1) in a page that connects to /socket.io/ with io()'s
# defaults and receives the demo producer's events. Everything it started is stopped on exit.
set -euo pipefail
# A relative SCREENSHOT is relative to where the script was started.
screenshot="${SCREENSHOT:+$(realpath -m -- "$SCREENSHOT")}"
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_package redis-server redis-server
need_package chromium chromium
need_package node nodejs
need_package npm npm
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

scratch browser

echo "==> npm ci (tests/browser, tests/socketio)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/socketio && npm ci --no-audit --no-fund --loglevel=error)

echo "==> cargo build"
cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/tickrouter"

start_redis

# Demo mode: the page takes demo tokens. No JWT secret from the caller's environment leaks in.
start_tickrouter tickrouter TICKROUTER_JWT_SECRET= -- --config config/demo.toml
demo_url="$url"

# The demo producer (and its backtester) publishes on the shared Redis.
RUST_LOG=info "$bin" demo --redis-url "$redis_url" >"$work/demo.log" 2>&1 &
pids+=($!)

echo "==> Playwright (playwright-core) driving $CHROMIUM: demo mode"
# REDIS_SOCKET: the test publishes a producer error there (redis-cli) for the admin panel.
TICKROUTER_URL="$demo_url" CHROMIUM="$CHROMIUM" REDIS_SOCKET="$socket" SCREENSHOT="${screenshot:-$work/dashboard.png}" \
    node tests/browser/dashboard.test.mjs

# Started only now: every instance on a Redis logs each producer error into the shared operations
# log, which the demo run above counts exactly.
# Not demo mode, tokens checked: the page signs in with a token the test mints with this secret.
jwt_secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
start_tickrouter tickrouter-auth "TICKROUTER_JWT_SECRET=$jwt_secret" --
auth_url="$url"

# Not demo mode, no secret: every session is anonymous and the page offers no sign-in.
start_tickrouter tickrouter-noauth TICKROUTER_JWT_SECRET= --
noauth_url="$url"

echo "==> Playwright (playwright-core) driving $CHROMIUM: signing in outside demo mode"
TICKROUTER_URL="$auth_url" TICKROUTER_NOAUTH_URL="$noauth_url" JWT_SECRET="$jwt_secret" CHROMIUM="$CHROMIUM" \
    node tests/browser/signin.test.mjs

echo "==> Playwright (playwright-core) driving $CHROMIUM: tickrouter.js resumes and acknowledges"
# REDIS_SOCKET: the test publishes its own pattern alerts there.
TICKROUTER_URL="$demo_url" TICKROUTER_AUTH_URL="$auth_url" JWT_SECRET="$jwt_secret" CHROMIUM="$CHROMIUM" \
    REDIS_SOCKET="$socket" node tests/browser/recovery.test.mjs

echo "==> Playwright (playwright-core) driving $CHROMIUM: socket.io-client's browser bundle"
TICKROUTER_URL="$demo_url" SOCKETIO_CLIENTS="$PWD/tests/socketio/node_modules" CHROMIUM="$CHROMIUM" \
    node tests/browser/socketio.test.mjs
