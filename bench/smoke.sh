#!/usr/bin/env bash
# Smoke run of the issue-7 load generator against the release build: every scenario for about
# two seconds with a few clients, failing unless every client connected and got every frame
# (no timing assertions). `cargo test` runs the same check in-process (the `smoke` test in
# crates/tickrouter-bench/src/main.rs); this script exercises the release binary and the
# process-level setup (private redis-server and tickrouter on free ports) as well.
#
#   bench/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tickrouter -p tickrouter-bench
bench=./target/release/tickrouter-bench
common=(--duration 2 --settle 0.5 --drain 5 --check --server-bin ./target/release/tickrouter)
"$bench" scenario 1 --clients 5 "${common[@]}"
"$bench" scenario 2 --clients 20 --rate 50 "${common[@]}"
"$bench" scenario 3 --clients 200 "${common[@]}"
"$bench" scenario 4 --clients 10 --rate 100 "${common[@]}"
"$bench" scenario 4 --clients 10 --rate 100 --event backtest "${common[@]}"
"$bench" scenario 5 --clients 5 --rate 100 --stall-duration 2 "${common[@]}"
"$bench" scenario 6 --messages 20000 "${common[@]}"
"$bench" resume-storm --clients 10 --rate 100 --storm-clients 50 --replay 20 "${common[@]}"
"$bench" resume-storm --clients 10 --rate 100 --storm-clients 50 --replay 20 --live alerts "${common[@]}"
# No --check: whether stalled sessions are closed is the finding, not a smoke failure.
"$bench" stalled-burst --clients 5 --alerts 300 --observe-s 1 --read-timeout 1 --timeout 60 \
  --server-bin ./target/release/tickrouter >/dev/null
echo "bench/smoke.sh: every scenario delivered every frame, every resume replayed every frame (stalled-burst: ran to the end)" >&2
