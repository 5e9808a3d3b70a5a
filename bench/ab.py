#!/usr/bin/env python3
"""Interleaved A/B of several builds of one layer: per-kernel times from `hsa-run --profile`.

  bench/ab.py --hsa-run build-gpu/runtime/hsa-run --variant new=A.hsa --variant base=B.hsa \
      [--kernels 'attend'] [--batches 1,8,64,128] [--context 16000] [--rounds 3]

Each round runs every variant once per batch, in turn (A, B, A, B, ...), so drift of the clock or of
the machine lands on all of them alike. Prints, per batch, the median over rounds of each kernel whose
name matches --kernels and of their sum, and the sum's ratio to the first variant.
"""
import argparse
import re
import statistics
import subprocess


def profile(hsa_run, artifact, batch, context, steps, pattern):
    out = subprocess.run([hsa_run, artifact, "--backend=cuda", f"--batch={batch}", f"--context={context}",
                          f"--steps={steps}", "--profile"], capture_output=True, text=True, timeout=300)
    lines = [l for l in out.stdout.splitlines() if l.lstrip().startswith("kernels")]
    times = {m.group(1): float(m.group(2)) * 1e3
             for l in lines for m in re.finditer(r"(\w+) ([0-9.]+) ms", l) if re.search(pattern, m.group(1))}
    if not times:
        raise SystemExit(f"no kernel matching {pattern!r} in the profile of {artifact}:\n{out.stdout[-800:]}{out.stderr[-800:]}")
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hsa-run", required=True)
    p.add_argument("--variant", action="append", required=True, metavar="LABEL=ARTIFACT")
    p.add_argument("--kernels", default="attend", help="regex over the profiled kernel names")
    p.add_argument("--batches", default="1,8,64,128")
    p.add_argument("--context", type=int, default=16000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    variants = [v.split("=", 1) for v in a.variant]
    for batch in [int(x) for x in a.batches.split(",")]:
        runs = {label: [] for label, _ in variants}
        for _ in range(a.rounds):
            for label, artifact in variants:
                runs[label].append(profile(a.hsa_run, artifact, batch, a.context, a.steps, a.kernels))
        first = None
        for label, _ in variants:
            names = sorted(runs[label][0])
            total = statistics.median(sum(r.values()) for r in runs[label])
            first = first or total
            parts = " + ".join(f"{n.split('_', 2)[-1]} {statistics.median(r.get(n, 0.0) for r in runs[label]):.1f}"
                               for n in names)
            spread = max(sum(r.values()) for r in runs[label]) - min(sum(r.values()) for r in runs[label])
            print(f"B={batch:<4} {label:<10} {total:8.1f} us (+-{spread / 2:.1f}) = {parts}   x{total / first:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
