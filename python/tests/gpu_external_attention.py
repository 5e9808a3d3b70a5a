#!/usr/bin/env python3
"""On a GPU: hsa's exported page tables drive an attention hsa did not write.

For each artifact (a layer whose page-table format is FlashAttention's block
table, FlashInfer's CSR or FlashMLA's token indices) this runs decode steps
through the device API, one CUDA graph captured over enqueue_append and
enqueue_decode and replayed with a changing batch (a request leaves, a new one
takes its slot). Half the prompts come from device tensors (prefill from
device memory, in two chunks). After every step, for every request in it:

  * the tables select exactly the tokens of the step's selection
    (selected_units), and the K/V rows they point at in the resident buffer
    equal the request's own K/V bit for bit (so prefill from device memory,
    the gather and the tables are right);
  * PyTorch SDPA (fp32) over the rows the tables give matches hsa's o
    (relative L2 <= O_BOUND) and its LSE (<= LSE_BOUND absolute);
  * a row outside the step has no selected tokens;
  * the step report (enqueue_step_report / step_report, no wait) counts the
    selection's units.
A negative control corrupts one table entry and must exceed the bound.

  python3 gpu_external_attention.py [--steps N] ARTIFACT.hsa [...]   (exit 0: all pass)
"""
import math
import sys

import torch
import torch.nn.functional as F

import hsattn

O_BOUND = 5e-3    # relative L2: hsa's o is bf16 (rounding alone gives ~2e-3)
LSE_BOUND = 2e-3  # absolute, natural log
FORMATS = {1: "fa", 2: "fi", 3: "tok"}


def table_tokens(ext, fmt, P, slot, group):
    """Flat token indices (block * P + p) the format's tables give row (slot, group), in order."""
    dev = ext["k_cache"].device
    if fmt == "tok":
        idx = ext["tok.indices"][slot, group].long()
        valid = idx >= 0
        assert bool((valid[:int(valid.sum())]).all()), "tok.indices: -1 before the end of the selection"
        return idx[valid]
    if fmt == "fa":
        n = int(ext["fa.seqlens"][slot])
        blocks = ext["fa.block_table"][slot].long()
        used = (n + P - 1) // P
        assert bool((blocks[used:] == -1).all()), "fa.block_table: entries past the selection are not -1"
    else:
        begin, end = int(ext["fi.indptr"][slot]), int(ext["fi.indptr"][slot + 1])
        blocks = ext["fi.indices"].view(-1)[begin:end].long()
        used = end - begin
        n = 0 if used == 0 else (used - 1) * P + int(ext["fi.last_page_len"][slot])
    tokens = (blocks[:used, None] * P + torch.arange(P, device=dev)).reshape(-1)
    return tokens[:n]


def selection_tokens(units, P, length):
    """The tokens of the selected units (ascending, -1 padded) inside the context."""
    out = []
    for u in units:
        if u < 0:
            continue
        out.extend(t for t in range(u * P, (u + 1) * P) if t < length)
    return out


def attention(q, k, v, scale):
    """q [H, G, D], k/v [H, n, D] (fp32) -> o [H, G, Dv], lse [H, G]."""
    logits = torch.einsum("hgd,hnd->hgn", q, k) * scale
    o = F.scaled_dot_product_attention(q[None], k[None], v[None], scale=scale)[0]
    return o, torch.logsumexp(logits, dim=-1)


def rel_l2(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_artifact(path, steps=24, seed=5):
    g = torch.Generator(device="cuda").manual_seed(seed)
    dev = torch.device("cuda")
    contexts = [1, 17, 300, 1500, 5000, 20000, 40001]
    B = len(contexts) + 1  # one slot stays free until a request joins
    rt = hsattn.Runtime(path, max_batch=B, max_context_tokens=max(contexts) + steps + 8, backend="cuda")
    c = rt.config()
    fmt = FORMATS.get(c.page_table_format)
    if fmt is None:
        raise SystemExit(f"{path}: page-table format {c.page_table_format} exports no tables")
    Hq, Hkv, D, Dv, P = c.num_q_heads, c.num_kv_heads, c.head_dim, c.value_dim, c.page_size
    S = 1 if c.scope == "request" else Hkv
    Hu, G = Hkv // S, Hq // Hkv
    cap = max(contexts) + steps + 8
    randn = lambda *s: torch.randn(*s, generator=g, device=dev).to(torch.bfloat16)  # noqa: E731

    # Requests: the whole K/V history of each stays here for the checks.
    hist, lengths, ids = {}, {}, []

    def join(context, index):
        rid = rt.create_request()
        k, v = randn(cap, Hkv, D), randn(cap, Hkv, Dv)
        if index % 2:  # from device memory, two chunks (the first ends inside a page)
            first = max(1, context // 3) | 1
            rt.prefill(rid, k[:first], v[:first])
            if context > first:
                rt.prefill(rid, k[first:context], v[first:context])
        else:
            rt.prefill(rid, k[:context].cpu(), v[:context].cpu())
        rt.finish_prefill(rid)
        hist[rid], lengths[rid] = (k, v), context
        ids.append(rid)

    for i, n in enumerate(contexts):
        join(n, i)
    ext = rt.external_attention()
    q = torch.zeros(B, Hq, D, dtype=torch.bfloat16, device=dev)
    o = torch.zeros(B, Hq, Dv, dtype=torch.bfloat16, device=dev)
    lse = torch.zeros(B, Hq, dtype=torch.float32, device=dev)
    nk = torch.zeros(B, Hkv, D, dtype=torch.bfloat16, device=dev)
    nv = torch.zeros(B, Hkv, Dv, dtype=torch.bfloat16, device=dev)

    def step():
        rt.enqueue_append(nk, nv)
        rt.enqueue_decode(q, o, lse)

    worst_o = worst_lse = 0.0
    checked, controlled, misses = 0, False, 0
    graph = None
    for s in range(steps):
        if s == steps // 2:  # a request leaves; a new one takes its slot and joins the graph's batch
            gone = ids.pop(2)
            rt.release_request(gone)
            del hist[gone], lengths[gone]
            join(9000, 1)
        active = [r for j, r in enumerate(ids) if s % 3 != 1 or j != s % len(ids)]
        slots = {r: rt.slot(r) for r in active}
        q.copy_(randn(B, Hq, D))
        nk.copy_(randn(B, Hkv, D))
        nv.copy_(randn(B, Hkv, Dv))
        for r in active:  # the appended token
            hist[r][0][lengths[r]].copy_(nk[slots[r]])
            hist[r][1][lengths[r]].copy_(nv[slots[r]])
            lengths[r] += 1
        rt.begin_step(active)
        if s == 0:
            step()  # eager: binds the device plans
        elif graph is None:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            graph.replay()
        else:
            graph.replay()
        torch.cuda.synchronize()
        for r in active:
            b, L = slots[r], lengths[r]
            units = rt.selected_units(r)
            for grp in range(S):
                heads = slice(grp * Hu, (grp + 1) * Hu)
                tok = table_tokens(ext, fmt, P, b, grp)
                want = selection_tokens(units[grp], P, L)
                assert tok.numel() == len(want), f"step {s} slot {b} group {grp}: tables give {tok.numel()} tokens, the selection {len(want)}"
                kt = ext["k_cache"][tok // P, tok % P][:, :, :]  # [n, Hu, D]
                vt = ext["v_cache"][tok // P, tok % P]
                orig = torch.tensor(want, device=dev, dtype=torch.long)
                assert torch.equal(kt, hist[r][0][orig][:, heads]), f"step {s} slot {b}: resident K differs from the request's"
                assert torch.equal(vt, hist[r][1][orig][:, heads]), f"step {s} slot {b}: resident V differs from the request's"
                qg = q[b, grp * Hu * G:(grp + 1) * Hu * G].float().view(Hu, G, D)
                ref_o, ref_lse = attention(qg, kt.float().transpose(0, 1), vt.float().transpose(0, 1), c.softmax_scale)
                got_o = o[b, grp * Hu * G:(grp + 1) * Hu * G].float().view(Hu, G, Dv)
                got_lse = lse[b, grp * Hu * G:(grp + 1) * Hu * G].view(Hu, G)
                e_o, e_lse = rel_l2(got_o, ref_o), float((got_lse - ref_lse).abs().max())
                worst_o, worst_lse = max(worst_o, e_o), max(worst_lse, e_lse)
                assert e_o <= O_BOUND and e_lse <= LSE_BOUND, f"step {s} slot {b} group {grp}: o rel L2 {e_o:.2e}, lse {e_lse:.2e}"
                checked += 1
                if s == steps - 1 and r == active[-1] and grp == 0 and tok.numel() > P:  # negative control
                    bad = tok.clone()
                    bad[:P] = (bad[:P] + P) % (ext["num_blocks"] * P)
                    kb, vb = ext["k_cache"][bad // P, bad % P], ext["v_cache"][bad // P, bad % P]
                    bad_o, _ = attention(qg, kb.float().transpose(0, 1), vb.float().transpose(0, 1), c.softmax_scale)
                    e_bad = rel_l2(got_o, bad_o)
                    assert e_bad > O_BOUND, f"negative control: a corrupted entry still within the bound ({e_bad:.2e})"
                    controlled = True
        # The step report (no wait): its counts agree with the selection.
        rt.enqueue_step_report()
        torch.cuda.synchronize()
        report = rt.step_report(active)
        assert report is not None, "step report not ready after a synchronize"
        selected = sum(int((rt.selected_units(r) >= 0).sum()) for r in active)
        assert report["units_selected"] == selected, f"step report: {report['units_selected']} units, selection {selected}"
        misses += report["misses"]
        for r in ids:  # rows outside the step select nothing
            if r not in slots:
                assert table_tokens(ext, fmt, P, rt.slot(r), 0).numel() == 0, "a row outside the step has tokens"
    assert controlled, "the negative control did not run"
    assert misses > 0, "no misses: the run never gathered"
    print(f"gpu_external_attention: PASS: {path.split('/')[-1]}: {fmt}, scope {c.scope}, P {P}, K {c.budget_units}, C {c.capacity_units}; "
          f"{steps} steps (one graph, {steps - 1} replays), {checked} rows checked, {misses} misses gathered; o rel L2 <= {worst_o:.2e}, "
          f"lse <= {worst_lse:.2e}; resident rows equal the requests' K/V; negative control fails as it must")


def main():
    args, steps = sys.argv[1:], 24
    if args[:1] == ["--steps"]:
        steps, args = int(args[1]), args[2:]
    if not args:
        raise SystemExit(__doc__)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_external_attention: no CUDA device")
    for path in args:
        check_artifact(path, steps=max(steps, 4))


if __name__ == "__main__":
    main()
