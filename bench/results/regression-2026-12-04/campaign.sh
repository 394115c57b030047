#!/usr/bin/env bash
# Issue 19 point 5 on this stop's final build (/work/bin/tickrouter-move: 328e00e, the source of
# 1126761) against the last stop's final build (/work/bin/tickrouter-final: c093a5e), scenarios 4
# and 5, A B B A. JSON lines in this folder.
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="$(cd "$(dirname "$0")" && pwd)"
for build in move final final move; do
  for s in 4 5; do
    target/release/tickrouter-bench scenario "$s" --server-bin "/work/bin/tickrouter-$build" --retries 2 --quiet-wait 30 --label "$build" >>"$OUT/scenario$s.jsonl"
  done
done
