#!/usr/bin/env bash
# ratios.sh [OUTDIR]: tickrouter against the calibration bridge `fanout` (one write per frame)
# and the Node Socket.IO peer, in one session and alternating, all through ../shared/bench's
# loadgen, so every figure comes from the same client code:
#   - scenarios 1 (100 clients x 1,000 msg/s) and 2 (1,000 clients x 100 msg/s) at their fixed
#     rates, REPEATS times, servers alternating: CPU per delivery against the bridge's;
#   - each scenario's client count at its highest rate with loss < 1 % and p99 < 100 ms
#     (max-rate.sh) for tickrouter and the Node peer: deliveries/s against the peer's.
# Prints the absolute figures and the ratios (medians); runs go through tools/run-clean.sh,
# which waits for a quiet machine and repeats runs disturbed by other processes; each JSON line
# keeps the machine's busy cores and other processes' CPU, and `steal_s` is added.
# TICKROUTER_EXTRA_TOML (e.g. $'[session]\nwrite_delay_ms = 5') goes to tickrouter's config.
# About 25 minutes with the defaults (REPEATS=2, SCENARIOS="1 2", MAX_RATE=1).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/tickrouter-ratios-$(date -u +%Y%m%dT%H%M%SZ)}"
REPEATS="${REPEATS:-2}"
SCENARIOS="${SCENARIOS:-1 2}"
MAX_RATE="${MAX_RATE:-1}"   # 0: fixed rates only
mkdir -p "$OUT"
# Absolute: shared-peers.sh links its scratch mirror's results/ to it from another folder.
OUT="$(cd "$OUT" && pwd)"
export SHARED_RESULTS="$OUT/shared"
cargo build --release --quiet -p tickrouter
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
steal_ticks() { awk '/^cpu /{print $9}' /proc/stat; }
shape() { case "$1" in 1) echo "100 1000" ;; 2) echo "1000 100" ;; esac; }
run() {  # run SCENARIO PEER: one fixed-rate run, its line (with steal_s) to OUT/fixed.jsonl
  local s0 line
  read -r clients rate <<<"$(shape "$1")"
  log "scenario $1: $2"
  s0="$(steal_ticks)"
  line="$(bench/shared-peers.sh tools/run-clean.sh "$2" "$clients" "$rate" 10 2>>"$OUT/stderr.log" | tail -1)"
  printf '%s' "$line" | python3 -c '
import json, os, sys
d = json.loads(sys.stdin.read())
d["scenario"] = int(sys.argv[3]); d["peer"] = sys.argv[4]
d["steal_s"] = round((int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf("SC_CLK_TCK"), 2)
print(json.dumps(d))' "$s0" "$(steal_ticks)" "$1" "$2" >>"$OUT/fixed.jsonl" || log "no result: $line"
}
for _ in $(seq "$REPEATS"); do
  for s in $SCENARIOS; do
    for peer in tickrouter fanout node-socketio; do run "$s" "$peer"; done
  done
done
for s in $( [ "$MAX_RATE" = 0 ] || echo "$SCENARIOS" ); do
  read -r clients _ <<<"$(shape "$s")"
  for peer in tickrouter node-socketio; do
    start=$([ "$peer" = tickrouter ] && echo 1000 || echo 100)
    log "max-rate scenario $s: $peer"
    bench/shared-peers.sh max-rate.sh "$peer" "$clients" 10 "$start" 100000 2>>"$OUT/stderr.log" \
      | tail -1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["scenario"]=int(sys.argv[1]); print(json.dumps(d))' "$s" \
      >>"$OUT/max-rate.jsonl"
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
fixed = [json.loads(l) for l in open(f"{out}/fixed.jsonl")]
def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None
print(f"Results in {out}\n")
print("| scenario | server | runs | CPU µs/delivery | p99 ms | loss % | steal s (max) |")
print("|---|---|---:|---:|---:|---:|---:|")
cpu = {}
for s in sorted({r["scenario"] for r in fixed}):
    for peer in ("tickrouter", "fanout", "node-socketio"):
        rows = [r for r in fixed if r["scenario"] == s and r["peer"] == peer]
        if not rows:
            continue
        c = med(rows, "cpu_us_per_1k_deliveries") / 1000
        cpu[(s, peer)] = c
        print(f"| {s} | {peer} | {len(rows)} | {c:.2f} | {med(rows, 'p99_us') / 1000:.2f} | "
              f"{med(rows, 'loss_pct')} | {max(r.get('steal_s', 0) for r in rows)} |")
print()
for s in sorted({k[0] for k in cpu}):
    if (s, "tickrouter") in cpu and (s, "fanout") in cpu:
        print(f"scenario {s}: tickrouter's CPU per delivery = "
              f"{cpu[(s, 'tickrouter')] / cpu[(s, 'fanout')]:.2f} x the bridge's")
try:
    best = [json.loads(l) for l in open(f"{out}/max-rate.jsonl")]
except FileNotFoundError:
    best = []
for s in sorted({b["scenario"] for b in best}):
    rate = {b["peer"]: b.get("max_rate_pass") for b in best if b["scenario"] == s}
    t, n = rate.get("tickrouter"), rate.get("node-socketio")
    if t and n:
        print(f"scenario {s} clients, p99 < 100 ms: tickrouter {t} msg/s, Node {n} msg/s: "
              f"{t / n:.1f} x the peer's deliveries/s")
PY
