#!/usr/bin/env python3
"""Steady-state table of hsa-run --json results (docs/PERF.md).

hsa-run's own means include the cold first step (every selected unit is a
miss: 64 MiB at B=8), so this reports medians over steps >= 1: device time
of the whole decode step (CUDA events; the --graph runs replay the step as one
CUDA graph) and bytes copied host->device per step.

usage: hsa-table.py RUN.json...   (Markdown table on stdout)
"""
import json
import statistics
import sys


def steady_device_us(run):
    """Device times (us) of the steady steps (>= 1) of one hsa-run --json."""
    return sorted(p["device_ms"] * 1000 for p in run["per_step"][1:] if p.get("device_ms"))


def main():
    print("| run | mode | steady step, median us (p90) | first step us | h2d per step, median KiB | device MiB/request (full cache) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sys.argv[1:]:
        d = json.load(open(path))
        w = d["workload"]
        steps = d["per_step"][1:]
        dev = steady_device_us(d)
        h2d = [p["bytes_h2d"] for p in steps]
        mode = "graph" if w.get("graph") else "profile"
        ctx = w["contexts"][0]
        name = d["artifact"].rsplit("/", 1)[-1].removesuffix(".hsa")
        p90 = dev[min(len(dev) - 1, int(0.9 * len(dev)))]
        req = d["requests"][0]
        print(f"| {name} B={w['batch']} ctx={ctx // 1024}K | {mode} | {statistics.median(dev):.1f} ({p90:.1f}) "
              f"| {d['per_step'][0]['device_ms'] * 1000:.0f} | {statistics.median(h2d) / 1024:.0f} "
              f"| {req['device_bytes'] / 2**20:.1f} ({req['full_device_cache_bytes'] / 2**20:.0f}) |")


if __name__ == "__main__":
    main()
