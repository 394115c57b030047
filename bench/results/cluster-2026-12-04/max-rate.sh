#!/usr/bin/env bash
# Issue 17: the highest rate to 100 clients with no loss and p99 < 100 ms, one instance against
# three on one Redis, and one Redis against a 3-master Redis Cluster. Output: max-rate.jsonl.
cd "$(dirname "$0")/../../.."
B=target/release/tickrouter-bench
S=${SERVER_BIN:-target/release/tickrouter}
common="--server-bin $S --clients 100 --start 4000 --max-p99-ms 100 --retries 2 --quiet-wait 30"
$B max-rate $common --label "single-1inst"
$B max-rate $common --instances 3 --label "single-3inst"
$B max-rate $common --redis-cluster --label "cluster-1inst"
$B max-rate $common --redis-cluster --instances 3 --label "cluster-3inst"
