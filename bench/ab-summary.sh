#!/usr/bin/env bash
# ab-summary.sh OUTDIR: the Markdown tables of an A/B campaign (bench/ab-campaign.sh) for
# BENCHMARKS.md: per scenario and build, the median over its runs (runs still disturbed after
# their retries are left out and counted in the last column), then B's medians relative to A's.
# Builds are told apart by each line's label; A_LABEL and B_LABEL (default A, B) set the order.
set -euo pipefail
exec python3 - "$1" "$(dirname "$0")" <<'PY'
import os, sys

sys.path.insert(0, sys.argv[2])
from summary_common import clean, fmt, med, ms, read_lines, table  # noqa: E402

out = sys.argv[1]
A = os.environ.get("A_LABEL", "A")
B = os.environ.get("B_LABEL", "B")

def builds(rows):
    labels = [A, B] + sorted({r.get("label") for r in rows} - {A, B, None})
    return [(l, [r for r in rows if r.get("label") == l]) for l in labels]

print("### A/B: scenarios 1, 2 and 6\n")
rows, medians = [], {}
for s in (1, 2, 6):
    for label, rs in builds(read_lines(os.path.join(out, f"ab-s{s}.jsonl"))):
        if not rs:
            continue
        ok, bad = clean(rs)
        runs = f"{len(ok)} ({bad})"
        if not ok:  # every run disturbed: show them, flagged, rather than nothing
            ok, runs = rs, f"0 ({bad}): all disturbed, medians of those"
        if s == 6:
            # Ingest only: throughput is messages read and routed per second; CPU per 1,000 of them.
            what = f"{fmt(med(ok, 'published'))} msgs, no clients"
            thr = med(ok, "ingest_per_s")
            cpu = med(ok, "server_cpu_us_per_msg", 1000.0)
            loss, p50, p99 = None, None, None
        else:
            what = f"{fmt(med(ok, 'clients'))} × {fmt(med(ok, 'rate'))} msg/s"
            thr = med(ok, "delivered_per_s")
            cpu = med(ok, "cpu_us_per_1k_deliveries")
            loss, p50, p99 = med(ok, "loss_pct"), ms(ok, "p50_us"), ms(ok, "p99_us")
        m = dict(thr=thr, p50=p50, p99=p99, cpu=cpu, rss=med(ok, "rss_peak_mb"))
        medians[(s, label)] = m
        rows.append([str(s), label, what, fmt(thr), fmt(loss, 3), fmt(p50, 2), fmt(p99, 1),
                     fmt(med(ok, "server_cpu_pct")), fmt(cpu), fmt(m["rss"], 1),
                     fmt(med(ok, "steal_s"), 2), runs])
table(["scenario", "build", "load", "delivered/s (6: ingest msg/s)", "loss %", "p50 ms", "p99 ms",
       "server CPU %", "server CPU µs / 1k deliveries (6: / 1k msgs)", "RSS peak MB", "steal s",
       "runs (disturbed)"], rows)

rows = []
for s in (1, 2, 6):
    a, b = medians.get((s, A)), medians.get((s, B))
    if not a or not b:
        continue
    def ratio(k):
        return "–" if a[k] in (None, 0) or b[k] is None else f"{b[k] / a[k]:.2f}"
    rows.append([str(s), ratio("thr"), ratio("p50"), ratio("p99"), ratio("cpu"), ratio("rss")])
if rows:
    print(f"{B} relative to {A} (ratio of medians; throughput > 1 and the others < 1 favour {B}):\n")
    table(["scenario", "throughput", "p50", "p99", "CPU per delivery", "RSS peak"], rows)

sb = read_lines(os.path.join(out, "ab-stalled-burst.jsonl"))
if sb:
    print("### A/B: stalled clients after a burst (`stalled-burst`)\n")
    rows = []
    for label, rs in builds(sb):
        if not rs:
            continue
        ends = {}
        for r in rs:
            for k, v in (r.get("client_ends") or {}).items():
                ends[k] = ends.get(k, 0) + v
        rows.append([label, f"{fmt(med(rs, 'connected'))} of {fmt(med(rs, 'clients'))}",
                     fmt(med(rs, "alerts")), fmt(med(rs, "burst_s"), 2),
                     fmt(med(rs, "rss_before_connect_mb"), 1), fmt(med(rs, "rss_idle_mb"), 1),
                     fmt(med(rs, "rss_hwm_mb"), 1), fmt(med(rs, "rss_end_mb"), 1),
                     fmt(med(rs, "slow_consumer_closes")), fmt(med(rs, "sessions_active_end")),
                     fmt(med(rs, "sessions_active_zero_after_s"), 2),
                     ", ".join(f"{k} {v}" for k, v in sorted(ends.items())) or "–",
                     fmt(med(rs, "steal_s"), 2), str(len(rs))])
    table(["build", "clients", "alerts", "burst s", "RSS before MB", "RSS idle MB", "RSS peak MB",
           "RSS end MB", "slow-consumer closes", "sessions active at the end",
           "all closed after s", "client ends (all runs)", "steal s", "runs"], rows)
PY
