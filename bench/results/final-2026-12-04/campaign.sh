#!/usr/bin/env bash
# Issue 19's first two targets rechecked on the stop's final build (outbox queue + borrowing
# parse): scenario 1 with write_delay_ms 0 and 5, and the calibration bridge `fanout` through
# the shared loadgen, alternating, $ROUNDS rounds (default 2). With BEFORE set, that build's
# scenario 1 (no delay) joins each round. JSON lines in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench/results/final-2026-12-04}"
B=${B:-target/release/tickrouter-bench}
S=${SERVER_BIN:-target/release/tickrouter}
delay() { printf '[session]\nwrite_delay_ms = %s\n' "$1"; }
export SHARED_RESULTS="${SHARED_RESULTS:-/tmp/tickrouter-final-bench}"
for _ in $(seq "${ROUNDS:-2}"); do
  $B scenario 1 --server-bin "$S" --retries 2 --quiet-wait 30 --server-toml "$(delay 0)" --label delay-0 >>"$OUT/scenario1.jsonl"
  $B scenario 1 --server-bin "$S" --retries 2 --quiet-wait 30 --server-toml "$(delay 5)" --label delay-5 >>"$OUT/scenario1.jsonl"
  [ -n "${BEFORE:-}" ] && $B scenario 1 --server-bin "$BEFORE" --retries 2 --quiet-wait 30 --label before >>"$OUT/scenario1.jsonl"
  bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"$OUT/scenario1.jsonl"
done
