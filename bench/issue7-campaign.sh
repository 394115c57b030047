#!/usr/bin/env bash
# issue7-campaign.sh [OUTDIR]: every issue-7 measurement, tickrouter and the peers of
# ../shared/bench in one session, so their ratios are comparable on a noisy machine. Appends
# JSON lines to OUTDIR/*.jsonl (default /tmp/tickrouter-issue7-<time>); BENCHMARKS.md quotes
# the medians. Takes about an hour. Sections can be picked with SECTIONS="12 3 4 5 6 max tail".
# PROTO_BIN (scenarios 1, 2, 4, 6, max) and PROTO5_BIN (scenario 5, max) add runs of candidate
# builds of tickrouter next to the committed one, to measure proposed product changes.
#
# tickrouter is measured with tickrouter-bench (one command per scenario) and, for scenarios 1
# and 2, also through the shared loadgen as a peer (bench/peers/tickrouter), which checks that
# the two load generators agree. The peers run through ../shared/bench/tools/run-clean.sh
# (waits for a quiet machine, repeats runs disturbed by other processes); tickrouter-bench
# does the same with --quiet-wait/--retries (and also repeats runs during which the hypervisor
# took CPU from this VM: steal). Section `tail` keeps every run instead: scenario 1 through
# both load generators and the `fanout` bridge, alternating, each line with the steal during it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/tickrouter-issue7-$(date -u +%Y%m%dT%H%M%SZ)}"
REPEATS="${REPEATS:-3}"
PEERS="${PEERS:-webdis flask-socketio node-socketio}"
SECTIONS="${SECTIONS:-12 3 4 5 6 max tail}"
TAIL_REPEATS="${TAIL_REPEATS:-8}"
cargo build --release --quiet -p tickrouter -p tickrouter-bench
# shellcheck source=bench/campaign-lib.sh
. bench/campaign-lib.sh  # OUT, B, T, log, tb, steal_ticks
export SHARED_RESULTS="$OUT/shared" QUIET_WAIT_S="${QUIET_WAIT_S:-120}" TRIES="${TRIES:-3}"
export OTHER_MAX_CORES="${OTHER_MAX_CORES:-0.25}"
peer() {  # peer FILE NAME CLIENTS RATE DURATION [loadgen flags]: one shared run-clean.sh run
  local f="$1"; shift
  log "run-clean.sh $*"
  bench/shared-peers.sh tools/run-clean.sh "$@" 2>>"$OUT/stderr.log" | tee -a "$OUT/$f" >/dev/null
}
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
raw_peer() {  # raw_peer FILE NAME CLIENTS RATE DURATION: one run-peer.sh run, kept whatever
              # happened, with the steal during the whole call (start-up included) as steal_s
  local f="$1" s0 line; shift
  log "run-peer.sh $*"
  s0="$(steal_ticks)"
  line="$(bench/shared-peers.sh run-peer.sh "$@" 2>>"$OUT/stderr.log" | tail -1)"
  printf '%s' "$line" | python3 -c '
import json, os, sys
d = json.loads(sys.stdin.read())
d["steal_s"] = round((int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf("SC_CLK_TCK"), 2)
print(json.dumps(d))' "$s0" "$(steal_ticks)" >>"$OUT/$f" || log "no result: $line"
}

if has 12; then  # scenarios 1 and 2, repeats interleaved across servers
  for _ in $(seq "$REPEATS"); do
    tb s1.jsonl scenario 1
    tb s2.jsonl scenario 2
    if [ -n "${PROTO_BIN:-}" ]; then  # a candidate product change, for the A/B in BENCHMARKS.md
      BIN="$PROTO_BIN" tb s1-proto.jsonl scenario 1 --label proto
      BIN="$PROTO_BIN" tb s2-proto.jsonl scenario 2 --label proto
    fi
    peer s12-shared.jsonl tickrouter 100 1000 10
    peer s12-shared.jsonl tickrouter 1000 100 10
    for p in fanout $PEERS; do
      peer s12-shared.jsonl "$p" 100 1000 10
      peer s12-shared.jsonl "$p" 1000 100 10
    done
  done
fi
if has 3; then  # 10,000 connections x 10 msg/s
  # Each tickrouter connection holds two descriptors (the socket and the dup kept to cut off a
  # stalled client) and this machine's hard open-file limit is 20,000: one instance holds at
  # most ~9,990 connections, so 10,000 take two instances (and one is tried as well).
  tb s3.jsonl scenario 3 --instances 2 --connect-concurrency 128
  tb s3.jsonl scenario 3 --instances 2 --connect-concurrency 128
  tb s3.jsonl scenario 3 --connect-concurrency 128 --connect-timeout 20
  for p in $PEERS; do
    peer s3-shared.jsonl "$p" 10000 10 10 --connect-timeout 300 --drain 10
  done
fi
if has 4; then  # 1,000 users x 2 sessions, every event to one user
  tb s4.jsonl scenario 4
  tb s4.jsonl scenario 4 --event backtest
  tb s4.jsonl scenario 4
  tb s4.jsonl scenario 4 --event backtest
  tb s4.jsonl scenario 4 --rate 20000
  if [ -n "${PROTO_BIN:-}" ]; then
    BIN="$PROTO_BIN" tb s4-proto.jsonl scenario 4 --label proto
    BIN="$PROTO_BIN" tb s4-proto.jsonl scenario 4 --label proto
  fi
fi
if has 5; then  # scenario 1 plus a client that never reads
  tb s5.jsonl scenario 5
  tb s5.jsonl scenario 5
  if [ -n "${PROTO5_BIN:-}" ]; then
    BIN="$PROTO5_BIN" tb s5-proto.jsonl scenario 5 --label proto
    BIN="$PROTO5_BIN" tb s5-proto.jsonl scenario 5 --label proto
  fi
  for p in $PEERS; do
    log "peer-stall.sh $p"
    bench/peer-stall.sh "$p" 2>>"$OUT/stderr.log" | tee -a "$OUT/s5-peers.jsonl" >/dev/null
  done
fi
if has 6; then  # ingest only; the peers' closest equivalent is their ceiling with one client
  for _ in 1 2 3; do tb s6.jsonl scenario 6; done
  tb s6.jsonl scenario 6 --messages 3000000
  tb s6-paced.jsonl scenario 6 --rate 200000 --messages 2000000
  if [ -n "${PROTO_BIN:-}" ]; then
    BIN="$PROTO_BIN" tb s6-proto.jsonl scenario 6 --label proto
    BIN="$PROTO_BIN" tb s6-proto.jsonl scenario 6 --label proto
    BIN="$PROTO_BIN" tb s6-paced-proto.jsonl scenario 6 --rate 200000 --messages 2000000 --label proto
  fi
  tb s6-one-client.jsonl max-rate --clients 1 --start 5000 --steps 4 --max-p99-ms 100 --max-loss-pct 1
  for p in $PEERS; do
    log "max-rate.sh $p 1"
    bench/shared-peers.sh max-rate.sh "$p" 1 10 2500 1000000 2>>"$OUT/stderr.log" | tail -1 \
      | tee -a "$OUT/s6-peers.jsonl" >/dev/null
  done
fi
if has max; then  # the highest rates: 1,000 clients with no loss; 100 and 1,000 with p99 < 100 ms
  tb max-1000-noloss.jsonl max-rate --clients 1000 --start 200 --steps 4
  tb max-1000-p99.jsonl max-rate --clients 1000 --start 100 --steps 4 --max-p99-ms 100
  tb max-100-p99.jsonl max-rate --clients 100 --start 1000 --steps 4 --max-p99-ms 100
  tb max-100-p5.jsonl max-rate --clients 100 --start 100 --steps 4 --max-p99-ms 5
  if [ -n "${PROTO_BIN:-}" ]; then
    BIN="$PROTO_BIN" tb max-proto.jsonl max-rate --clients 1000 --start 100 --steps 4 \
      --max-p99-ms 100 --label proto
    BIN="$PROTO_BIN" tb max-proto.jsonl max-rate --clients 100 --start 100 --steps 4 \
      --max-p99-ms 5 --label proto
  fi
  if [ -n "${PROTO5_BIN:-}" ]; then  # does the scenario-5 candidate cost throughput?
    BIN="$PROTO5_BIN" tb max-proto5.jsonl max-rate --clients 100 --start 1000 --steps 4 \
      --max-p99-ms 100 --label proto5
  fi
  for p in $PEERS; do
    for c in 100 1000; do
      log "max-rate.sh $p $c"
      bench/shared-peers.sh max-rate.sh "$p" "$c" 10 $((c == 100 ? 200 : 20)) 2>>"$OUT/stderr.log" \
        | tail -1 | tee -a "$OUT/max-peers.jsonl" >/dev/null
    done
  done
fi
if has tail; then  # scenario 1's latency tail against hypervisor steal: no run discarded
  for _ in $(seq "$TAIL_REPEATS"); do
    log "tickrouter-bench scenario 1 (tail)"
    "${B[@]}" scenario 1 --quiet-wait 120 --server-bin ./target/release/tickrouter \
      2>>"$OUT/stderr.log" | tee -a "$OUT/s1-tail.jsonl" >/dev/null
    raw_peer s1-tail-shared.jsonl fanout 100 1000 10
    raw_peer s1-tail-shared.jsonl tickrouter 100 1000 10
  done
fi
log "done: $OUT"
