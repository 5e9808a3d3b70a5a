#!/usr/bin/env python3
"""Real attention traces without downloaded weights (issue 12, item 2).

Trains a small decoder-only transformer (byte-level, RoPE, GQA, RMSNorm,
SwiGLU) on the Debian corpus of make-corpus.sh for a fixed time on one GPU,
then runs it over held-out long inputs and writes, for chosen layers, the
post-RoPE queries, keys and values of the last positions in hsa's trace
format (docs/ACCURACY.md "Trace format"), for
`hsa-accuracy --workload=trace:PATH` to evaluate every algorithm on.

Run it on the GPU machine through bench/accuracy/gpu-traces.sh (ran there
with torch 2.11 on an H200; needs torch >= 2.4 for nn.RMSNorm).

  python3 bench/accuracy/train_trace.py --corpus build/accuracy/corpus.txt.xz --out OUT \
      [--minutes 5] [--context 16384] [--layers-to-dump 1,3] [--steps 8] [--inputs 2]
"""
import argparse
import json
import lzma
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    vocab = 256          # bytes
    d_model = 512
    n_layers = 4
    q_heads = 8
    kv_heads = 2         # GQA group 4
    head_dim = 64
    ffn = 1408           # SwiGLU hidden
    rope_theta = 500000.0


def rope_tables(seq, head_dim, theta, device):
    inv = theta ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float64) / head_dim)
    angles = torch.arange(seq, device=device, dtype=torch.float64)[:, None] * inv[None, :]
    return angles.cos().float(), angles.sin().float()  # [seq, D/2]


def apply_rope(x, cos, sin):
    # x [B, H, T, D]; pairs (i, i + D/2), the convention of runtime/tools/workload.cpp.
    half = x.shape[-1] // 2
    a, b = x[..., :half].float(), x[..., half:].float()
    c, s = cos[None, None], sin[None, None]
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.wq = nn.Linear(c.d_model, c.q_heads * c.head_dim, bias=False)
        self.wk = nn.Linear(c.d_model, c.kv_heads * c.head_dim, bias=False)
        self.wv = nn.Linear(c.d_model, c.kv_heads * c.head_dim, bias=False)
        self.wo = nn.Linear(c.q_heads * c.head_dim, c.d_model, bias=False)
        self.capture = None  # set to a dict to receive q, k, v (post-RoPE) of a forward pass

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        c = self.c
        q = self.wq(x).view(B, T, c.q_heads, c.head_dim).transpose(1, 2)
        k = self.wk(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.wv(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos[:T], sin[:T]), apply_rope(k, cos[:T], sin[:T])
        if self.capture is not None:
            self.capture["q"], self.capture["k"], self.capture["v"] = q.detach(), k.detach(), v.detach()
        g = c.q_heads // c.kv_heads
        kr = k.repeat_interleave(g, dim=1)
        vr = v.repeat_interleave(g, dim=1)
        y = F.scaled_dot_product_attention(q, kr, vr, is_causal=True)  # scale 1/sqrt(D), as the trace assumes
        return self.wo(y.transpose(1, 2).reshape(B, T, c.q_heads * c.head_dim))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n1 = nn.RMSNorm(c.d_model)
        self.attn = Attention(c)
        self.n2 = nn.RMSNorm(c.d_model)
        self.w1 = nn.Linear(c.d_model, c.ffn, bias=False)
        self.w3 = nn.Linear(c.d_model, c.ffn, bias=False)
        self.w2 = nn.Linear(c.ffn, c.d_model, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.n1(x), cos, sin)
        h = self.n2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Model(nn.Module):
    def __init__(self, c, max_seq, device):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c.vocab, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = nn.RMSNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab, bias=False)
        cos, sin = rope_tables(max_seq, c.head_dim, c.rope_theta, device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, idx):
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin)
        return self.head(self.norm(x))


def load_corpus(path):
    with lzma.open(path, "rb") as f:
        data = f.read()
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def write_trace(path, q, k, v, prompt, steps):
    """q [Hq, T, D], k/v [Hkv, T, D] of one input (T = prompt + steps), f32.
    docs/ACCURACY.md: header, K [prompt+steps][Hkv][D], V [..][Hkv][Dv], Q [steps][Hq][D]."""
    hq, T, d = q.shape
    hkv, _, dv = v.shape
    assert T == prompt + steps
    header = b"HSATRACE" + struct.pack("<IIIIIIQII", 1, 2, hq, hkv, d, dv, prompt, steps, 0)
    assert len(header) == 48
    with open(path, "wb") as f:
        f.write(header)
        f.write(k.transpose(0, 1).contiguous().float().cpu().numpy().tobytes())  # [T][Hkv][D]
        f.write(v.transpose(0, 1).contiguous().float().cpu().numpy().tobytes())
        f.write(q[:, prompt:].transpose(0, 1).contiguous().float().cpu().numpy().tobytes())  # [steps][Hq][D]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--context", type=int, default=16384, help="training and trace context (tokens = bytes)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--layers-to-dump", default="1,3")
    ap.add_argument("--steps", type=int, default=8, help="decode steps per trace (the last positions)")
    ap.add_argument("--inputs", type=int, default=2, help="held-out inputs traced")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)
    data = load_corpus(args.corpus)
    n = len(data)
    split = int(n * 0.95)  # the last 5% are held out for the traces
    train, held = data[:split], data[split:]
    assert len(held) > args.inputs * args.context, "corpus too small for the held-out inputs"
    c = Config()
    model = Model(c, args.context, device).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    deadline = time.time() + 60 * args.minutes
    start, step, log = time.time(), 0, []
    warmup = 100
    model.train()
    while time.time() < deadline:
        # Short contexts first (cheap, most of the learning), then the full one
        # so the positions the traces use were trained.
        frac = (time.time() - start) / (60 * args.minutes)
        seq = args.context if frac > 0.6 else 2048
        batch = args.batch * (args.context // seq)
        starts = torch.randint(0, len(train) - seq - 1, (batch,), generator=gen)
        x = torch.stack([train[s:s + seq + 1] for s in starts.tolist()]).to(device, non_blocking=True).long()
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(x[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, c.vocab), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            bpb = loss.item() / math.log(2)
            log.append({"step": step, "seq": seq, "loss_bits_per_byte": bpb, "seconds": time.time() - start})
            print(f"step {step} seq {seq} loss {bpb:.3f} bits/byte lr {lr:.2e} {time.time() - start:.0f} s", flush=True)
        step += 1

    # Held-out loss at the full context and the traces.
    model.eval()
    layers = [int(i) for i in args.layers_to_dump.split(",")]
    summary = {"params": params, "config": vars(Config).copy(), "train_steps": step, "log": log, "traces": []}
    summary["config"] = {k: v for k, v in summary["config"].items() if not k.startswith("__")}
    with torch.no_grad():
        for i in range(args.inputs):
            s = i * (len(held) - args.context) // max(1, args.inputs)
            x = held[s:s + args.context].to(device).long()[None]
            captures = {}
            for li in layers:
                captures[li] = {}
                model.blocks[li].attn.capture = captures[li]
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(x)
            loss = F.cross_entropy(logits[0, :-1].float(), x[0, 1:]).item() / math.log(2)
            for li in layers:
                model.blocks[li].attn.capture = None
                cap = captures[li]
                prompt = args.context - args.steps
                path = os.path.join(args.out, f"trace-input{i}-layer{li}.bin")
                write_trace(path, cap["q"][0], cap["k"][0], cap["v"][0], prompt, args.steps)
                summary["traces"].append({"path": path, "input": i, "layer": li, "prompt": prompt,
                                          "steps": args.steps, "held_out_bits_per_byte": loss})
                print("wrote", path, flush=True)
            print(f"held-out input {i}: {loss:.3f} bits/byte at {args.context} tokens", flush=True)
    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
