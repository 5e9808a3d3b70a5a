#!/usr/bin/env python3
"""Prefill from device tensors: the copy engine's throughput into the host pool.

One request's prompt of --tokens tokens (K and V [tokens][Hkv][D] bf16 on the
GPU) goes into the pinned host pool by Runtime.prefill (device tensors: 3D
copies per head and run of pool pages, asynchronous on the current stream).
Peers measured in the same run: torch's contiguous device-to-pinned copy of
the same bytes (the copy engine's ceiling for this transfer) and the host
path (tensor.cpu() then prefill from host memory). Prints one JSON row.

  HSATTN_LIBRARY=... python3 bench/prefill_device.py --artifact build/gpu-bundle/llama3-8b-quest.hsa
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import hsattn  # noqa: E402


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--tokens", type=int, default=131072)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rt = hsattn.Runtime(args.artifact, max_batch=1, max_context_tokens=args.tokens, backend="cuda")
    c = rt.config()
    k = torch.randn(args.tokens, c.num_kv_heads, c.head_dim, device="cuda").to(torch.bfloat16)
    v = torch.randn(args.tokens, c.num_kv_heads, c.value_dim, device="cuda").to(torch.bfloat16)
    nbytes = k.numel() * 2 + v.numel() * 2

    def device_prefill():
        r = rt.create_request()
        t0 = time.perf_counter()
        rt.prefill(r, k, v)
        enqueue[0] = time.perf_counter() - t0
        torch.cuda.synchronize()
        rt.release_request(r)

    def host_prefill():
        r = rt.create_request()
        rt.prefill(r, k.cpu(), v.cpu())
        rt.release_request(r)

    pinned_k = torch.empty(k.shape, dtype=k.dtype, pin_memory=True)
    pinned_v = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)

    def torch_copy():
        pinned_k.copy_(k, non_blocking=True)
        pinned_v.copy_(v, non_blocking=True)

    enqueue = [0.0]
    # The release waits for the copies, so device_prefill's time is the whole transfer.
    row = {"tokens": args.tokens, "hkv": c.num_kv_heads, "d": c.head_dim, "page": c.page_size, "mib": round(nbytes / 2**20, 1)}
    for name, fn in (("hsa_device", device_prefill), ("torch_d2h_pinned", torch_copy), ("hsa_host_path", host_prefill)):
        s = timed(fn, args.reps)
        row[name + "_ms"] = round(s * 1e3, 2)
        row[name + "_gbs"] = round(nbytes / s / 1e9, 1)
    row["hsa_device_enqueue_ms"] = round(enqueue[0] * 1e3, 3)
    row["device_vs_ceiling"] = round(row["hsa_device_gbs"] / row["torch_d2h_pinned_gbs"], 3)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
