#!/usr/bin/env python3
"""Markdown tables from hsa-residency --json files (docs/PERF.md "Token or page residency").

    bench/residency-table.py [--phase steady|cold] [--row-bytes 1152] [--capacity N] RUN.json [RUN.json ...]

One row per run and configuration: distinct pages per request, hit rate,
rows and MiB moved per layer step, the copy-time estimate (curve and pinned
ceiling) and the steps that overflowed, with each page configuration's
bytes and time relative to token residency at the same memory. --wide: one
column per configuration, four rows per run (pages per request, hit rate,
MiB per step, copy us), for one memory point (--capacity, default the
layer's). --memory: one row per run and memory point, cells "MiB/step
(hit rate)" (runs made with --capacity=LIST).
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
    ap.add_argument("--wide", action="store_true")
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    if args.wide:
        return wide(args)
    if args.memory:
        return memory(args)
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


def memory(args):
    header = None
    for path in args.runs:
        with open(path) as f:
            run = json.load(f)
        k = run["row_bytes"].index(args.row_bytes)
        capacities = sorted({c["capacity_tokens"] for c in run["configs"]})
        for capacity in capacities:
            configs = [c for c in run["configs"] if c["capacity_tokens"] == capacity]
            names = [c["name"].replace("page ", "P ") for c in configs]
            if header is None:
                header = names
                print("| run | memory (tokens) | " + " | ".join(names) + " |")
                print("|---|---:|" + "---:|" * len(names))
            cells = []
            for c in configs:
                p = c[args.phase]
                b = p["per_row_bytes"][k]
                cells.append(f"{b['bytes_h2d'] / 2**20:.3f} ({100 * p['hit_rate']:.0f}%)" +
                             ("*" if p["overflow_steps"] else ""))
            print(f"| {label(run)} | {capacity} | " + " | ".join(cells) + " |")


def wide(args):
    header = None
    for path in args.runs:
        with open(path) as f:
            run = json.load(f)
        k = run["row_bytes"].index(args.row_bytes)
        capacity = args.capacity or run["layer_capacity"]
        configs = [c for c in run["configs"] if c["capacity_tokens"] == capacity]
        names = [c["name"].replace("page ", "P ") for c in configs]
        if header is None:
            header = names
            print("| run | | " + " | ".join(names) + " |")
            print("|---|---|" + "---:|" * len(names))
        elif names != header:
            sys.exit(f"{path}: configurations {names}, the first run's {header}")
        rows = [
            ("pages/req", lambda p, b: f"{p['pages_per_request']:.0f}"),
            ("hit", lambda p, b: f"{100 * p['hit_rate']:.1f}%"),
            ("MiB/step", lambda p, b: f"{b['bytes_h2d'] / 2**20:.3f}"),
            ("copy us", lambda p, b: f"{b['copy_us']:.1f}" + ("*" if p["overflow_steps"] else "")),
        ]
        for i, (name, cell) in enumerate(rows):
            cells = [cell(c[args.phase], c[args.phase]["per_row_bytes"][k]) for c in configs]
            print(f"| {label(run) if i == 0 else ''} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
