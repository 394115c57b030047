#!/usr/bin/env bash
# The readers on the main arbiter (rmain: the commit that moves them, built with
# `cargo build --release -p tickrouter` and copied to /work/bin/tickrouter-rmain) against the
# build before, whose readers have a thread of their own (head, built the same way), $ROUNDS
# rounds of $BUILDS in that order (A B B A, so a machine drifting through the campaign weighs on
# both alike), each on $SCENARIOS, then the calibration bridge through the shared loadgen.
# JSON lines in this folder, named with $PREFIX. The campaigns recorded:
#   ROUNDS=3 bench/results/readers-main-2026-12-04/campaign.sh
#   ROUNDS=1 SCENARIOS="4 5" PREFIX=regression- bench/results/readers-main-2026-12-04/campaign.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)/${PREFIX:-}"
B=target/release/tickrouter-bench
export SHARED_RESULTS=/tmp/tickrouter-readers-main-bench
for _ in $(seq "${ROUNDS:-3}"); do
  for build in ${BUILDS:-rmain head head rmain}; do
    for s in ${SCENARIOS:-1 2 6}; do
      case $s in
        6) extra=(--rate 400000 --messages 4000000) ;;
        *) extra=(--retries 2 --quiet-wait 30) ;;
      esac
      $B scenario "$s" --server-bin "/work/bin/tickrouter-$build" "${extra[@]}" --label "$build" >>"${OUT}scenario$s.jsonl"
    done
  done
  case " ${SCENARIOS:-1 2 6} " in
    *" 1 "*) bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>/dev/null | tail -1 >>"${OUT}bridge.jsonl" ;;
  esac
done
