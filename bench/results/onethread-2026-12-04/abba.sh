#!/usr/bin/env bash
# Second round of the experiment: scenarios 1 and 2, the two builds in A B B A order per round
# (so a machine drifting through the campaign weighs on both alike), the bridge once per round.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)"
B=target/release/tickrouter-bench
export SHARED_RESULTS=/tmp/tickrouter-onethread-bench
for _ in $(seq "${ROUNDS:-2}"); do
  for build in onethread xxh3 xxh3 onethread; do
    for s in 1 2; do
      $B scenario "$s" --server-bin "/work/bin/tickrouter-$build" --retries 2 --quiet-wait 30 --label "$build" >>"$OUT/abba-scenario$s.jsonl"
    done
  done
  bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"$OUT/abba-bridge.jsonl"
done
