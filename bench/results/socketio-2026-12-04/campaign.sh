#!/usr/bin/env bash
# Issue 18: scenario 1's setup (100 clients) through Socket.IO clients, tickrouter's /socket.io/
# against the Node Socket.IO peer, with the shared load generator (--socketio), in one session:
# scenario 1 itself (1,000 msg/s) twice, alternating, then each one's highest rate with loss < 1 %
# and p99 < 100 ms (max-rate.sh; tickrouter's /ws through the same loadgen for reference).
# JSON lines in $OUT (default bench/results/socketio-2026-12-04/).
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench/results/socketio-2026-12-04}"
export SHARED_RESULTS="${SHARED_RESULTS:-/tmp/tickrouter-socketio-bench}"
run() { bench/shared-peers.sh tools/run-clean.sh "$@" 2>>"$OUT/stderr.log" | tail -1 >>"$OUT/scenario1.jsonl"; }
for _ in 1 2; do
  run tickrouter-socketio 100 1000 10
  run node-socketio 100 1000 10
done
bench/shared-peers.sh max-rate.sh tickrouter-socketio 100 10 1000 100000 2>>"$OUT/stderr.log" | tail -1 >>"$OUT/max-rate.jsonl"
bench/shared-peers.sh max-rate.sh node-socketio 100 10 100 100000 2>>"$OUT/stderr.log" | tail -1 >>"$OUT/max-rate.jsonl"
bench/shared-peers.sh max-rate.sh tickrouter 100 10 1000 100000 2>>"$OUT/stderr.log" | tail -1 >>"$OUT/max-rate.jsonl"
cp "$SHARED_RESULTS"/maxrate-*.jsonl "$OUT/" 2>/dev/null
