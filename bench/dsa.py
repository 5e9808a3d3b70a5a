#!/usr/bin/env python3
"""DSA selection stages on the GPU: hsa's kernels against the ceilings and the PyTorch peers, in one run.

For DeepSeek-V3.2's indexer shapes (64 heads x 128 dims, top-2048) at L = 32K / 128K and B = 1 / 8 / 64:
  * ceilings: HBM read (torch.sum over 4 GiB), pinned host-to-device copy;
  * peers: the indexer in its best PyTorch form (bf16 bmm + relu + weighted sum; ../shared/DSA.md) and
    torch.topk(2048, sorted=False) over [B, L] f32, both timed over CUDA graphs with inputs rotated past the L2;
  * hsa: hsa-run --profile on the compiled DSA layer (every kernel timed with CUDA events), per stage.
The byte floor of the indexer is (B * L * 132 B + queries) / HBM read.

  bench/dsa.py --hsa-run build-gpu/runtime/hsa-run --artifact build/gpu-bundle/deepseek-v32-dsa.hsa --out DIR
Writes DIR/dsa.json and prints the table docs/PERF.md carries.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

HEADS, DIM, TOPK = 64, 128, 2048


def graph_time_us(fn, sets, reps=20):
    """Mean time of fn(inputs) over CUDA-graph replays, cycling through `sets` of inputs (past the L2)."""
    torch.cuda.synchronize()
    for s in sets:  # warm up and allocate outside the capture
        fn(*s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for s in sets:
            fn(*s)
    g.replay()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        g.replay()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) * 1e3 / (reps * len(sets))


def ceilings():
    x = torch.empty(1 << 30, dtype=torch.float32, device="cuda").uniform_()
    t = graph_time_us(lambda a: a.sum(), [(x,)], reps=10)
    hbm = x.numel() * 4 / (t * 1e-6) / 1e9
    host = torch.empty(1 << 28, dtype=torch.float32).pin_memory()
    dev = torch.empty_like(host, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        dev.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    h2d = 5 * host.numel() * 4 / (time.perf_counter() - t0) / 1e9
    del x, host, dev
    return {"hbm_read_GBps": hbm, "pinned_h2d_GBps": h2d}


def peers(batch, length):
    """The indexer's best PyTorch form and torch.topk, in us."""
    sets = max(1, min(8, (1 << 31) // (batch * length * DIM * 2)))
    idx_sets, topk_sets = [], []
    for _ in range(sets):
        q = torch.randn(batch, HEADS, DIM, device="cuda").to(torch.bfloat16)
        k = torch.randn(batch, length, DIM, device="cuda").to(torch.bfloat16)
        w = torch.randn(batch, HEADS, 1, device="cuda")
        scale = torch.rand(batch, length, device="cuda") + 0.5
        idx_sets.append((q, k, w, scale))
        topk_sets.append((torch.randn(batch, length, device="cuda"),))

    def indexer(q, k, w, scale):
        logits = torch.bmm(k, q.transpose(1, 2)).float().relu_()  # [B, L, H]
        return torch.bmm(logits, w).squeeze(-1) * scale

    return {"indexer_us": graph_time_us(indexer, idx_sets),
            "topk_us": graph_time_us(lambda s: torch.topk(s, TOPK, dim=-1, sorted=False), topk_sets)}


def hsa(hsa_run, artifact, batch, length, steps, out_dir):
    path = os.path.join(out_dir, f"hsa_b{batch}_{length}.json")
    out = subprocess.run([hsa_run, artifact, "--backend=cuda", "--quiet", "--profile", f"--batch={batch}",
                          f"--context={length}", f"--steps={steps}", f"--json={path}"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout)[-400:]}
    with open(path) as f:
        record = json.load(f)
    return {"kernel_us": {k: v * 1e3 for k, v in record["kernel_time_ms"].items()},
            "step_ms": record["step_time_ms"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hsa-run")
    p.add_argument("--artifact")
    p.add_argument("--out", required=True)
    p.add_argument("--shapes", default="1:32768,8:32768,1:131072,8:131072,64:131072")
    p.add_argument("--hsa-shapes", default="1:32768,8:32768,1:131072,8:131072",
                   help="the shapes hsa-run also runs (its prompts are generated on the CPU)")
    p.add_argument("--steps", type=int, default=8)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    result = {"ceilings": ceilings(), "rows": [], "device": torch.cuda.get_device_name()}
    hbm = result["ceilings"]["hbm_read_GBps"]
    hsa_shapes = set(a.hsa_shapes.split(",")) if a.hsa_run and a.artifact else set()
    print(f"ceilings: HBM read {hbm:.0f} GB/s, pinned H2D {result['ceilings']['pinned_h2d_GBps']:.1f} GB/s")
    for shape in a.shapes.split(","):
        batch, length = map(int, shape.split(":"))
        row = {"batch": batch, "length": length, **peers(batch, length)}
        row["indexer_floor_us"] = (batch * length * (DIM + 4) + batch * HEADS * (DIM + 4)) / (hbm * 1e3)
        if shape in hsa_shapes:
            row["hsa"] = hsa(a.hsa_run, a.artifact, batch, length, a.steps, a.out)
        result["rows"].append(row)
        kernels = row.get("hsa", {}).get("kernel_us", {})
        print(f"B={batch:3d} L={length:6d}: indexer torch {row['indexer_us']:8.1f} us (floor "
              f"{row['indexer_floor_us']:.1f}), topk torch {row['topk_us']:7.1f} us; hsa "
              + (", ".join(f"{k} {v:.1f}" for k, v in kernels.items()) if kernels else row.get("hsa", {}).get(
                  "error", "not run")), flush=True)
    with open(os.path.join(a.out, "dsa.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
