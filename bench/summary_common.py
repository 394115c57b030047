"""Helpers shared by the campaign summaries (bench/issue7-summary.sh, bench/ab-summary.sh):
read a campaign's JSON lines, drop disturbed runs, take medians, print Markdown tables."""
import json
import os
import statistics


def read_lines(path):
    """The JSON objects of one .jsonl file (other lines skipped; [] if it does not exist)."""
    if not os.path.exists(path):
        return []
    rows = []
    for l in open(path):
        l = l.strip()
        if l.startswith("{"):
            try:
                rows.append(json.loads(l))
            except ValueError:
                pass
    return rows


def clean(rows):
    """(runs not marked contended, how many were)."""
    ok = [r for r in rows if not r.get("contended")]
    return ok, len(rows) - len(ok)


def med(rows, key, scale=1.0):
    """Median of a numeric field (dotted path) over rows, or None."""
    vals = []
    for r in rows:
        v = r
        for k in key.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals.append(v * scale)
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{round(v):,}".replace(",", " ")
    return f"{v:.{digits}f}"


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def ms(rows, key):
    """Median of a microsecond field, in ms."""
    v = med(rows, key)
    return None if v is None else v / 1000.0
