#!/usr/bin/env python3
"""The whole decode step of DeepSeek-V3.2's DSA layer on the GPU: hsa against its bound and PyTorch, in one run.

The layer is examples/deepseek-v32-dsa.mlir (128 query heads over one 576-wide bf16 latent row, V = its first 512
columns; indexer 64 heads x 128 dims, fp8 keys + an fp32 scale per token; top-2048 tokens; an LRU buffer of 8192
rows on the device; the whole latent cache in pinned host memory). Per shape (B x L), all in the same run:
  * hsa step: hsa-run --graph (the decode step replayed as one CUDA graph, CUDA events around it): the median
    device time of the steady steps (every step but the first, which fills the empty buffer);
  * hsa stages: hsa-run --profile (CUDA events around every kernel, which adds ~7 us per kernel): kernel means
    per launch over ALL steps, the cold first one included (hsa-run reports no per-step kernel times), grouped by
    name into indexer score / top-k / diff / gather / page table / attention + merge;
  * misses: hsa-run's own steady figures (bytes_h2d_per_step_after_first_step, hit_rate_after_first_step);
  * ceilings: HBM read and pinned host-to-device (bench/dsa.py ceilings()), pinned device-to-host (the same
    method), bf16 MMA peak (bench/mla_attention.py mma_ceiling_tflops());
  * bound = max(miss bytes / pinned H2D,
                (index-key bytes (B * L' * 132 + B * 64 * 132, as bench/dsa.py) + selected rows (B * 2048 * 1152))
                  / HBM read,
                FLOPs (2 * B * 128 * 2048 * (576 + 512), as FlashMLA counts) / MMA peak)
            + a launch constant (--launch-us, 5 us: assumed, not measured);
    L' = the mean context over the steady steps (L + 1 + steps / 2). Not in it: the scores the indexer writes
    and the top-k reads (B * L * 4 B per pass), the query reads and the output writes. Also reported:
    hsa-run's staging copies inside the captured step (q, index q / w, lengths in; o, ids, counts out;
    runtime/src/cuda_backend.cpp enqueue_decode_sequence) at the measured copy ceilings, and the bound plus them;
  * peers, over a device-resident cache, CUDA graphs with inputs rotated past the L2 (dsa.graph_time_us):
    (a) dense MLA: bf16 bmm Q [B,128,576] x all L latent rows, f32 softmax (scale 0.1352338), bf16 bmm with
        the first 512 columns, chunked over the batch;
    (b) sparse: the indexer in its best PyTorch form (bf16 bmm + relu + bmm(w), bench/dsa.py) + torch.topk(2048)
        + gather + attention (bench/mla_attention.py's peer), captured as one graph (else the sum of the parts,
        labelled so).

  python3 bench/dsa_step.py --hsa-run build-gpu/runtime/hsa-run \\
      --artifact build/gpu-bundle/deepseek-v32-dsa.hsa --out DIR [--batches 1,8,64,128] [--contexts 32768,131072]
Writes DIR/dsa_step.json (every number; updated after each shape), DIR/hsa_b<B>_<L>_<mode>.{json,txt} (hsa-run's
own output) and prints a Markdown table; progress goes to stderr.

Time: hsa-run builds every prompt on the CPU, one thread (runtime/tools/workload.cpp Synthetic::prompt plus the
runtime's host prefill), once per run and mode, and pins B * (L + steps) * 1412 B of host memory (latent rows,
bf16 index keys, scales): B=128 x 128K is 16.8M tokens and 23.7 GB per run; session 10's H200 runs prefilled
~9-13 us per token, so that shape takes ~3-4 min per mode. Shapes run smallest first; a run's time is estimated
from the prefill rate measured so far in this run (or from the same shape's other mode), and a run that would
not end inside --budget-s is skipped and recorded as skipped (the JSON is written after every shape). The whole
default matrix (~15 min) does not fit one 600-s device command: the default budget drops its largest shapes.
Split it with --shapes, e.g. 1:32768,8:32768,64:32768,128:32768,1:131072,8:131072 (~4 min), 64:131072 (~4 min),
128:131072 --hsa-modes graph (~4 min), 128:131072 --hsa-modes profile --skip-peers (~4 min).

  python3 bench/dsa_step.py --parse-only RUN_graph.json[,RUN_profile.json] --assume-ceilings HBM,H2D,D2H,TFLOPS
checks the parsing and the bound on saved hsa-run JSON without a GPU (the ceilings are then the given numbers).
"""
import argparse
import collections
import gc
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCH_US = 5.0          # the bound's launch constant: assumed (hsa-table.py and docs/PERF.md state none)
ROTATE_BYTES = 512 << 20  # peers rotate at least this many input bytes per replay (the H200's L2 is 60 MB)
HOST_BYTES_PER_TOKEN = 576 * 2 + 128 * 2 + 4  # hsa-run's pinned host pool per token for this layer
STAGES = (  # (stage, substrings of a kernel name), first match wins: fused kernels before their parts
    ("score + top-k", ("score_topk",)),
    ("diff + gather", ("diff_gather",)),
    ("score", ("score",)),
    ("top-k", ("topk", "select")),
    ("diff", ("diff",)),
    ("gather", ("gather",)),
    ("page table", ("page_table", "token_table")),
    ("attention + merge", ("attend", "merge")),
)
TABLE_STAGES = ("score", "top-k", "diff", "gather", "page table", "attention + merge")
NOTES = ("Step: hsa-run --graph, device time of the whole step replayed as one CUDA graph, median (p90) over every "
         "step but the first (the cold one that fills the buffer). Stages: hsa-run --profile, CUDA events around "
         "every kernel (~7 us of event overhead each, so they sum to more than the step), means per launch over all "
         "steps including the cold first one (which inflates diff and gather). Miss MB (10^6 B) and hit rate: "
         "hsa-run's steady figures (steps after the first). Peers hold the whole cache on the device and rotate "
         "their inputs past the L2; hsa-run does not (at B=1 its index keys can stay in the L2 across steps). "
         "Ratios: peer / hsa step (> 1: hsa faster).")


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Parsing hsa-run --json and the bound (no GPU, no torch)

def steady(values):
    """Median, mean and p90 of a list (us), as bench/hsa-table.py reports them."""
    v = sorted(values)
    if not v:
        return None
    return {"median": statistics.median(v), "mean": statistics.fmean(v), "p90": v[min(len(v) - 1, int(0.9 * len(v)))],
            "min": v[0], "max": v[-1], "n": len(v)}


def stage_of(kernel):
    for stage, keys in STAGES:
        if any(k in kernel for k in keys):
            return stage
    return "other"


def layer_of(record):
    """The layer's sizes from hsa-run --json's config and workload."""
    c, w = record["config"], record["workload"]
    params = c.get("algorithm_params") or {}
    index_dtype = str(params.get("index_dtype", "f8E4M3FN"))
    if len(set(w["contexts"])) != 1:
        raise ValueError(f"prompts of different lengths {sorted(set(w['contexts']))}: this table needs one L")
    return {"batch": w["batch"], "context": w["contexts"][0], "steps": w["steps"],
            "q_heads": c["q_heads"], "head_dim": c["head_dim"], "value_dim": c["value_dim"],
            "page_size": c["page_size"], "groups": c["groups"], "budget_units": c["budget_units"],
            "unit_bytes": c["unit_bytes"], "index_heads": params.get("index_heads", 64),
            "index_dim": params.get("index_dim", 128), "index_elem_bytes": 1 if "f8" in index_dtype.lower() else 2,
            "act_bytes": 2, "algorithm": c["algorithm"], "softmax_scale": c["softmax_scale"]}


def work_of(layer):
    """What one steady step must move and compute (the bound's terms), and hsa-run's staging copies."""
    b, steps = layer["batch"], layer["steps"]
    tokens = layer["context"] + 1 + steps / 2.0  # mean context over steps 1..steps-1 (one token appended per step)
    key = layer["index_dim"] * layer["index_elem_bytes"] + 4  # 128 fp8 + one fp32 scale (keys); q row + weight
    budget_tokens = layer["budget_units"] * layer["page_size"]
    return {
        "index_tokens_mean": tokens,
        "index_key_bytes": b * tokens * key + b * layer["index_heads"] * key,  # bench/dsa.py's indexer floor bytes
        "selected_row_bytes": b * layer["groups"] * layer["budget_units"] * layer["unit_bytes"],
        "attention_flops": 2.0 * b * layer["q_heads"] * budget_tokens * (layer["head_dim"] + layer["value_dim"]),
        # cuda_backend.cpp enqueue_decode_sequence: req.length, req.step, io.q, the decode step inputs (index q,
        # index w) in; io.o, sel.copy_count, sel.units out; all on the step's stream, inside the graph.
        "staging_h2d_bytes": b * (8 + layer["q_heads"] * layer["head_dim"] * layer["act_bytes"]
                                  + layer["index_heads"] * layer["index_dim"] * layer["index_elem_bytes"]
                                  + layer["index_heads"] * 4),
        "staging_d2h_bytes": b * (layer["q_heads"] * layer["value_dim"] * layer["act_bytes"]
                                  + layer["groups"] * 4 + layer["groups"] * layer["budget_units"] * 4),
    }


def bound_of(work, miss_bytes, ceilings, launch_us):
    """Lower bound of the step (us): the slowest of PCIe misses, HBM bytes, MMA FLOPs, plus the launch constant."""
    terms = {"misses_over_h2d_us": miss_bytes / (ceilings["pinned_h2d_GBps"] * 1e3),
             "bytes_over_hbm_us": (work["index_key_bytes"] + work["selected_row_bytes"])
             / (ceilings["hbm_read_GBps"] * 1e3),
             "flops_over_mma_us": work["attention_flops"] / (ceilings["mma_bf16_TFLOPs"] * 1e6)}
    limit = max(terms, key=terms.get)
    staging = (work["staging_h2d_bytes"] / (ceilings["pinned_h2d_GBps"] * 1e3)
               + work["staging_d2h_bytes"] / (ceilings["pinned_d2h_GBps"] * 1e3))
    bound = terms[limit] + launch_us
    return {**terms, "launch_us": launch_us, "limit": limit.split("_over_")[0], "bound_us": bound,
            "staging_copies_us": staging, "bound_with_staging_us": bound + staging}


def parse_graph_run(record):
    """Step time and misses of an hsa-run --graph --json record, steady steps = every step but the first."""
    steps = record["per_step"]
    if len(steps) < 2:
        raise ValueError("hsa-run ran fewer than 2 steps: no steady step")
    warm = steps[1:]
    device = [p["device_ms"] * 1e3 for p in warm if p.get("device_ms") is not None]
    first = steps[0].get("device_ms")
    return {"graph": bool(record["workload"].get("graph")), "backend": record["backend"], "device": record["device"],
            "steps": len(steps), "step_us": steady(device), "first_step_us": first * 1e3 if first is not None else None,
            "miss_bytes_per_step": record["bytes_h2d_per_step_after_first_step"],
            "hit_rate": record["hit_rate_after_first_step"],
            "misses_per_step": statistics.fmean(p["misses"] for p in warm),
            "first_step_miss_bytes": steps[0]["bytes_h2d"],
            "miss_bytes_without_buffer_per_step": record["bytes_h2d_per_step_without_buffer"],
            "topk_overlap": record.get("topk_overlap"),
            "device_bytes_per_request": record["device_bytes_per_request"],
            "full_device_cache_bytes_per_request": record["full_device_cache_bytes_per_request"],
            "prefill_tokens": record["prefill"]["tokens"], "prefill_s": record["prefill"]["seconds"],
            "decode_wall_ms_mean": record["step_time_ms"]["decode_wall_mean"],
            "per_step_device_us": [p["device_ms"] * 1e3 if p.get("device_ms") is not None else None for p in steps],
            "per_step_miss_bytes": [p["bytes_h2d"] for p in steps]}


def parse_profile_run(record):
    """Kernel means per launch (us) of an hsa-run --profile --json record, and their sums per stage."""
    kernels = record.get("kernel_time_ms")
    if not kernels:
        raise ValueError("hsa-run reported no kernel timings (kernel_time_ms is null)")
    kernel_us = {k: v * 1e3 for k, v in kernels.items()}
    stages = collections.OrderedDict()
    for name, us in kernel_us.items():
        stage = stage_of(name)
        stages[stage] = stages.get(stage, 0.0) + us
    device = [p["device_ms"] * 1e3 for p in record["per_step"][1:] if p.get("device_ms") is not None]
    return {"kernel_us": kernel_us, "stage_us": dict(stages),
            "kernel_names_by_stage": {s: [k for k in kernel_us if stage_of(k) == s] for s in stages},
            "kernel_sum_us": sum(kernel_us.values()), "profiled_step_us": steady(device),
            "steps": len(record["per_step"]), "prefill_s": record["prefill"]["seconds"],
            "miss_bytes_per_step": record["bytes_h2d_per_step_after_first_step"]}


def summarize(row, ceilings, launch_us):
    """Fills row's layer, work, bound and ratios from its parsed hsa-run results and peers (in place)."""
    graph = row.get("hsa", {}).get("graph", {})
    record = graph.get("record")
    if record is None:
        record = row.get("hsa", {}).get("profile", {}).get("record")
    if record is None:
        return row
    row["layer"] = layer = layer_of(record)
    row["work"] = work = work_of(layer)
    parsed = graph.get("parsed") or row.get("hsa", {}).get("profile", {}).get("parsed")
    miss = parsed["miss_bytes_per_step"] if parsed else None
    if ceilings and miss is not None:
        row["bound"] = bound_of(work, miss, ceilings, launch_us)
    step = (graph.get("parsed") or {}).get("step_us")
    if step and row.get("bound"):
        row["step_over_bound"] = step["median"] / row["bound"]["bound_us"]
        row["step_over_bound_with_staging"] = step["median"] / row["bound"]["bound_with_staging_us"]
    for peer in ("dense", "sparse"):
        us = row.get("peers", {}).get(peer, {}).get("us")
        if step and us:
            row.setdefault("ratios", {})[f"{peer}_over_hsa"] = us / step["median"]
    return row


# ---------------------------------------------------------------------------
# Markdown

def num(v, spec=".1f"):
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def short_error(part):
    """A table cell for a part that has no number: why (the JSON has the whole message)."""
    if not part:
        return "not run"
    if part.get("skipped"):
        return "skipped: " + part["skipped"].split(":")[0]
    if part.get("error"):
        return "failed: " + part["error"].split(":")[0][:40]
    return "n/a"


def table_lines(rows, ceilings, launch_us, ceilings_label="Ceilings in this run"):
    out = []
    if ceilings:
        out.append(f"{ceilings_label}: HBM read {ceilings['hbm_read_GBps']:.0f} GB/s (torch.sum over 4 GiB), "
                   f"pinned H2D {ceilings['pinned_h2d_GBps']:.1f} GB/s, pinned D2H {ceilings['pinned_d2h_GBps']:.1f} "
                   f"GB/s (1 GiB copies), bf16 MMA {ceilings['mma_bf16_TFLOPs']:.0f} TFLOP/s (torch.mm 8192^3); "
                   f"launch constant {launch_us:g} us (assumed, not measured).")
    out.append("")
    out.append("| B | L | hsa step us (graph, median; p90) | bound us (limit) | step / bound | stages us (profile): "
               "score / top-k / diff / gather / table / attn+merge | miss MB/step | hit rate | dense MLA peer us "
               "(peer / hsa) | sparse PyTorch peer us (peer / hsa) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["context"], r["batch"])):
        g = r.get("hsa", {}).get("graph", {})
        gp, pp = g.get("parsed"), r.get("hsa", {}).get("profile", {}).get("parsed")
        step = gp["step_us"] if gp and gp.get("step_us") else None
        cell_step = f"{step['median']:.1f} ({step['p90']:.1f})" if step else short_error(g)
        b = r.get("bound")
        cell_bound = f"{b['bound_us']:.1f} ({b['limit']})" if b else "n/a"
        if pp:
            st = pp["stage_us"]
            cell_stages = " / ".join(num(st.get(s)) for s in TABLE_STAGES)
            extra = [f"{s} {st[s]:.1f}" for s in st if s not in TABLE_STAGES]
            cell_stages += (" + " + ", ".join(extra)) if extra else ""
        else:
            cell_stages = short_error(r.get("hsa", {}).get("profile"))
        miss = gp or pp
        cell_miss = num(miss["miss_bytes_per_step"] / 1e6, ".2f") if miss else "n/a"
        cell_hit = f"{100 * gp['hit_rate']:.2f}%" if gp and gp.get("hit_rate") is not None else "n/a"
        peers = []
        for peer in ("dense", "sparse"):
            p = r.get("peers", {}).get(peer)
            if p and p.get("us"):
                ratio = r.get("ratios", {}).get(f"{peer}_over_hsa")
                label = " sum of parts" if p.get("mode", "").startswith("sum") else ""
                peers.append(f"{p['us']:.1f}{label}" + (f" ({ratio:.2f}x)" if ratio else ""))
            else:
                peers.append(short_error(p))
        out.append(f"| {r['batch']} | {r['context']} | {cell_step} | {cell_bound} "
                   f"| {num(r.get('step_over_bound'), '.2f')} | {cell_stages} | {cell_miss} | {cell_hit} "
                   f"| {peers[0]} | {peers[1]} |")
    with_work = [r for r in sorted(rows, key=lambda r: (r["context"], r["batch"])) if r.get("work")]
    if with_work:
        out.append("")
        out.append("hsa-run's staging copies inside the captured step (q, index q / w, lengths in; o, ids out), not "
                   "in the bound above:")
        out.append("")
        out.append("| B | L | staging MB in / out | at the copy ceilings us | bound + staging us "
                   "| step / (bound + staging) |")
        out.append("|---|---|---|---|---|---|")
    for r in with_work:
        w, b = r["work"], r.get("bound")
        out.append(f"| {r['batch']} | {r['context']} | {w['staging_h2d_bytes'] / 1e6:.2f} / "
                   f"{w['staging_d2h_bytes'] / 1e6:.2f} | {num(b and b['staging_copies_us'])} | "
                   f"{num(b and b['bound_with_staging_us'])} | {num(r.get('step_over_bound_with_staging'), '.2f')} |")
    out.append("")
    out.append(NOTES)
    return out


# ---------------------------------------------------------------------------
# GPU: ceilings and peers (torch imported here, so --help and --parse-only run without it)

def measure_ceilings():
    import torch
    sys.path.insert(0, HERE)
    from dsa import ceilings
    from mla_attention import mma_ceiling_tflops
    c = ceilings()  # HBM read (torch.sum over 4 GiB), pinned H2D (5 x 1 GiB)
    host = torch.empty(1 << 28, dtype=torch.float32).pin_memory()  # pinned D2H, the same method
    dev = torch.empty(host.shape, dtype=torch.float32, device="cuda").uniform_()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        host.copy_(dev, non_blocking=True)
    torch.cuda.synchronize()
    c["pinned_d2h_GBps"] = 5 * host.numel() * 4 / (time.perf_counter() - t0) / 1e9
    del host, dev
    c["mma_bf16_TFLOPs"] = mma_ceiling_tflops()
    release_memory()
    return c


def release_memory():
    import torch
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    if hasattr(torch._C, "_host_emptyCache"):  # pinned blocks cached by PyTorch: give them back for hsa-run's pool
        torch._C._host_emptyCache()


def input_sets(set_bytes, scratch_bytes):
    """How many input sets to rotate (at least ROTATE_BYTES, at most 8), and whether one fits at all."""
    import torch
    free = torch.cuda.mem_get_info()[0]
    sets = max(1, min(8, -(-ROTATE_BYTES // max(1, set_bytes))))
    while sets > 1 and sets * set_bytes + scratch_bytes > 0.85 * free:
        sets -= 1
    need = sets * set_bytes + scratch_bytes
    return sets, need <= 0.85 * free, need, free


def dense_peer(batch, context):
    """Dense MLA decode over a device-resident [B, L, 576] bf16 cache, bmm form, chunked over the batch."""
    import torch
    sys.path.insert(0, HERE)
    from dsa import graph_time_us
    from mla_attention import HQ, DK, DV, SCALE
    chunk = max(1, min(batch, (2 << 30) // (HQ * context * 4)))  # a chunk's f32 scores <= 2 GiB
    set_bytes = batch * context * DK * 2 + batch * HQ * (DK + DV) * 2
    scratch = 2 * chunk * HQ * context * (2 + 4 + 4 + 2)  # bf16 S, f32 S, f32 P, bf16 P; twice for the allocator
    sets, fits, need, free = input_sets(set_bytes, scratch)
    info = {"sets": sets, "chunk": chunk, "device_bytes_needed": need, "device_bytes_free": free}
    if not fits:
        return {**info, "skipped": f"needs {need / 1e9:.1f} GB of device memory, {free / 1e9:.1f} GB free"}
    data = [(torch.randn(batch, context, DK, device="cuda", dtype=torch.bfloat16),
             torch.randn(batch, HQ, DK, device="cuda", dtype=torch.bfloat16),
             torch.empty(batch, HQ, DV, device="cuda", dtype=torch.bfloat16)) for _ in range(sets)]

    def dense(cache, q, out):
        for b0 in range(0, batch, chunk):
            c = cache[b0:b0 + chunk]
            s = torch.bmm(q[b0:b0 + chunk], c.transpose(1, 2)).float().mul_(SCALE)  # [b, Hq, L]
            p = torch.softmax(s, dim=-1).to(torch.bfloat16)
            torch.bmm(p, c[..., :DV], out=out[b0:b0 + chunk])                       # [b, Hq, 512]
        return out
    try:
        return {**info, "us": graph_time_us(dense, data, reps=10 if sets * set_bytes > (8 << 30) else 20),
                "mode": "one CUDA graph"}
    finally:
        del data
        release_memory()


def sparse_peer(batch, context):
    """PyTorch DSA: indexer (bf16 bmm + relu + bmm(w), * scale), torch.topk(2048), gather, MLA attention."""
    import torch
    sys.path.insert(0, HERE)
    from dsa import graph_time_us, HEADS, DIM, TOPK
    from mla_attention import HQ, DK, DV, SCALE
    set_bytes = batch * context * (DK * 2 + DIM * 2 + 4) + batch * (HQ * DK * 2 + HEADS * DIM * 2 + HEADS * 4)
    scratch = 2 * batch * context * HEADS * (2 + 4) + batch * TOPK * DK * 2 * 2
    sets, fits, need, free = input_sets(set_bytes, scratch)
    info = {"sets": sets, "device_bytes_needed": need, "device_bytes_free": free}
    if not fits:
        return {**info, "skipped": f"needs {need / 1e9:.1f} GB of device memory, {free / 1e9:.1f} GB free"}
    rows = torch.arange(batch, device="cuda")[:, None]
    data = []
    for _ in range(sets):
        data.append((torch.randn(batch, context, DK, device="cuda", dtype=torch.bfloat16),  # latent cache
                     torch.randn(batch, HQ, DK, device="cuda", dtype=torch.bfloat16),        # MLA query
                     torch.randn(batch, HEADS, DIM, device="cuda", dtype=torch.bfloat16),    # indexer query
                     torch.randn(batch, context, DIM, device="cuda", dtype=torch.bfloat16),  # indexer keys
                     torch.randn(batch, HEADS, 1, device="cuda"),                           # head weights
                     torch.rand(batch, context, device="cuda") + 0.5))                      # key scales

    def indexer(qi, ki, w, scale):  # bench/dsa.py's best PyTorch form
        logits = torch.bmm(ki, qi.transpose(1, 2)).float().relu_()  # [B, L, H]
        return torch.bmm(logits, w).squeeze(-1) * scale

    def attend(cache, idx, q):  # bench/mla_attention.py's peer
        k = cache[rows, idx]                                  # [B, topk, 576]
        s = torch.bmm(q, k.transpose(1, 2)).float() * SCALE   # [B, Hq, topk]
        p = torch.softmax(s, dim=-1).to(torch.bfloat16)
        return torch.bmm(p, k[..., :DV])                      # [B, Hq, 512]

    def step(cache, q, qi, ki, w, scale):
        idx = torch.topk(indexer(qi, ki, w, scale), TOPK, dim=-1, sorted=False).indices
        return attend(cache, idx, q)
    try:
        try:
            return {**info, "us": graph_time_us(step, data), "mode": "one CUDA graph"}
        except RuntimeError as e:  # capture failed: time the parts, each as its own graph, and add them
            whole_error = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        release_memory()  # the failed capture's pool
        scores = [(indexer(*d[2:]),) for d in data]
        idx = [torch.topk(s[0], TOPK, dim=-1, sorted=False).indices for s in scores]
        parts = {"indexer_us": graph_time_us(indexer, [d[2:] for d in data]),
                 "topk_us": graph_time_us(lambda s: torch.topk(s, TOPK, dim=-1, sorted=False), scores),
                 "gather_attend_us": graph_time_us(attend, [(d[0], i, d[1]) for d, i in zip(data, idx)])}
        return {**info, **parts, "us": sum(parts.values()), "whole_graph_error": whole_error,
                "mode": "sum of parts (indexer, top-k, gather + attention: one CUDA graph each)"}
    finally:
        del data
        release_memory()


def guarded(fn, *args):
    """fn(*args), or the error it raised (recorded, the run goes on)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 (an out-of-memory or a CUDA error: record it and continue)
        error = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    try:  # outside the except block: its traceback no longer holds fn's tensors
        release_memory()
    except Exception:  # noqa: BLE001
        pass
    return {"error": error}


# ---------------------------------------------------------------------------
# hsa-run

def run_hsa(hsa_run, artifact, batch, context, steps, mode, out_dir, timeout_s):
    """One hsa-run --graph or --profile; its stderr goes on to ours, stdout to DIR/<tag>.txt."""
    tag = f"hsa_b{batch}_{context}_{mode}"
    json_path, txt_path = os.path.join(out_dir, tag + ".json"), os.path.join(out_dir, tag + ".txt")
    if os.path.exists(json_path):
        os.remove(json_path)  # never read a stale file
    cmd = [hsa_run, artifact, "--backend=cuda", f"--batch={batch}", f"--context={context}", f"--steps={steps}",
           f"--{mode}", f"--json={json_path}"]
    result = {"command": " ".join(cmd), "stdout_file": txt_path, "json_file": json_path, "timeout_s": timeout_s}
    start = time.time()
    killed = threading.Event()
    tail = collections.deque(maxlen=25)
    try:
        with open(txt_path, "w") as txt:
            # Its own process group, so that a timeout ends it and anything it started (and nothing else).
            proc = subprocess.Popen(cmd, stdout=txt, stderr=subprocess.PIPE, text=True, start_new_session=True)

            def kill():
                killed.set()
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(timeout_s, kill)
            timer.start()
            for line in proc.stderr:
                tail.append(line)
                log("    | " + line.rstrip())
            result["rc"] = proc.wait()
            timer.cancel()
    except OSError as e:
        return {**result, "error": f"cannot run hsa-run: {e}"}
    result["wall_s"] = time.time() - start
    if killed.is_set():
        return {**result, "error": f"timed out after {timeout_s:.0f} s (killed)"}
    if result["rc"] != 0:
        with open(txt_path) as f:
            stdout_tail = f.read()[-400:]
        return {**result, "error": f"exit {result['rc']}: {''.join(tail)[-600:]}{stdout_tail}".strip()}
    try:
        with open(json_path) as f:
            record = json.load(f)
        parsed = parse_graph_run(record) if mode == "graph" else parse_profile_run(record)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {**result, "error": f"cannot parse {json_path}: {type(e).__name__}: {e}"}
    return {**result, "record": record, "parsed": parsed}


class Budget:
    """Wall-clock budget; estimates a run from the prefill rate measured so far in this run."""

    def __init__(self, seconds):
        self.start, self.seconds = time.time(), seconds
        self.tokens = self.prefill_s = 0.0
        self.walls = {}  # prompt tokens -> wall of a finished run of that size

    def elapsed(self):
        return time.time() - self.start

    def left(self):
        return self.seconds - self.elapsed()

    def record(self, run, tokens):
        rec = run.get("record")
        if rec:
            self.tokens += rec["prefill"]["tokens"]
            self.prefill_s += rec["prefill"]["seconds"]
            self.walls[tokens] = run["wall_s"]

    def estimate(self, tokens):
        if tokens in self.walls:
            return 1.1 * self.walls[tokens] + 5.0
        if self.tokens <= 0:
            return None
        return 1.3 * tokens * self.prefill_s / self.tokens + 10.0


# ---------------------------------------------------------------------------

def write_json(path, result):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, default=str)
    os.replace(tmp, path)


def for_json(row):
    """The row without hsa-run's raw records (they are in DIR/hsa_*.json)."""
    out = dict(row)
    out["hsa"] = {m: {k: v for k, v in r.items() if k != "record"} for m, r in row.get("hsa", {}).items()}
    return out


def parse_only(args):
    paths = args.parse_only.split(",")
    row = {"hsa": {}}
    for path in paths:
        with open(path) as f:
            record = json.load(f)
        mode = "profile" if record["workload"].get("profile") or record.get("kernel_time_ms") else "graph"
        parsed = parse_graph_run(record) if mode == "graph" else parse_profile_run(record)
        row["hsa"][mode] = {"record": record, "parsed": parsed, "json_file": path}
        row["batch"], row["context"] = record["workload"]["batch"], record["workload"]["contexts"][0]
    ceilings = None
    if args.assume_ceilings:
        hbm, h2d, d2h, tflops = (float(x) for x in args.assume_ceilings.split(","))
        ceilings = {"hbm_read_GBps": hbm, "pinned_h2d_GBps": h2d, "pinned_d2h_GBps": d2h, "mma_bf16_TFLOPs": tflops}
    summarize(row, ceilings, args.launch_us)
    print(json.dumps(for_json(row), indent=1, default=str))
    print("parse-only: no measurement here; ceilings as given by --assume-ceilings" if ceilings
          else "parse-only: no ceilings given (--assume-ceilings): no bound")
    print("\n".join(table_lines([row], ceilings, args.launch_us, "Ceilings GIVEN by --assume-ceilings (not measured)")))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hsa-run", help="hsa-run built for CUDA (required)")
    p.add_argument("--artifact", help="the compiled DSA layer, e.g. build/gpu-bundle/deepseek-v32-dsa.hsa (required)")
    p.add_argument("--out", help="output directory (required)")
    p.add_argument("--batches", default="1,8,64,128")
    p.add_argument("--contexts", default="32768,131072")
    p.add_argument("--shapes", metavar="B:L,...", help="explicit shapes instead of --batches x --contexts")
    p.add_argument("--steps", type=int, default=64,
                   help="decode steps per hsa-run (default 64: 63 steady steps; the cold first step is 1/64 of the "
                        "profile means). Cheap next to the prefill")
    p.add_argument("--hsa-modes", default="graph,profile", help="which hsa-run modes to run (default both)")
    p.add_argument("--skip-peers", action="store_true", help="no PyTorch peers (a quick run)")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="wall-clock budget: a run estimated not to end inside it is skipped and recorded "
                        "(default 480: one 600-s device command including the hsa-run build)")
    p.add_argument("--hsa-timeout-s", type=float, default=500.0, help="kill one hsa-run after this (default 500)")
    p.add_argument("--launch-us", type=float, default=LAUNCH_US, help="the bound's launch constant (default 5 us)")
    p.add_argument("--parse-only", metavar="GRAPH_JSON[,PROFILE_JSON]",
                   help="parse saved hsa-run --json files and print the row; no GPU, no torch")
    p.add_argument("--assume-ceilings", metavar="HBM_GBPS,H2D_GBPS,D2H_GBPS,TFLOPS",
                   help="with --parse-only: the ceilings for the bound (given, not measured)")
    a = p.parse_args()
    if a.parse_only:
        return parse_only(a)
    missing = [o for o in ("hsa_run", "artifact", "out") if not getattr(a, o)]
    if missing:
        p.error("required: " + ", ".join("--" + m.replace("_", "-") for m in missing))
    if a.steps < 2:
        p.error("--steps must be >= 2 (the first step is cold)")
    modes = [m for m in a.hsa_modes.split(",") if m]
    if not set(modes) <= {"graph", "profile"}:
        p.error("--hsa-modes: graph and/or profile")
    for path in (a.hsa_run, a.artifact):
        if not os.path.exists(path):
            p.error(f"{path} does not exist")
    os.makedirs(a.out, exist_ok=True)
    out_json = os.path.join(a.out, "dsa_step.json")
    pairs = ([tuple(x.split(":")) for x in a.shapes.split(",")] if a.shapes
             else [(b, c) for b in a.batches.split(",") for c in a.contexts.split(",")])
    try:
        shapes = sorted({(int(b), int(c)) for b, c in pairs}, key=lambda s: (s[0] * s[1], s[0]))
    except ValueError:
        p.error("--batches / --contexts: integers; --shapes: B:L pairs (e.g. 1:32768,128:131072)")
    if any(b < 1 or c < 1 for b, c in shapes):
        p.error("batches and contexts must be >= 1")
    budget = Budget(a.budget_s)

    import torch
    result = {"tool": "bench/dsa_step.py", "argv": sys.argv,
              "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": torch.cuda.get_device_name(), "torch": torch.__version__, "hsa_run": a.hsa_run,
              "artifact": a.artifact,
              "settings": {"shapes": [f"{b}:{c}" for b, c in shapes], "steps": a.steps, "hsa_modes": modes,
                           "skip_peers": a.skip_peers, "budget_s": a.budget_s, "hsa_timeout_s": a.hsa_timeout_s,
                           "launch_us": a.launch_us, "launch_us_is": "assumed, not measured"},
              "notes": NOTES, "rows": [], "complete": False}
    log(f"dsa_step: {len(shapes)} shapes, smallest first: " + ", ".join(
        f"B={b} L={c} ({b * c / 1e6:.2f}M prompt tokens, {b * (c + a.steps) * HOST_BYTES_PER_TOKEN / 1e9:.1f} GB "
        f"pinned host)" for b, c in shapes))
    log(f"dsa_step: hsa-run builds every prompt on the CPU ({len(modes)} run(s) per shape): the big shapes take "
        f"minutes each; budget {a.budget_s:.0f} s, estimates from the prefill rate measured as the run goes")
    log("dsa_step: ceilings (HBM read, pinned H2D / D2H, bf16 MMA) ...")
    result["ceilings"] = ceilings = measure_ceilings()
    log(f"dsa_step: ceilings HBM read {ceilings['hbm_read_GBps']:.0f} GB/s, pinned H2D "
        f"{ceilings['pinned_h2d_GBps']:.1f} GB/s, D2H {ceilings['pinned_d2h_GBps']:.1f} GB/s, bf16 MMA "
        f"{ceilings['mma_bf16_TFLOPs']:.0f} TFLOP/s")
    for batch, context in shapes:
        row = {"batch": batch, "context": context, "hsa": {}, "peers": {}}
        result["rows"].append(row)
        tokens = batch * context
        for mode in modes:
            est = budget.estimate(tokens)
            left = budget.left() - 15.0  # room to write the JSON and the table
            est_text = f"~{est:.0f} s est." if est is not None else "no estimate yet"
            if left < 20 or (est is not None and est > left):
                why = f"{est_text}, {max(0.0, left):.0f} s left" if left >= 20 else "less than 20 s left"
                row["hsa"][mode] = {"skipped": f"time budget: {why} of --budget-s {a.budget_s:.0f}"}
                log(f"[{budget.elapsed():6.1f} s] B={batch} L={context} hsa-run --{mode}: skipped ({why})")
                continue
            log(f"[{budget.elapsed():6.1f} s] B={batch} L={context} hsa-run --{mode} ({tokens / 1e6:.2f}M prompt "
                f"tokens, {est_text}) ...")
            run = run_hsa(a.hsa_run, a.artifact, batch, context, a.steps, mode, a.out, min(a.hsa_timeout_s, left))
            row["hsa"][mode] = run
            budget.record(run, tokens)
            if "error" in run:
                log(f"[{budget.elapsed():6.1f} s]   hsa-run --{mode} FAILED: {run['error'][:300]}")
            else:
                pr = run["parsed"]
                if mode == "graph" and pr["step_us"]:
                    what = (f"step {pr['step_us']['median']:.1f} us median, hit rate {num(pr['hit_rate'], '.4f')}, "
                            f"misses {num(pr['miss_bytes_per_step'] / 1e6, '.3f')} MB/step")
                else:
                    what = ", ".join(f"{s} {v:.1f} us" for s, v in pr.get("stage_us", {}).items())
                log(f"[{budget.elapsed():6.1f} s]   {mode}: {what}; prefill "
                    f"{run['record']['prefill']['seconds']:.1f} s, wall {run['wall_s']:.1f} s")
        if not a.skip_peers:
            for peer, fn in (("dense", dense_peer), ("sparse", sparse_peer)):
                if budget.left() < 30:
                    row["peers"][peer] = {"skipped": "time budget"}
                    continue
                log(f"[{budget.elapsed():6.1f} s] B={batch} L={context} {peer} PyTorch peer ...")
                row["peers"][peer] = guarded(fn, batch, context)
                r = row["peers"][peer]
                log(f"[{budget.elapsed():6.1f} s]   {peer}: " + (f"{r['us']:.1f} us ({r['mode']})" if r.get("us")
                                                                 else r.get("skipped") or r.get("error", "")))
        summarize(row, ceilings, a.launch_us)
        result["elapsed_s"] = budget.elapsed()
        write_json(out_json, {**result, "rows": [for_json(r) for r in result["rows"]]})
    result["complete"] = True
    result["elapsed_s"] = budget.elapsed()
    write_json(out_json, {**result, "rows": [for_json(r) for r in result["rows"]]})
    print(f"DeepSeek-V3.2 DSA layer ({os.path.basename(a.artifact)}), {result['device']}, hsa-run --steps={a.steps}, "
          f"{budget.elapsed():.0f} s; JSON: {out_json}")
    print("\n".join(table_lines(result["rows"], ceilings, a.launch_us)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
