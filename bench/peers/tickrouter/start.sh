#!/usr/bin/env bash
# start.sh PORT REDIS_PORT CHANNEL: tickrouter as a peer of ../shared/bench (run-peer.sh,
# campaign.sh, max-rate.sh), in the foreground; stop it by killing its PID.
#
# It runs the release build with its default settings plus one extra route: CHANNEL (the peers'
# channel, `prices`) is consumed as `price_update` events, so the shared loadgen's messages reach
# every client that subscribed to symbol:BENCH (peer.env and payload.json say how).
# TICKROUTER_EXTRA_TOML adds settings (bench/ratios.sh).
set -euo pipefail
port="$1"; redis_port="$2"; channel="$3"
here="$(cd "$(dirname "$0")" && pwd -P)"   # the real directory, also when reached by a symlink
root="$(cd "$here/../../.." && pwd)"
bin="${TICKROUTER_BIN:-$root/target/release/tickrouter}"
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet --bin tickrouter)
cfg="$(mktemp -t tickrouter-peer.XXXXXX.toml)"
cat > "$cfg" <<TOML
[server]
max_sessions = 20000

[[channels.extra]]
channel = "$channel"
kind = "price_update"

${TICKROUTER_EXTRA_TOML:-}
TOML
# tickrouter reads its config once at start: remove the file a few seconds later.
( (sleep 5; rm -f "$cfg") & )
cd "$root"
RUST_LOG="${RUST_LOG:-warn}" exec "$bin" serve --bind "127.0.0.1:$port" \
  --redis-url "redis://127.0.0.1:$redis_port/0" --config "$cfg"
