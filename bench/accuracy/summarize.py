#!/usr/bin/env python3
"""One compact markdown table from hsa-accuracy CSVs (docs/ACCURACY.md's):
per workload, context and budget, each algorithm's recall against the unit
oracle (and its mass), then the two oracles' masses.

usage: bench/accuracy/summarize.py ROWS.csv [ROWS.csv ...]
"""
import csv
import sys

ALGORITHMS = ["quest:max", "quest:sum", "quest:mean_query", "streaming_llm", "cluster_kv"]


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows += [r for r in csv.DictReader(f) if None not in r.values()]
    present = [a for a in ALGORITHMS if any(r["algorithm"] == a for r in rows)]
    present += [a for a in dict.fromkeys(r["algorithm"] for r in rows)
                if a not in present and not a.startswith("oracle")]
    print("| workload | context | budget | " + " | ".join(present) + " | unit oracle mass | token oracle mass |")
    print("|---|---:|---:|" + "---:|" * len(present) + "---:|---:|")
    keys = list(dict.fromkeys((r["workload"], int(r["context"]), int(r["budget_tokens"])) for r in rows))
    for w, c, b in keys:
        at = {r["algorithm"]: r for r in rows if (r["workload"], int(r["context"]), int(r["budget_tokens"])) == (w, c, b)}
        cells = []
        for a in present:
            r = at.get(a)
            cells.append(f"{float(r['recall']):.3f} ({float(r['mass']):.3f})" if r else "")
        any_row = next(iter(at.values()))
        ctx = f"{c // 1024}K" if c % 1024 == 0 else str(c)
        print(f"| {w} | {ctx} | {b} | " + " | ".join(cells) +
              f" | {float(any_row['oracle_unit_mass']):.3f} | {float(any_row['oracle_token_mass']):.3f} |")


if __name__ == "__main__":
    main()
