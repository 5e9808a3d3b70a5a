#!/usr/bin/env python3
"""MLA sparse decode attention on the H200: hsa's kernels against the MMA ceiling and the PyTorch peer, in one run.

DeepSeek-V3.2's shapes: 128 query heads over one 576-wide latent row (512 latent + 64 rope), V = the first
512 columns, top-2048 selected tokens per request. FLOPs are counted as FlashMLA counts them:
2 * B * Hq * topk * (576 + 512).
  * ceiling: a bf16 torch.mm of 8192^3 (the tensor cores' achieved peak);
  * peer: gather the selected rows from a device-resident latent cache, bf16 bmm Q K^T, f32 softmax,
    bf16 bmm P V (the best plain-PyTorch form), timed over CUDA graphs with inputs rotated past the L2;
  * hsa: hsa-run --profile (every kernel timed with CUDA events, mean per launch) on the compiled layer:
    attend_mla + attend_mla_merge (warpgroup MMA), and the CUDA-core split kernel (--mla-tensor-cores=false).

  bench/mla_attention.py --hsa-run build-gpu/runtime/hsa-run --bundle build/gpu-bundle --out DIR [--base DIR]
With --base, the wgmma kernel of DIR/deepseek-v32-dsa.hsa (an earlier build) is measured too, interleaved with
the new one (new, base, new, base per batch), and the table gains the base time and the new / base ratio.
Writes DIR/mla_attention.json and prints the table docs/PERF.md carries.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402
from dsa import graph_time_us  # noqa: E402

HQ, DK, DV, TOPK = 128, 576, 512, 2048
SCALE = 0.1352338


def flops(batch):
    return 2.0 * batch * HQ * TOPK * (DK + DV)


def mma_ceiling_tflops():
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    us = graph_time_us(lambda x, y: torch.mm(x, y), [(a, b)], reps=20)
    return 2.0 * n ** 3 / (us * 1e-6) / 1e12


def peer_us(batch, context):
    sets = []
    for _ in range(2):  # two input sets: the second evicts the first's rows from the L2
        cache = torch.randn(batch, context, DK, device="cuda", dtype=torch.bfloat16)
        idx = torch.randint(0, context, (batch, TOPK), device="cuda")
        q = torch.randn(batch, HQ, DK, device="cuda", dtype=torch.bfloat16)
        sets.append((cache, idx, q))
    rows = torch.arange(batch, device="cuda")[:, None]

    def attend(cache, idx, q):
        k = cache[rows, idx]                                  # [B, topk, 576]
        s = torch.bmm(q, k.transpose(1, 2)).float() * SCALE   # [B, Hq, topk]
        p = torch.softmax(s, dim=-1).to(torch.bfloat16)
        return torch.bmm(p, k[..., :DV])                      # [B, Hq, 512]
    return graph_time_us(attend, sets, reps=20)


def hsa_us(hsa_run, artifact, batch, context, steps):
    """The attention kernels' mean times (us) by their names past the layer's prefix (attend, attend_mla, ...)."""
    times = ab.profile(hsa_run, artifact, batch, context, steps, r"^dsv32_attn_attend")
    return {name[len("dsv32_attn_"):]: us for name, us in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hsa-run", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batches", default="1,8,64,128")
    p.add_argument("--context", type=int, default=16000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--base", help="bundle of an earlier build: interleaved A/B of the wgmma kernel")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    start = time.time()
    ceiling = mma_ceiling_tflops()
    rows = []
    for batch in [int(x) for x in a.batches.split(",")]:
        def wgmma_us(bundle):
            return hsa_us(a.hsa_run, f"{bundle}/deepseek-v32-dsa.hsa", batch, a.context, a.steps)

        def total_us(times):
            return times.get("attend_mla", 0.0) + times.get("attend_mla_merge", 0.0)
        base_us = None
        if a.base:
            runs, base_runs = [], []
            for _ in range(2):
                runs.append(wgmma_us(a.bundle))
                base_runs.append(wgmma_us(a.base))
            mla = {k: sum(r.get(k, 0.0) for r in runs) / len(runs) for k in runs[0]}
            base_us = [total_us(r) for r in base_runs]
            new_us = [total_us(r) for r in runs]
        else:
            mla = wgmma_us(a.bundle)
        fma = hsa_us(a.hsa_run, f"{a.bundle}/deepseek-v32-dsa-fma.hsa", batch, a.context, a.steps)
        fp8 = hsa_us(a.hsa_run, f"{a.bundle}/deepseek-v32-dsa-fp8.hsa", batch, a.context, a.steps)
        fp8_fma = hsa_us(a.hsa_run, f"{a.bundle}/deepseek-v32-dsa-fp8-fma.hsa", batch, a.context, a.steps)
        torch_us = peer_us(batch, a.context)
        total = total_us(mla)
        row = dict(batch=batch, hsa_us=total, hsa_kernels=mla, fma_us=fma.get("attend", 0.0),
                   torch_us=torch_us, tflops=flops(batch) / (total * 1e-6) / 1e12,
                   fp8_us=total_us(fp8), fp8_kernels=fp8, fp8_fma_us=fp8_fma.get("attend", 0.0))
        row["fp8_tflops"] = flops(batch) / (row["fp8_us"] * 1e-6) / 1e12
        if base_us:
            row.update(new_runs_us=new_us, base_runs_us=base_us, base_us=sum(base_us) / len(base_us))
        rows.append(row)
        torch.cuda.empty_cache()
        # As each batch ends (a run cut short by a time limit keeps what it measured).
        print(f"[{time.time() - start:6.1f} s] B={batch}: wgmma {row['hsa_us']:.1f} us, CUDA cores "
              f"{row['fma_us']:.1f}, PyTorch {torch_us:.1f}; fp8 wgmma {row['fp8_us']:.1f}, CUDA cores "
              f"{row['fp8_fma_us']:.1f}", file=sys.stderr, flush=True)
        with open(os.path.join(a.out, "mla_attention.json"), "w") as f:
            json.dump(dict(mma_ceiling_tflops=ceiling, context=a.context, rows=rows, complete=False), f, indent=1)
    with open(os.path.join(a.out, "mla_attention.json"), "w") as f:
        json.dump(dict(mma_ceiling_tflops=ceiling, context=a.context, rows=rows, complete=True), f, indent=1)
    print(f"bf16 MMA ceiling (torch.mm 8192^3): {ceiling:.0f} TFLOP/s; context {a.context}, top-{TOPK}, {HQ} heads")
    print("| B | hsa wgmma (attend + merge) | TFLOP/s | / ceiling | CUDA-core kernel | PyTorch gather + bmm | "
          "wgmma vs CUDA cores | wgmma vs PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        k = r["hsa_kernels"]
        print(f"| {r['batch']} | {r['hsa_us']:.1f} us ({k.get('attend_mla', 0):.1f} + {k.get('attend_mla_merge', 0):.1f}) "
              f"| {r['tflops']:.0f} | {r['tflops'] / ceiling:.2f} | {r['fma_us']:.1f} us | {r['torch_us']:.1f} us "
              f"| {r['fma_us'] / r['hsa_us']:.1f}x | {r['torch_us'] / r['hsa_us']:.1f}x |")
    print("fp8 latent cache (656-B rows):")
    print("| B | hsa wgmma (attend + merge) | TFLOP/s | CUDA-core kernel | wgmma vs CUDA cores | fp8 / bf16 time |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        k = r["fp8_kernels"]
        print(f"| {r['batch']} | {r['fp8_us']:.1f} us ({k.get('attend_mla', 0):.1f} + {k.get('attend_mla_merge', 0):.1f}) "
              f"| {r['fp8_tflops']:.0f} | {r['fp8_fma_us']:.1f} us | {r['fp8_fma_us'] / r['fp8_us']:.1f}x "
              f"| {r['fp8_us'] / r['hsa_us']:.2f} |")
    if a.base:
        print("A/B, interleaved (new, base, new, base), attend + merge per run:")
        for r in rows:
            print(f"  B={r['batch']}: new {', '.join(f'{x:.1f}' for x in r['new_runs_us'])} us, "
                  f"base {', '.join(f'{x:.1f}' for x in r['base_runs_us'])} us, new / base {r['hsa_us'] / r['base_us']:.3f}")


if __name__ == "__main__":
    main()
