#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and integration tests, the
# Autobahn WebSocket conformance cases (scripts/autobahn.sh), the Prometheus files of the
# deployment kit through promtool, the dashboard in a real headless chromium
# (scripts/browser-test.sh), and the real socket.io-client against /socket.io/
# (scripts/socketio-test.sh).
# Integration tests start their own redis-server on free ports; it is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_package redis-server redis-server
need_package promtool prometheus

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "==> cargo test"
cargo test --all-targets
echo "==> promtool (deploy/prometheus)"
promtool check rules deploy/prometheus/alerts.yml
promtool check config deploy/prometheus/prometheus.yml
echo "==> Autobahn conformance"
scripts/autobahn.sh
echo "==> browser test"
scripts/browser-test.sh
echo "==> Socket.IO client test"
scripts/socketio-test.sh
