#!/usr/bin/env bash
# The real socket.io-client against /socket.io/: installs redis-server and node when missing and
# the clients (tests/socketio: socket.io-client latest 4.x, and 3.1 under the alias sio3), builds
# tickrouter (debug, the profile `cargo test` uses), starts a private redis-server and
# tickrouter with a JWT secret the tests mint tokens with, then runs tests/socketio/*.test.mjs
# with node:test. Everything it started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_package redis-server redis-server
need_package node nodejs
need_package npm npm

scratch socketio

echo "==> npm ci (tests/socketio)"
(cd tests/socketio && npm ci --no-audit --no-fund --loglevel=error)

echo "==> cargo build"
cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/tickrouter"

start_redis
jwt_secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
start_tickrouter tickrouter "TICKROUTER_JWT_SECRET=$jwt_secret" --

echo "==> socket.io-client (Node) against $url"
TICKROUTER_URL="$url" JWT_SECRET="$jwt_secret" REDIS_SOCKET="$socket" \
    node --test --test-reporter=spec tests/socketio/
