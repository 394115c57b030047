#!/usr/bin/env bash
# ab-summary.sh OUTDIR: the Markdown tables of an A/B campaign (bench/ab-campaign.sh) for
# BENCHMARKS.md: per scenario and build, the median over its runs (runs still disturbed after
# their retries are left out and counted in the last column), then B's medians relative to A's,
# the server's and Redis's CPU per published message (scenarios 1 to 5), scenario 1 against the
# calibration bridge when the campaign ran it (BRIDGE=1), and the stalled-burst
# and resume-storm tables when the campaign ran them.
# Builds are told apart by each line's label; A_LABEL and B_LABEL (default A, B) set the order.
set -euo pipefail
exec python3 - "$1" "$(dirname "$0")" <<'PY'
import os, sys

sys.path.insert(0, sys.argv[2])
from summary_common import clean, fmt, med, ms, read_lines, table  # noqa: E402


def ms1(m, k):
    v = m.get(k)
    return "–" if v is None else f"{v / 1000.0:.1f}"

out = sys.argv[1]
A = os.environ.get("A_LABEL", "A")
B = os.environ.get("B_LABEL", "B")

def builds(rows):
    labels = [A, B] + sorted({r.get("label") for r in rows} - {A, B, None})
    return [(l, [r for r in rows if r.get("label") == l]) for l in labels]

SCEN = [s for s in range(1, 7) if read_lines(os.path.join(out, f"ab-s{s}.jsonl"))]
if SCEN:
    print("### A/B: scenarios " + ", ".join(map(str, SCEN[:-1]))
          + (" and " if len(SCEN) > 1 else "") + str(SCEN[-1]) + "\n")
rows, medians, per_pub = [], {}, []
for s in SCEN:
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
            if s == 4:
                what = (f"{fmt(med(ok, 'users'))} users × 2 sessions, {fmt(med(ok, 'rate'))} "
                        f"msg/s ({ok[0].get('event', '?')})")
            thr = med(ok, "delivered_per_s")
            for r in ok:
                if r.get("published"):
                    r["_server_us_per_msg"] = (r.get("server_cpu_s") or 0) * 1e6 / r["published"]
                    r["_redis_us_per_msg"] = (r.get("redis_cpu_s") or 0) * 1e6 / r["published"]
            per_pub.append([str(s), label, fmt(med(ok, "published")),
                            fmt(med(ok, "_server_us_per_msg"), 1),
                            fmt(med(ok, "_redis_us_per_msg"), 1),
                            fmt(med(ok, "server_cpu_pct")), fmt(med(ok, "redis_cpu_s"), 2)])
            cpu = med(ok, "cpu_us_per_1k_deliveries")
            loss, p50, p99 = med(ok, "loss_pct"), ms(ok, "p50_us"), ms(ok, "p99_us")
        m = dict(thr=thr, p50=p50, p99=p99, cpu=cpu, rss=med(ok, "rss_peak_mb"))
        medians[(s, label)] = m
        rows.append([str(s), label, what, fmt(thr), fmt(loss, 3), fmt(p50, 2), fmt(p99, 1),
                     fmt(med(ok, "server_cpu_pct")), fmt(cpu), fmt(m["rss"], 1),
                     fmt(med(ok, "steal_s"), 2), runs])
if rows:
    table(["scenario", "build", "load", "delivered/s (6: ingest msg/s)", "loss %", "p50 ms",
           "p99 ms", "server CPU %", "server CPU µs / 1k deliveries (6: / 1k msgs)",
           "RSS peak MB", "steal s", "runs (disturbed)"], rows)

rows = []
for s in SCEN:
    a, b = medians.get((s, A)), medians.get((s, B))
    if not a or not b:
        continue
    def ratio(k):
        return "–" if a[k] in (None, 0) or b[k] is None else f"{b[k] / a[k]:.2f}"
    rows.append([str(s), ratio("thr"), ratio("p50"), ratio("p99"), ratio("cpu"), ratio("rss")])
if rows:
    print(f"{B} relative to {A} (ratio of medians; throughput > 1 and the others < 1 favour {B}):\n")
    table(["scenario", "throughput", "p50", "p99", "CPU per delivery", "RSS peak"], rows)

bridge = read_lines(os.path.join(out, "bridge.jsonl"))
s1 = read_lines(os.path.join(out, "ab-s1.jsonl"))
if bridge and s1 and all((r.get("clients"), r.get("rate")) == (100, 1000) for r in s1):
    floor = med(bridge, "cpu_us_per_1k_deliveries")
    print(f"The `fanout` bridge (BRIDGE=1, {len(bridge)} runs at scenario 1's load): "
          f"{fmt(floor)} CPU µs / 1k deliveries; scenario 1 against it: "
          + ", ".join(f"{label} {medians[(1, label)]['cpu'] / floor:.2f}x"
                      for label in (A, B) if medians.get((1, label), {}).get("cpu"))
          + "\n")

if per_pub:
    print("CPU per published message (medians; a scenario-4 message is one user's alert, "
          "delivered to 2 sessions and, with history, written to the user's stream):\n")
    table(["scenario", "build", "published", "server CPU µs / msg", "Redis CPU µs / msg",
           "server CPU %", "Redis CPU s"], per_pub)

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

rs_lines = read_lines(os.path.join(out, "ab-resume-storm.jsonl"))
if rs_lines:
    print("### Resume storm (`resume-storm`)\n")
    rows, runs_rows = [], []
    for label, rs in builds(rs_lines):
        if not rs:
            continue
        ok, bad = clean(rs)
        runs = f"{len(ok)} ({bad})"
        if not ok:
            ok, runs = rs, f"0 ({bad}): all disturbed, medians of those"
        r0 = ok[0]
        what = (f"{fmt(med(ok, 'storm_clients'))} × {fmt(med(ok, 'replay'))} frames, "
                f"concurrency {fmt(med(ok, 'connect_concurrency'))}; live "
                f"{fmt(med(ok, 'live_clients'))} × {fmt(med(ok, 'baseline.rate'))} msg/s "
                f"{r0.get('live', '?')}")
        comp = [r["storm"].get("completion_s") for r in ok if r.get("storm")]
        comp = [c for c in comp if c is not None]
        span = f"{min(comp):.2f}-{max(comp):.2f}" if comp else "–"
        rows.append([label, what, fmt(med(ok, "storm.completion_s"), 2) + f" ({span})",
                     fmt(med(ok, "storm.all_upgraded_s"), 2),
                     fmt(med(ok, "storm.replay_ms.p50")), fmt(med(ok, "storm.replay_ms.p99")),
                     fmt(med(ok, "storm.client_ms.p50")), fmt(med(ok, "storm.client_ms.p99")),
                     f"{fmt(sum(r['storm'].get('replayed_frames', 0) for r in ok))} / "
                     f"{fmt(sum(r['storm'].get('expected_frames', 0) for r in ok))}",
                     fmt(sum(r["storm"].get("lost_frames", 0) for r in ok)),
                     fmt(med(ok, "steal_s"), 2), fmt(med(ok, "other_cores"), 2), runs])
        for r in ok:
            b, d, w = r.get("baseline", {}), r.get("during", {}), r.get("live_during_storm", {})
            runs_rows.append([label, r.get("date", "?"), fmt(r["storm"].get("completion_s"), 2),
                              f"{ms1(b, 'p50_us')} / {ms1(b, 'p99_us')} / {ms1(b, 'max_us')}",
                              f"{ms1(w, 'p50_us')} / {ms1(w, 'p99_us')} / {ms1(w, 'max_us')}",
                              f"{ms1(d, 'p50_us')} / {ms1(d, 'p99_us')} / {ms1(d, 'max_us')}",
                              f"{fmt(b.get('loss_pct'), 3)} / {fmt(w.get('loss_pct'), 3)} / "
                              f"{fmt(d.get('loss_pct'), 3)}",
                              f"{fmt(b.get('server_cpu_s'), 2)} / {fmt(d.get('server_cpu_s'), 2)}",
                              f"{fmt(b.get('redis_cpu_s'), 2)} / {fmt(d.get('redis_cpu_s'), 2)}",
                              f"{fmt(b.get('rss_peak_mb'), 1)} / {fmt(d.get('rss_peak_mb'), 1)}",
                              fmt(r.get("steal_s"), 2), fmt(r.get("other_cores"), 2)])
    table(["build", "load", "completion s: median (range)", "all upgraded s",
           "replay p50 ms", "replay p99 ms", "connect-to-ack p50 ms", "connect-to-ack p99 ms",
           "frames replayed / expected (all runs)", "frames lost (all runs)", "steal s",
           "other cores", "runs (disturbed)"], rows)
    print("Live clients per run: baseline phase, the messages sent while the storm ran, and "
          "the whole storm phase (p50 / p99 / max ms; loss %):\n")
    table(["build", "run", "storm s", "baseline", "during the storm", "storm phase",
           "loss % (baseline / storm / phase)", "server CPU s (baseline / phase)",
           "Redis CPU s (baseline / phase)",
           "RSS peak MB (baseline / phase)", "steal s", "other cores"], runs_rows)
PY
