#!/usr/bin/python3
"""Plots of one bench/dsa_step.py run (its dsa_step.json), as PNG files for docs/PERF.md.

  bench/plot_dsa_step.py RUN/dsa_step.json --out docs/img [--prefix dsa-step]

Writes PREFIX-time.png (per shape: hsa's step, its bound and the bound plus hsa-run's staging copies,
the dense MLA and sparse PyTorch peers; log scale) and PREFIX-stages.png (per shape: the stages'
--profile means and hsa-run's staging copies at the copy ceilings, stacked, beside the graph step). Needs matplotlib
(Debian: python3-matplotlib; this script runs under /usr/bin/python3 for that reason).
"""
import argparse
import json
import os
import sys

STAGES = ["score", "top-k", "diff", "gather", "page table", "attention + merge"]


def load(path):
    with open(path) as f:
        run = json.load(f)
    rows = []
    for r in run["rows"]:
        graph = r["hsa"].get("graph", {}).get("parsed") or {}
        profile = r["hsa"].get("profile", {}).get("parsed") or {}
        step = (graph.get("step_us") or {}).get("median")
        if step is None:
            continue  # a shape the run skipped
        peers = {name: p.get("us") for name, p in r.get("peers", {}).items()}
        rows.append({"label": f"B={r['batch']}\n{r['context'] // 1024}K", "step": step,
                     "bound": r["bound"]["bound_us"], "bound_staging": r["bound"]["bound_with_staging_us"],
                     "dense": peers.get("dense"), "sparse": peers.get("sparse"),
                     "staging": r["bound"].get("staging_copies_us", 0.0),
                     "stages": profile.get("stage_us", {})})
    if not rows:
        raise SystemExit(f"{path}: no shape with a measured step")
    return run, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json")
    p.add_argument("--out", required=True, help="directory for the PNG files")
    p.add_argument("--prefix", default="dsa-step")
    a = p.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_dsa_step: needs matplotlib: apt install python3-matplotlib, run with /usr/bin/python3")
    run, rows = load(a.json)
    os.makedirs(a.out, exist_ok=True)
    x = range(len(rows))
    title = f"DeepSeek-V3.2 DSA layer, one decode step, {run.get('device', 'GPU')}"

    fig, ax = plt.subplots(figsize=(8, 4.5))
    series = [("hsa step (CUDA graph)", "step", "o-", "C0"), ("bound", "bound", "--", "0.4"),
              ("bound + hsa-run's staging", "bound_staging", ":", "0.4"),
              ("dense MLA peer (device cache)", "dense", "s-", "C3"),
              ("sparse PyTorch peer (device cache)", "sparse", "^-", "C2")]
    for name, key, style, color in series:
        xs = [i for i, r in enumerate(rows) if r[key]]
        ax.plot(xs, [rows[i][key] for i in xs], style, color=color, label=name)
    ax.set_yscale("log")
    ax.set_xticks(list(x), [r["label"] for r in rows])
    ax.set_ylabel("us per step (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, f"{a.prefix}-time.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.38
    bottom = [0.0] * len(rows)
    for k, stage in enumerate(STAGES):
        values = [r["stages"].get(stage, 0.0) for r in rows]
        ax.bar([i - width / 2 for i in x], values, width, bottom=bottom, label=stage, color=f"C{k}")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.bar([i - width / 2 for i in x], [r["staging"] for r in rows], width, bottom=bottom, color="white",
           edgecolor="0.3", hatch="//", label="hsa-run's staging (at the copy ceilings)")
    ax.bar([i + width / 2 for i in x], [r["step"] for r in rows], width, color="0.25",
           label="whole step (graph)")
    ax.set_xticks(list(x), [r["label"] for r in rows])
    ax.set_ylabel("us")
    ax.set_title(title + "\nleft: stages under --profile (CUDA events, ~7 us each); right: the step", fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, f"{a.prefix}-stages.png"), dpi=110)
    plt.close(fig)
    print(f"plot_dsa_step: {len(rows)} shapes -> {a.out}/{a.prefix}-time.png, {a.prefix}-stages.png")


if __name__ == "__main__":
    main()
