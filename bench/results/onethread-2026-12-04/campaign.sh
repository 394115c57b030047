#!/usr/bin/env bash
# The readers on the main arbiter (A=onethread: 54de782 with onethread.patch, built with
# `cargo build --release` and copied to /work/bin/tickrouter-onethread) against their own thread (B=xxh3, the build
# before), alternating, $ROUNDS rounds: scenario 1 (and the calibration bridge through the shared
# loadgen), scenario 6 at 400,000 msg/s paced, scenario 2. JSON lines in this folder.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)"
B=target/release/tickrouter-bench
export SHARED_RESULTS=/tmp/tickrouter-onethread-bench
for _ in $(seq "${ROUNDS:-3}"); do
  for build in ${BUILDS:-onethread xxh3}; do
    for s in ${SCENARIOS:-1 6 2}; do
      case $s in
        6) extra=(--rate 400000 --messages 4000000) ;;
        *) extra=(--retries 2 --quiet-wait 30) ;;
      esac
      $B scenario "$s" --server-bin "/work/bin/tickrouter-$build" "${extra[@]}" --label "$build" >>"$OUT/scenario$s.jsonl"
    done
  done
  [ "${BRIDGE:-1}" = 1 ] && bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"$OUT/bridge.jsonl"
done
