"""Tests of the hsattn binding on the CPU backend (ctest hsattn_python).

The artifacts come from hsa-make-test-artifact (env HSA_MAKE_TEST_ARTIFACT);
the library from HSATTN_LIBRARY. A layer whose budget covers every unit
selects everything, so its output must be dense attention, computed here in
numpy: that checks the binding's layouts end to end.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import hsattn  # noqa: E402

MAKE = os.environ.get("HSA_MAKE_TEST_ARTIFACT", "")


def make_artifact(directory, name, *options):
    path = os.path.join(directory, name)
    subprocess.run([MAKE, path, *options], check=True, capture_output=True)
    return path


def dense_attention(q, k, v, scale):
    """q [Hq][D], k [T][Hkv][D], v [T][Hkv][Dv] as floats -> o [Hq][Dv] (fp64)."""
    hq, hkv = q.shape[0], k.shape[1]
    out = np.zeros((hq, v.shape[2]))
    for h in range(hq):
        g = h // (hq // hkv)
        logits = (k[:, g, :].astype(np.float64) @ q[h].astype(np.float64)) * scale
        p = np.exp(logits - logits.max())
        out[h] = (p / p.sum()) @ v[:, g, :].astype(np.float64)
    return out


class Binding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not MAKE:
            raise RuntimeError("HSA_MAKE_TEST_ARTIFACT is not set (ctest sets it)")
        cls.dir = tempfile.mkdtemp(prefix="hsattn-test-")
        # 8 units of 8 tokens at 60 tokens: budget 8 selects every unit.
        cls.all_units = make_artifact(cls.dir, "all.hsa", "--q-heads=8", "--kv-heads=2", "--head-dim=32",
                                      "--page=8", "--budget=8", "--capacity=16")
        cls.sparse = make_artifact(cls.dir, "sparse.hsa", "--q-heads=4", "--kv-heads=1", "--head-dim=64",
                                   "--page=8", "--budget=4", "--capacity=8", "--scope=request")
        cls.p16 = make_artifact(cls.dir, "p16.hsa", "--page=16", "--budget=4", "--capacity=8", "--q-heads=4",
                                "--kv-heads=2", "--head-dim=16")

    def test_dsa_step_inputs(self):
        """DSA's indexer inputs (bf16 keys: no quantisation) select what a numpy indexer selects."""
        path = make_artifact(self.dir, "dsa.hsa", "--algorithm=dsa", "--index-dtype=bf16", "--q-heads=8",
                             "--kv-heads=1", "--head-dim=48", "--value-dim=32", "--page=1", "--budget=12",
                             "--capacity=24", "--sinks=0", "--window=1", "--scope=request")
        rt = hsattn.Runtime(path, max_batch=1, max_context_tokens=256, backend="cpu")
        c = rt.config()
        self.assertEqual(c.algorithm, "dsa")
        self.assertEqual([(i.name, i.decode, i.dtype, i.row_shape) for i in c.step_inputs],
                         [("io.index_q", True, "bf16", (4, 32)), ("io.index_w", True, "f32", (4,)),
                          ("io.new_index_k", False, "bf16", (32,))])
        rng = np.random.default_rng(7)
        rid = rt.create_request()
        tokens = 100
        keys = rng.standard_normal((tokens, 32)).astype(np.float32)
        with self.assertRaisesRegex(hsattn.HsaError, "needs step input 'io.new_index_k'"):
            rt.prefill(rid, self.random_kv(rng, tokens, 1, 48))
        with self.assertRaisesRegex(ValueError, "io.new_index_k: shape"):
            rt.prefill(rid, self.random_kv(rng, tokens, 1, 48), inputs={"io.new_index_k": hsattn.bf16_bits(keys[:5])})
        rt.prefill(rid, self.random_kv(rng, tokens, 1, 48), inputs={"io.new_index_k": hsattn.bf16_bits(keys)})
        new_key = rng.standard_normal((1, 32)).astype(np.float32)
        rt.append([rid], self.random_kv(rng, 1, 1, 48), inputs={"io.new_index_k": hsattn.bf16_bits(new_key)})
        keys = hsattn.bits_to_float(hsattn.bf16_bits(np.concatenate([keys, new_key]))).reshape(tokens + 1, 32)
        q = rng.standard_normal((1, 4, 32)).astype(np.float32)
        w = rng.standard_normal((1, 4)).astype(np.float32)
        with self.assertRaisesRegex(ValueError, "not a step input of this call"):
            rt.decode_step([rid], self.random_kv(rng, 1, 8, 48), inputs={"io.new_index_k": hsattn.bf16_bits(new_key)})
        q_bits = hsattn.bf16_bits(q)
        o, stats = rt.decode_step([rid], self.random_kv(rng, 1, 8, 48),
                                  inputs={"io.index_q": q_bits, "io.index_w": w})
        self.assertEqual(stats["units_selected"], 12)
        qf = hsattn.bits_to_float(q_bits).reshape(4, 32).astype(np.float64)
        scores = (np.maximum(keys.astype(np.float64) @ qf.T, 0.0) * w[0].astype(np.float64)).sum(axis=1)
        expected = sorted([tokens] + list(np.argsort(-scores[:tokens], kind="stable")[:11]))
        self.assertEqual(list(rt.selected_units(rid)[0]), expected)

    def test_fp8_latent_cache(self):
        """An fp8 latent DSA layer takes K as quantised uint8 rows; q and o stay bf16."""
        path = make_artifact(self.dir, "dsa-fp8.hsa", "--algorithm=dsa", "--dtype=fp8", "--index-dtype=bf16",
                             "--q-heads=8", "--kv-heads=1", "--head-dim=134", "--value-dim=128", "--page=1",
                             "--budget=12", "--capacity=24", "--sinks=0", "--window=1", "--scope=request")
        rt = hsattn.Runtime(path, max_batch=1, max_context_tokens=256, backend="cpu")
        c = rt.config()
        self.assertEqual((c.dtype, c.activation_dtype, c.key_row_bytes), ("fp8_latent", "bf16", 144))
        self.assertEqual(hsattn.fp8_latent_row_bytes(512, 64), 656)
        rng = np.random.default_rng(3)
        tokens = 40
        x = rng.standard_normal((tokens, 1, 134)).astype(np.float32) * 2
        rows = hsattn.quantize_fp8_latent(x, 128, 6)  # floats are rounded to bf16 first
        self.assertEqual((rows.shape, rows.dtype), ((tokens, 1, 144), np.uint8))
        back = hsattn.dequantize_fp8_latent(rows, 128, 6)
        xb = hsattn.bits_to_float(hsattn.bf16_bits(x)).reshape(x.shape)
        scale = np.ascontiguousarray(rows[..., 128:132]).view(np.float32)  # one tile: one f32 scale per row
        bound = np.maximum(np.abs(xb[..., :128]) / 16, scale * 2.0 ** -10)  # half an e4m3 step (subnormals: 2^-10)
        self.assertTrue(np.all(np.abs(back[..., :128] - xb[..., :128]) <= bound))
        np.testing.assert_array_equal(back[..., 128:], xb[..., 128:])  # rope: bf16 kept
        with self.assertRaisesRegex(hsattn.HsaError, "NaN or infinite"):
            hsattn.quantize_fp8_latent(np.full((1, 134), np.nan, dtype=np.float32), 128, 6)
        keys = hsattn.bf16_bits(rng.standard_normal((tokens, 32)).astype(np.float32))
        rid = rt.create_request()
        with self.assertRaisesRegex(ValueError, "pass them as uint8"):
            rt.prefill(rid, hsattn.bf16_bits(x), inputs={"io.new_index_k": keys})
        bad = rows.copy()
        bad[5, 0, 128:132] = 0  # token 5's scale: 0
        with self.assertRaisesRegex(hsattn.HsaError, "token 5 of the call"):
            rt.prefill(rid, bad, inputs={"io.new_index_k": keys})
        rt.prefill(rid, rows, inputs={"io.new_index_k": keys})
        q = rng.standard_normal((1, 8, 134)).astype(np.float32) * 0.3
        w = rng.standard_normal((1, 4)).astype(np.float32)
        o, stats = rt.decode_step([rid], hsattn.bf16_bits(q),
                                  inputs={"io.index_q": hsattn.bf16_bits(rng.standard_normal((1, 4, 32))),
                                          "io.index_w": w})
        self.assertEqual(stats["units_selected"], 12)
        selected = [t for t in rt.selected_units(rid)[0] if t >= 0]
        kv = back[selected, 0, :].astype(np.float64)
        qf = hsattn.bits_to_float(hsattn.bf16_bits(q)).reshape(8, 134).astype(np.float64)
        expected = dense_attention(qf, kv[:, None, :], kv[:, None, :128], c.softmax_scale)
        got = hsattn.bits_to_float(o).reshape(8, 128)
        self.assertLess(np.linalg.norm(got - expected) / np.linalg.norm(expected), 4e-3)

    def random_kv(self, rng, *shape):
        return hsattn.bf16_bits(rng.standard_normal(shape).astype(np.float32))

    def test_everything_selected_is_dense_attention(self):
        rt = hsattn.Runtime(self.all_units, max_batch=1, max_context_tokens=128, backend="cpu")
        self.assertEqual(rt.backend, "cpu")
        c = rt.config()
        self.assertEqual((c.num_q_heads, c.num_kv_heads, c.head_dim, c.page_size, c.budget_units), (8, 2, 32, 8, 8))
        rng = np.random.default_rng(1)
        k, v = self.random_kv(rng, 60, 2, 32), self.random_kv(rng, 60, 2, 32)
        rid = rt.create_request()
        rt.prefill(rid, k[:25], v[:25])  # two chunks: one build
        rt.prefill(rid, k[25:], v[25:])
        rt.finish_prefill(rid)
        q = self.random_kv(rng, 1, 8, 32)
        o, stats = rt.decode_step([rid], q)
        self.assertEqual(stats["units_selected"], 2 * 8)  # every unit of both KV heads
        want = dense_attention(hsattn.bits_to_float(q[0]), hsattn.bits_to_float(k), hsattn.bits_to_float(v),
                               c.softmax_scale)
        got = hsattn.bits_to_float(o[0]).astype(np.float64)
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        self.assertLess(rel, 1e-2, f"relative L2 {rel}")  # bf16 output rounding
        self.assertTrue(np.all(rt.selected_units(rid) >= 0))

    def test_model_equals_separate_runtimes(self):
        model = hsattn.Model([self.all_units, self.sparse], max_batch=2, max_context_tokens=128, backend="cpu")
        self.assertEqual(model.num_layers, 2)
        self.assertIn("quest", repr(model.config(1)))
        alone = [hsattn.Runtime(p, max_batch=2, max_context_tokens=128, backend="cpu")
                 for p in (self.all_units, self.sparse)]
        rng = np.random.default_rng(2)
        ids = [model.create_request() for _ in range(2)]
        alone_ids = [[rt.create_request() for _ in range(2)] for rt in alone]
        for layer in range(2):
            c = model.config(layer)
            for r in range(2):
                k = self.random_kv(rng, 50, c.num_kv_heads, c.head_dim)
                v = self.random_kv(rng, 50, c.num_kv_heads, c.value_dim)
                model.prefill(layer, ids[r], k, v)
                alone[layer].prefill(alone_ids[layer][r], k, v)
        self.assertEqual(model.free_pages, model.pool_pages - 2 * 7)  # ceil(50 / 8) per request, once
        for step in range(3):
            for layer in range(2):
                c = model.config(layer)
                nk = self.random_kv(rng, 2, c.num_kv_heads, c.head_dim)
                nv = self.random_kv(rng, 2, c.num_kv_heads, c.value_dim)
                model.append(layer, ids, nk, nv)
                alone[layer].append(alone_ids[layer], nk, nv)
                q = self.random_kv(rng, 2, c.num_q_heads, c.head_dim)
                o, _ = model.decode_step(layer, ids, q)
                o_alone, _ = alone[layer].decode_step(alone_ids[layer], q)
                np.testing.assert_array_equal(o, o_alone, err_msg=f"layer {layer} step {step}")
        self.assertEqual(model.accounting(1, ids[0])["length_tokens"], 53)
        model.release_request(ids[0])
        model.release_request(ids[1])
        self.assertEqual(model.free_pages, model.pool_pages)

    def test_bad_input_says_why(self):
        rt = hsattn.Runtime(self.all_units, max_batch=1, max_context_tokens=64, backend="cpu")
        rid = rt.create_request()
        rng = np.random.default_rng(3)
        with self.assertRaisesRegex(ValueError, r"k: shape \(10, 3, 32\), expected \(10, 2, 32\)"):
            rt.prefill(rid, self.random_kv(rng, 10, 3, 32), self.random_kv(rng, 10, 2, 32))
        with self.assertRaisesRegex(ValueError, "dtype float32"):
            rt.prefill(rid, rng.standard_normal((10, 2, 32)).astype(np.float32), self.random_kv(rng, 10, 2, 32))
        with self.assertRaises(hsattn.HsaError) as caught:
            rt.prefill(rid + 7, self.random_kv(rng, 10, 2, 32), self.random_kv(rng, 10, 2, 32))
        self.assertEqual(caught.exception.status, "NOT_FOUND")
        with self.assertRaises(hsattn.HsaError) as caught:  # 65 tokens > max context 64
            rt.prefill(rid, self.random_kv(rng, 65, 2, 32), self.random_kv(rng, 65, 2, 32))
        self.assertEqual(caught.exception.status, "OUT_OF_CAPACITY")
        self.assertIn("max context", str(caught.exception))
        with self.assertRaisesRegex(ValueError, "backend 'tpu'"):
            hsattn.Runtime(self.all_units, backend="tpu")
        with self.assertRaises(hsattn.HsaError) as caught:
            hsattn.Model([self.all_units, self.p16], backend="cpu")
        self.assertIn("layer 1", str(caught.exception))
        model = hsattn.Model([self.all_units], backend="cpu")
        with self.assertRaisesRegex(IndexError, "layer 3 out of range"):
            model.config(3)


    def test_device_api_on_the_cpu_backend_says_unsupported(self):
        model = hsattn.Model([self.all_units], max_batch=2, max_context_tokens=128, backend="cpu")
        rng = np.random.default_rng(4)
        rid = model.create_request()
        model.prefill(0, rid, self.random_kv(rng, 20, 2, 32), self.random_kv(rng, 20, 2, 32))
        self.assertEqual(model.slot(rid), 0)
        with self.assertRaises(hsattn.HsaError) as caught:
            model.begin_step([rid])
        self.assertEqual(caught.exception.status, "UNSUPPORTED")
        self.assertIn("no device API", str(caught.exception))
        self.assertEqual(model.accounting(0, rid)["length_tokens"], 20)  # nothing reserved
        with self.assertRaisesRegex(ValueError, "is not a CUDA tensor"):  # a host array is refused before the call
            model.enqueue_decode(0, np.zeros((2, 8, 32), np.uint16), np.zeros((2, 8, 32), np.uint16))
        with self.assertRaisesRegex(ValueError, "stream: str"):
            model.begin_step([rid], stream="default")
        with self.assertRaisesRegex(hsattn.HsaError, "no device API"):
            model.external_attention(0)


if __name__ == "__main__":
    unittest.main()
