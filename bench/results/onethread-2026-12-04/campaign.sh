#!/usr/bin/env bash
# The readers on the main arbiter (onethread: 54de782 with onethread.patch, built with
# `cargo build --release` and copied to /work/bin/tickrouter-onethread) against their own thread
# (xxh3, the build before), $ROUNDS rounds of $BUILDS in that order (A B B A once the first
# campaign showed the machine drifting), each on $SCENARIOS, then the calibration bridge through
# the shared loadgen. JSON lines in this folder, named with $PREFIX. The two campaigns recorded:
#   ROUNDS=3 bench/results/onethread-2026-12-04/campaign.sh
#   ROUNDS=2 BUILDS="onethread xxh3 xxh3 onethread" SCENARIOS="1 2" PREFIX=abba- \
#     bench/results/onethread-2026-12-04/campaign.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)/${PREFIX:-}"
B=target/release/tickrouter-bench
export SHARED_RESULTS=/tmp/tickrouter-onethread-bench
for _ in $(seq "${ROUNDS:-3}"); do
  for build in ${BUILDS:-onethread xxh3}; do
    for s in ${SCENARIOS:-1 6 2}; do
      case $s in
        6) extra=(--rate 400000 --messages 4000000) ;;
        *) extra=(--retries 2 --quiet-wait 30) ;;
      esac
      $B scenario "$s" --server-bin "/work/bin/tickrouter-$build" "${extra[@]}" --label "$build" >>"${OUT}scenario$s.jsonl"
    done
  done
  bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"${OUT}bridge.jsonl"
done
