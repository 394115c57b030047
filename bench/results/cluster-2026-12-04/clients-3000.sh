#!/usr/bin/env bash
# Issue 17: 3,000 clients x 100 msg/s (scenario 2's setup, 300,000 deliveries/s) on one instance
# and spread over three, on one Redis and on a 3-master Redis Cluster, alternating, twice.
# Output: clients-3000.jsonl.
cd "$(dirname "$0")/../../.."
B=target/release/tickrouter-bench
S=${SERVER_BIN:-target/release/tickrouter}
common="--server-bin $S --clients 3000 --retries 2 --quiet-wait 30"
for round in 1 2; do
  $B scenario 2 $common --label "single-1inst"
  $B scenario 2 $common --instances 3 --label "single-3inst"
  $B scenario 2 $common --redis-cluster --instances 3 --label "cluster-3inst"
done
