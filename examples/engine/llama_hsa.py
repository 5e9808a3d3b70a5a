#!/usr/bin/env python3
"""A Llama-like decoder in PyTorch with hsa as the attention of every layer.

What an engine does with hsa (docs/ENGINE.md), in ~200 lines:
  - one ``hsattn.Model`` for all layers (one request table, one pinned host
    page pool holding the whole KV cache);
  - prompts prefilled from device tensors into the host pool (the copy
    engine, asynchronously on the current stream);
  - each decode step: ``model.begin_step(requests)`` on the host, then ONE
    captured ``torch.cuda.CUDAGraph`` replayed: embeddings, and per layer
    the projections, RoPE, ``enqueue_append`` (the new token's K/V from
    device memory to the host pool and the resident buffer),
    ``enqueue_decode`` (score, top-k, diff, gather of the misses, sparse
    attention), the output projection and the MLP; then the LM head and the
    greedy next token.
The same model with dense attention over a device-resident cache (PyTorch
SDPA, also one graph per step) is the reference and the peer:
  --check      at a context the budget covers (hsa selects every token) the
               two must agree within bf16 tolerance, step after step;
  --bench      tokens/s of both at the given contexts and batch sizes.
Weights and prompt K/V are random (seeded); nothing is downloaded.

  python3 examples/engine/llama_hsa.py --artifact build/gpu-bundle/llama3-8b-quest.hsa --check
  python3 examples/engine/llama_hsa.py --artifact ... --bench --contexts 32768,131072 --batches 1,8,32
Needs a CUDA GPU, torch >= 2.5 and libhsa_runtime.so (HSATTN_LIBRARY).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import hsattn  # noqa: E402


class Weights:
    """Random Llama-like weights (bf16) shared by the hsa and the dense model."""

    def __init__(self, layers, hq, hkv, d, ffn, vocab, seed, device):
        g = torch.Generator(device="cpu").manual_seed(seed)
        dm = hq * d
        self.dims = (layers, hq, hkv, d, ffn, vocab)

        def w(*shape):
            return (torch.randn(*shape, generator=g) / math.sqrt(shape[0])).to(device, torch.bfloat16)

        self.emb = (torch.randn(vocab, dm, generator=g)).to(device, torch.bfloat16)
        self.layers = [dict(wq=w(dm, hq * d), wk=w(dm, hkv * d), wv=w(dm, hkv * d), wo=w(hq * d, dm),
                            w1=w(dm, ffn), w3=w(dm, ffn), w2=w(ffn, dm)) for _ in range(layers)]
        self.head = w(dm, vocab)
        self.inv_freq = 1.0 / (500000.0 ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))


def rms(x):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16)


def rope(x, pos, inv_freq):
    """x [B, H, D] at positions pos [B] (rotate-half pairs (i, i + D/2))."""
    ang = pos.float()[:, None] * inv_freq[None, :]  # [B, D/2]
    c, s = ang.cos()[:, None, :], ang.sin()[:, None, :]
    half = x.shape[-1] // 2
    a, b = x[..., :half].float(), x[..., half:].float()
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1).to(torch.bfloat16)


class Decoder:
    """One decode step of the model over static tensors, attention by `attend(layer, q, k, v)`."""

    def __init__(self, w, batch, attend):
        self.w, self.attend = w, attend
        _, hq, hkv, d, _, _ = w.dims
        dev = w.emb.device
        self.tokens = torch.zeros(batch, dtype=torch.long, device=dev)
        self.pos = torch.zeros(batch, dtype=torch.long, device=dev)  # the new token's position
        self.next = torch.zeros(batch, dtype=torch.long, device=dev)
        self.hidden = torch.zeros(batch, hq * d, dtype=torch.bfloat16, device=dev)

    def step(self):
        w = self.w
        _, hq, hkv, d, _, _ = w.dims
        B = self.tokens.shape[0]
        x = w.emb[self.tokens]
        for i, L in enumerate(w.layers):
            h = rms(x)
            q = rope((h @ L["wq"]).view(B, hq, d), self.pos, w.inv_freq)
            k = rope((h @ L["wk"]).view(B, hkv, d), self.pos, w.inv_freq)
            v = (h @ L["wv"]).view(B, hkv, d)
            x = x + self.attend(i, q, k, v).reshape(B, hq * d) @ L["wo"]
            h = rms(x)
            x = x + (F.silu(h @ L["w1"]) * (h @ L["w3"])) @ L["w2"]
        self.hidden.copy_(x)
        self.next.copy_(torch.argmax(rms(x) @ w.head, dim=-1))
        self.tokens.copy_(self.next)
        self.pos.add_(1)


class HsaAttention:
    """hsa in every layer: slot-indexed static buffers, the device API on the current stream.

    The decoder's batch row i is request ids[i], whose rows in hsa's tensors are
    model.slot(ids[i]): `slots` (a device tensor the captured graph reads) maps
    one to the other, so requests may sit in any slots and the map may change
    between replays (copy new slots in, same tensor)."""

    def __init__(self, model, ids, hq, hkv, d, dev):
        self.model = model
        nl, slots = model.num_layers, model.max_batch
        z = lambda *s: torch.zeros(*s, dtype=torch.bfloat16, device=dev)  # noqa: E731
        self.slots = torch.tensor([model.slot(r) for r in ids], dtype=torch.long, device=dev)
        self.q = [z(slots, hq, d) for _ in range(nl)]
        self.o = [z(slots, hq, d) for _ in range(nl)]
        self.k = [z(slots, hkv, d) for _ in range(nl)]
        self.v = [z(slots, hkv, d) for _ in range(nl)]

    def __call__(self, layer, q, k, v):
        self.q[layer].index_copy_(0, self.slots, q)
        self.k[layer].index_copy_(0, self.slots, k)
        self.v[layer].index_copy_(0, self.slots, v)
        self.model.enqueue_append(layer, self.k[layer], self.v[layer])
        self.model.enqueue_decode(layer, self.q[layer], self.o[layer])
        return self.o[layer].index_select(0, self.slots)


class DenseAttention:
    """The peer: the whole cache on the device, SDPA over it with a length mask (static shapes)."""

    def __init__(self, layers, batch, hkv, d, capacity, dev):
        self.kc = [torch.zeros(batch, hkv, capacity, d, dtype=torch.bfloat16, device=dev) for _ in range(layers)]
        self.vc = [torch.zeros(batch, hkv, capacity, d, dtype=torch.bfloat16, device=dev) for _ in range(layers)]
        self.ar = torch.arange(capacity, device=dev)
        self.pos = None  # the decoder's position tensor

    def __call__(self, layer, q, k, v):
        B = q.shape[0]
        idx = self.pos.view(B, 1, 1, 1).expand(B, k.shape[1], 1, k.shape[2])
        self.kc[layer].scatter_(2, idx, k.unsqueeze(2))
        self.vc[layer].scatter_(2, idx, v.unsqueeze(2))
        mask = (self.ar[None, :] <= self.pos[:, None])[:, None, None, :]  # [B, 1, 1, T]
        # GQA without copying the cache: the G query heads of a KV head are the
        # query rows of one attention (heads h = kv * G + j, as hsa groups them).
        hkv, d = k.shape[1], k.shape[2]
        o = F.scaled_dot_product_attention(q.view(B, hkv, q.shape[1] // hkv, d), self.kc[layer], self.vc[layer],
                                           attn_mask=mask)
        return o.reshape(B, q.shape[1], d)


def build(args, w, batch, context):
    """Both models with the same random prompt caches of `context` tokens per request."""
    layers, hq, hkv, d, _, _ = w.dims
    dev = w.emb.device
    capacity = context + args.steps + 8
    model = hsattn.Model([args.artifact] * layers, max_batch=batch, max_context_tokens=capacity, backend="cuda")
    c = model.config(0)
    if (c.num_q_heads, c.num_kv_heads, c.head_dim, c.dtype) != (hq, hkv, d, "bf16"):
        raise SystemExit(f"the artifact's layer is {c}, the model needs Hq {hq}, Hkv {hkv}, D {d}, bf16")
    # Batch row i is request ids[i]; rows and slots need not agree (here they run backwards).
    ids = [model.create_request() for _ in range(batch)][::-1]
    dense = DenseAttention(layers, batch, hkv, d, capacity, dev)
    g = torch.Generator(device=dev).manual_seed(args.seed + 1)
    for layer in range(layers):
        for b in range(batch):  # one request at a time: bounded host memory
            k = torch.randn(context, hkv, d, generator=g, device=dev, dtype=torch.float32).to(torch.bfloat16)
            v = torch.randn(context, hkv, d, generator=g, device=dev, dtype=torch.float32).to(torch.bfloat16)
            dense.kc[layer][b, :, :context].copy_(k.transpose(0, 1))
            dense.vc[layer][b, :, :context].copy_(v.transpose(0, 1))
            model.prefill(layer, ids[b], k, v)  # device tensors: to the host pool by the copy engine
    for r in ids:
        model.finish_prefill(r)
    hsa_dec = Decoder(w, batch, HsaAttention(model, ids, hq, hkv, d, dev))
    dense_dec = Decoder(w, batch, dense)
    dense.pos = dense_dec.pos
    for dec in (hsa_dec, dense_dec):
        dec.pos.fill_(context)
        dec.tokens.copy_(torch.randint(0, w.dims[5], (batch,), generator=g, device=dev))
    dense_dec.tokens.copy_(hsa_dec.tokens)
    return model, ids, hsa_dec, dense_dec


def graphed(step, before=None):
    """One eager warm-up step, then the step captured; returns run() = before(); replay."""
    before and before()
    step()  # warm-up (hsa: its device plans bind the static buffers here)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    before and before()
    with torch.cuda.graph(graph):
        step()
    graph.replay()  # the captured step ran nothing: this executes it

    def run():
        before and before()
        graph.replay()
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifact", required=True, help="an hsa layer with Hq 32, Hkv 8, D 128, bf16")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=14336)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--contexts", default="32768,131072")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    w = Weights(args.layers, 32, 8, 128, args.ffn, args.vocab, args.seed, "cuda")
    rows, ok = [], True

    if args.check:  # 1000 + steps tokens <= 128 units of 16: hsa selects every token
        batch, context = 4, 1000
        model, ids, hsa_dec, dense_dec = build(args, w, batch, context)
        run_hsa = graphed(hsa_dec.step, lambda: model.begin_step(ids))
        run_dense = graphed(dense_dec.step)
        worst, agree = 0.0, 0
        for step in range(args.steps):
            if step > 0:
                run_hsa(), run_dense()
            torch.cuda.synchronize()
            rel = ((hsa_dec.hidden.float() - dense_dec.hidden.float()).norm() / dense_dec.hidden.float().norm()).item()
            worst = max(worst, rel)
            agree += int(torch.equal(hsa_dec.next, dense_dec.next))
            dense_dec.tokens.copy_(hsa_dec.tokens)  # same inputs next step
        ok = worst <= 2e-2
        print(f"check: B {batch}, context {context}, {args.steps} steps, {args.layers} layers, one CUDA graph per "
              f"step: hidden-state rel L2 vs dense max {worst:.2e} (bound 2e-2), next tokens equal in {agree}/"
              f"{args.steps} steps: {'PASS' if ok else 'FAIL'}", flush=True)
        del model

    if args.bench:
        for context in [int(x) for x in args.contexts.split(",")]:
            for batch in [int(x) for x in args.batches.split(",")]:
                dense_bytes = 2 * args.layers * batch * (context + args.steps + 8) * 8 * 128 * 2
                if dense_bytes > 48 * 2**30:  # the dense cache on the GPU, hsa's pool in pinned host memory
                    print(f"skip B {batch} at {context}: the caches would need {dense_bytes / 2**30:.0f} GiB each")
                    continue
                t0 = time.time()
                model, ids, hsa_dec, dense_dec = build(args, w, batch, context)
                setup = time.time() - t0
                row = {"context": context, "batch": batch, "layers": args.layers, "steps": args.steps,
                       "setup_s": round(setup, 1)}
                for name, run in (("hsa", graphed(hsa_dec.step, lambda: model.begin_step(ids))),
                                  ("dense", graphed(dense_dec.step))):
                    for _ in range(3):
                        run()
                    torch.cuda.synchronize()
                    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    for _ in range(args.steps):
                        run()
                    stop.record()
                    torch.cuda.synchronize()
                    ms = start.elapsed_time(stop) / args.steps
                    row[name + "_ms"] = round(ms, 3)
                    row[name + "_tok_s"] = round(batch * 1000.0 / ms, 1)
                row["speedup"] = round(row["dense_ms"] / row["hsa_ms"], 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
                del model, hsa_dec, dense_dec
                torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
