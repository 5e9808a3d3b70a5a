#!/usr/bin/env python3
"""Markdown tables from hsa-residency --json files (docs/PERF.md "Token or page residency").

    bench/residency-table.py [--phase steady|cold] [--row-bytes 1152] [--capacity N] RUN.json [RUN.json ...]

One row per run and configuration: distinct pages per request, hit rate,
rows and MiB moved per layer step, the copy-time estimate (curve and pinned
ceiling) and the steps that overflowed, with each page configuration's
bytes and time relative to token residency at the same memory.
"""
import argparse
import json
import sys


def label(run):
    prompts = run["prompts"]
    context = prompts[0] if all(p == prompts[0] for p in prompts) else "mixed"
    if isinstance(context, int) and context % 1024 == 0:
        context = f"{context // 1024}K"
    workload = run["run"].split(" ")[0] if run["run"] else "trace"
    return f"{workload} B={run['batch']} {context}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--phase", default="steady", choices=["steady", "cold"])
    ap.add_argument("--row-bytes", type=int, default=1152)
    ap.add_argument("--capacity", type=int, default=0, help="only this memory point (tokens); default: all")
    args = ap.parse_args()
    print("| run | residency | slots | pages/req (max) | hit | rows moved | MiB | copy us (ceiling) | vs token | overflow |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.runs:
        with open(path) as f:
            run = json.load(f)
        if args.row_bytes not in run["row_bytes"]:
            sys.exit(f"{path}: no {args.row_bytes}-B rows (it has {run['row_bytes']})")
        k = run["row_bytes"].index(args.row_bytes)
        steps = run["phases"][args.phase]["end"] - run["phases"][args.phase]["first"]
        token = {}
        for c in run["configs"]:
            if c["residency"] == "token":
                token[c["capacity_tokens"]] = c[args.phase]["per_row_bytes"][k]
        for c in run["configs"]:
            if args.capacity and c["capacity_tokens"] != args.capacity:
                continue
            p = c[args.phase]
            b = p["per_row_bytes"][k]
            t = token.get(c["capacity_tokens"])
            versus = "1"
            if c["residency"] != "token" and t:
                versus = (f"{b['bytes_h2d'] / t['bytes_h2d']:.1f}x B, {b['copy_us'] / t['copy_us']:.1f}x t"
                          if t["bytes_h2d"] > 0 else "")
            print(f"| {label(run)} | {c['name']} | {c['slots']} | "
                  f"{p['pages_per_request']:.0f} ({p['max_pages_per_request']:.0f}) | {100 * p['hit_rate']:.1f}% | "
                  f"{p['rows_moved']:.0f} | {b['bytes_h2d'] / 2**20:.3f} | {b['copy_us']:.1f} ({b['copy_us_at_ceiling']:.1f}) | "
                  f"{versus} | {p['overflow_steps']:.0f}/{steps} |")


if __name__ == "__main__":
    main()
