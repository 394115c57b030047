#!/usr/bin/env bash
# Issue 19, memory per connection: the session outbox as our own queue (memory only while
# frames wait) against the build before it (tokio's mpsc, 27e365f), alternating. By default
# three rounds of scenario 3 (10,000 idle connections), 1 (100 x 1,000 msg/s) and
# 2 (1,000 x 100 msg/s); the regression check ran `ROUNDS=2 SCENARIOS="4 5"`. JSON lines in
# $OUT. Both binaries built with `cargo build --release -p tickrouter`.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench/results/queue-2026-12-04}"
B=${B:-target/release/tickrouter-bench}
BEFORE=${BEFORE:-/work/bin/tickrouter-27e365f}
AFTER=${AFTER:-/work/bin/tickrouter-queue}
for _ in $(seq "${ROUNDS:-3}"); do
  for s in ${SCENARIOS:-3 1 2}; do
    for bin in "$BEFORE" "$AFTER"; do
      $B scenario "$s" --server-bin "$bin" --retries 2 --quiet-wait 30 \
        --label "$(basename "$bin")" >>"$OUT/scenario$s.jsonl"
    done
  done
done
