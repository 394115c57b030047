#!/usr/bin/env bash
# Streaming pattern delivery, publish -> WebSocket client, through the streaming buffer.
#
#   bench/streaming-latency.sh [CLIENTS] [RATE] [DURATION]      (defaults 100 400 10)
#
# Starts a private redis-server and a release tickrouter (default settings: 250 ms flush
# window) on free ports, subscribes CLIENTS sessions to the `streaming` topic, publishes RATE
# distinct detections per second on tickstock:patterns:streaming with the shared load generator
# (../shared/bench/loadgen; each detection's pattern name carries its send time, so the buffer
# never merges two of them), and prints loadgen's JSON line plus the batches per second taken
# from /stats. Latency includes the wait for the next flush.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS="${1:-100}" RATE="${2:-400}" DURATION="${3:-10}"
LOADGEN_SRC="$(cd ../shared/bench/loadgen && pwd)"
export CARGO_TARGET_DIR="${LOADGEN_TARGET:-$PWD/target/loadgen}"
LOADGEN="$CARGO_TARGET_DIR/release/loadgen"
[ -x "$LOADGEN" ] || (cd "$LOADGEN_SRC" && cargo build --release --quiet)
unset CARGO_TARGET_DIR
cargo build --release --quiet

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port) HTTP_PORT=$(free_port)
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!); REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
RUST_LOG=warn ./target/release/tickrouter serve --bind "127.0.0.1:$HTTP_PORT" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT/0" >"$work/tickrouter.log" 2>&1 &
pids+=($!); ROUTER_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 && break; sleep 0.1; done

echo '{"type":"streaming_pattern","detection":{"pattern":"sent_ns__SENT_NS__","symbol":"NVDA","confidence":0.9,"timeframe":"1min"}}' >"$work/template.json"
cycles() { curl -fs "http://127.0.0.1:$HTTP_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["streaming_buffer"]["flush_cycles"])'; }
before=$(cycles)
"$LOADGEN" --ws-url "ws://127.0.0.1:$HTTP_PORT/ws" --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" \
    --init-frame '{"op":"subscribe","topics":["streaming"]}' --ready-substr '"op":"subscribe"' \
    --redis-url "redis://127.0.0.1:$REDIS_PORT/" --channel tickstock:patterns:streaming \
    --payload-template "$work/template.json" --pid "$ROUTER_PID" --redis-pid "$REDIS_PID" \
    --label "streaming ${CLIENTS}x${RATE}" 2>"$work/loadgen.err"
after=$(cycles)
python3 -c "print('{\"batches\": %d, \"batches_per_s\": %.2f}' % ($after - $before, ($after - $before) / $DURATION))"
