#!/usr/bin/env bash
# peer-stall.sh NAME [CLIENTS=100] [RATE=1000] [DURATION=10] [STALL=40]
# Scenario 5 against a peer of ../shared/bench (webdis, flask-socketio, node-socketio): starts a
# private redis-server and peers/NAME/start.sh on free ports (as run-peer.sh does), then
# `tickrouter-bench peer-stall`: CLIENTS readers for DURATION s (the baseline), then one more
# client that connects and never reads, for STALL s. Prints its JSON line: the readers' p99
# before and during the stall, and whether and when the peer closed the stalled connection.
set -euo pipefail
NAME="$1"; CLIENTS="${2:-100}"; RATE="${3:-1000}"; DURATION="${4:-10}"; STALL="${5:-40}"
root="$(cd "$(dirname "$0")/.." && pwd -P)"
peer_dir="$(cd "$root/../shared/bench/peers/$NAME" && pwd -P)"
bench="$root/target/release/tickrouter-bench"
[ -x "$bench" ] || (cd "$root" && cargo build --release --quiet -p tickrouter-bench)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
REDIS_PORT=$(free_port); PORT=$(free_port)
logs="$(mktemp -d -t peer-stall.XXXXXX)"
pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 1
         for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$logs"; }
trap stop EXIT
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --maxclients 10000 \
  --daemonize no --loglevel warning >"$logs/redis.log" 2>&1 &
REDIS_PID=$!; pids+=("$REDIS_PID")
wait_port "$REDIS_PORT"
"$peer_dir/start.sh" "$PORT" "$REDIS_PORT" prices >"$logs/peer.log" 2>&1 &
PEER_PID=$!; pids+=("$PEER_PID")
wait_port "$PORT" || { cat "$logs/peer.log" >&2; exit 1; }
case "$NAME" in
  webdis) args=(--ws-url "ws://127.0.0.1:$PORT/.json" --protocol webdis) ;;
  *)      args=(--ws-url "ws://127.0.0.1:$PORT" --protocol socketio)
          for _ in $(seq 150); do   # wait for the bridge's own SUBSCRIBE
            [ "$(redis-cli -p "$REDIS_PORT" PUBSUB NUMSUB prices | sed -n 2p)" -ge 1 ] && break; sleep 0.1
          done ;;
esac
# The start scripts exec the server, so PEER_PID is the process whose CPU and RSS count.
"$bench" peer-stall "${args[@]}" --redis-url "redis://127.0.0.1:$REDIS_PORT/" --channel prices \
  --pid "$PEER_PID" --redis-pid "$REDIS_PID" --clients "$CLIENTS" --rate "$RATE" \
  --duration "$DURATION" --stall-duration "$STALL" --label "$NAME"
