#!/usr/bin/env python3
"""Turn bench/peers.py JSON (and optionally `hsa-run --json` output) into a
Markdown section for docs/PERF.md, written to stdout.

    python3 bench/report.py peers.json [--hsa hsa-run.json ...] [--command "bash bench/run.sh"]

Needs only the Python standard library (runs on a machine without torch).
The hsa-run JSON format is not fixed yet: any dict (or list of dicts) is
accepted; keys such as step_ms, stage_ms, h2d_bytes_per_step, batch, context
are looked for, and every scalar field is listed.
"""

import argparse
import json
import math
import os
import sys

MiB = 1 << 20


# ---------------------------------------------------------------- loading
def load_json_loose(path):
    """A JSON file, or text whose JSON object(s) must be dug out (e.g. a log
    with the JSON on its own line or at the end)."""
    with open(path, errors="replace") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        pass
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    if found:
        return found[0] if len(found) == 1 else found
    dec = json.JSONDecoder()
    best = None
    i = text.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(text, i)
            if best is None or end - i > best[1]:
                best = (obj, end - i)
            i = text.find("{", end)
        except ValueError:
            i = text.find("{", i + 1)
    if best is None:
        raise ValueError("no JSON object found in %s" % path)
    return best[0]


# ---------------------------------------------------------------- formatting
def us(ms):
    if ms is None:
        return "-"
    v = ms * 1e3
    if v >= 1000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    return "%.2f" % v


def num(x, fmt="%.1f"):
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    try:
        return fmt % x
    except TypeError:
        return str(x)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] * len(header)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(out)


def ctxs(c):
    return "%dK" % (c // 1024) if c >= 1024 else str(c)


def peer_key(r):
    n = r["name"]
    p = r.get("params", {})
    if "backend" in p:
        n += " [%s]" % p["backend"]
    if r["name"].startswith("flex") and "kv_block" in p:
        n += " [blocks of %d]" % p["kv_block"]
    return n


def check_str(r):
    ck = r.get("check") or {}
    parts = []
    for k, v in ck.items():
        if k == "kernels":
            continue
        if isinstance(v, float):
            parts.append("%s %.2g" % (k.replace("rel_err_vs_", "err/"), v))
        elif isinstance(v, bool):
            parts.append("%s %s" % (k, "yes" if v else "NO"))
        elif k == "error":
            parts.append("check error: %s" % str(v)[:80])
    return ", ".join(parts)


# ---------------------------------------------------------------- peers sections
def section_header(doc, command):
    env = doc.get("env", {})
    st = doc.get("settings", {})
    L = []
    L.append("## Measurements: %s, %s" % (env.get("device", "?"), doc.get("date_utc", "?")))
    L.append("")
    if env.get("error"):
        L.append("**The run did not start: %s**" % env["error"])
        L.append("")
    smi = (env.get("nvidia_smi_start") or {}).get("out", "")
    L.append("- device: %s, %s SMs, L2 %s MB, capability %s; nvidia-smi (name, driver, SM/mem clocks, max SM "
             "clock, temp, power, mem used/total): `%s`" % (
                 env.get("device"), env.get("sm_count"),
                 num((env.get("l2_bytes") or 0) / 1e6, "%.0f") if env.get("l2_bytes") else "?",
                 env.get("capability"), smi or "n/a"))
    L.append("- software: torch %s (CUDA %s, cuDNN %s), triton %s, Python %s, %s CPU threads for torch" % (
        env.get("torch"), env.get("torch_cuda"), env.get("cudnn"), env.get("triton"), env.get("python"),
        env.get("torch_threads")))
    if command:
        L.append("- command: `%s`" % command)
    L.append("- peers script: `%s` (%.0f s)" % (doc.get("command"), doc.get("elapsed_s") or 0))
    L.append("- method: CUDA events around `inner` back-to-back calls (>= %s ms per repetition), %s warm-up "
             "repetitions, median and p10/p90 over %s-%s repetitions; primary number = CUDA-graph replay "
             "when capture works, else eager; inputs rotate over >= %d MiB so they are not L2-resident "
             "(rows marked L2 are). Ratios use the ceilings measured in the same run." % (
                 st.get("target_rep_ms"), st.get("warmup"), st.get("min_reps"), st.get("reps"),
                 (st.get("rotate_bytes") or 0) // MiB))
    f = env.get("features", {})
    L.append("- features: SDPA enable_gqa %s; zero-copy from Triton: %s; flex_attention attempts: %s" % (
        f.get("sdpa_enable_gqa"), f.get("zero_copy", "not tried"),
        ", ".join("blocks of %s%s %s" % (a.get("kv_block"), " +opts" if a.get("kernel_options") else "",
                                         "ok" if a.get("ok") else "failed") for a in f.get("flex_attempts", []))
        or "none"))
    return L


def section_ceilings(doc):
    c = doc.get("ceilings", {})
    recs = {r["name"]: r for r in doc.get("measurements", []) if r.get("group") == "ceiling"}

    def row(label, key, name, how):
        r = recs.get(name, {})
        st = r.get("status", "not run")
        return [label, num(c.get(key)), us(r.get("ms")) if st == "ok" else st, r.get("mode", ""), how]
    rows = [
        row("HBM read", "hbm_read_GBps", "hbm_read_triton",
            "max of a Triton streaming read and torch.sum over %s MiB" % (
                (recs.get("hbm_read_triton", {}).get("bytes") or 0) // MiB)),
        row("HBM read (torch.sum)", None, "hbm_read_torch_sum", "fp32 tensor sum"),
        row("HBM copy, read + write counted", "hbm_copy_GBps", "hbm_copy", "device-to-device Tensor.copy_"),
        row("host -> device, pinned", "h2d_pinned_GBps", "h2d_pinned", "one copy"),
        row("device -> host, pinned", "d2h_pinned_GBps", "d2h_pinned", "one copy"),
        row("host -> device, pageable", "h2d_pageable_GBps", "h2d_pageable", "one copy from malloc'd memory"),
        row("host -> device, 4096 x 32 KiB copies", "h2d_32KiB_chunks_graph_GBps", "h2d_32KiB_chunks",
            "eager %s GB/s (%s us/copy), graph %s GB/s (%s us/copy)" % (
                num(c.get("h2d_32KiB_chunks_eager_GBps")), num(c.get("h2d_32KiB_chunks_eager_us_per_copy"), "%.2f"),
                num(c.get("h2d_32KiB_chunks_graph_GBps")), num(c.get("h2d_32KiB_chunks_graph_us_per_copy"), "%.2f"))),
        row("zero-copy SM read of pinned host memory", "zero_copy_read_GBps", "zero_copy_read",
            "Triton kernel, 64 KiB pages, %s" % (doc.get("env", {}).get("features", {}).get("zero_copy"))),
    ]
    for r in rows:
        if r[1] == "-" and r[0] == "HBM read (torch.sum)":
            rr = recs.get("hbm_read_torch_sum", {})
            if rr.get("GBps"):
                r[1] = num(rr["GBps"])
    L = ["### Ceilings (same run)", ""]
    L.append(md_table(["what", "GB/s", "median us", "mode", "how"], rows))
    return L


def section_peers(doc):
    recs = [r for r in doc.get("measurements", [])
            if "ctx" in r.get("params", {}) and "B" in r.get("params", {}) and r.get("group") != "h2d_misses"]
    if not recs:
        return []
    cols = sorted(set((r["params"]["ctx"], r["params"]["B"]) for r in recs))
    keys = []
    cell = {}
    for r in recs:
        k = peer_key(r)
        if k not in keys:
            keys.append(k)
        cell[(k, r["params"]["ctx"], r["params"]["B"])] = r
    L = ["### Peers (median us; in parentheses: median / byte floor at the measured ceiling)", ""]
    L.append("Byte floor = fewest bytes the step must read (top-k: the scores; Quest score: kmin + kmax; "
             "dense: all K and V; sparse peers: the 2048 selected tokens' K and V) at the HBM read ceiling. "
             "Shapes: Hq 32, Hkv 8, D 128, bf16, 128 pages of 16 tokens selected per (request, KV head); "
             "DSA top-k is k = 2048 over [B, context].")
    L.append("")
    rows = []
    for k in keys:
        row = [k]
        for c, b in cols:
            r = cell.get((k, c, b))
            if r is None:
                row.append("")
            elif r.get("status") != "ok":
                row.append(r.get("status", "?"))
            else:
                s = us(r.get("ms"))
                if r.get("x_floor"):
                    s += " (%.1fx)" % r["x_floor"]
                if r.get("l2_resident"):
                    s += " L2"
                row.append(s)
        rows.append(row)
    L.append(md_table(["peer"] + ["%s, B=%d" % (ctxs(c), b) for c, b in cols], rows))
    # details
    L += ["", "<details><summary>Peer details (p10-p90, mode, bandwidth, checks)</summary>", ""]
    rows = []
    for r in recs:
        p = r.get("params", {})
        if r.get("status") != "ok":
            rows.append([peer_key(r), ctxs(p["ctx"]), p["B"], r.get("status"), "", "", "", "", "",
                         (r.get("error") or "")[:160]])
            continue
        e = r.get("eager", {}) if isinstance(r.get("eager"), dict) else {}
        rows.append([peer_key(r), ctxs(p["ctx"]), p["B"], us(r.get("ms")),
                     "%s-%s" % (us(r.get("p10_ms")), us(r.get("p90_ms"))), r.get("mode", ""),
                     us(e.get("median_ms")) if "median_ms" in e else (e.get("error", "")[:60] if e else "-"),
                     num((r.get("bytes") or 0) / MiB, "%.1f"), num(r.get("GBps")),
                     "%s%s" % (("%.0f%% of %s" % (100 * r["frac_of_ceiling"], r.get("ceiling")))
                               if r.get("frac_of_ceiling") else "",
                               ("; " + check_str(r)) if check_str(r) else "")])
    L.append(md_table(["peer", "ctx", "B", "median us", "p10-p90 us", "mode", "eager us", "MiB", "GB/s",
                       "ceiling, check"], rows))
    kern = []
    for r in recs:
        ks = (r.get("check") or {}).get("kernels")
        if ks:
            kern.append("- %s %s B=%s: %s" % (peer_key(r), ctxs(r["params"]["ctx"]), r["params"]["B"],
                                              ", ".join("`%s`" % k[:80] for k in ks)))
    if kern:
        L += ["", "CUDA kernels seen (one call, torch.profiler):", ""] + kern
    notes = {}
    for r in recs:
        n = r.get("notes")
        if n and peer_key(r) not in notes:
            notes[peer_key(r)] = n
    if notes:
        L += ["", "Notes:", ""]
        for k, n in notes.items():
            L.append("- %s: %s" % (k, "; ".join("%s: %s" % (kk, vv) for kk, vv in n.items())))
    L += ["", "</details>"]
    return L


def section_misses(doc):
    recs = [r for r in doc.get("measurements", []) if r.get("group") == "h2d_misses"]
    if not recs:
        return []
    c = doc.get("ceilings", {})
    L = ["### Host -> device copies of the misses only (8 KiB units: 16 tokens x 128 dims x bf16 x K+V)", ""]
    L.append("m = missed units per (request, KV head); pages = B x 8 x m. Ratio to the pinned host->device "
             "ceiling (%s GB/s this run)." % num(c.get("h2d_pinned_GBps")))
    L.append("")
    rows = []
    for r in recs:
        p = r.get("params", {})
        extra = ""
        if r.get("name") == "miss_pack_copy" and r.get("status") == "ok":
            extra = "pack (CPU) %s us, copy + scatter (GPU) %s us" % (
                us(r.get("pack_cpu", {}).get("median_ms")), us(r.get("copy_scatter_gpu", {}).get("median_ms")))
        elif r.get("status") == "ok":
            e = r.get("eager", {}) if isinstance(r.get("eager"), dict) else {}
            g = r.get("graph", {}) if isinstance(r.get("graph"), dict) else {}
            extra = "eager %s us, graph %s us" % (us(e.get("median_ms")),
                                                  us(g.get("median_ms")) if "median_ms" in g else
                                                  ("error" if g else "-"))
        ck = check_str(r)
        rows.append([r.get("name"), p.get("B", ""), p.get("m", ""), p.get("pages", ""),
                     num((p.get("bytes") or 0) / MiB, "%.2f"),
                     us(r.get("ms")) if r.get("status") == "ok" else r.get("status"),
                     "%s-%s" % (us(r.get("p10_ms")), us(r.get("p90_ms"))) if r.get("status") == "ok" else "",
                     r.get("mode", ""), num(r.get("GBps")),
                     ("%.0f%%" % (100 * r["frac_of_ceiling"])) if r.get("frac_of_ceiling") else "",
                     "; ".join(x for x in (extra, ck, (r.get("error") or "")[:120]) if x)])
    L.append(md_table(["method", "B", "m", "pages", "MiB", "median us", "p10-p90", "mode", "GB/s",
                       "% h2d", "notes"], rows))
    return L


def section_problems(doc):
    recs = doc.get("measurements", [])
    bad = [r for r in recs if r.get("status") not in ("ok", None)]
    chk = []
    for r in recs:
        ck = r.get("check") or {}
        for k, v in ck.items():
            if k.startswith("rel_err") and isinstance(v, float) and not (v < 3e-2):
                chk.append(r)
            if k.startswith("equal") and v is False:
                chk.append(r)
            if k == "error":
                chk.append(r)
    if not bad and not chk:
        return ["### Problems", "", "None: every measurement ran and every check passed."]
    L = ["### Problems", ""]
    if len(bad) + len(chk) > 40:
        L.append("(%d errors/skips and %d check failures; the first 40 listed)" % (len(bad), len(chk)))
        chk = chk[:max(0, 40 - len(bad[:40]))]
        bad = bad[:40]
    for r in bad:
        L.append("- %s %s: %s%s" % (peer_key(r), json.dumps(r.get("params", {}), sort_keys=True),
                                     r.get("status"),
                                     (": " + (r.get("error") or "").replace("\n", " ")[:300]) if r.get("error") else ""))
    for r in chk:
        L.append("- check: %s %s: %s" % (peer_key(r), json.dumps(r.get("params", {}), sort_keys=True),
                                         json.dumps(r.get("check"), default=str)[:300]))
    return L


# ---------------------------------------------------------------- hsa-run
CFG_KEYS = {"batch": "B", "b": "B", "batch_size": "B", "requests": "B", "n_requests": "B",
            "context": "ctx", "ctx": "ctx", "context_tokens": "ctx", "tokens": "ctx", "seq_len": "ctx",
            "context_len": "ctx", "max_context_tokens": "ctx"}


def flatten(obj, prefix="", out=None, depth=0):
    if out is None:
        out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, "%s.%s" % (prefix, k) if prefix else str(k), out, depth + 1)
    elif isinstance(obj, list):
        if len(obj) <= 16 and all(not isinstance(x, (dict, list)) for x in obj):
            out.append((prefix, obj))
        else:
            for i, v in enumerate(obj[:16]):
                flatten(v, "%s[%d]" % (prefix, i), out, depth + 1)
            if len(obj) > 16:
                out.append((prefix + "[...]", "%d more" % (len(obj) - 16)))
    else:
        out.append((prefix, obj))
    return out


def find_key(obj, names, depth=0):
    """First value whose key (case-insensitive) is in names, breadth-first, depth <= 3."""
    if depth > 3 or not isinstance(obj, dict):
        return None
    for k, v in obj.items():
        if str(k).lower() in names:
            return v
    for k, v in obj.items():
        if isinstance(v, dict):
            r = find_key(v, names, depth + 1)
            if r is not None:
                return r
    return None


def _stage_items(st):
    """stage_ms as dict name->ms (or ->{median_ms: ..}), or list of {name, ms}."""
    items = []
    if isinstance(st, dict):
        for k, v in st.items():
            if isinstance(v, dict):
                v = next((v[x] for x in ("median_ms", "ms", "mean_ms", "median") if x in v), None)
            items.append((str(k), v))
    elif isinstance(st, list):
        for e in st:
            if isinstance(e, dict):
                n = e.get("name") or e.get("stage") or e.get("kernel") or "?"
                v = next((e[x] for x in ("median_ms", "ms", "mean_ms", "time_ms") if x in e), None)
                items.append((str(n), v))
    return items


def _scalar_ms(v):
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        for x in ("median_ms", "median", "ms", "mean_ms", "mean"):
            if isinstance(v.get(x), (int, float)):
                return float(v[x])
    if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
        s = sorted(v)
        return float(s[len(s) // 2])
    return None


def _peer(doc, name, ctx, B, backend=None):
    for r in doc.get("measurements", []) if doc else []:
        p = r.get("params", {})
        if r.get("name") == name and p.get("ctx") == ctx and p.get("B") == B and r.get("status") == "ok":
            if backend is None or p.get("backend") == backend:
                return r
    return None


STAGE_PEERS = [("score", ["quest_score_matmul", "quest_score_compiled", "quest_score_naive"]),
               ("topk", ["topk_quest_sortids", "topk_quest"]),
               ("attend", ["flex_sparse", "gather_sdpa", "index_select_sdpa"]),
               ("attn", ["flex_sparse", "gather_sdpa", "index_select_sdpa"])]


def section_hsa(doc, runs, paths):
    L = ["### hsa (`hsa-run --backend=cuda --profile --json`)", ""]
    for path, run in zip(paths, runs):
        items = run if isinstance(run, list) else [run]
        for i, h in enumerate(items):
            if not isinstance(h, dict):
                L.append("- %s[%d]: not an object: %s" % (path, i, str(h)[:200]))
                continue
            L.append("#### %s%s" % (os.path.basename(path), "[%d]" % i if len(items) > 1 else ""))
            L.append("")
            B = find_key(h, {k for k, v in CFG_KEYS.items() if v == "B"})
            ctx = find_key(h, {k for k, v in CFG_KEYS.items() if v == "ctx"})
            B = B if isinstance(B, int) else None
            ctx = ctx if isinstance(ctx, int) else None
            step = _scalar_ms(find_key(h, {"step_ms", "decode_step_ms", "ms_per_step"}))
            h2d = find_key(h, {"h2d_bytes_per_step", "bytes_h2d_per_step", "bytes_copied_per_step"})
            stages = _stage_items(find_key(h, {"stage_ms", "stages_ms", "kernel_ms", "kernels"}))
            rows = [["batch", B if B is not None else "?"], ["context", ctx if ctx is not None else "?"],
                    ["step_ms", num(step, "%.4f")], ["h2d_bytes_per_step", h2d if h2d is not None else "-"]]
            hr = find_key(h, {"hit_rate"})
            if hr is not None:
                rows.append(["hit_rate", hr])
            L.append(md_table(["field", "value"], rows))
            if stages:
                L += ["", md_table(["stage", "ms", "us"], [[n, num(v, "%.4f"), us(v) if isinstance(v, (int, float)) else "-"]
                                                        for n, v in stages])]
            # comparisons with peers at the same shape
            if doc and B is not None and ctx is not None:
                comp = []
                if step:
                    for name, be in (("sdpa_dense", "default"), ("gather_sdpa", None), ("flex_sparse", None)):
                        r = _peer(doc, name, ctx, B, be)
                        if r:
                            comp.append(["whole step vs %s" % peer_key(r), us(step),
                                         us(r["ms"]), "%.2fx" % (r["ms"] / step)])
                for n, v in stages:
                    if not isinstance(v, (int, float)) or v <= 0:
                        continue
                    for frag, names in STAGE_PEERS:
                        if frag in n.lower():
                            r = next((x for x in (_peer(doc, nm, ctx, B) for nm in names) if x), None)
                            if r:
                                comp.append(["stage %s vs %s" % (n, peer_key(r)), us(v), us(r["ms"]),
                                             "%.2fx" % (r["ms"] / v)])
                            break
                    if any(x in n.lower() for x in ("gather", "copy", "h2d")) and isinstance(h2d, (int, float)) and h2d:
                        gb = h2d / (v * 1e-3) / 1e9
                        c = doc.get("ceilings", {}).get("h2d_pinned_GBps")
                        comp.append(["stage %s: %.0f bytes -> %.1f GB/s" % (n, h2d, gb), us(v), "-",
                                     ("%.0f%% of h2d ceiling" % (100 * gb / c)) if c else "-"])
                parts = [_peer(doc, "quest_score_matmul", ctx, B), _peer(doc, "topk_quest_sortids", ctx, B),
                         _peer(doc, "gather_sdpa", ctx, B)]
                if step and all(parts):
                    tot = sum(r["ms"] for r in parts)
                    comp.append(["whole step vs quest_score_matmul + topk_quest_sortids + gather_sdpa "
                                 "(device-resident cache, no copies)", us(step), us(tot), "%.2fx" % (tot / step)])
                if comp:
                    L += ["", "Against the peers at the same shape (peer / hsa > 1 means hsa is faster). "
                          "The attention peers read a device-resident cache with the selection given: they "
                          "include no scoring, top-k or host->device copies, while hsa's step includes all "
                          "of them (and its misses cross PCIe).", "",
                          md_table(["comparison", "hsa us", "peer us", "peer / hsa"], comp)]
            elif doc:
                L += ["", "(no batch/context fields found: no peer comparison)"]
            flat = flatten(h)
            L += ["", "<details><summary>all fields (%d)</summary>" % len(flat), ""]
            L.append(md_table(["key", "value"], [[k, json.dumps(v, default=str)[:120]] for k, v in flat[:120]]))
            if len(flat) > 120:
                L.append("\n(%d more)" % (len(flat) - 120))
            L += ["", "</details>", ""]
    return L


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("peers", nargs="?", help="peers JSON from bench/peers.py")
    ap.add_argument("--hsa", action="append", default=[], help="hsa-run --json output (repeatable)")
    ap.add_argument("--command", default=None, help="the command that produced the files (for the record)")
    a = ap.parse_args(argv)
    L = []
    doc = None
    if a.peers:
        try:
            doc = load_json_loose(a.peers)
        except Exception as e:
            L.append("peers JSON %s could not be read: %s" % (a.peers, e))
    if doc is not None:
        if doc.get("schema") != "hsa-peers/1":
            L.append("(warning: unexpected schema %r)" % doc.get("schema"))
        L += section_header(doc, a.command)
        for sec in (section_ceilings, section_peers, section_misses, section_problems):
            try:
                s = sec(doc)
            except Exception as e:  # keep the report going
                s = ["(%s failed: %s: %s)" % (sec.__name__, type(e).__name__, e)]
            if s:
                L += [""] + s
    runs, paths = [], []
    for p in a.hsa:
        try:
            runs.append(load_json_loose(p))
            paths.append(p)
        except Exception as e:
            L += ["", "hsa JSON %s could not be read: %s" % (p, e)]
    if runs:
        try:
            L += [""] + section_hsa(doc, runs, paths)
        except Exception as e:
            L += ["", "(hsa section failed: %s: %s)" % (type(e).__name__, e)]
    if not L:
        L = ["no input"]
    sys.stdout.write("\n".join(L) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
