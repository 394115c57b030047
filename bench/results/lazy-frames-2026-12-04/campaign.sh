#!/usr/bin/env bash
# Kept symbol frames encoded on first use (lazy: e3e27aa with an experiment not kept, each
# symbol's price and bar publication holding its payload and encoding it when first read;
# `cargo build --release -p tickrouter`, copied to /work/bin/tickrouter-lazy) against e3e27aa
# itself (arrival, built the same way), A B B A, $ROUNDS rounds, on scenario 6 at
# 400,000 msg/s and scenario 1 (whose price updates every client watches, so every frame is
# encoded as before). JSON lines in this folder.
#   ROUNDS=2 bench/results/lazy-frames-2026-12-04/campaign.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)"
B=target/release/tickrouter-bench
for _ in $(seq "${ROUNDS:-2}"); do
  for build in lazy arrival arrival lazy; do
    $B scenario 6 --rate 400000 --messages 4000000 --server-bin "/work/bin/tickrouter-$build" --label "$build" >>"$OUT/scenario6.jsonl"
    $B scenario 1 --retries 2 --quiet-wait 30 --server-bin "/work/bin/tickrouter-$build" --label "$build" >>"$OUT/scenario1.jsonl"
  done
done
