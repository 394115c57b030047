#!/usr/bin/env bash
# issue7-summary.sh OUTDIR: the Markdown tables of BENCHMARKS.md's issue-7 section from the JSON
# lines bench/issue7-campaign.sh wrote to OUTDIR. Each figure is the median over the runs of that
# row (runs that stayed disturbed by other processes after their retries are left out and
# counted in the last column). Row names: BASE_NAME (the committed build, default "tickrouter"),
# PROTO_NAME and PROTO5_NAME (the campaign's PROTO_BIN and PROTO5_BIN candidates).
set -euo pipefail
exec python3 - "$1" "$(dirname "$0")" <<'PY'
import json, os, statistics, sys

sys.path.insert(0, sys.argv[2])
from summary_common import clean, fmt, med, ms, read_lines, table  # noqa: E402

out = sys.argv[1]
BASE = os.environ.get("BASE_NAME", "tickrouter")
PROTO = os.environ.get("PROTO_NAME", "candidate build")
PROTO5 = os.environ.get("PROTO5_NAME", "scenario-5 candidate build")

def lines(name):
    return read_lines(os.path.join(out, name))

def cpu_pct(r):  # tickrouter-bench: server_cpu_pct; shared loadgen: cpu_pct
    return r.get("server_cpu_pct", r.get("cpu_pct"))

def latency_cols(rows):
    return [fmt(ms(rows, "p50_us"), 2), fmt(ms(rows, "p90_us"), 1), fmt(ms(rows, "p99_us"), 1),
            fmt(ms(rows, "p999_us"), 1), fmt(ms(rows, "max_us"), 1)]

# --- Scenarios 1 and 2 -------------------------------------------------------------------------
print("### Scenarios 1 and 2\n")
groups = []
for s, c, r in ((1, 100, 1000), (2, 1000, 100)):
    groups.append((f"{BASE} (tickrouter-bench `scenario {s}`)", lines(f"s{s}.jsonl")))
    groups.append((PROTO, lines(f"s{s}-proto.jsonl")))
    shared = lines("s12-shared.jsonl")
    for name in ("tickrouter", "fanout", "webdis", "flask-socketio", "node-socketio"):
        label = {"tickrouter": f"{BASE} (shared loadgen)", "fanout": "fanout (calibration bridge)"}.get(name, name)
        groups.append((label, [x for x in shared if x.get("label") == f"{name} clients={c} rate={r}"]))
rows = []
for i, (label, rs) in enumerate(groups):
    ok, bad = clean(rs)
    if not rs:
        continue
    c = ok[0]["clients"] if ok else rs[0]["clients"]
    rate = ok[0]["rate"] if ok else rs[0]["rate"]
    for r in ok:
        r["_cpu"] = cpu_pct(r)
        r["_srv_s"] = r.get("server_cpu_s", r.get("cpu_s"))
    rows.append([label, f"{c} × {round(rate)}", fmt(med(ok, "delivered_per_s")), fmt(med(ok, "loss_pct"), 3)]
                + latency_cols(ok)
                + [fmt(med(ok, "_cpu")), fmt(med(ok, "cpu_us_per_1k_deliveries")),
                   fmt(med(ok, "redis_cpu_s"), 2), fmt(med(ok, "loadgen_cpu_s"), 2),
                   fmt(med(ok, "rss_peak_mb"), 1), fmt(med(ok, "steal_s"), 2), f"{len(ok)} ({bad})"])
table(["server", "clients × msg/s", "delivered/s", "loss %", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
       "max ms", "server CPU % of a core", "server CPU µs / 1k deliveries", "redis CPU s",
       "loadgen CPU s", "RSS peak MB", "steal s", "runs (disturbed)"], rows)

# --- Scenario 3 --------------------------------------------------------------------------------
print("### Scenario 3\n")
rows = []
s3 = lines("s3.jsonl")
for inst in (2, 1):
    rs = [x for x in s3 if x.get("instances") == inst]
    ok, bad = clean(rs)
    if not rs:
        continue
    ok = ok or rs
    rows.append([f"tickrouter, {inst} instance{'s' if inst > 1 else ''}", fmt(med(ok, "connected")),
                 fmt(med(ok, "rss_empty_mb"), 1), fmt(med(ok, "rss_idle_mb"), 1), fmt(med(ok, "rss_peak_mb"), 1),
                 fmt(med(ok, "rss_per_conn_kb"), 1), fmt(med(ok, "delivered_per_s")), fmt(med(ok, "loss_pct"), 3),
                 fmt(ms(ok, "p50_us"), 0), fmt(ms(ok, "p99_us"), 0), fmt(med(ok, "server_cpu_pct")),
                 fmt(med(ok, "ramp_s"), 1), f"{len(ok)} ({bad})"])
for x in lines("s3-shared.jsonl"):
    name = x.get("label", "?").split(" ")[0]
    rows.append([name, fmt(x.get("connected")), "–", "–", fmt(x.get("rss_peak_mb"), 1), "–",
                 fmt(x.get("delivered_per_s")), fmt(x.get("loss_pct"), 3), fmt((x.get("p50_us") or 0) / 1000),
                 fmt((x.get("p99_us") or 0) / 1000), fmt(x.get("cpu_pct")), fmt(x.get("ramp_s"), 1),
                 "1" + (" (disturbed)" if x.get("contended") else "")])
table(["server", "connected of 10 000", "RSS empty MB", "RSS idle MB", "RSS peak MB", "KB per connection",
       "delivered/s", "loss %", "p50 ms", "p99 ms", "server CPU %", "ramp s", "runs"], rows)

# --- Scenario 4 --------------------------------------------------------------------------------
print("### Scenario 4\n")
rows = []
for who, s4 in ((BASE, lines("s4.jsonl")), (PROTO, lines("s4-proto.jsonl"))):
  for ev in ("dashboard_alert", "backtest_progress"):
    for rate in sorted({x["rate"] for x in s4 if x.get("event") == ev}):
        rs = [x for x in s4 if x.get("event") == ev and x["rate"] == rate]
        ok, bad = clean(rs)
        ok = ok or rs
        rows.append([who, ev, f"{fmt(med(ok, 'users'))} × 2", fmt(rate), fmt(med(ok, "delivered_per_s")),
                     fmt(med(ok, "loss_pct"), 3), fmt(med(ok, "misrouted"))] + latency_cols(ok)
                    + [fmt(med(ok, "server_cpu_pct")), fmt(med(ok, "cpu_us_per_1k_deliveries")),
                       fmt(med(ok, "rss_peak_mb"), 1), f"{len(ok)} ({bad})"])
table(["server", "event", "users × sessions", "events/s", "delivered/s", "loss %", "misrouted", "p50 ms", "p90 ms",
       "p99 ms", "p99.9 ms", "max ms", "server CPU %", "CPU µs / 1k deliveries", "RSS peak MB", "runs"], rows)

# --- Scenario 5 --------------------------------------------------------------------------------
print("### Scenario 5\n")
rows = []
def s5row(label, rs):
    if not rs:
        return
    ok, bad = clean(rs)
    ok = ok or rs
    closed = [x.get("stalled_closed") for x in ok]
    rows.append([label, fmt(ms(ok, "baseline.p99_us"), 1), fmt(ms(ok, "p99_us"), 1),
                 fmt(med(ok, "p99_ratio_vs_baseline"), 2), fmt(ms(ok, "p50_us"), 2), fmt(med(ok, "loss_pct"), 3),
                 f"{sum(1 for c in closed if c)} of {len(closed)}", fmt(med(ok, "stalled_closed_after_s"), 1),
                 fmt(med(ok, "server_stats.frames_shed")), fmt(med(ok, "rss_empty_mb"), 1),
                 fmt(med(ok, "rss_peak_mb"), 1), fmt(med(ok, "server_cpu_pct")), f"{len(ok)} ({bad})"])
s5row(BASE, lines("s5.jsonl"))
s5row(PROTO5, lines("s5-proto.jsonl"))
for x in lines("s5-peers.jsonl"):
    s5row(x.get("label", "?"), [x])
table(["server", "baseline p99 ms", "p99 ms with the stalled client", "ratio", "p50 ms", "loss %",
       "stalled client closed", "closed after s", "frames shed", "RSS before MB", "RSS peak MB",
       "server CPU %", "runs"], rows)

# --- Scenario 6 --------------------------------------------------------------------------------
print("### Scenario 6\n")
rows = []
for who, f in ((BASE, "s6.jsonl"), (BASE, "s6-paced.jsonl"), (PROTO, "s6-proto.jsonl"), (PROTO, "s6-paced-proto.jsonl")):
  s6 = lines(f)
  for n in sorted({x["published"] for x in s6}):
    rs = [x for x in s6 if x["published"] == n]
    ok, bad = clean(rs)
    ok = ok or rs
    rate = "as fast as Redis takes them" if not ok[0].get("rate") else f"paced at {fmt(ok[0]['rate'])}/s"
    rows.append([who, f"{fmt(n)}, {rate}", fmt(med(ok, "published_per_s")), fmt(med(ok, "all_received_after_s"), 2),
                 fmt(med(ok, "ingest_per_s")), fmt(med(ok, "ingest_best_1s_per_s")),
                 fmt(med(ok, "server_stats.routed")), fmt(med(ok, "server_stats.drops.overloaded")),
                 fmt(med(ok, "server_stats.redis_reconnects")), fmt(med(ok, "server_cpu_pct")),
                 fmt(med(ok, "server_cpu_us_per_msg"), 2), fmt(med(ok, "rss_peak_mb"), 1), f"{len(ok)} ({bad})"])
table(["server", "messages", "published/s", "all read after s", "ingest msg/s", "best 1 s msg/s", "routed",
       "overloaded drops", "Redis reconnects", "server CPU %", "server CPU µs / msg", "RSS peak MB", "runs"], rows)
rows = []
for x in lines("s6-one-client.jsonl"):
    if x.get("max_rate"):
        rows.append([BASE, fmt(x.get("max_rate_pass")), fmt(x.get("min_rate_fail"))])
for x in lines("s6-peers.jsonl"):
    rows.append([x.get("peer", "?"), fmt(x.get("max_rate_pass")), fmt(x.get("min_rate_fail"))])
if rows:
    print("One client, highest rate with loss < 1 % and p99 < 100 ms (tickrouter-bench max-rate --clients 1; the peers: max-rate.sh NAME 1):\n")
    table(["server", "passes at msg/s", "fails at msg/s"], rows)

# --- Highest rates -----------------------------------------------------------------------------
print("### Highest rates\n")
rows = []
for name, label in (("max-1000-noloss.jsonl", f"{BASE}, no loss (latency unbounded)"),
                    ("max-1000-p99.jsonl", f"{BASE}, no loss, p99 < 100 ms"),
                    ("max-100-p99.jsonl", f"{BASE}, no loss, p99 < 100 ms"),
                    ("max-100-p5.jsonl", f"{BASE}, no loss, p99 < 5 ms"),
                    ("max-proto.jsonl", f"{PROTO}, no loss"),
                    ("max-proto5.jsonl", f"{PROTO5}, no loss")):
    for x in lines(name):
        if not x.get("max_rate"):
            continue
        p99 = x.get("max_p99_ms")
        lab = label if not name.startswith("max-proto") else f"{label}, p99 < {fmt(p99)} ms"
        passes = [p for p in x["probes"] if p["pass"]]
        best = max(passes, key=lambda p: p["rate"]) if passes else {}
        rows.append([lab, fmt(x["clients"]), fmt(x["max_rate_pass"]), fmt(x["min_rate_fail"]),
                     fmt(x["max_deliveries_per_s"]), fmt((best.get("p99_us") or 0) / 1000, 1),
                     fmt(best.get("server_cpu_pct"))])
for x in lines("max-peers.jsonl"):
    rows.append([f"{x.get('peer')}, loss < 1 %, p99 < 100 ms", fmt(x.get("clients")), fmt(x.get("max_rate_pass")),
                 fmt(x.get("min_rate_fail")), fmt((x.get("max_rate_pass") or 0) * (x.get("clients") or 0)), "–", "–"])
table(["server and criterion", "clients", "passes at msg/s", "fails at msg/s", "deliveries/s at the pass",
       "p99 ms at the pass", "server CPU % at the pass"], rows)

# --- Scenario 1's tail against steal -----------------------------------------------------------
tail = lines("s1-tail.jsonl")
shared = lines("s1-tail-shared.jsonl")
if tail or shared:
    print("### Scenario 1, every run, against hypervisor steal\n")
    STEAL = 0.1  # seconds in a ~10 s run: 0.5 % of the two vCPUs
    def p99s(rs):
        v = sorted(r["p99_us"] / 1000 for r in rs if r.get("p99_us") is not None)
        return "–" if not v else f"{statistics.median(v):.1f} / {v[-1]:.1f} ({len(v)})"
    rows = []
    for label, rs in ((f"{BASE} (tickrouter-bench)", tail),
                      (f"{BASE} (shared loadgen)", [x for x in shared if x.get("label", "").startswith("tickrouter ")]),
                      ("fanout (calibration bridge)", [x for x in shared if x.get("label", "").startswith("fanout ")])):
        if not rs:
            continue
        st = sorted(r.get("steal_s", 0) for r in rs)
        over = sum(1 for r in rs if (r.get("p99_us") or 0) >= 5000)
        rows.append([label, str(len(rs)), f"{st[0]:.2f} – {st[-1]:.2f}", p99s(rs), f"{over} of {len(rs)}",
                     p99s([r for r in rs if r.get("steal_s", 0) <= STEAL]),
                     p99s([r for r in rs if r.get("steal_s", 0) > STEAL]), fmt(med(rs, "loss_pct"), 3)])
    table(["server", "runs", "steal s (range)", "p99 ms median / worst (runs)", "runs with p99 ≥ 5 ms",
           f"steal ≤ {STEAL} s: p99 median / worst (runs)", f"steal > {STEAL} s: p99 median / worst (runs)",
           "loss %"], rows)
PY
