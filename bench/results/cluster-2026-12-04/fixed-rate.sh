#!/usr/bin/env bash
# Issue 17: scenarios 1, 2 and 4 at their fixed rates, one instance against three and one Redis
# against a 3-master Redis Cluster, interleaved, twice. Output: fixed-rate.jsonl.
cd "$(dirname "$0")/../../.."
B=target/release/tickrouter-bench
S=${SERVER_BIN:-target/release/tickrouter}
common="--server-bin $S --retries 2 --quiet-wait 30"
for round in 1 2; do
  $B scenario 1 $common --label "s1-single-1inst" 
  $B scenario 1 $common --instances 3 --label "s1-single-3inst"
  $B scenario 1 $common --redis-cluster --label "s1-cluster-1inst"
  $B scenario 4 $common --label "s4-single"
  $B scenario 4 $common --redis-cluster --label "s4-cluster"
  $B scenario 2 $common --label "s2-single-1inst"
  $B scenario 2 $common --instances 3 --label "s2-single-3inst"
done
