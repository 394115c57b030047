#!/usr/bin/env bash
# ab-campaign.sh [A_BIN [B_BIN [OUTDIR]]]: A/B of two tickrouter server binaries on the issue-7
# scenarios (default 1, 2 and 6; 3, 4 and 5 may be named too), each run REPEATS times per build,
# interleaved per scenario (A,B,A,B,... or, with ORDER="A B B A", A,B,B,A,...) so that drift of
# the machine over the campaign falls on both builds alike. Every run uses the
# issue-7 campaign's noise handling (bench/campaign-lib.sh: --quiet-wait 120 --retries 2
# --max-other-cores 0.25, steal recorded and repeated), appends its JSON line to OUTDIR/ab-s<N>.jsonl
# labelled with its build, and at the end bench/ab-summary.sh prints the medians as Markdown
# (also saved to OUTDIR/summary.md). The load generator is this checkout's release
# tickrouter-bench (built first) unless BENCH_BIN names one.
#
#   A_BIN, B_BIN       server binaries (or the first two arguments); required
#   A_LABEL, B_LABEL   their names in the output (default: A, B)
#   REPEATS            runs per scenario and build (default 3)
#   SCENARIOS          default "1 2 6"; any of 1 to 6, "stalled-burst" (the slow-consumer check)
#                      and "resume-storm" (issue 13; only for builds that have resume) may be added
#   B_ONLY             scenarios run with B only, for features A lacks (default "resume-storm")
#   ORDER              the builds' order in each repeat of a scenario (default "A B"; "A B B A"
#                      also balances a machine that drifts within the repeat)
#   BRIDGE             1: after each repeat, the calibration bridge `fanout` at scenario 1's load
#                      (100 x 1,000 msg/s, 10 s, through ../shared/bench's loadgen) into
#                      OUTDIR/bridge.jsonl, so the builds' CPU per delivery compares with the
#                      one-write-per-frame floor measured in the same session
#   S1_ARGS .. S6_ARGS SB_ARGS RS_ARGS   extra tickrouter-bench flags per scenario (S4_ARGS
#                      "--event alert" is scenario 4's default, "--event backtest" the other)
#   TB_FLAGS, TB_TIMEOUT               see bench/campaign-lib.sh (TB_TIMEOUT defaults to 900 here)
#
#   A_BIN=/work/bin/tickrouter-baseline A_LABEL=baseline \
#   B_BIN=/path/to/candidate/tickrouter B_LABEL=redesign bench/ab-campaign.sh
set -uo pipefail
cd "$(dirname "$0")/.."
A_BIN="${1:-${A_BIN:-}}"
B_BIN="${2:-${B_BIN:-}}"
OUT="${3:-${OUT:-/tmp/tickrouter-ab-$(date -u +%Y%m%dT%H%M%SZ)}}"
A_LABEL="${A_LABEL:-A}"
B_LABEL="${B_LABEL:-B}"
REPEATS="${REPEATS:-3}"
SCENARIOS="${SCENARIOS:-1 2 6}"
B_ONLY="${B_ONLY:-resume-storm}"
ORDER="${ORDER:-A B}"
export TB_TIMEOUT="${TB_TIMEOUT:-900}"
for bin in "$A_BIN" "$B_BIN"; do
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "usage: A_BIN=server-a B_BIN=server-b [A_LABEL=.. B_LABEL=..] $0 [A_BIN B_BIN [OUTDIR]]" >&2
    echo "ab-campaign.sh: not an executable: '${bin}'" >&2
    exit 2
  fi
done
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --quiet -p tickrouter-bench || exit 1
fi
# shellcheck source=bench/campaign-lib.sh
. bench/campaign-lib.sh  # OUT, B, T, log, tb
{
  echo "A $A_LABEL $A_BIN $(sha256sum "$A_BIN" | cut -c1-16)"
  echo "B $B_LABEL $B_BIN $(sha256sum "$B_BIN" | cut -c1-16)"
  echo "bench ${B[0]} $(git rev-parse --short HEAD) repeats=$REPEATS scenarios=$SCENARIOS b_only=$B_ONLY order=$ORDER bridge=${BRIDGE:-0}"
  echo "flags ${T[*]}"
} >>"$OUT/builds.txt"

run_one() {  # run_one SCENARIO LABEL BIN
  local s="$1" label="$2" bin="$3" extra
  case "$s" in
    1) read -ra extra <<<"${S1_ARGS:-}" ;;
    2) read -ra extra <<<"${S2_ARGS:-}" ;;
    3) read -ra extra <<<"${S3_ARGS:-}" ;;
    4) read -ra extra <<<"${S4_ARGS:-}" ;;
    5) read -ra extra <<<"${S5_ARGS:-}" ;;
    6) read -ra extra <<<"${S6_ARGS:-}" ;;
    stalled-burst) read -ra extra <<<"${SB_ARGS:-}" ;;
    resume-storm) read -ra extra <<<"${RS_ARGS:-}" ;;
    *) log "unknown scenario $s"; return ;;
  esac
  case "$s" in
    stalled-burst|resume-storm)
      BIN="$bin" tb "ab-$s.jsonl" "$s" --label "$label" "${extra[@]}" ;;
    *) BIN="$bin" tb "ab-s$s.jsonl" scenario "$s" --label "$label" "${extra[@]}" ;;
  esac
}

for r in $(seq "$REPEATS"); do
  for s in $SCENARIOS; do
    log "repeat $r/$REPEATS, scenario $s"
    for build in $ORDER; do
      case "$build:  $B_ONLY " in
        A:*" $s "*) ;;
        A:*) run_one "$s" "$A_LABEL" "$A_BIN" ;;
        B:*) run_one "$s" "$B_LABEL" "$B_BIN" ;;
      esac
    done
  done
  if [ "${BRIDGE:-0}" = 1 ]; then
    log "repeat $r/$REPEATS, the fanout bridge"
    bench/shared-peers.sh tools/run-clean.sh fanout 100 1000 10 2>>"$OUT/stderr.log" \
      | tail -1 >>"$OUT/bridge.jsonl"
  fi
done
A_LABEL="$A_LABEL" B_LABEL="$B_LABEL" bench/ab-summary.sh "$OUT" | tee "$OUT/summary.md"
log "done: $OUT"
