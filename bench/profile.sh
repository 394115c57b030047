#!/usr/bin/env bash
# profile.sh tickrouter|fanout OUT: what the server does during scenario 1 (100 clients x 1,000
# msg/s): `perf stat` of its system calls and context switches over 8 s (OUT.stat), then, in a
# second run, `perf record -g` (cpu-clock) over 10 s (OUT.data) with the samples
# summed per thread and per kind (OUT.threads). tickrouter runs through tickrouter-bench (SERVER_BIN
# picks the build), the calibration bridge `fanout` through ../shared/bench's run-peer.sh.
# Needs perf (Debian's linux-perf) with the syscalls tracepoints; run on a quiet machine.
set -uo pipefail
cd "$(dirname "$0")/.."
which="$1"; out="$2"
start() {  # start SECONDS: scenario 1 in the background; sets PID to the server's pid
  case "$which" in
    tickrouter)
      ./target/release/tickrouter-bench scenario 1 --duration "$1" ${SERVER_BIN:+--server-bin "$SERVER_BIN"} >>"$out.json" 2>>"$out.err" &
      pattern='tickrouter serve' ;;
    fanout)
      bench/shared-peers.sh run-peer.sh fanout 100 1000 "$1" >>"$out.json" 2>>"$out.err" &
      pattern='release/fanout' ;;
    *) echo "usage: profile.sh tickrouter|fanout OUT" >&2; exit 2 ;;
  esac
  PID=""
  for _ in $(seq 120); do PID="$(pgrep -f "$pattern" -n)" && break; sleep 0.5; done
  [ -n "$PID" ] || { echo "profile.sh: no $which server" >&2; exit 1; }
  sleep 7   # past the clients' connection and the load generator's settle time
}
start 18
perf stat -e 'syscalls:sys_enter_*' -e context-switches,cpu-migrations,task-clock -p "$PID" -- sleep 8 2>&1 \
  | awk '$1 ~ /^[0-9,.]+$/ && $1 != "0"' >"$out.stat"
wait
start 20
perf record -e cpu-clock -F 1999 -g -p "$PID" -o "$out.data" -- sleep 10 >/dev/null 2>&1
wait
# Per thread: samples under a socket write, an eventfd write (waking another thread) or
# epoll_wait (going to sleep) as far as the call chain shows, else by whether the innermost frame
# is in the kernel or in user space.
perf script -i "$out.data" -F tid,ip,sym,dso 2>/dev/null | python3 -c '
import collections, sys
kinds = [("socket write", "__send"), ("eventfd write", "Waker::wake"), ("epoll_wait", "epoll_wait")]
per = collections.defaultdict(collections.Counter)
for block in sys.stdin.read().split("\n\n"):
    lines = [l.strip() for l in block.strip().split("\n") if l.strip()]
    if len(lines) < 2:
        continue
    tid, stack = lines[0].split()[0], "\n".join(lines[1:])
    kind = next((k for k, p in kinds if p in stack), "other kernel" if "kernel" in lines[1] else "user")
    per[tid][kind] += 1
for tid, c in sorted(per.items(), key=lambda t: -sum(t[1].values())):
    print(tid, sum(c.values()), dict(c.most_common()))
print("all", sum(sum(c.values()) for c in per.values()))' >"$out.threads"
cat "$out.stat" "$out.threads"
