#!/usr/bin/env bash
# The router handing the streaming and market handlers one message per batch (batch: e3e27aa with
# an experiment not kept, handlers::Inputs; `cargo build --release -p tickrouter`, copied to
# /work/bin/tickrouter-batch) against the build before (arrival: e3e27aa, built the same way),
# A B B A, $ROUNDS rounds, on scenario 6 at 400,000 msg/s and scenario 1. JSON lines here.
#   ROUNDS=2 bench/results/handler-batches-2026-12-04/campaign.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)"
B=target/release/tickrouter-bench
for _ in $(seq "${ROUNDS:-2}"); do
  for build in batch arrival arrival batch; do
    $B scenario 6 --rate 400000 --messages 4000000 --server-bin "/work/bin/tickrouter-$build" --label "$build" >>"$OUT/scenario6.jsonl"
    $B scenario 1 --retries 2 --quiet-wait 30 --server-bin "/work/bin/tickrouter-$build" --label "$build" >>"$OUT/scenario1.jsonl"
  done
done
