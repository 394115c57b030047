#!/usr/bin/env bash
# Issue 19, no regression in scenarios 4 (user alerts) and 5 (a stalled client among healthy
# ones: the outbox fills and the slow consumer is closed) from the session outbox change:
# the build before it (27e365f) and after, alternating, two rounds. JSON lines in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench/results/queue-2026-12-04}"
B=${B:-target/release/tickrouter-bench}
BEFORE=${BEFORE:-/work/bin/tickrouter-27e365f}
AFTER=${AFTER:-/work/bin/tickrouter-queue}
for _ in 1 2; do
  for s in 4 5; do
    for bin in "$BEFORE" "$AFTER"; do
      $B scenario "$s" --server-bin "$bin" --retries 2 --quiet-wait 30 \
        --label "$(basename "$bin")" >>"$OUT/scenario$s.jsonl"
    done
  done
done
