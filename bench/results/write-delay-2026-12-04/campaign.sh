#!/usr/bin/env bash
# Issue 19, write coalescing: scenario 1 (100 clients x 1,000 msg/s) with session.write_delay_ms
# 0 and 5, and the calibration bridge `fanout` (one write per frame) through the shared loadgen,
# alternating, three rounds; then scenario 2 with each delay. JSON lines in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench/results/write-delay-2026-12-04}"
B=target/release/tickrouter-bench
S=${SERVER_BIN:-target/release/tickrouter}
common=(--server-bin "$S" --retries 2 --quiet-wait 30)
delay() { printf '[session]\nwrite_delay_ms = %s\n' "$1"; }
export SHARED_RESULTS="${SHARED_RESULTS:-/tmp/tickrouter-write-delay-bench}"
for _ in 1 2 3; do
  $B scenario 1 "${common[@]}" --server-toml "$(delay 0)" --label delay-0 >>"$OUT/scenario1.jsonl"
  $B scenario 1 "${common[@]}" --server-toml "$(delay 5)" --label delay-5 >>"$OUT/scenario1.jsonl"
  bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"$OUT/scenario1.jsonl"
done
for d in 0 5; do
  $B scenario 2 "${common[@]}" --server-toml "$(delay $d)" --label "delay-$d" >>"$OUT/scenario2.jsonl"
done
