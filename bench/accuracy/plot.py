#!/usr/bin/env python3
"""Plots of hsa-accuracy's CSV rows (docs/ACCURACY.md):
  recall-<context>.png   recall (vs the unit oracle) against the budget, one panel per workload
  hitrate-<context>.png  LRU hit rate against the buffer size (1x, 2x, 4x the budget) at one budget

usage: bench/accuracy/plot.py ROWS.csv [ROWS.csv ...] --out docs/accuracy [--hit-budget 2048]
"""
import argparse
import csv
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py needs matplotlib: apt-get install -y python3-matplotlib (scripts/setup.sh installs it)")

STYLE = {
    "quest:max": ("tab:blue", "o", "-"),
    "quest:sum": ("tab:cyan", "s", "-"),
    "quest:mean_query": ("tab:purple", "^", "-"),
    "streaming_llm": ("tab:red", "v", "-"),
    "cluster_kv": ("tab:green", "D", "-"),
    "oracle (unit)": ("black", "*", "--"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hit-budget", type=int, default=2048)
    ap.add_argument("--hit-csv", nargs="*", default=None,
                    help="rows for the hit-rate plots (default: the same rows; longer runs show more reuse)")
    args = ap.parse_args()

    def read(paths):
        out = []
        for path in paths:
            with open(path) as f:
                out += [r for r in csv.DictReader(f) if None not in r.values()]
        return out

    rows = read(args.csv)
    hit_rows = read(args.hit_csv) if args.hit_csv else rows
    if not rows:
        sys.exit("no rows")
    os.makedirs(args.out, exist_ok=True)
    for context in sorted({int(r["context"]) for r in rows}):
        at = [r for r in rows if int(r["context"]) == context]
        workloads = list(dict.fromkeys(r["workload"] for r in at))
        label = f"{context // 1024}K" if context % 1024 == 0 else str(context)

        cols = min(4, len(workloads))
        nrows = (len(workloads) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False)
        for ax in axes.flat[len(workloads):]:
            ax.set_visible(False)
        for ax, w in zip(axes.flat, workloads):
            for alg in dict.fromkeys(r["algorithm"] for r in at):
                pts = sorted((int(r["budget_tokens"]), float(r["recall"])) for r in at
                             if r["workload"] == w and r["algorithm"] == alg)
                color, marker, line = STYLE.get(alg, ("gray", ".", "-"))
                ax.plot([p[0] for p in pts], [p[1] for p in pts], line, color=color, marker=marker, label=alg)
            ax.set_xscale("log", base=2)
            budgets = sorted({int(r["budget_tokens"]) for r in at if r["workload"] == w})
            ax.set_xticks(budgets, [str(b) for b in budgets])
            ax.minorticks_off()
            ax.set_title(f"{w}, {label} context")
            ax.set_xlabel("budget (tokens)")
            ax.set_ylim(0, 1.05)
            ax.grid(alpha=0.3)
        for row in axes:
            row[0].set_ylabel("recall (mass / unit-oracle mass)")
        axes.flat[0].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = os.path.join(args.out, f"recall-{label}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print("wrote", path)

        hat = [r for r in hit_rows if int(r["context"]) == context]
        hit_workloads = list(dict.fromkeys(r["workload"] for r in hat))
        if not hat:
            continue
        steps = max(int(r["steps"]) for r in hat)
        fig, axes = plt.subplots(1, len(hit_workloads), figsize=(4.2 * len(hit_workloads), 3.6), squeeze=False)
        for ax, w in zip(axes[0], hit_workloads):
            for alg in dict.fromkeys(r["algorithm"] for r in hat):
                sel = [r for r in hat if r["workload"] == w and r["algorithm"] == alg
                       and int(r["budget_tokens"]) == args.hit_budget]
                if not sel:
                    continue
                r = sel[0]
                color, marker, line = STYLE.get(alg, ("gray", ".", "-"))
                ax.plot([1, 2, 4], [float(r["hit_1x"]), float(r["hit_2x"]), float(r["hit_4x"])], line,
                        color=color, marker=marker, label=alg)
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 2, 4], ["1x", "2x", "4x"])
            ax.minorticks_off()
            ax.set_title(f"{w}, {label}, budget {args.hit_budget}, {steps} steps", fontsize=10)
            ax.set_xlabel("LRU buffer (x budget)")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("hit rate after the first step")
        axes[0][0].legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        path = os.path.join(args.out, f"hitrate-{label}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print("wrote", path)


if __name__ == "__main__":
    main()
