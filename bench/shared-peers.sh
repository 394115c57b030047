#!/usr/bin/env bash
# shared-peers.sh SCRIPT [ARGS...]: runs one of ../shared/bench's scripts (run-peer.sh,
# campaign.sh, max-rate.sh, tools/run-clean.sh) with this repository's peer `tickrouter`
# (bench/peers/tickrouter) beside the shared peers, without touching ../shared: the scripts run
# from a scratch mirror whose peers/ holds copies of the shared peers and a link to ours.
# Results land in $SHARED_RESULTS (default /tmp/tickrouter-shared-bench/results). The shared
# loadgen is built into $LOADGEN_TARGET (default /tmp/loadgen-target) when missing.
#
#   bench/shared-peers.sh run-peer.sh tickrouter 100 1000 10
#   PEERS="tickrouter webdis" bench/shared-peers.sh campaign.sh /tmp/out.jsonl
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
shared="$(cd "$root/../shared/bench" && pwd -P)"
target="${LOADGEN_TARGET:-/tmp/loadgen-target}"
export LOADGEN="${LOADGEN:-$target/release/loadgen}"
if [ ! -x "$LOADGEN" ]; then
  (cd "$shared/loadgen" && CARGO_TARGET_DIR="$target" cargo build --release --quiet) >&2
fi
[ -x "$root/target/release/tickrouter" ] || (cd "$root" && cargo build --release --quiet --bin tickrouter)
mirror="${SHARED_MIRROR:-/tmp/tickrouter-shared-bench}"
mkdir -p "$mirror/peers"
if [ -n "${SHARED_RESULTS:-}" ]; then
  mkdir -p "$SHARED_RESULTS"; rm -rf "$mirror/results"; ln -sfn "$SHARED_RESULTS" "$mirror/results"
else
  mkdir -p "$mirror/results"
fi
for f in run-peer.sh campaign.sh max-rate.sh tools loadgen; do
  ln -sfn "$shared/$f" "$mirror/$f"
done
# Peers are copied, not linked: ../shared may be read-only, and each peer's install step
# (.venv, node_modules) writes beside its files. Installed dependencies survive later copies:
#   bash /tmp/tickrouter-shared-bench/peers/flask-socketio/install.sh
# (the Node peer's `npm ci` runs below when its node_modules is missing).
for p in "$shared"/peers/*/; do
  name="$(basename "$p")"
  [ -L "$mirror/peers/$name" ] && rm -f "$mirror/peers/$name"
  mkdir -p "$mirror/peers/$name"
  cp -rf "${p%/}/." "$mirror/peers/$name/"
  chmod -R u+w "$mirror/peers/$name"
done
for ours in "$root"/bench/peers/*/; do
  ln -sfn "${ours%/}" "$mirror/peers/$(basename "$ours")"
done
# The calibration bridge `fanout` runs from $LOADGEN_TARGET rather than being built inside
# ../shared: a mirror-only start script that execs it.
if [ -x "$target/release/fanout" ]; then
  rm -rf "$mirror/peers/fanout"; mkdir -p "$mirror/peers/fanout"
  cp "$shared/peers/fanout/peer.env" "$mirror/peers/fanout/peer.env"
  printf '#!/usr/bin/env bash\nexec %q "$1" "$2" "$3"\n' "$target/release/fanout" >"$mirror/peers/fanout/start.sh"
  chmod +x "$mirror/peers/fanout/start.sh"
fi
# The Node peer's dependencies, once per mirror (ratios.sh runs it beside tickrouter).
node_peer="$mirror/peers/node-socketio"
if [ -f "$node_peer/package-lock.json" ] && [ ! -d "$node_peer/node_modules" ]; then
  (cd "$node_peer" && npm ci --silent --no-audit --no-fund) >&2
fi
script="$1"; shift
exec "$mirror/$script" "$@"
