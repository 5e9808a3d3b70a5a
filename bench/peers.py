#!/usr/bin/env python3
"""Ceilings and PyTorch peers for hsa, measured in one run on one GPU.

    python3 bench/peers.py --out peers.json            # full settings (~3-4 min on an H200)
    python3 bench/peers.py --out peers.json --quick    # smoke run (~1 min)

Everything lands in one JSON file (schema "hsa-peers/1", see docs/PERF.md);
a compact table goes to stdout, progress and errors to stderr.

Method: CUDA events around `inner` back-to-back calls (inner chosen so one
repetition lasts >= ~1 ms), warm-up first, median / p10 / p90 over the
repetitions; each measurement runs both eagerly and as a CUDA-graph replay of
the same `inner` calls (the graph number is the primary one when capture
works: it removes Python launch gaps). Inputs rotate among enough copies that
the bytes touched per repetition exceed the L2 several times, so the numbers
are HBM-bound, not L2-bound (flag "l2_resident" marks the few cases that
cannot be). Every measurement is wrapped: a failure is recorded as a string
in the JSON and the run goes on.

Shapes: Llama-3-8B-like layer, 32 query heads, 8 KV heads, head dim 128,
bf16; page (unit) = 16 tokens of one KV head; budget 128 pages = 2048 tokens
per (request, KV head); LRU buffer 4x the budget (512 slots).
"""

import argparse
import datetime
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
import traceback

T_START = time.perf_counter()

try:
    import torch
    import torch.nn.functional as F
    HAVE_TORCH = True
    TORCH_IMPORT_ERROR = None
except Exception as _e:  # pragma: no cover - the GPU machine has torch
    HAVE_TORCH = False
    TORCH_IMPORT_ERROR = repr(_e)

try:
    import triton
    import triton.language as tl
    HAVE_TRITON = True
    TRITON_IMPORT_ERROR = None
except Exception as _e:
    HAVE_TRITON = False
    TRITON_IMPORT_ERROR = repr(_e)

# ---------------------------------------------------------------- shapes
HQ, HKV, D = 32, 8, 128
G = HQ // HKV                    # GQA group
P = 16                           # tokens per page (unit)
KSEL = 128                       # budget in pages per (request, KV head)
S_TOK = KSEL * P                 # 2048 selected tokens
BUF_SLOTS = 4 * KSEL             # LRU buffer slots per (request, KV head)
DSA_K = 2048                     # DSA-like token top-k
ELEM = 2                         # bf16 bytes
PAGE_BYTES = P * D * ELEM * 2    # K+V of one page of one KV head: 8 KiB
MiB = 1 << 20
GiB = 1 << 30

SCHEMA = "hsa-peers/1"

# ---------------------------------------------------------------- Triton kernels
if HAVE_TRITON:
    @triton.jit
    def _hbm_read_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr, ITERS: tl.constexpr):
        # Read-only streaming kernel: each program sums BLOCK*ITERS floats and
        # writes one float (the writes are 1/(BLOCK*ITERS) of the reads).
        pid = tl.program_id(0)
        base = pid.to(tl.int64) * (BLOCK * ITERS)
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for i in tl.static_range(ITERS):
            offs = base + i * BLOCK + tl.arange(0, BLOCK)
            acc += tl.load(x_ptr + offs)
        tl.store(out_ptr + pid, tl.sum(acc, axis=0))

    @triton.jit
    def _page_gather_kernel(src_ptr, src_idx_ptr, dst_ptr, dst_idx_ptr,
                            PAGE: tl.constexpr, BLOCK: tl.constexpr):
        # One program per page: dst[dst_idx[p]] = src[src_idx[p]] (PAGE int32
        # elements each). With src in pinned host memory this is the
        # zero-copy gather (SM loads over PCIe from mapped host memory).
        p = tl.program_id(0)
        s = tl.load(src_idx_ptr + p).to(tl.int64)
        d = tl.load(dst_idx_ptr + p).to(tl.int64)
        for off in tl.static_range(0, PAGE, BLOCK):
            o = off + tl.arange(0, BLOCK)
            v = tl.load(src_ptr + s * PAGE + o)
            tl.store(dst_ptr + d * PAGE + o, v)


class _HostPtr:
    """Pointer-like object for Triton (data_ptr + dtype) over a pinned tensor,
    used only if Triton refuses the CPU tensor itself."""

    def __init__(self, t):
        self._t = t
        self.dtype = t.dtype
        self._p = t.data_ptr()

    def data_ptr(self):
        return self._p


# ---------------------------------------------------------------- helpers
def _now():
    return time.perf_counter() - T_START


def log(msg):
    print("[%7.1fs] %s" % (_now(), msg), file=sys.stderr, flush=True)


def _err(e):
    s = "%s: %s" % (type(e).__name__, e)
    return s if len(s) <= 1500 else s[:1500] + "...(truncated)"


def _stats(vals):
    v = sorted(vals)
    n = len(v)

    def q(p):
        if n == 1:
            return v[0]
        x = p * (n - 1)
        i = int(math.floor(x))
        f = x - i
        if i + 1 >= n:
            return v[-1]
        return v[i] * (1.0 - f) + v[i + 1] * f

    return {"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9),
            "min_ms": v[0], "max_ms": v[-1], "n": n}


def _clamp(x, lo, hi):
    return max(lo, min(hi, x))


def _rel_err(out, ref):
    out = out.double()
    ref = ref.double()
    den = ref.norm().item()
    num = (out - ref).norm().item()
    if not math.isfinite(num):
        return float("nan")
    return num / den if den > 0 else num


def _nvidia_smi():
    q = ("name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,"
         "power.draw,memory.used,memory.total")
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=" + q, "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)
        return {"query": q, "out": out.stdout.strip(), "rc": out.returncode}
    except Exception as e:
        return {"error": _err(e)}


# ---------------------------------------------------------------- run state
class Run:
    def __init__(self, args):
        self.args = args
        self.records = []
        self.ceilings = {}
        self.meta = {}
        self.dev = "cuda"
        self.budget_s = args.budget_s
        self.ev_pool = []

    # time budget ---------------------------------------------------------
    def over_budget(self, reserve_s=0.0):
        return _now() + reserve_s > self.budget_s

    # memory --------------------------------------------------------------
    def fits(self, nbytes):
        try:
            free, total = torch.cuda.mem_get_info()
        except Exception:
            return True
        cap = min(self.args.mem_cap_gb * 1e9, free - 2e9)
        return nbytes <= cap

    # output --------------------------------------------------------------
    def add(self, rec):
        self.records.append(rec)
        st = rec.get("status")
        if st == "ok":
            log("ok    %-28s %-28s %s" % (rec["name"], _pstr(rec.get("params", {})),
                                          _fmt_ms(rec.get("ms"))))
        else:
            log("%-5s %-28s %-28s %s" % ("ERR" if st == "error" else "SKIP", rec["name"],
                                         _pstr(rec.get("params", {})),
                                         (rec.get("error") or st)[:200]))
        return rec

    def document(self):
        _derive(self)
        return {
            "schema": SCHEMA,
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "argv": sys.argv,
            "host": socket.gethostname(),
            "elapsed_s": round(_now(), 2),
            "env": self.meta,
            "settings": _settings(self.args),
            "shapes": {"Hq": HQ, "Hkv": HKV, "D": D, "page_tokens": P, "budget_pages": KSEL,
                       "budget_tokens": S_TOK, "buffer_slots": BUF_SLOTS, "dsa_k": DSA_K,
                       "dtype": "bf16", "page_bytes_kv_one_head": PAGE_BYTES},
            "ceilings": self.ceilings,
            "measurements": self.records,
        }

    def flush(self):
        if not self.args.out:
            return
        try:
            doc = self.document()
            tmp = self.args.out + ".tmp"
            d = os.path.dirname(os.path.abspath(self.args.out))
            os.makedirs(d, exist_ok=True)
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=1, default=str)
            os.replace(tmp, self.args.out)
        except Exception as e:
            log("could not write %s: %s" % (self.args.out, _err(e)))


def _settings(a):
    return {"quick": a.quick, "reps": a.reps, "min_reps": a.min_reps, "warmup": a.warmup,
            "rotate_bytes": a.rotate_mb * MiB, "target_rep_ms": a.target_rep_ms,
            "meas_cap_s": a.meas_cap_s, "contexts": a.contexts, "batches": a.batches,
            "miss_batches": a.miss_batches, "miss_pages": a.miss_pages,
            "hbm_bytes": a.hbm_mb * MiB, "h2d_bytes": a.h2d_mb * MiB,
            "pool_bytes": a.pool_mb * MiB, "max_percopy": a.max_percopy,
            "compile": not a.no_compile, "budget_s": a.budget_s, "mem_cap_gb": a.mem_cap_gb,
            "seed": a.seed, "graph": not a.no_graph, "skip": sorted(a.skip)}


def _pstr(p):
    keys = [("ctx", "c"), ("B", "b"), ("m", "m"), ("backend", ""), ("bytes", "")]
    parts = []
    for k, short in keys:
        if k in p:
            v = p[k]
            if k == "ctx":
                v = "%dK" % (v // 1024)
            if k == "bytes":
                v = "%dMiB" % (v // MiB)
            parts.append("%s%s" % (short, v))
    return " ".join(parts)


def _fmt_ms(ms):
    if ms is None:
        return "-"
    return "%.1fus" % (ms * 1e3) if ms < 1 else "%.3fms" % ms


# ---------------------------------------------------------------- timing
def _events(n):
    return [torch.cuda.Event(enable_timing=True) for _ in range(n)]


def _probe(fn, nsets, target_ms, max_inner):
    """Warm every input set once, then estimate one call's time."""
    for j in range(nsets):
        fn(j)
    torch.cuda.synchronize()
    k = max(2, min(nsets, 8))
    e0, e1 = _events(2)
    e0.record()
    for j in range(k):
        fn(j % nsets)
    e1.record()
    e1.synchronize()
    t = max(e0.elapsed_time(e1) / k, 1e-4)
    inner = int(math.ceil(target_ms / t))
    inner = _clamp(inner, 1, max_inner)
    inner = max(inner, nsets)
    inner = ((inner + nsets - 1) // nsets) * nsets
    return t, inner


def _reps_for(R, t_rep_ms):
    a = R.args
    by_cap = int(a.meas_cap_s * 1e3 / max(t_rep_ms, 1e-3))
    return _clamp(by_cap, a.min_reps, a.reps)


def time_eager(R, fn, nsets, inner, t_est):
    a = R.args
    reps = _reps_for(R, t_est * inner)
    for _ in range(a.warmup):
        for j in range(inner):
            fn(j % nsets)
    st, en = _events(reps), _events(reps)
    for r in range(reps):
        st[r].record()
        for j in range(inner):
            fn(j % nsets)
        en[r].record()
    torch.cuda.synchronize()
    out = _stats([s.elapsed_time(e) / inner for s, e in zip(st, en)])
    out.update({"inner": inner, "nsets": nsets})
    return out


def time_graph(R, fn, nsets, inner, t_est):
    a = R.args
    reps = _reps_for(R, t_est * inner)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for j in range(nsets):
            fn(j)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(g):
            for j in range(inner):
                fn(j % nsets)
        for _ in range(max(1, a.warmup)):
            g.replay()
        torch.cuda.synchronize()
        st, en = _events(reps), _events(reps)
        for r in range(reps):
            st[r].record()
            g.replay()
            en[r].record()
        torch.cuda.synchronize()
        out = _stats([x.elapsed_time(y) / inner for x, y in zip(st, en)])
        out.update({"inner": inner, "nsets": nsets})
        return out
    finally:
        del g
        try:
            torch.cuda.synchronize()
        except Exception:
            pass


def measure(R, name, group, params, build, nbytes=None, ceiling=None,
            eager=True, graph=True, need_bytes=0, reserve_s=0.0):
    """build() -> dict(fn=, nsets=, notes=?, check=?, rot_bytes=?).
    Records status ok / error / skipped:*; never raises."""
    rec = {"name": name, "group": group, "params": dict(params), "bytes": nbytes,
           "ceiling": ceiling, "status": "ok"}
    if R.over_budget(reserve_s):
        rec["status"] = "skipped: time budget"
        return R.add(rec)
    if need_bytes and not R.fits(need_bytes):
        rec["status"] = "skipped: memory"
        rec["error"] = "needs ~%.1f GB of device memory" % (need_bytes / 1e9)
        return R.add(rec)
    OOM = getattr(torch.cuda, "OutOfMemoryError", MemoryError)
    b = None
    try:
        b = build()
        fn, nsets = b["fn"], int(b.get("nsets", 1))
        if b.get("notes"):
            rec["notes"] = b["notes"]
        rb = b.get("rot_bytes")
        if rb is not None:
            rec["rot_bytes"] = rb
            l2 = R.meta.get("l2_bytes") or 60 * MiB
            rec["l2_resident"] = bool(rb < 2 * l2)
        t0 = time.perf_counter()
        t_est, inner = _probe(fn, nsets, R.args.target_rep_ms, R.args.max_inner)
        rec["warm_s"] = time.perf_counter() - t0      # first calls: includes any compile / autotune
        rec["probe_ms"] = t_est
        if b.get("check") is not None:
            try:
                rec["check"] = b["check"]()
            except Exception as e:
                rec["check"] = {"error": _err(e)}
        if eager:
            try:
                rec["eager"] = time_eager(R, fn, nsets, inner, t_est)
            except Exception as e:
                rec["eager"] = {"error": _err(e)}
        if graph and not R.args.no_graph:
            try:
                rec["graph"] = time_graph(R, fn, nsets, inner, t_est)
            except Exception as e:
                rec["graph"] = {"error": _err(e)}
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
        for mode in ("graph", "eager"):
            m = rec.get(mode)
            if m and "median_ms" in m:
                rec["ms"] = m["median_ms"]
                rec["p10_ms"] = m["p10_ms"]
                rec["p90_ms"] = m["p90_ms"]
                rec["mode"] = mode
                break
        if "ms" not in rec:
            rec["status"] = "error"
            rec["error"] = "no timing: " + "; ".join(
                "%s: %s" % (k, rec[k].get("error")) for k in ("graph", "eager") if k in rec)
    except OOM as e:
        rec["status"] = "skipped: memory"
        rec["error"] = "OOM: " + _err(e)
    except Exception as e:
        rec["status"] = "error"
        rec["error"] = _err(e)
        rec["traceback"] = traceback.format_exc()[-2000:]
    finally:
        b = None
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        try:
            torch.cuda.empty_cache()
        except Exception:
            pass
    return R.add(rec)


def _kernel_names(fn, limit=6):
    """CUDA kernel names of one call (torch.profiler); best effort."""
    try:
        from torch.profiler import profile, ProfilerActivity
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        names = []
        for ev in prof.events():
            dt = str(getattr(ev, "device_type", ""))
            if "CUDA" in dt and ev.name not in names:
                names.append(ev.name)
        return [n[:120] for n in names[:limit]]
    except Exception as e:
        return ["(profiler failed: %s)" % _err(e)[:200]]


# ---------------------------------------------------------------- derived numbers
def _derive(R):
    ok = {}
    for r in R.records:
        if r.get("status") == "ok" and r.get("group") == "ceiling":
            ok.setdefault(r["name"], r)

    def gbps(name):
        r = ok.get(name)
        if r and r.get("bytes") and r.get("ms"):
            return r["bytes"] / (r["ms"] * 1e-3) / 1e9
        return None

    c = R.ceilings
    reads = [x for x in (gbps("hbm_read_triton"), gbps("hbm_read_torch_sum")) if x]
    c["hbm_read_GBps"] = max(reads) if reads else None
    c["hbm_copy_GBps"] = gbps("hbm_copy")
    c["h2d_pinned_GBps"] = gbps("h2d_pinned")
    c["d2h_pinned_GBps"] = gbps("d2h_pinned")
    c["h2d_pageable_GBps"] = gbps("h2d_pageable")
    c["zero_copy_read_GBps"] = gbps("zero_copy_read")
    r = ok.get("h2d_32KiB_chunks")
    if r:
        for mode in ("eager", "graph"):
            m = r.get(mode) or {}
            if "median_ms" in m:
                c["h2d_32KiB_chunks_%s_GBps" % mode] = r["bytes"] / (m["median_ms"] * 1e-3) / 1e9
                c["h2d_32KiB_chunks_%s_us_per_copy" % mode] = m["median_ms"] * 1e3 / 4096
    ref = {"hbm": c.get("hbm_read_GBps"), "hbm_copy": c.get("hbm_copy_GBps"),
           "h2d": c.get("h2d_pinned_GBps"), "d2h": c.get("d2h_pinned_GBps")}
    c["ratio_note"] = ("frac_of_ceiling = (bytes / median time) / ceiling GB/s; "
                       "floor_ms = bytes / ceiling; x_floor = median / floor_ms. "
                       "ceiling 'hbm' = hbm_read_GBps, 'h2d' = h2d_pinned_GBps, "
                       "'hbm_copy' counts read + write bytes.")
    for r in R.records:
        if r.get("status") != "ok" or not r.get("bytes") or not r.get("ms"):
            continue
        r["GBps"] = r["bytes"] / (r["ms"] * 1e-3) / 1e9
        cg = ref.get(r.get("ceiling"))
        if cg:
            r["frac_of_ceiling"] = r["GBps"] / cg
            r["floor_ms"] = r["bytes"] / (cg * 1e9) * 1e3
            r["x_floor"] = r["ms"] / r["floor_ms"]


# ---------------------------------------------------------------- environment
def collect_env(R):
    m = R.meta
    m["python"] = sys.version.split()[0]
    m["platform"] = platform.platform()
    m["cpu_count"] = os.cpu_count()
    m["torch"] = torch.__version__
    m["torch_cuda"] = getattr(torch.version, "cuda", None)
    m["triton"] = getattr(triton, "__version__", None) if HAVE_TRITON else None
    m["triton_import_error"] = TRITON_IMPORT_ERROR
    try:
        m["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:
        m["cudnn"] = _err(e)
    p = torch.cuda.get_device_properties(0)
    m["device"] = torch.cuda.get_device_name(0)
    m["sm_count"] = p.multi_processor_count
    m["capability"] = "%d.%d" % (p.major, p.minor)
    m["total_mem_bytes"] = p.total_memory
    m["l2_bytes"] = getattr(p, "L2_cache_size", None)
    m["torch_threads"] = torch.get_num_threads()
    m["nvidia_smi_start"] = _nvidia_smi()
    m["features"] = {}


# ---------------------------------------------------------------- phase 1: ceilings
def phase_ceilings(R):
    a = R.args
    dev = R.dev
    # HBM read: Triton streaming read and torch.sum over the same tensor.
    n_read = a.hbm_mb * MiB
    x = None
    try:
        BLOCK, ITERS = 4096, 4
        n_el = (n_read // 4) // (BLOCK * ITERS) * (BLOCK * ITERS)
        x = torch.randn(n_el, device=dev, dtype=torch.float32)
        nprog = n_el // (BLOCK * ITERS)
        part = torch.empty(nprog, device=dev, dtype=torch.float32)

        if HAVE_TRITON:
            def b_read():
                def fn(i):
                    _hbm_read_kernel[(nprog,)](x, part, BLOCK=BLOCK, ITERS=ITERS, num_warps=8)

                def check():
                    fn(0)
                    ref = x.sum(dtype=torch.float64).item()
                    got = part.sum(dtype=torch.float64).item()
                    return {"abs_diff": abs(got - ref), "ref_sum": ref}
                return {"fn": fn, "nsets": 1, "check": check, "rot_bytes": n_el * 4,
                        "notes": {"kernel": "triton, %d fp32 per program, 16-byte loads" % (BLOCK * ITERS)}}
            measure(R, "hbm_read_triton", "ceiling", {"bytes": n_el * 4}, b_read,
                    nbytes=n_el * 4, ceiling="hbm")
        else:
            R.add({"name": "hbm_read_triton", "group": "ceiling", "params": {}, "status": "error",
                   "error": "triton not importable: %s" % TRITON_IMPORT_ERROR})

        def b_sum():
            return {"fn": lambda i: x.sum(), "nsets": 1, "rot_bytes": n_el * 4}
        measure(R, "hbm_read_torch_sum", "ceiling", {"bytes": n_el * 4}, b_sum,
                nbytes=n_el * 4, ceiling="hbm")
    except Exception as e:
        R.add({"name": "hbm_read", "group": "ceiling", "params": {}, "status": "error", "error": _err(e)})
    finally:
        x = None
        torch.cuda.empty_cache()

    # Device-to-device copy (read + write counted).
    n_copy = max(a.hbm_mb // 2, 256) * MiB

    def b_copy():
        src = torch.randn(n_copy // 4, device=dev)
        dst = torch.empty_like(src)
        return {"fn": lambda i: dst.copy_(src), "nsets": 1, "rot_bytes": 2 * n_copy}
    measure(R, "hbm_copy", "ceiling", {"bytes": n_copy}, b_copy, nbytes=2 * n_copy,
            ceiling="hbm_copy")

    # Pinned host <-> device, one big copy.
    n_h2d = a.h2d_mb * MiB
    h = d = None
    try:
        t0 = time.perf_counter()
        h = torch.empty(n_h2d, dtype=torch.uint8, pin_memory=True)
        R.meta["pin_alloc_ms_%dMiB" % a.h2d_mb] = (time.perf_counter() - t0) * 1e3
        d = torch.randint(0, 255, (n_h2d,), dtype=torch.uint8, device=dev)
        h.copy_(d)
        torch.cuda.synchronize()
        measure(R, "h2d_pinned", "ceiling", {"bytes": n_h2d},
                lambda: {"fn": lambda i: d.copy_(h, non_blocking=True), "nsets": 1},
                nbytes=n_h2d, ceiling="h2d")
        measure(R, "d2h_pinned", "ceiling", {"bytes": n_h2d},
                lambda: {"fn": lambda i: h.copy_(d, non_blocking=True), "nsets": 1},
                nbytes=n_h2d, ceiling="d2h")

        # Pageable source, for reference (what an unpinned cache would get).
        def b_pageable():
            hp = torch.empty(n_h2d, dtype=torch.uint8)
            hp.copy_(h)
            return {"fn": lambda i: d.copy_(hp, non_blocking=True), "nsets": 1}
        measure(R, "h2d_pageable", "ceiling", {"bytes": n_h2d}, b_pageable,
                nbytes=n_h2d, ceiling="h2d", graph=False)

        # 4096 separate 32 KiB copies (per-page copy-engine calls).
        nchunk, csz = 4096, 32 * 1024
        if n_h2d >= nchunk * csz:
            def b_chunks():
                hv = list(h[:nchunk * csz].view(nchunk, csz).unbind(0))
                dv = list(d[:nchunk * csz].view(nchunk, csz).unbind(0))

                def fn(i):
                    for dd, hh in zip(dv, hv):
                        dd.copy_(hh, non_blocking=True)
                return {"fn": fn, "nsets": 1,
                        "notes": {"copies": nchunk, "copy_bytes": csz,
                                  "eager": "one Tensor.copy_ (cudaMemcpyAsync) per chunk from Python",
                                  "graph": "the same copies captured in one CUDA graph"}}
            measure(R, "h2d_32KiB_chunks", "ceiling", {"bytes": nchunk * csz}, b_chunks,
                    nbytes=nchunk * csz, ceiling="h2d")

    except Exception as e:
        R.add({"name": "h2d", "group": "ceiling", "params": {}, "status": "error", "error": _err(e)})
    finally:
        h = d = None
        torch.cuda.empty_cache()


def _zero_copy_arg(R, host_t, dev_dst):
    """Find how to hand a pinned host tensor to Triton. Returns the argument
    to pass (the tensor itself or a _HostPtr) or None; records what worked.
    Probe: copy the first 2048 int32 of host_t to the first 2048 of dev_dst."""
    f = R.meta["features"]
    if "zero_copy" in f:
        how = f["zero_copy"]
        if how == "pinned tensor passed directly":
            return host_t
        if how.startswith("data_ptr"):
            return _HostPtr(host_t)
        return None
    errs = []
    zero = torch.zeros(1, dtype=torch.int64, device=dev_dst.device)
    hflat = host_t.reshape(-1)
    dflat = dev_dst.reshape(-1)
    for how, arg in (("pinned tensor passed directly", host_t),
                     ("data_ptr wrapper (UVA pointer)", _HostPtr(host_t))):
        try:
            dflat[:2048].fill_(-1)
            _page_gather_kernel[(1,)](arg, zero, dev_dst, zero, PAGE=2048, BLOCK=2048, num_warps=4)
            torch.cuda.synchronize()
            if torch.equal(dflat[:2048].cpu(), hflat[:2048]):
                f["zero_copy"] = how
                return arg
            errs.append("%s: wrong data" % how)
        except Exception as e:
            errs.append("%s: %s" % (how, _err(e)[:300]))
            try:
                torch.cuda.synchronize()
            except Exception:
                pass
    f["zero_copy"] = "failed"
    f["zero_copy_error"] = " | ".join(errs)
    return None


# ---------------------------------------------------------------- per-config inputs
def _seed(R, *xs):
    s = R.args.seed
    for x in xs:
        s = (s * 1000003 + int(x)) % (2 ** 31)
    return s


def make_config(R, ctx, B):
    """K/V rotation sets, queries and the page selection of one (ctx, B)."""
    dev = R.dev
    g = torch.Generator(device=dev)
    g.manual_seed(_seed(R, ctx, B))
    kv_bytes = 2 * B * HKV * ctx * D * ELEM
    nsets = _clamp(int(math.ceil(R.args.rotate_mb * MiB / kv_bytes)), 1, 8)
    ks = [torch.randn(B, HKV, ctx, D, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(nsets)]
    vs = [torch.randn(B, HKV, ctx, D, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(nsets)]
    qs = [torch.randn(B, HQ, 1, D, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(nsets)]
    Np = ctx // P
    r = torch.rand(B * HKV, Np, device=dev, generator=g)
    sel = r.argsort(dim=1)[:, :KSEL].sort(dim=1).values          # [B*Hkv, 128] page ids
    tok = (sel.unsqueeze(-1) * P + torch.arange(P, device=dev)).reshape(B, HKV, S_TOK)
    return {"ctx": ctx, "B": B, "nsets": nsets, "ks": ks, "vs": vs, "qs": qs, "Np": Np,
            "sel": sel, "tok": tok, "kv_bytes": kv_bytes, "gen": g}


def _sdpa(R, q, k, v):
    if R.meta["features"].get("sdpa_enable_gqa"):
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    return F.scaled_dot_product_attention(q, k.repeat_interleave(G, dim=1),
                                          v.repeat_interleave(G, dim=1))


def _ref_attn_b0(q, k, v, tok=None):
    """fp32 reference for request 0: q [B,Hq,1,D], k/v [B,Hkv,T,D]; tok [B,Hkv,S] optional."""
    q0 = q[0, :, 0, :].float().view(HKV, G, D)
    k0 = k[0]
    v0 = v[0]
    if tok is not None:
        k0 = k0.gather(1, tok[0].unsqueeze(-1).expand(-1, -1, D))
        v0 = v0.gather(1, tok[0].unsqueeze(-1).expand(-1, -1, D))
    k0 = k0.float()
    v0 = v0.float()
    s = torch.einsum("hgd,htd->hgt", q0, k0) / math.sqrt(D)
    p = torch.softmax(s, dim=-1)
    return torch.einsum("hgt,htd->hgd", p, v0).reshape(HQ, D)


def detect_features(R):
    f = R.meta["features"]
    dev = R.dev
    try:
        q = torch.randn(1, 4, 1, 64, device=dev, dtype=torch.bfloat16)
        k = torch.randn(1, 1, 32, 64, device=dev, dtype=torch.bfloat16)
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
        f["sdpa_enable_gqa"] = True
    except Exception as e:
        f["sdpa_enable_gqa"] = False
        f["sdpa_enable_gqa_error"] = _err(e)
    try:
        from torch.nn.attention import sdpa_kernel, SDPBackend  # noqa: F401
        f["sdpa_kernel"] = True
    except Exception as e:
        f["sdpa_kernel"] = False
        f["sdpa_kernel_error"] = _err(e)
    try:
        from torch.nn.attention.flex_attention import flex_attention, BlockMask  # noqa: F401
        f["flex_attention"] = True
    except Exception as e:
        f["flex_attention"] = False
        f["flex_attention_error"] = _err(e)
    f["torch_compile"] = hasattr(torch, "compile")


# ---------------------------------------------------------------- phase 2: eager peers
def phase_peers(R, ctx, B):
    base = {"ctx": ctx, "B": B}
    kv_bytes = 2 * B * HKV * ctx * D * ELEM
    if not R.fits(kv_bytes):
        for n in ("topk_quest", "sdpa_dense", "gather_sdpa", "quest_score_matmul"):
            R.add({"name": n, "group": "peer", "params": base, "status": "skipped: memory",
                   "error": "K/V alone needs %.1f GB" % (kv_bytes / 1e9)})
        return
    if R.over_budget():
        R.add({"name": "config", "group": "peer", "params": base, "status": "skipped: time budget"})
        return
    cfg = None
    try:
        cfg = make_config(R, ctx, B)
    except Exception as e:
        R.add({"name": "config", "group": "peer", "params": base, "status": "error", "error": _err(e)})
        cfg = None
        torch.cuda.empty_cache()
        return
    try:
        _peers_topk(R, cfg, base)
        _peers_quest(R, cfg, base)
        _peers_sdpa(R, cfg, base)
        _peers_gather(R, cfg, base)
    finally:
        cfg = None
        torch.cuda.empty_cache()


def _rot_sets(nbytes, cap=64):
    return _clamp(int(math.ceil(ROT_BYTES[0] / max(nbytes, 1))), 1, cap)


ROT_BYTES = [512 * MiB]


def _peers_topk(R, cfg, base):
    ctx, B, dev = cfg["ctx"], cfg["B"], R.dev
    rows, Np = B * HKV, cfg["Np"]

    def mk(rows_, n, k, sort_ids):
        def build():
            nb = rows_ * n * 4
            ns = _rot_sets(nb)
            xs = [torch.randn(rows_, n, device=dev, dtype=torch.float32) for _ in range(ns)]
            if sort_ids:
                def fn(i):
                    _, idx = torch.topk(xs[i], k, dim=1, sorted=False)
                    return idx.sort(dim=1).values
            else:
                def fn(i):
                    return torch.topk(xs[i], k, dim=1, sorted=False)
            return {"fn": fn, "nsets": ns, "rot_bytes": nb * ns,
                    "notes": {"shape": [rows_, n], "k": k, "dtype": "float32"}}
        return build

    measure(R, "topk_quest", "topk", dict(base, rows=rows, n=Np, k=KSEL),
            mk(rows, Np, KSEL, False), nbytes=rows * Np * 4, ceiling="hbm")
    measure(R, "topk_quest_sortids", "topk", dict(base, rows=rows, n=Np, k=KSEL),
            mk(rows, Np, KSEL, True), nbytes=rows * Np * 4, ceiling="hbm")
    measure(R, "topk_dsa", "topk", dict(base, rows=B, n=ctx, k=DSA_K),
            mk(B, ctx, DSA_K, False), nbytes=B * ctx * 4, ceiling="hbm")
    measure(R, "topk_dsa_sortids", "topk", dict(base, rows=B, n=ctx, k=DSA_K),
            mk(B, ctx, DSA_K, True), nbytes=B * ctx * 4, ceiling="hbm")


def _quest_naive(q, kmin, kmax):
    # q [B,Hq,D]; kmin/kmax [B,Hkv,Np,D] -> scores [B,Hkv,Np] (max over the group's query heads)
    Bq = q.shape[0]
    qg = q.view(Bq, HKV, G, 1, D)
    a = qg * kmin.unsqueeze(2)
    b = qg * kmax.unsqueeze(2)
    return torch.maximum(a, b).sum(dim=-1, dtype=torch.float32).amax(dim=2)


def _quest_matmul(q, kmin, kmax):
    # sum_d max(q_d*kmin_d, q_d*kmax_d) = kmax . relu(q) + kmin . min(q, 0): two skinny matmuls
    Bq = q.shape[0]
    qg = q.view(Bq, HKV, G, D).transpose(-1, -2)             # [B,Hkv,D,G]
    s = torch.matmul(kmax, qg.clamp(min=0)) + torch.matmul(kmin, qg.clamp(max=0))  # [B,Hkv,Np,G]
    return s.amax(dim=-1)


def _quest_ref_b0(q, kmin, kmax):
    qg = q[0].double().view(HKV, G, D).transpose(-1, -2)
    s = torch.matmul(kmax[0].double(), qg.clamp(min=0)) + torch.matmul(kmin[0].double(), qg.clamp(max=0))
    return s.amax(dim=-1)


def _quest_inputs(R, cfg):
    B, Np, dev = cfg["B"], cfg["Np"], R.dev
    nb = 2 * B * HKV * Np * D * ELEM
    ns = _rot_sets(nb)
    sets = []
    for _ in range(ns):
        a = torch.randn(B, HKV, Np, D, device=dev, dtype=torch.bfloat16)
        b = a + torch.rand(B, HKV, Np, D, device=dev, dtype=torch.bfloat16)
        q = torch.randn(B, HQ, D, device=dev, dtype=torch.bfloat16)
        sets.append((q, a, b))
    return sets, nb, ns


def _peers_quest(R, cfg, base, which=("naive", "matmul")):
    B, Np = cfg["B"], cfg["Np"]
    nb = 2 * B * HKV * Np * D * ELEM
    inter = B * HKV * G * Np * D * ELEM     # one broadcast intermediate of the naive form
    for kind in which:
        f = {"naive": _quest_naive, "matmul": _quest_matmul}[kind]

        def build(f=f, kind=kind):
            sets, nb_, ns = _quest_inputs(R, cfg)

            def fn(i):
                q, a, b = sets[i]
                return f(q, a, b)

            def check():
                q, a, b = sets[0]
                return {"rel_err_vs_fp64_b0": _rel_err(f(q, a, b)[0], _quest_ref_b0(q, a, b))}
            notes = {"form": {"naive": "max(q*kmin, q*kmax).sum(d) broadcast, fp32 sum, max over group",
                              "matmul": "kmax@relu(q) + kmin@min(q,0) (bf16 matmuls), max over group"}[kind]}
            return {"fn": fn, "nsets": ns, "rot_bytes": nb_ * ns, "check": check, "notes": notes}
        need = nb * _rot_sets(nb) + (3 * inter if kind == "naive" else 0) + 256 * MiB
        measure(R, "quest_score_" + kind, "score", dict(base, Np=Np), build,
                nbytes=nb, ceiling="hbm", need_bytes=need)


def _peers_sdpa(R, cfg, base):
    ks, vs, qs, ns = cfg["ks"], cfg["vs"], cfg["qs"], cfg["nsets"]
    feats = R.meta["features"]
    gqa = feats.get("sdpa_enable_gqa")
    extra = 0 if gqa else G * cfg["kv_bytes"]          # K and V expanded to Hq heads per call
    backends = [("default", None)]
    if feats.get("sdpa_kernel"):
        from torch.nn.attention import sdpa_kernel, SDPBackend
        for nm in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"):
            be = getattr(SDPBackend, nm, None)
            if be is not None:
                backends.append((nm.lower().replace("_attention", ""), be))
    for bname, be in backends:
        def build(be=be, bname=bname):
            if gqa:
                def call(i):
                    return F.scaled_dot_product_attention(qs[i], ks[i], vs[i], enable_gqa=True)
            else:
                def call(i):
                    return F.scaled_dot_product_attention(qs[i], ks[i].repeat_interleave(G, 1),
                                                          vs[i].repeat_interleave(G, 1))
            if be is None:
                fn = call
            else:
                def fn(i, call=call):
                    with sdpa_kernel([be]):
                        return call(i)

            def check():
                out = fn(0)
                c = {"rel_err_vs_fp32_b0": _rel_err(out[0, :, 0, :], _ref_attn_b0(qs[0], ks[0], vs[0]))}
                if bname == "default" and cfg["B"] == R.args.batches[0]:
                    c["kernels"] = _kernel_names(lambda: fn(0))
                return c
            return {"fn": fn, "nsets": ns, "rot_bytes": cfg["kv_bytes"] * ns, "check": check,
                    "notes": {"gqa": "enable_gqa=True" if gqa else "K/V expanded with repeat_interleave"}}
        measure(R, "sdpa_dense", "attention", dict(base, backend=bname), build,
                nbytes=cfg["kv_bytes"], ceiling="hbm", need_bytes=extra + 256 * MiB)


def _peers_gather(R, cfg, base):
    ks, vs, qs, ns = cfg["ks"], cfg["vs"], cfg["qs"], cfg["nsets"]
    B, ctx, tok = cfg["B"], cfg["ctx"], cfg["tok"]
    sel_bytes = 2 * B * HKV * S_TOK * D * ELEM
    idx4 = tok.unsqueeze(-1).expand(B, HKV, S_TOK, D)
    flat = (torch.arange(B * HKV, device=R.dev).unsqueeze(1) * ctx + tok.view(B * HKV, S_TOK)).reshape(-1)

    def b_gather():
        def fn(i):
            kg = torch.gather(ks[i], 2, idx4)
            vg = torch.gather(vs[i], 2, idx4)
            return _sdpa(R, qs[i], kg, vg)

        def check():
            return {"rel_err_vs_fp32_b0": _rel_err(fn(0)[0, :, 0, :], _ref_attn_b0(qs[0], ks[0], vs[0], tok))}
        return {"fn": fn, "nsets": ns, "rot_bytes": cfg["kv_bytes"] * ns, "check": check,
                "notes": {"gather": "torch.gather(K,2,idx expanded over D) then SDPA"}}

    def isel(i):
        kg = ks[i].view(-1, D).index_select(0, flat).view(B, HKV, S_TOK, D)
        vg = vs[i].view(-1, D).index_select(0, flat).view(B, HKV, S_TOK, D)
        return kg, vg

    def b_isel_sdpa():
        def fn(i):
            kg, vg = isel(i)
            return _sdpa(R, qs[i], kg, vg)

        def check():
            return {"rel_err_vs_fp32_b0": _rel_err(fn(0)[0, :, 0, :], _ref_attn_b0(qs[0], ks[0], vs[0], tok))}
        return {"fn": fn, "nsets": ns, "rot_bytes": cfg["kv_bytes"] * ns, "check": check,
                "notes": {"gather": "index_select of 256-byte rows of K and V, then SDPA"}}

    def b_isel_only():
        def check():
            kg, vg = isel(0)
            ref = torch.gather(ks[0], 2, idx4)
            return {"equal_to_torch_gather": bool(torch.equal(kg, ref))}
        return {"fn": isel, "nsets": ns, "rot_bytes": cfg["kv_bytes"] * ns, "check": check}

    gqa = R.meta["features"].get("sdpa_enable_gqa")
    extra = 2 * sel_bytes * (1 if gqa else 1 + G) + 256 * MiB
    measure(R, "gather_sdpa", "attention", base, b_gather, nbytes=sel_bytes, ceiling="hbm", need_bytes=extra)
    measure(R, "index_select_sdpa", "attention", base, b_isel_sdpa, nbytes=sel_bytes, ceiling="hbm",
            need_bytes=extra)
    measure(R, "index_select_only", "attention", base, b_isel_only, nbytes=sel_bytes, ceiling="hbm",
            need_bytes=extra)


# ---------------------------------------------------------------- phase 3: misses host -> device
def phase_misses(R):
    """Per-page copies and pack + copy; returns (pool, n_pool, pe) for phase 5."""
    a = R.args
    dev = R.dev
    pool = None
    try:
        n_pool = (a.pool_mb * MiB) // PAGE_BYTES
        pe = PAGE_BYTES // 4                       # int32 elements per page
        t0 = time.perf_counter()
        pool = torch.empty(n_pool, pe, dtype=torch.int32, pin_memory=True)
        R.meta["pin_alloc_ms_pool_%dMiB" % a.pool_mb] = (time.perf_counter() - t0) * 1e3
        chunk = max(1, (256 * MiB) // PAGE_BYTES)
        for s in range(0, n_pool, chunk):
            e = min(n_pool, s + chunk)
            pool[s:e].copy_(torch.randint(-2 ** 31, 2 ** 31 - 1, (e - s, pe), dtype=torch.int32, device=dev))
        torch.cuda.synchronize()
    except Exception as e:
        R.add({"name": "miss_pool", "group": "h2d_misses", "params": {}, "status": "error", "error": _err(e)})
        return None
    for B in a.miss_batches:
        if R.over_budget():
            R.add({"name": "misses", "group": "h2d_misses", "params": {"B": B},
                   "status": "skipped: time budget"})
            continue
        try:
            _misses_batch(R, pool, n_pool, pe, B, methods=("per_page", "pack"))
        except Exception as e:
            R.add({"name": "misses", "group": "h2d_misses", "params": {"B": B}, "status": "error",
                   "error": _err(e)})
        torch.cuda.empty_cache()
        R.flush()
    return pool, n_pool, pe


def _misses_batch(R, pool, n_pool, pe, B, methods=("per_page", "pack", "zero_copy")):
    a = R.args
    dev = R.dev
    slots = B * HKV * BUF_SLOTS
    buf = torch.empty(slots, pe, dtype=torch.int32, device=dev)
    g = torch.Generator()
    g.manual_seed(_seed(R, 7, B))
    max_m = max(a.miss_pages)
    staging = dstage = None
    if "pack" in methods:
        staging = torch.empty(B * HKV * max_m, pe, dtype=torch.int32, pin_memory=True)
        dstage = torch.empty(B * HKV * max_m, pe, dtype=torch.int32, device=dev)
    for m in a.miss_pages:
        M = B * HKV * m
        nbytes = M * PAGE_BYTES
        base = {"B": B, "m": m, "pages": M, "bytes": nbytes}
        if M > n_pool:
            R.add({"name": "misses", "group": "h2d_misses", "params": base, "status": "error",
                   "error": "pool too small"})
            continue
        nsets = _clamp(int(math.ceil(ROT_BYTES[0] / nbytes)), 1, 8)
        src_sets, dst_sets = [], []
        for _ in range(nsets):
            src_sets.append(torch.randperm(n_pool, generator=g)[:M].contiguous())
            r = torch.rand(B * HKV, BUF_SLOTS, generator=g).argsort(dim=1)[:, :m]
            dst = (r + (torch.arange(B * HKV) * BUF_SLOTS).unsqueeze(1)).reshape(-1).contiguous()
            dst_sets.append(dst)
        src_dev = [s.to(dev) for s in src_sets]
        dst_dev = [d.to(dev) for d in dst_sets]

        # (i) one cudaMemcpyAsync per page from pinned memory
        if "per_page" not in methods:
            pass
        elif M <= a.max_percopy:
            def b_percopy():
                sv = [pool[int(p)] for p in src_sets[0].tolist()]
                dv = [buf[int(s)] for s in dst_sets[0].tolist()]

                def fn(i):
                    for dd, ss in zip(dv, sv):
                        dd.copy_(ss, non_blocking=True)

                def check():
                    fn(0)
                    torch.cuda.synchronize()
                    return {"equal": bool(torch.equal(buf.index_select(0, dst_dev[0]).cpu(),
                                                      pool.index_select(0, src_sets[0])))}
                return {"fn": fn, "nsets": 1, "check": check,
                        "notes": {"how": "Tensor.copy_(non_blocking) per 8 KiB page (cudaMemcpyAsync); "
                                         "graph = those copies captured once (a real step changes them)"}}
            measure(R, "miss_copy_per_page", "h2d_misses", base, b_percopy, nbytes=nbytes, ceiling="h2d")
        else:
            R.add({"name": "miss_copy_per_page", "group": "h2d_misses", "params": base,
                   "status": "skipped: too many copies",
                   "error": "%d copies > --max-percopy %d" % (M, a.max_percopy)})

        # (ii) pack on the host into pinned staging, one copy, scatter on device
        if "pack" in methods:
            _miss_pack(R, pool, buf, staging, dstage, src_sets, dst_dev, base, nbytes)

        # (iii) zero-copy gather kernel (SM loads from mapped pinned memory)
        if "zero_copy" in methods and HAVE_TRITON:
            def b_zc():
                arg = _zero_copy_arg(R, pool, buf)
                if arg is None:
                    raise RuntimeError("zero-copy unavailable: %s" % R.meta["features"].get("zero_copy_error"))

                def fn(i):
                    _page_gather_kernel[(M,)](arg, src_dev[i], buf, dst_dev[i], PAGE=pe, BLOCK=pe, num_warps=4)

                def check():
                    fn(0)
                    torch.cuda.synchronize()
                    return {"equal": bool(torch.equal(buf.index_select(0, dst_dev[0]).cpu(),
                                                      pool.index_select(0, src_sets[0])))}
                return {"fn": fn, "nsets": nsets, "check": check,
                        "notes": {"how": "Triton kernel, one program per page, 16-byte loads over PCIe; "
                                         + str(R.meta["features"].get("zero_copy"))}}
            measure(R, "miss_zero_copy", "h2d_misses", base, b_zc, nbytes=nbytes, ceiling="h2d")


def _miss_pack(R, pool, buf, staging, dstage, src_sets, dst_dev, base, nbytes):
    rec = {"name": "miss_pack_copy", "group": "h2d_misses", "params": dict(base), "bytes": nbytes,
           "ceiling": "h2d", "status": "ok",
           "notes": {"how": "torch.index_select on the pinned pool into a pinned staging buffer (CPU, %d threads), "
                            "one H2D copy, index_copy_ into the slots (device); ms = wall clock incl. sync"
                            % torch.get_num_threads()}}
    if R.over_budget():
        rec["status"] = "skipped: time budget"
        R.add(rec)
        return
    try:
        M = src_sets[0].numel()
        st = staging[:M]
        ds = dstage[:M]
        ns = len(src_sets)

        def one(i, e0, e1):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            torch.index_select(pool, 0, src_sets[i], out=st)
            t1 = time.perf_counter()
            e0.record()
            ds.copy_(st, non_blocking=True)
            buf.index_copy_(0, dst_dev[i], ds)
            e1.record()
            e1.synchronize()
            t2 = time.perf_counter()
            return (t2 - t0) * 1e3, (t1 - t0) * 1e3, e0.elapsed_time(e1)

        e0, e1 = _events(2)
        for i in range(ns):
            one(i, e0, e1)
        rec["check"] = {"equal": bool(torch.equal(buf.index_select(0, dst_dev[ns - 1]).cpu(),
                                                  pool.index_select(0, src_sets[ns - 1])))}
        t_est = one(0, e0, e1)[0]
        reps = _reps_for(R, t_est)
        walls, packs, gpus = [], [], []
        for r in range(reps):
            w, p_, g_ = one(r % ns, e0, e1)
            walls.append(w)
            packs.append(p_)
            gpus.append(g_)
        rec["wall"] = _stats(walls)
        rec["pack_cpu"] = _stats(packs)
        rec["copy_scatter_gpu"] = _stats(gpus)
        rec["ms"] = rec["wall"]["median_ms"]
        rec["p10_ms"] = rec["wall"]["p10_ms"]
        rec["p90_ms"] = rec["wall"]["p90_ms"]
        rec["mode"] = "wall"
    except Exception as e:
        rec["status"] = "error"
        rec["error"] = _err(e)
    R.add(rec)


# ---------------------------------------------------------------- phase 4: compiled peers
FLEX_ATTEMPTS = [(16, None), (16, {"BLOCK_N": 16}), (32, None), (64, None), (128, None)]


def _block_mask(kv_num, kv_idx, qbs, bs, ctx, compute_q=True):
    from torch.nn.attention.flex_attention import BlockMask
    kw = {"BLOCK_SIZE": (qbs, bs), "seq_lengths": (1, ctx)}
    if not compute_q:
        kw["compute_q_blocks"] = False
    try:
        return BlockMask.from_kv_blocks(kv_num, kv_idx, **kw)
    except TypeError:
        kw.pop("compute_q_blocks", None)
        kw.pop("seq_lengths", None)
        bm = BlockMask.from_kv_blocks(kv_num, kv_idx, **kw)
        bm.seq_lengths = (1, ctx)
        return bm


def _flex_selection(R, cfg, bs):
    """Per (request, KV head) selection in blocks of bs tokens, as (kv_num, kv_idx, tok)."""
    B, ctx, dev = cfg["B"], cfg["ctx"], R.dev
    nblk = ctx // bs
    nsel = S_TOK // bs
    rows = B * HKV
    g = torch.Generator(device=dev)
    g.manual_seed(_seed(R, ctx, B, bs))
    if bs == P:
        sel = cfg["sel"]
        mask = torch.ones(rows, nblk, dtype=torch.bool, device=dev)
        mask.scatter_(1, sel, False)
        rest = torch.arange(nblk, device=dev).expand(rows, nblk)[mask].view(rows, nblk - nsel)
    else:
        perm = torch.rand(rows, nblk, device=dev, generator=g).argsort(dim=1)
        sel = perm[:, :nsel].sort(dim=1).values
        rest = perm[:, nsel:]
    kv_idx = torch.cat([sel, rest], dim=1).to(torch.int32).view(rows, 1, 1, nblk).contiguous()
    kv_num = torch.full((rows, 1, 1), nsel, dtype=torch.int32, device=dev)
    tok = (sel.unsqueeze(-1) * bs + torch.arange(bs, device=dev)).reshape(B, HKV, S_TOK)
    return kv_num, kv_idx, tok


def phase_compiled(R, flex_c, quest_c, ctx, B, flex_state):
    base = {"ctx": ctx, "B": B}
    kv_bytes = 2 * B * HKV * ctx * D * ELEM
    if R.over_budget(reserve_s=R.args.compile_reserve_s):
        for n in ("flex_sparse", "quest_score_compiled"):
            R.add({"name": n, "group": "compiled", "params": base, "status": "skipped: time budget"})
        return
    if not R.fits(kv_bytes):
        R.add({"name": "flex_sparse", "group": "compiled", "params": base, "status": "skipped: memory"})
        return
    cfg = None
    try:
        cfg = make_config(R, ctx, B)
        if flex_c is not None:
            _flex_one(R, flex_c, cfg, base, flex_state)
        if quest_c is not None:
            if R.over_budget(reserve_s=R.args.compile_reserve_s / 2):
                R.add({"name": "quest_score_compiled", "group": "compiled", "params": base,
                       "status": "skipped: time budget"})
            else:
                _quest_compiled(R, quest_c, cfg, base)
    except Exception as e:
        R.add({"name": "compiled", "group": "compiled", "params": base, "status": "error", "error": _err(e)})
    finally:
        cfg = None
        torch.cuda.empty_cache()


def _flex_one(R, flex_c, cfg, base, flex_state):
    B, ctx = cfg["B"], cfg["ctx"]
    ks, vs, qs, ns = cfg["ks"], cfg["vs"], cfg["qs"], cfg["nsets"]
    qf = [q.view(B * HKV, G, 1, D) for q in qs]
    kf = [k.view(B * HKV, 1, ctx, D) for k in ks]
    vf = [v.view(B * HKV, 1, ctx, D) for v in vs]
    sel_bytes = 2 * B * HKV * S_TOK * D * ELEM
    QBS = 128

    if flex_state.get("chosen") is None:
        if flex_state.get("failed"):
            R.add({"name": "flex_sparse", "group": "compiled", "params": base, "status": "error",
                   "error": "no block size worked on the first config (see flex_attempts)"})
            return
        attempts = []
        for bs, kopt in FLEX_ATTEMPTS:
            if R.over_budget(reserve_s=10):
                break
            t0 = time.perf_counter()
            try:
                kv_num, kv_idx, tok = _flex_selection(R, cfg, bs)
                bm = _block_mask(kv_num, kv_idx, QBS, bs, ctx)
                kw = {"block_mask": bm, "enable_gqa": True}
                if kopt:
                    kw["kernel_options"] = kopt
                out = flex_c(qf[0], kf[0], vf[0], **kw)
                torch.cuda.synchronize()
                err = _rel_err(out.view(B, HQ, 1, D)[0, :, 0, :], _ref_attn_b0(qs[0], ks[0], vs[0], tok))
                attempts.append({"kv_block": bs, "kernel_options": kopt, "ok": True, "rel_err_b0": err,
                                 "compile_s": time.perf_counter() - t0})
                if not (err < 5e-2):
                    attempts[-1]["ok"] = False
                    attempts[-1]["error"] = "wrong result"
                    continue
                flex_state["chosen"] = (bs, kopt)
                break
            except Exception as e:
                attempts.append({"kv_block": bs, "kernel_options": kopt, "ok": False, "error": _err(e)[:800],
                                 "compile_s": time.perf_counter() - t0})
                try:
                    torch._dynamo.reset()
                except Exception:
                    pass
        R.meta["features"]["flex_attempts"] = attempts
        if not attempts:
            R.add({"name": "flex_sparse", "group": "compiled", "params": base,
                   "status": "skipped: time budget"})
            return
        if flex_state.get("chosen") is None:
            flex_state["failed"] = True
            R.add({"name": "flex_sparse", "group": "compiled", "params": base, "status": "error",
                   "error": "; ".join("bs%d%s: %s" % (x["kv_block"], "+opts" if x["kernel_options"] else "",
                                                     x.get("error", "")[:200]) for x in attempts)})
            return

    bs, kopt = flex_state["chosen"]

    def build():
        kv_num, kv_idx, tok = _flex_selection(R, cfg, bs)
        bm = _block_mask(kv_num, kv_idx, QBS, bs, ctx)
        kw = {"block_mask": bm, "enable_gqa": True}
        if kopt:
            kw["kernel_options"] = kopt

        def fn(i):
            return flex_c(qf[i], kf[i], vf[i], **kw)

        def check():
            out = fn(0)
            c = {"rel_err_vs_fp32_b0": _rel_err(out.view(B, HQ, 1, D)[0, :, 0, :],
                                                _ref_attn_b0(qs[0], ks[0], vs[0], tok))}
            if B == R.args.batches[0]:
                c["kernels"] = _kernel_names(lambda: fn(0))
            return c
        notes = {"kv_block": bs, "q_block": QBS, "kernel_options": kopt,
                 "selection": ("128 pages of 16 tokens per (request, KV head), exact" if bs == P else
                               "rounded: %d random blocks of %d tokens per (request, KV head) = 2048 tokens"
                               % (S_TOK // bs, bs)),
                 "layout": "per-KV-head mask via batch folding: q [B*8,4,1,128], k/v [B*8,1,ctx,128], "
                           "BlockMask [B*8,1,1,ctx/bs], enable_gqa=True (flex decoding path needs H=1 "
                           "with GQA)",
                 "compile": "torch.compile(flex_attention, dynamic=False)"}
        return {"fn": fn, "nsets": ns, "rot_bytes": cfg["kv_bytes"] * ns, "check": check, "notes": notes}

    measure(R, "flex_sparse", "compiled", dict(base, kv_block=bs), build, nbytes=sel_bytes, ceiling="hbm")

    # Per-step cost of building the BlockMask from the selection (eager).
    def b_bm():
        kv_num, kv_idx, _ = _flex_selection(R, cfg, bs)
        return {"fn": lambda i: _block_mask(kv_num, kv_idx, QBS, bs, ctx, compute_q=False), "nsets": 1,
                "notes": {"how": "BlockMask.from_kv_blocks(..., compute_q_blocks=False) when supported"}}
    measure(R, "flex_blockmask_build", "compiled", dict(base, kv_block=bs), b_bm, graph=False)


def _quest_compiled(R, quest_c, cfg, base):
    B, Np = cfg["B"], cfg["Np"]
    nb = 2 * B * HKV * Np * D * ELEM

    def build():
        sets, nb_, ns = _quest_inputs(R, cfg)

        def fn(i):
            q, a, b = sets[i]
            return quest_c(q, a, b)

        def check():
            q, a, b = sets[0]
            return {"rel_err_vs_fp64_b0": _rel_err(fn(0)[0], _quest_ref_b0(q, a, b))}
        return {"fn": fn, "nsets": ns, "rot_bytes": nb_ * ns, "check": check,
                "notes": {"form": "torch.compile(naive broadcast form, dynamic=False)"}}
    measure(R, "quest_score_compiled", "score", dict(base, Np=Np), build, nbytes=nb, ceiling="hbm",
            need_bytes=nb * _rot_sets(nb) + 512 * MiB)


# ---------------------------------------------------------------- phase 5: zero-copy (last)
def phase_zero_copy(R, pool_info):
    """Everything that makes SMs load pinned host memory runs last: a fault
    there would poison the CUDA context for every later measurement."""
    a = R.args
    dev = R.dev
    if not HAVE_TRITON:
        R.add({"name": "zero_copy_read", "group": "ceiling", "params": {}, "status": "error",
               "error": "triton not importable: %s" % TRITON_IMPORT_ERROR})
        return
    n_h2d = a.h2d_mb * MiB
    h = d = None
    try:
        h = torch.empty(n_h2d, dtype=torch.uint8, pin_memory=True)
        d = torch.randint(0, 255, (n_h2d,), dtype=torch.uint8, device=dev)
        h.copy_(d)
        torch.cuda.synchronize()
        # Zero-copy: Triton kernel loading from the pinned (mapped, UVA) buffer.
        pg_el = 64 * 1024 // 4   # 64 KiB pages, contiguous
        npg = n_h2d // (pg_el * 4)
        h32 = h.view(torch.int32)
        d32 = d.view(torch.int32)
        idx = torch.arange(npg, device=dev, dtype=torch.int64)
        src_arg = _zero_copy_arg(R, h32, d32)

        def b_zc():
            if src_arg is None:
                raise RuntimeError("Triton could not take a pinned host pointer: %s"
                                   % R.meta["features"].get("zero_copy_error"))

            def fn(i):
                _page_gather_kernel[(npg,)](src_arg, idx, d32, idx, PAGE=pg_el, BLOCK=2048,
                                            num_warps=4)

            def check():
                d32.zero_()
                fn(0)
                torch.cuda.synchronize()
                return {"equal": bool(torch.equal(d32.cpu(), h32))}
            return {"fn": fn, "nsets": 1, "check": check,
                    "notes": {"how": R.meta["features"].get("zero_copy"),
                              "pages": npg, "page_bytes": pg_el * 4}}
        measure(R, "zero_copy_read", "ceiling", {"bytes": npg * pg_el * 4}, b_zc,
                nbytes=npg * pg_el * 4, ceiling="h2d")
    except Exception as e:
        R.add({"name": "zero_copy_read", "group": "ceiling", "params": {}, "status": "error", "error": _err(e)})
    finally:
        h = d = None
        torch.cuda.empty_cache()
    R.flush()
    if pool_info is None:
        R.add({"name": "miss_zero_copy", "group": "h2d_misses", "params": {}, "status": "error",
               "error": "no pinned pool (phase 3 did not run or failed)"})
        return
    pool, n_pool, pe = pool_info
    for B in a.miss_batches:
        try:
            _misses_batch(R, pool, n_pool, pe, B, methods=("zero_copy",))
        except Exception as e:
            R.add({"name": "miss_zero_copy", "group": "h2d_misses", "params": {"B": B}, "status": "error",
                   "error": _err(e)})
        R.flush()


# ---------------------------------------------------------------- table
def table(R):
    doc = R.document()
    c = doc["ceilings"]
    L = []
    e = doc["env"]
    L.append("== hsa peers: %s, torch %s, cuda %s, triton %s, %s, %.0fs" % (
        e.get("device"), e.get("torch"), e.get("torch_cuda"), e.get("triton"), doc["date_utc"],
        doc["elapsed_s"]))

    def g(x):
        return "-" if x is None else "%.1f" % x
    L.append("ceilings GB/s: hbm_read %s  hbm_copy(r+w) %s  h2d %s  d2h %s  pageable %s  zero_copy %s  "
             "32KiB-copies eager %s graph %s" % (
                 g(c.get("hbm_read_GBps")), g(c.get("hbm_copy_GBps")), g(c.get("h2d_pinned_GBps")),
                 g(c.get("d2h_pinned_GBps")), g(c.get("h2d_pageable_GBps")), g(c.get("zero_copy_read_GBps")),
                 g(c.get("h2d_32KiB_chunks_eager_GBps")), g(c.get("h2d_32KiB_chunks_graph_GBps"))))
    recs = [r for r in doc["measurements"]]
    cols = [(ctx, B) for ctx in R.args.contexts for B in R.args.batches]

    def key(r):
        n = r["name"]
        p = r.get("params", {})
        if "backend" in p:
            n += "[%s]" % p["backend"]
        if r["name"] == "flex_sparse" and "kv_block" in p:
            n += "[bs%d]" % p["kv_block"]
        return n
    rows = []
    cell = {}
    for r in recs:
        p = r.get("params", {})
        if "ctx" not in p or "B" not in p or r.get("group") == "h2d_misses":
            continue
        k = key(r)
        if k not in rows:
            rows.append(k)
        cell[(k, p["ctx"], p["B"])] = r
    hdr = "%-26s" % "peer: us (x over floor)" + "".join("%16s" % ("%dK/b%d" % (c_ // 1024, b)) for c_, b in cols)
    L.append(hdr)
    for k in rows:
        s = "%-26s" % k[:26]
        for c_, b in cols:
            r = cell.get((k, c_, b))
            if r is None:
                s += "%16s" % ""
            elif r.get("status") != "ok":
                s += "%16s" % (r["status"].replace("skipped: ", "skip:")[:15])
            else:
                v = "%.1f" % (r["ms"] * 1e3)
                if r.get("x_floor"):
                    v += "(%.1fx)" % r["x_floor"]
                s += "%16s" % v
        L.append(s)
    mrec = [r for r in recs if r.get("group") == "h2d_misses" and "m" in r.get("params", {})]
    if mrec:
        L.append("%-26s%s" % ("misses: us (% of h2d)", "".join(
            "%16s" % ("b%d m%d" % (b, m)) for b in R.args.miss_batches for m in R.args.miss_pages)))
        names = []
        for r in mrec:
            if r["name"] not in names:
                names.append(r["name"])
        for n in names:
            s = "%-26s" % n
            for b in R.args.miss_batches:
                for m in R.args.miss_pages:
                    r = next((x for x in mrec if x["name"] == n and x["params"].get("B") == b
                              and x["params"].get("m") == m), None)
                    if r is None:
                        s += "%16s" % ""
                    elif r.get("status") != "ok":
                        s += "%16s" % (r["status"].replace("skipped: ", "skip:")[:15])
                    else:
                        v = "%.0f" % (r["ms"] * 1e3)
                        if r.get("frac_of_ceiling"):
                            v += "(%.0f%%)" % (100 * r["frac_of_ceiling"])
                        s += "%16s" % v
            L.append(s)
    bad = [r for r in recs if r.get("status") == "error"]
    if bad:
        L.append("errors: %d" % len(bad))
        for r in bad[:12]:
            L.append("  %s %s: %s" % (r["name"], _pstr(r.get("params", {})),
                                      (r.get("error") or "").replace("\n", " ")[:150]))
    chk = []
    for r in recs:
        ck = r.get("check") or {}
        for kk, vv in ck.items():
            if kk.startswith("rel_err") and isinstance(vv, float) and not (vv < 3e-2):
                chk.append("%s %s %s=%.3g" % (r["name"], _pstr(r.get("params", {})), kk, vv))
            if kk in ("equal", "equal_to_torch_gather") and vv is False:
                chk.append("%s %s %s=False" % (r["name"], _pstr(r.get("params", {})), kk))
    if chk:
        L.append("CHECK FAILURES: " + "; ".join(chk[:10]))
    f = e.get("features", {})
    L.append("features: gqa=%s zero_copy=%s flex=%s" % (
        f.get("sdpa_enable_gqa"), f.get("zero_copy"),
        next((("bs%d" % x["kv_block"]) for x in f.get("flex_attempts", []) if x.get("ok")), "-")))
    return "\n".join(L)


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="peers.json", help="JSON output path")
    ap.add_argument("--table", default=None, help="also write the stdout table to this file")
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer shapes and repetitions")
    ap.add_argument("--contexts", type=int, nargs="+", default=None)
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--miss-batches", type=int, nargs="+", default=None)
    ap.add_argument("--miss-pages", type=int, nargs="+", default=None, help="misses per (request, KV head)")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (max)")
    ap.add_argument("--min-reps", type=int, default=None, help="repetitions kept even for slow measurements")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--target-rep-ms", type=float, default=1.0, help="min duration of one timed repetition")
    ap.add_argument("--max-inner", type=int, default=256)
    ap.add_argument("--meas-cap-s", type=float, default=None, help="timed seconds per mode per measurement")
    ap.add_argument("--rotate-mb", type=int, default=512, help="bytes touched per rotation cycle (>> L2)")
    ap.add_argument("--hbm-mb", type=int, default=None, help="HBM read ceiling tensor size")
    ap.add_argument("--h2d-mb", type=int, default=256)
    ap.add_argument("--pool-mb", type=int, default=None, help="pinned host pool for the miss copies")
    ap.add_argument("--max-percopy", type=int, default=8192, help="max pages for per-page copies")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (flex, compiled Quest)")
    ap.add_argument("--no-graph", action="store_true", help="eager timings only")
    ap.add_argument("--skip", default="",
                    help="comma list of phases to skip: ceilings,peers,misses,compiled,zero_copy")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="stop starting new measurements after this many seconds")
    ap.add_argument("--compile-reserve-s", type=float, default=25.0,
                    help="do not start a compile with less than this left in the budget")
    ap.add_argument("--zero-copy-reserve-s", type=float, default=20.0,
                    help="seconds granted to the last phase (zero-copy) even past the budget")
    ap.add_argument("--mem-cap-gb", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args(argv)
    q = a.quick
    if a.contexts is None:
        a.contexts = [32768] if q else [32768, 131072]
    if a.batches is None:
        a.batches = [1, 8] if q else [1, 8, 64]
    if a.miss_batches is None:
        a.miss_batches = [1] if q else [1, 8, 64]
    if a.miss_pages is None:
        a.miss_pages = [32] if q else [8, 32, 128]
    if a.reps is None:
        a.reps = 10 if q else 30
    if a.min_reps is None:
        a.min_reps = 5 if q else 20
    if a.warmup is None:
        a.warmup = 2 if q else 3
    if a.meas_cap_s is None:
        a.meas_cap_s = 0.5 if q else 1.5
    if a.hbm_mb is None:
        a.hbm_mb = 1024 if q else 4096
    if a.pool_mb is None:
        a.pool_mb = 512 if q else 2048
    if a.budget_s is None:
        a.budget_s = 120.0 if q else 225.0
    a.skip = set(x.strip() for x in a.skip.split(",") if x.strip())
    return a


def main(argv=None):
    a = parse_args(argv)
    R = Run(a)
    ROT_BYTES[0] = a.rotate_mb * MiB
    if not HAVE_TORCH:
        R.meta["error"] = "torch not importable: %s" % TORCH_IMPORT_ERROR
        R.records.append({"name": "setup", "group": "setup", "status": "error", "error": R.meta["error"]})
        _write_raw(R)
        print(R.meta["error"])
        return 2
    if not torch.cuda.is_available():
        R.meta["error"] = "no CUDA device visible to torch %s" % torch.__version__
        R.meta["torch"] = torch.__version__
        R.records.append({"name": "setup", "group": "setup", "status": "error", "error": R.meta["error"]})
        _write_raw(R)
        print(R.meta["error"])
        return 2
    torch.manual_seed(a.seed)
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
    except Exception:
        pass
    collect_env(R)
    detect_features(R)
    log("device %s, torch %s, triton %s; features %s" % (R.meta["device"], R.meta["torch"],
                                                         R.meta["triton"], R.meta["features"]))
    R.flush()

    pool_info = None
    if "ceilings" not in a.skip:
        log("phase 1: ceilings")
        _guard(R, "phase_ceilings", phase_ceilings, R)
    if "peers" not in a.skip:
        log("phase 2: eager peers")
        for ctx in a.contexts:
            for B in a.batches:
                _guard(R, "phase_peers", phase_peers, R, ctx, B)
    if "misses" not in a.skip:
        log("phase 3: host->device misses (per-page copies, pack + copy)")
        pool_info = _guard(R, "phase_misses", phase_misses, R)
    if "compiled" not in a.skip and not a.no_compile:
        log("phase 4: compiled peers (flex_attention, compiled Quest score)")
        flex_c = quest_c = None
        try:
            # importlib, not `import torch._dynamo`: that would make `torch` a local of main().
            import importlib
            dynamo_config = importlib.import_module("torch._dynamo").config
            for attr in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                         "accumulated_recompile_limit"):
                if hasattr(dynamo_config, attr):
                    setattr(dynamo_config, attr, max(256, getattr(dynamo_config, attr)))
        except Exception as e:
            R.meta["features"]["dynamo_config_error"] = _err(e)
        if R.meta["features"].get("flex_attention"):
            try:
                from torch.nn.attention.flex_attention import flex_attention
                flex_c = torch.compile(flex_attention, dynamic=False)
            except Exception as e:
                R.add({"name": "flex_sparse", "group": "compiled", "params": {}, "status": "error",
                       "error": "torch.compile(flex_attention): " + _err(e)})
        else:
            R.add({"name": "flex_sparse", "group": "compiled", "params": {}, "status": "error",
                   "error": "flex_attention not importable: %s" % R.meta["features"].get("flex_attention_error")})
        try:
            quest_c = torch.compile(_quest_naive, dynamic=False)
        except Exception as e:
            R.add({"name": "quest_score_compiled", "group": "compiled", "params": {}, "status": "error",
                   "error": "torch.compile: " + _err(e)})
        flex_state = {}
        for ctx in a.contexts:
            for B in a.batches:
                _guard(R, "phase_compiled", phase_compiled, R, flex_c, quest_c, ctx, B, flex_state)
    if "zero_copy" not in a.skip:
        log("phase 5: zero-copy reads of pinned host memory")
        R.budget_s = max(R.budget_s, _now() + a.zero_copy_reserve_s)   # always gets its slot
        if "misses" in a.skip:
            pool_info = None
        _guard(R, "phase_zero_copy", phase_zero_copy, R, pool_info)
    pool_info = None
    R.meta["nvidia_smi_end"] = _nvidia_smi()
    R.flush()
    t = table(R)
    print(t, flush=True)
    if a.table:
        try:
            with open(a.table, "w") as f:
                f.write(t + "\n")
        except Exception as e:
            log("could not write table: %s" % _err(e))
    log("wrote %s" % a.out)
    return 0


def _guard(R, name, fn, *args):
    """Run one phase; an exception escaping it is recorded, the run goes on."""
    try:
        return fn(*args)
    except Exception as e:
        R.add({"name": name, "group": "phase", "params": {}, "status": "error", "error": _err(e),
               "traceback": traceback.format_exc()[-2000:]})
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        except Exception:
            pass
        return None
    finally:
        R.flush()


def _write_raw(R):
    if not R.args.out:
        return
    doc = {"schema": SCHEMA, "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": " ".join([os.path.basename(sys.executable)] + sys.argv), "env": R.meta,
           "settings": _settings(R.args), "ceilings": {}, "measurements": R.records}
    with open(R.args.out, "w") as f:
        json.dump(doc, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
