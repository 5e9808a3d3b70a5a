"""hsattn: Python binding of the hsa runtime (hierarchical sparse attention).

A ctypes layer over the C API (runtime/include/hsa/hsattn.h) of
libhsa_runtime.so: nothing to compile, nothing from PyPI. ``Model`` holds a
model's attention layers with one request table and one host KV page pool
(hsa::ModelRuntime, docs/ENGINE.md); ``Runtime`` one layer.

The host-memory calls (prefill, append, decode_step) take host arrays in the
layer's KV dtype: numpy ``uint16``/``int16`` arrays of bf16 or f16 bits, numpy
``float16`` for f16 layers, or torch CPU tensors (``bfloat16``/``float16``).
A layer whose cache is FlashMLA's fp8 latent rows (``config().dtype ==
"fp8_latent"``) takes K as ``uint8`` rows ``[..][Hkv][key_row_bytes]``
(``quantize_fp8_latent`` makes them from bf16) and q/o in bf16
(``config().activation_dtype``).
The device API (begin_step, enqueue_append, enqueue_decode; CUDA backend)
takes CUDA tensors (torch, or anything with ``__cuda_array_interface__``),
slot-indexed ``[max_batch][heads][dim]``, on the current torch stream unless
given one; it launches without synchronising and can be captured into a
``torch.cuda.CUDAGraph``. Shapes and dtypes are checked before the C call.

The library is found by ``HSATTN_LIBRARY`` (a path), else next to this
package's repository build (``build/runtime``), else by the loader
(``libhsa_runtime.so.0``).
"""

import ctypes
import os

import numpy as np

__all__ = ["HsaError", "Model", "Runtime", "LayerConfig", "StepInputInfo", "bf16_bits", "bits_to_float",
           "quantize_fp8_latent", "dequantize_fp8_latent", "fp8_latent_row_bytes", "library"]

STATUS_NAMES = [
    "OK", "INVALID_ARGUMENT", "INVALID_ARTIFACT", "NOT_FOUND", "OUT_OF_CAPACITY", "UNAVAILABLE",
    "UNSUPPORTED", "DEVICE_ERROR", "OUT_OF_MEMORY", "INTERNAL",
]
BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
DTYPES = {0: "bf16", 1: "f16", 3: "fp8_latent"}  # hsattn_dtype_t (2 is i32)
FP8_LATENT_TILE = 128
SCOPES = {0: "request", 1: "kv_head"}


class HsaError(RuntimeError):
    """A call of the runtime failed: ``status`` is the status name, the message says why."""

    def __init__(self, status, message):
        self.status = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
        super().__init__(f"{self.status}: {message}")


class _Options(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("device", ctypes.c_int), ("max_batch", ctypes.c_uint32),
                ("max_context_tokens", ctypes.c_uint64), ("pool_pages", ctypes.c_uint32),
                ("use_cuda_graph", ctypes.c_int), ("profile_kernels", ctypes.c_int),
                ("cuda_driver_path", ctypes.c_char_p), ("host_memory_limit_bytes", ctypes.c_uint64),
                ("telemetry", ctypes.c_int)]


class _StepStats(ctypes.Structure):
    _fields_ = [("units_selected", ctypes.c_uint64), ("hits", ctypes.c_uint64), ("misses", ctypes.c_uint64),
                ("bytes_copied_h2d", ctypes.c_uint64), ("hit_rate", ctypes.c_double)]


class _Accounting(ctypes.Structure):
    _fields_ = [("length_tokens", ctypes.c_uint64), ("device_bytes", ctypes.c_uint64),
                ("full_device_cache_bytes", ctypes.c_uint64), ("host_bytes", ctypes.c_uint64)]


class _LayerConfig(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p), ("algorithm", ctypes.c_char_p),
                ("max_batch", ctypes.c_uint32), ("pool_pages", ctypes.c_uint32),
                ("max_context_tokens", ctypes.c_uint64), ("num_q_heads", ctypes.c_uint32),
                ("num_kv_heads", ctypes.c_uint32), ("head_dim", ctypes.c_uint32), ("value_dim", ctypes.c_uint32),
                ("page_size", ctypes.c_uint32), ("budget_units", ctypes.c_uint32),
                ("capacity_units", ctypes.c_uint32), ("sink_units", ctypes.c_uint32),
                ("window_units", ctypes.c_uint32), ("kv_dtype", ctypes.c_uint32), ("scope", ctypes.c_uint32),
                ("page_table_format", ctypes.c_uint32), ("softmax_scale", ctypes.c_float),
                ("flags", ctypes.c_uint32), ("num_step_inputs", ctypes.c_uint32),
                ("key_row_bytes", ctypes.c_uint32), ("activation_dtype", ctypes.c_uint32)]


class _StepInput(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


class _StepInputInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("decode", ctypes.c_int), ("element_type", ctypes.c_uint32),
                ("rank", ctypes.c_uint32), ("row_shape", ctypes.c_int64 * 7), ("row_bytes", ctypes.c_uint64)]


ELEMENT_TYPES = {0: "bf16", 1: "f16", 2: "f32", 3: "i32", 4: "i64", 5: "u8", 6: "f8E4M3FN"}
# Per element type: the numpy dtypes that hold it (bits for bf16 and fp8) and the torch dtype.
_INPUT_NUMPY = {"bf16": ("uint16", "int16"), "f16": ("float16", "uint16"), "f32": ("float32",), "i32": ("int32",),
                "i64": ("int64",), "u8": ("uint8",), "f8E4M3FN": ("uint8",)}
_INPUT_TORCH = {"bf16": "torch.bfloat16", "f16": "torch.float16", "f32": "torch.float32", "i32": "torch.int32",
                "i64": "torch.int64", "u8": "torch.uint8", "f8E4M3FN": "torch.float8_e4m3fn"}
_INPUT_TYPESTR = {"bf16": ("<u2", "<i2"), "f16": ("<f2",), "f32": ("<f4",), "i32": ("<i4",), "i64": ("<i8",),
                  "u8": ("|u1",), "f8E4M3FN": ("|u1",)}


class StepInputInfo:
    """One of the layer algorithm's own inputs (hsattn_step_input_info): name, decode (else append and
    prefill), dtype, row_shape (one request's row) and row_bytes."""

    def __init__(self, i):
        self.name = i.name.decode()
        self.decode = bool(i.decode)
        self.dtype = ELEMENT_TYPES.get(i.element_type, str(i.element_type))
        self.row_shape = tuple(i.row_shape[d] for d in range(i.rank))
        self.row_bytes = i.row_bytes

    def __repr__(self):
        return (f"StepInputInfo({self.name}: {'decode_step' if self.decode else 'append/prefill'}, "
                f"rows {list(self.row_shape)} {self.dtype})")


class _DeviceTensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("address", ctypes.c_uint64), ("dtype", ctypes.c_uint32),
                ("rank", ctypes.c_uint32), ("shape", ctypes.c_int64 * 4), ("strides", ctypes.c_int64 * 4)]


class _CudaArray:
    """A runtime-owned device tensor as __cuda_array_interface__ (torch.as_tensor wraps it without a copy).

    It holds its runtime, so the tensor keeps the memory alive."""

    # bf16 has no typestr: its bits as int16, viewed as bfloat16 afterwards.
    # 3: an fp8 latent cache's rows, bytes.
    _TYPESTR = {0: "<i2", 1: "<f2", 2: "<i4", 3: "|u1"}
    _ITEMSIZE = {0: 2, 1: 2, 2: 4, 3: 1}

    def __init__(self, owner, t):
        self.owner, self.dtype = owner, t.dtype
        shape = tuple(t.shape[i] for i in range(t.rank))
        strides = tuple(t.strides[i] * self._ITEMSIZE[t.dtype] for i in range(t.rank))
        self.__cuda_array_interface__ = {"shape": shape, "strides": strides, "data": (t.address, False),
                                         "typestr": self._TYPESTR[t.dtype],
                                         "version": 2}


def _external_attention(owner, call):
    """hsattn_external_attention's tensors as torch CUDA tensors, by name, plus the format's facts."""
    tensors, count = (_DeviceTensor * 5)(), ctypes.c_size_t()
    _check(call(tensors, 5, ctypes.byref(count)))
    import torch  # after the call: without a CUDA backend it fails first, saying so
    out = {}
    for t in tensors[:count.value]:
        x = torch.as_tensor(_CudaArray(owner, t), device="cuda")
        out[t.name.decode()] = x.view(torch.bfloat16) if t.dtype == 0 else x
    out["block_size"] = out["k_cache"].shape[1]
    out["num_blocks"] = out["k_cache"].shape[0]
    return out


class LayerConfig:
    """What a loaded layer states (hsattn_layer_config), as plain attributes."""

    def __init__(self, c):
        for name, _ in _LayerConfig._fields_:
            if name != "struct_size":
                setattr(self, name, getattr(c, name))
        self.name = (c.name or b"").decode()
        self.algorithm = (c.algorithm or b"").decode()
        self.dtype = DTYPES.get(c.kv_dtype, str(c.kv_dtype))  # the stored cache's
        self.activation_dtype = DTYPES.get(c.activation_dtype, str(c.activation_dtype))  # q's and o's
        self.scope = SCOPES.get(c.scope, str(c.scope))
        self.value_is_key_prefix = bool(c.flags & 1)
        self.step_inputs = []  # StepInputInfo, filled by the owner

    def __repr__(self):
        return (f"LayerConfig({self.name or '<unnamed>'}: {self.algorithm}, Hq {self.num_q_heads}, "
                f"Hkv {self.num_kv_heads}, D {self.head_dim}/{self.value_dim}, {self.dtype}, P {self.page_size}, "
                f"K {self.budget_units}, C {self.capacity_units}, scope {self.scope})")


_lib = None


def _find_library():
    explicit = os.environ.get("HSATTN_LIBRARY")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "..", "..", "build", "runtime", "libhsa_runtime.so.0"),
                      os.path.join(here, "..", "lib", "libhsa_runtime.so.0")):
        if os.path.exists(candidate):
            return candidate
    return "libhsa_runtime.so.0"


def library():
    """The loaded C library (ctypes.CDLL), with every function's signature declared."""
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(_find_library())
    P, u32, u64, sz, st = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_int
    ids = ctypes.POINTER(ctypes.c_uint64)
    sigs = {
        "hsattn_runtime_options_init": (None, [ctypes.POINTER(_Options)]),
        "hsattn_last_error_message": (ctypes.c_char_p, []),
        "hsattn_runtime_create": (st, [ctypes.POINTER(_Options), ctypes.POINTER(P)]),
        "hsattn_runtime_destroy": (None, [P]),
        "hsattn_runtime_backend_name": (ctypes.c_char_p, [P]),
        "hsattn_runtime_load_artifact": (st, [P, ctypes.c_char_p, sz]),
        "hsattn_runtime_get_layer_config": (st, [P, ctypes.POINTER(_LayerConfig)]),
        "hsattn_request_create": (st, [P, ids]),
        "hsattn_request_release": (st, [P, u64]),
        "hsattn_prefill": (st, [P, u64, P, P, u64]),
        "hsattn_finish_prefill": (st, [P, u64]),
        "hsattn_append": (st, [P, ids, sz, P, P]),
        "hsattn_decode_step": (st, [P, ids, sz, P, P, ctypes.POINTER(_StepStats)]),
        "hsattn_request_get_accounting": (st, [P, u64, ctypes.POINTER(_Accounting)]),
        "hsattn_request_selected_units": (st, [P, u64, ctypes.POINTER(ctypes.c_int32), sz]),
        "hsattn_model_create": (st, [ctypes.POINTER(_Options), ctypes.POINTER(P)]),
        "hsattn_model_destroy": (None, [P]),
        "hsattn_model_add_layer": (st, [P, ctypes.c_char_p, sz]),
        "hsattn_model_num_layers": (u32, [P]),
        "hsattn_model_pool_pages": (u32, [P]),
        "hsattn_model_free_pages": (u32, [P]),
        "hsattn_model_get_layer_config": (st, [P, u32, ctypes.POINTER(_LayerConfig)]),
        "hsattn_model_request_create": (st, [P, ids]),
        "hsattn_model_request_release": (st, [P, u64]),
        "hsattn_model_prefill": (st, [P, u32, u64, P, P, u64]),
        "hsattn_model_finish_prefill": (st, [P, u64]),
        "hsattn_model_append": (st, [P, u32, ids, sz, P, P]),
        "hsattn_model_decode_step": (st, [P, u32, ids, sz, P, P, ctypes.POINTER(_StepStats)]),
        "hsattn_model_request_get_accounting": (st, [P, u32, u64, ctypes.POINTER(_Accounting)]),
        "hsattn_request_slot": (st, [P, u64, ctypes.POINTER(u32)]),
        "hsattn_begin_step": (st, [P, ids, sz, ctypes.c_int, P]),
        "hsattn_enqueue_append": (st, [P, P, P, P]),
        "hsattn_enqueue_decode": (st, [P, P, P, P, P]),
        "hsattn_model_request_slot": (st, [P, u64, ctypes.POINTER(u32)]),
        "hsattn_model_begin_step": (st, [P, ids, sz, ctypes.c_int, P]),
        "hsattn_model_enqueue_append": (st, [P, u32, P, P, P]),
        "hsattn_model_enqueue_decode": (st, [P, u32, P, P, P, P]),
        "hsattn_prefill_device": (st, [P, u64, P, P, u64, P]),
        "hsattn_model_prefill_device": (st, [P, u32, u64, P, P, u64, P]),
        "hsattn_enqueue_step_report": (st, [P, P]),
        "hsattn_step_report": (st, [P, ids, sz, ctypes.POINTER(_StepStats), ctypes.POINTER(ctypes.c_int)]),
        "hsattn_model_enqueue_step_report": (st, [P, u32, P]),
        "hsattn_model_step_report": (st, [P, u32, ids, sz, ctypes.POINTER(_StepStats), ctypes.POINTER(ctypes.c_int)]),
        "hsattn_external_attention": (st, [P, ctypes.POINTER(_DeviceTensor), sz, ctypes.POINTER(sz)]),
        "hsattn_runtime_get_step_input": (st, [P, u32, ctypes.POINTER(_StepInputInfo)]),
        "hsattn_model_get_step_input": (st, [P, u32, u32, ctypes.POINTER(_StepInputInfo)]),
        "hsattn_prefill_with_inputs": (st, [P, u64, P, P, u64, ctypes.POINTER(_StepInput), sz]),
        "hsattn_append_with_inputs": (st, [P, ids, sz, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_decode_step_with_inputs": (st, [P, ids, sz, P, P, ctypes.POINTER(_StepStats),
                                                ctypes.POINTER(_StepInput), sz]),
        "hsattn_prefill_device_with_inputs": (st, [P, u64, P, P, u64, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_enqueue_append_with_inputs": (st, [P, P, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_enqueue_decode_with_inputs": (st, [P, P, P, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_prefill_with_inputs": (st, [P, u32, u64, P, P, u64, ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_append_with_inputs": (st, [P, u32, ids, sz, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_decode_step_with_inputs": (st, [P, u32, ids, sz, P, P, ctypes.POINTER(_StepStats),
                                                      ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_prefill_device_with_inputs": (st, [P, u32, u64, P, P, u64, P, ctypes.POINTER(_StepInput),
                                                         sz]),
        "hsattn_model_enqueue_append_with_inputs": (st, [P, u32, P, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_enqueue_decode_with_inputs": (st, [P, u32, P, P, P, P, ctypes.POINTER(_StepInput), sz]),
        "hsattn_model_external_attention": (st, [P, u32, ctypes.POINTER(_DeviceTensor), sz, ctypes.POINTER(sz)]),
        "hsattn_quantize_fp8_latent": (st, [P, u64, u32, u32, P]),
        "hsattn_dequantize_fp8_latent": (st, [P, u64, u32, u32, P]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _lib = lib
    return lib


def _check(status):
    if status != 0:
        raise HsaError(status, library().hsattn_last_error_message().decode(errors="replace"))


def _options(backend, max_batch, max_context_tokens, pool_pages, host_memory_limit_bytes, device):
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {sorted(BACKENDS)}")
    o = _Options()
    library().hsattn_runtime_options_init(ctypes.byref(o))
    o.backend, o.device, o.max_batch = BACKENDS[backend], device, max_batch
    o.max_context_tokens, o.pool_pages, o.host_memory_limit_bytes = max_context_tokens, pool_pages, host_memory_limit_bytes
    return o


def bf16_bits(x):
    """float array -> bf16 bits (uint16), round to nearest even."""
    f = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = f + 0x7FFF + ((f >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def bits_to_float(bits, dtype="bf16"):
    """bf16 or f16 bits (uint16) -> float32."""
    b = np.ascontiguousarray(bits).view(np.uint16)
    if dtype == "f16":
        return b.view(np.float16).astype(np.float32)
    return (b.astype(np.uint32) << 16).view(np.float32)


def fp8_latent_row_bytes(latent_dim, rope_dim):
    """Bytes of one fp8 latent row: latent e4m3 codes, a f32 scale per 128, rope bf16 (512 + 64 -> 656)."""
    return latent_dim + latent_dim // FP8_LATENT_TILE * 4 + 2 * rope_dim


def quantize_fp8_latent(rows, latent_dim, rope_dim):
    """bf16 rows [..., latent_dim + rope_dim] (uint16 bits, or floats rounded to bf16 first) -> FlashMLA's fp8
    latent rows [..., fp8_latent_row_bytes] uint8 (hsattn_quantize_fp8_latent: per 128 latent values e4m3 codes
    with a power-of-two f32 scale, the rope bits copied). Raises HsaError for a latent_dim that is not a multiple
    of 128 or a NaN / infinite latent value."""
    array = np.asarray(rows)
    if array.dtype not in (np.uint16, np.int16):
        array = bf16_bits(array)
    if array.ndim == 0 or array.shape[-1] != latent_dim + rope_dim:
        raise ValueError(f"rows: shape {tuple(array.shape)}, expected [..., {latent_dim + rope_dim}] "
                         f"(latent_dim {latent_dim} + rope_dim {rope_dim})")
    array = np.ascontiguousarray(array).view(np.uint16)
    count = array.size // (latent_dim + rope_dim) if latent_dim + rope_dim else 0
    out = np.zeros(array.shape[:-1] + (fp8_latent_row_bytes(latent_dim, rope_dim),), dtype=np.uint8)
    _check(library().hsattn_quantize_fp8_latent(array.ctypes.data, count, latent_dim, rope_dim, out.ctypes.data))
    return out


def dequantize_fp8_latent(rows, latent_dim, rope_dim):
    """fp8 latent rows [..., fp8_latent_row_bytes] uint8 -> their values [..., latent_dim + rope_dim] float32."""
    array = np.asarray(rows)
    width = fp8_latent_row_bytes(latent_dim, rope_dim)
    if array.dtype not in (np.uint8, np.int8) or array.ndim == 0 or array.shape[-1] != width:
        raise ValueError(f"rows: {array.dtype} {tuple(array.shape)}, expected uint8 [..., {width}]")
    array = np.ascontiguousarray(array).view(np.uint8)
    out = np.zeros(array.shape[:-1] + (latent_dim + rope_dim,), dtype=np.float32)
    _check(library().hsattn_dequantize_fp8_latent(array.ctypes.data, array.size // width, latent_dim, rope_dim,
                                                  out.ctypes.data))
    return out


def _host_rows(name, tensor, shape, dtype):
    """K/V host rows in the stored format: bf16/f16 bits (_host_bits), or fp8 latent rows as uint8 bytes."""
    if dtype != "fp8_latent":
        return _host_bits(name, tensor, shape, dtype)
    if type(tensor).__module__.startswith("torch"):
        if tensor.device.type != "cpu":
            raise ValueError(f"{name}: a tensor on {tensor.device}: this call takes host memory (pass tensor.cpu())")
        tensor = tensor.contiguous().numpy()
    array = np.asarray(tensor)
    if array.dtype not in (np.uint8, np.int8):
        raise ValueError(f"{name}: dtype {array.dtype}: the layer stores fp8 latent rows: pass them as uint8 "
                         "(quantize_fp8_latent makes them from bf16)")
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name}: shape {tuple(array.shape)}, expected {tuple(shape)} (the last dim: the "
                         "row's bytes, config().key_row_bytes)")
    return np.ascontiguousarray(array).view(np.uint8)


def _host_bits(name, tensor, shape, dtype):
    """The tensor's bits as a C-contiguous uint16 array of `shape` (checked), and the array to keep alive."""
    module = type(tensor).__module__
    if module.startswith("torch"):
        if tensor.device.type != "cpu":
            raise ValueError(f"{name}: a tensor on {tensor.device}: this call takes host memory (pass "
                             "tensor.cpu()); device tensors go through the device API (begin_step, enqueue_*)")
        want = {"bf16": "torch.bfloat16", "f16": "torch.float16"}[dtype]
        if str(tensor.dtype) != want:
            raise ValueError(f"{name}: dtype {tensor.dtype}, the layer's KV dtype is {want}")
        import torch  # only when given a torch tensor
        tensor = tensor.contiguous().view(torch.int16).numpy()
    array = np.asarray(tensor)
    if array.dtype == np.float16 and dtype == "f16":
        array = array.view(np.uint16)
    if array.dtype not in (np.uint16, np.int16):
        raise ValueError(f"{name}: dtype {array.dtype}: pass {dtype} bits as uint16 (bf16_bits() converts floats)")
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name}: shape {tuple(array.shape)}, expected {tuple(shape)}")
    array = np.ascontiguousarray(array).view(np.uint16)
    return array


def _is_cuda(tensor):
    """A torch CUDA tensor or a __cuda_array_interface__ producer (host arrays take the copying path)."""
    if type(tensor).__module__.startswith("torch"):
        return tensor.device.type == "cuda"
    return hasattr(tensor, "__cuda_array_interface__")


def _device_pointer(name, tensor, shape, dtype):
    """The device address of a CUDA tensor of `shape` in the layer's dtype (checked)."""
    if tensor is None:
        raise ValueError(f"{name}: a device tensor is required")
    want = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "fp8_latent": "uint8"}[dtype]
    module = type(tensor).__module__
    if module.startswith("torch"):
        if tensor.device.type != "cuda":
            raise ValueError(f"{name}: a tensor on {tensor.device}: the device API takes CUDA tensors "
                             "(the host-memory calls take CPU ones)")
        if str(tensor.dtype) != "torch." + want:
            raise ValueError(f"{name}: dtype {tensor.dtype}, the layer's KV dtype is torch.{want}")
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"{name}: shape {tuple(tensor.shape)}, expected {tuple(shape)} (slot-indexed: "
                             "[max_batch][heads][dim])")
        if not tensor.is_contiguous():
            raise ValueError(f"{name}: not contiguous")
        return tensor.data_ptr()
    interface = getattr(tensor, "__cuda_array_interface__", None)
    if interface is None:
        raise ValueError(f"{name}: {type(tensor).__name__} is not a CUDA tensor (torch, or __cuda_array_interface__)")
    if tuple(interface["shape"]) != tuple(shape):
        raise ValueError(f"{name}: shape {tuple(interface['shape'])}, expected {tuple(shape)}")
    if interface.get("strides") not in (None, ()):
        raise ValueError(f"{name}: strided arrays are not supported (pass a C-contiguous one)")
    allowed = {"f32": ("<f4",), "fp8_latent": ("|u1", "|i1")}.get(dtype, ("<u2", "<i2", "<f2"))
    if interface["typestr"] not in allowed:
        raise ValueError(f"{name}: typestr {interface['typestr']}: pass {dtype} elements")
    return int(interface["data"][0])


def _stream_handle(stream):
    """A CUstream for the C API: None -> torch's current stream (the legacy one without torch)."""
    if stream is None:
        import sys
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.current_stream().cuda_stream or None
        return None
    if isinstance(stream, int):
        return stream or None
    handle = getattr(stream, "cuda_stream", None)  # torch.cuda.Stream
    if handle is None:
        raise ValueError(f"stream: {type(stream).__name__}: pass a torch.cuda.Stream or a CUstream handle (int)")
    return handle or None


def _ids(request_ids):
    ids = np.ascontiguousarray(np.asarray(request_ids, dtype=np.uint64).reshape(-1))
    return ids, ids.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))


def _stats(s):
    return {"units_selected": s.units_selected, "hits": s.hits, "misses": s.misses,
            "bytes_copied_h2d": s.bytes_copied_h2d, "hit_rate": s.hit_rate}


def _read_artifact(artifact):
    if isinstance(artifact, (bytes, bytearray)):
        return bytes(artifact)
    with open(os.fspath(artifact), "rb") as f:
        return f.read()


class _Layered:
    """Shared tensor checks of Runtime and Model (per layer)."""

    def config(self, layer=0):
        raise NotImplementedError

    def _kv(self, layer, k, v, tokens, batch=None):
        c = self.config(layer)
        lead = (tokens,) if batch is None else (batch,)
        k_bits = _host_rows("k", k, lead + (c.num_kv_heads, _key_row(c)), c.dtype)
        v_bits = None
        if not c.value_is_key_prefix:
            v_bits = _host_bits("v", v, lead + (c.num_kv_heads, c.value_dim), c.dtype)
        return k_bits, v_bits

    def _device_prompt(self, layer, k, v):
        """Device pointers of a prompt's K [tokens][Hkv][D] / V [tokens][Hkv][Dv] CUDA tensors."""
        c = self.config(layer)
        tokens = int(k.shape[0])
        kp = _device_pointer("k", k, (tokens, c.num_kv_heads, _key_row(c)), c.dtype)
        vp = None
        if not c.value_is_key_prefix:
            vp = _device_pointer("v", v, (tokens, c.num_kv_heads, c.value_dim), c.dtype)
        return tokens, kp, vp

    def _qo(self, layer, q, count):
        c = self.config(layer)
        q_bits = _host_bits("q", q, (count, c.num_q_heads, c.head_dim), c.activation_dtype)
        o = np.zeros((count, c.num_q_heads, c.value_dim), dtype=np.uint16)
        return q_bits, o


def _key_row(c):
    """A stored key row's last dim: D elements, or an fp8 latent row's bytes."""
    return c.key_row_bytes if c.dtype == "fp8_latent" else c.head_dim


def _ptr(array):
    return None if array is None else array.ctypes.data


def _input_address(info, tensor, rows, device):
    """The address of one step input's rows (checked: memory kind, element type, size) and what keeps them alive."""
    name, want_bytes = info.name, rows * info.row_bytes
    shape = f"[{rows}]" + "".join(f"[{d}]" for d in info.row_shape)
    if type(tensor).__module__.startswith("torch"):
        if (tensor.device.type == "cuda") != device:
            raise ValueError(f"{name}: a tensor on {tensor.device}: this call takes "
                             f"{'CUDA tensors' if device else 'host memory'}")
        if str(tensor.dtype) != _INPUT_TORCH[info.dtype] and not (
                info.dtype in ("bf16", "f8E4M3FN") and str(tensor.dtype) in ("torch.int16", "torch.uint8")):
            raise ValueError(f"{name}: dtype {tensor.dtype}, expected {_INPUT_TORCH[info.dtype]}")
        if not tensor.is_contiguous() or tensor.numel() * tensor.element_size() != want_bytes:
            raise ValueError(f"{name}: {tuple(tensor.shape)} {tensor.dtype}: expected a contiguous {shape} "
                             f"{info.dtype} ({want_bytes} bytes)")
        if device:
            return tensor.data_ptr(), tensor
        import torch
        array = tensor.view(torch.uint8).numpy() if tensor.element_size() == 1 else tensor.view(
            {2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]).numpy()
        return array.ctypes.data, array
    if device:
        interface = getattr(tensor, "__cuda_array_interface__", None)
        if interface is None:
            raise ValueError(f"{name}: {type(tensor).__name__} is not a CUDA tensor")
        if interface["typestr"] not in _INPUT_TYPESTR[info.dtype] or interface.get("strides") not in (None, ()):
            raise ValueError(f"{name}: typestr {interface['typestr']}: pass contiguous {info.dtype} elements")
        elements = int(np.prod(interface["shape"]))
        if elements * info.row_bytes // max(1, int(np.prod(info.row_shape))) != want_bytes:
            raise ValueError(f"{name}: shape {tuple(interface['shape'])}, expected {shape}")
        return int(interface["data"][0]), tensor
    array = np.ascontiguousarray(tensor)
    if array.dtype.name not in _INPUT_NUMPY[info.dtype]:
        raise ValueError(f"{name}: numpy dtype {array.dtype}, expected one of {_INPUT_NUMPY[info.dtype]} "
                         f"holding {info.dtype}")
    if array.nbytes != want_bytes:
        raise ValueError(f"{name}: shape {array.shape} ({array.nbytes} bytes), expected {shape} ({want_bytes} bytes)")
    return array.ctypes.data, array


def _bind_inputs(config, inputs, decode, rows, device):
    """(ctypes array of _StepInput, count, keepalive) for the call's step inputs; (None, 0, None) when the
    layer and the caller have none (the call without inputs, whose refusal names what is missing)."""
    if not inputs:
        return None, 0, None
    by_name = {i.name: i for i in config.step_inputs}
    items, keep = [], []
    for name, tensor in inputs.items():
        info = by_name.get(name)
        if info is None or info.decode != decode:
            wanted = [i.name for i in config.step_inputs if i.decode == decode]
            raise ValueError(f"{name}: not a step input of this call (the layer's algorithm "
                             f"'{config.algorithm}' takes {wanted or 'none'} here)")
        address, owner = _input_address(info, tensor, rows, device)
        keep.append(owner)
        items.append(_StepInput(name.encode(), address))
    array = (_StepInput * len(items))(*items)
    return array, len(items), (keep, array)


class _DeviceStep:
    """The device API shared by Runtime and Model (hsattn_begin_step and the enqueue calls)."""

    @property
    def max_batch(self):
        """B: the slots, the rows of every slot-indexed device tensor."""
        return self._max_batch

    def _device_kv(self, layer, k, v):
        c = self.config(layer)
        kp = _device_pointer("new_k", k, (self._max_batch, c.num_kv_heads, _key_row(c)), c.dtype)
        vp = None
        if not c.value_is_key_prefix:
            vp = _device_pointer("new_v", v, (self._max_batch, c.num_kv_heads, c.value_dim), c.dtype)
        return kp, vp

    def _device_qo(self, layer, q, o, lse):
        c = self.config(layer)
        qp = _device_pointer("q", q, (self._max_batch, c.num_q_heads, c.head_dim), c.activation_dtype)
        op = _device_pointer("o", o, (self._max_batch, c.num_q_heads, c.value_dim), c.activation_dtype)
        lp = None if lse is None else _device_pointer("lse", lse, (self._max_batch, c.num_q_heads), "f32")
        return qp, op, lp


class Runtime(_Layered, _DeviceStep):
    """One layer (hsattn_runtime)."""

    def __init__(self, artifact, max_batch=1, max_context_tokens=4096, backend="auto", pool_pages=0,
                 host_memory_limit_bytes=0, device=0):
        lib = library()
        self._lib, self._handle, self._max_batch = lib, ctypes.c_void_p(), max_batch
        _check(lib.hsattn_runtime_create(ctypes.byref(_options(backend, max_batch, max_context_tokens, pool_pages,
                                                                host_memory_limit_bytes, device)),
                                         ctypes.byref(self._handle)))
        data = _read_artifact(artifact)
        _check(lib.hsattn_runtime_load_artifact(self._handle, data, len(data)))
        c = _LayerConfig()
        c.struct_size = ctypes.sizeof(c)
        _check(lib.hsattn_runtime_get_layer_config(self._handle, ctypes.byref(c)))
        self._config = LayerConfig(c)
        for index in range(c.num_step_inputs):
            info = _StepInputInfo()
            _check(lib.hsattn_runtime_get_step_input(self._handle, index, ctypes.byref(info)))
            self._config.step_inputs.append(StepInputInfo(info))

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.hsattn_runtime_destroy(self._handle)
            self._handle = None

    @property
    def backend(self):
        return self._lib.hsattn_runtime_backend_name(self._handle).decode()

    def config(self, layer=0):
        return self._config

    def create_request(self):
        rid = ctypes.c_uint64()
        _check(self._lib.hsattn_request_create(self._handle, ctypes.byref(rid)))
        return rid.value

    def release_request(self, request):
        _check(self._lib.hsattn_request_release(self._handle, request))

    def prefill(self, request, k, v=None, stream=None, inputs=None):
        """K [tokens][Hkv][D], V [tokens][Hkv][Dv]: host arrays, or CUDA tensors, which the copy engine
        moves to the host pool on `stream` (default: torch's current one) without a host sync.
        inputs: the algorithm's append inputs by name, [tokens][row] each (config().step_inputs)."""
        if _is_cuda(k):
            tokens, kp, vp = self._device_prompt(0, k, v)
            si, n, keep = _bind_inputs(self._config, inputs, False, tokens, True)
            _check(self._lib.hsattn_prefill_device_with_inputs(self._handle, request, kp, vp, tokens,
                                                               _stream_handle(stream), si, n))
            return
        tokens = len(k)
        kb, vb = self._kv(0, k, v, tokens)
        si, n, keep = _bind_inputs(self._config, inputs, False, tokens, False)
        _check(self._lib.hsattn_prefill_with_inputs(self._handle, request, _ptr(kb), _ptr(vb), tokens, si, n))

    def finish_prefill(self, request):
        _check(self._lib.hsattn_finish_prefill(self._handle, request))

    def append(self, requests, k, v=None, inputs=None):
        ids, p = _ids(requests)
        kb, vb = self._kv(0, k, v, None, batch=len(ids))
        si, n, keep = _bind_inputs(self._config, inputs, False, len(ids), False)
        _check(self._lib.hsattn_append_with_inputs(self._handle, p, len(ids), _ptr(kb), _ptr(vb), si, n))

    def decode_step(self, requests, q, inputs=None):
        """Returns (o as uint16 bits [count][Hq][Dv], stats dict). inputs: the algorithm's decode inputs
        by name, [count][row] each."""
        ids, p = _ids(requests)
        qb, o = self._qo(0, q, len(ids))
        s = _StepStats()
        si, n, keep = _bind_inputs(self._config, inputs, True, len(ids), False)
        _check(self._lib.hsattn_decode_step_with_inputs(self._handle, p, len(ids), _ptr(qb), _ptr(o),
                                                        ctypes.byref(s), si, n))
        return o, _stats(s)

    # --- device API (CUDA backend) ------------------------------------------
    def slot(self, request):
        """The request's row in the slot-indexed device tensors."""
        slot = ctypes.c_uint32()
        _check(self._lib.hsattn_request_slot(self._handle, request, ctypes.byref(slot)))
        return slot.value

    def begin_step(self, requests, append=True, stream=None):
        """Host work before each step (never inside a graph capture)."""
        ids, p = _ids(requests)
        _check(self._lib.hsattn_begin_step(self._handle, p, len(ids), int(bool(append)), _stream_handle(stream)))

    def enqueue_append(self, k, v=None, stream=None, inputs=None):
        kp, vp = self._device_kv(0, k, v)
        si, n, keep = _bind_inputs(self._config, inputs, False, self._max_batch, True)
        _check(self._lib.hsattn_enqueue_append_with_inputs(self._handle, kp, vp, _stream_handle(stream), si, n))

    def enqueue_decode(self, q, o, lse=None, stream=None, inputs=None):
        """o (and lse [max_batch][Hq] float32, when given) are written on the stream. inputs: the
        algorithm's decode inputs, slot-indexed CUDA tensors [max_batch][row]."""
        qp, op, lp = self._device_qo(0, q, o, lse)
        si, n, keep = _bind_inputs(self._config, inputs, True, self._max_batch, True)
        _check(self._lib.hsattn_enqueue_decode_with_inputs(self._handle, qp, op, lp, _stream_handle(stream), si, n))

    def enqueue_step_report(self, stream=None):
        """Copies the last step's counters to pinned memory on the stream (no wait); see step_report."""
        _check(self._lib.hsattn_enqueue_step_report(self._handle, _stream_handle(stream)))

    def step_report(self, requests):
        """The enqueued report's stats for the listed requests, or None while the stream has not got there."""
        ids, p = _ids(requests)
        s, ready = _StepStats(), ctypes.c_int()
        _check(self._lib.hsattn_step_report(self._handle, p, len(ids), ctypes.byref(s), ctypes.byref(ready)))
        return _stats(s) if ready.value else None

    def external_attention(self):
        """The resident buffer and the page tables for an attention kernel hsa did not write.

        A dict of torch CUDA tensors (views of the runtime's memory, no copy; they keep the
        runtime alive): k_cache [blocks][P][Hu][D] and v_cache (strided views, one unit per
        block), and the format's tables by name ("fa.block_table", "fi.indptr", "tok.indices",
        ...), which every decode step rewrites; plus block_size and num_blocks. CUDA backend."""
        return _external_attention(self, lambda t, n, c: self._lib.hsattn_external_attention(self._handle, t, n, c))

    def selected_units(self, request):
        c = self._config
        groups = 1 if c.scope == "request" else c.num_kv_heads
        units = np.full(groups * c.budget_units, -1, dtype=np.int32)
        _check(self._lib.hsattn_request_selected_units(self._handle, request,
                                                       units.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                                                       len(units)))
        return units.reshape(groups, c.budget_units)


class Model(_Layered, _DeviceStep):
    """A model's attention layers with one request table and one host page pool (hsattn_model)."""

    def __init__(self, artifacts, max_batch=1, max_context_tokens=4096, backend="auto", pool_pages=0,
                 host_memory_limit_bytes=0, device=0):
        lib = library()
        self._lib, self._handle, self._max_batch = lib, ctypes.c_void_p(), max_batch
        _check(lib.hsattn_model_create(ctypes.byref(_options(backend, max_batch, max_context_tokens, pool_pages,
                                                              host_memory_limit_bytes, device)),
                                       ctypes.byref(self._handle)))
        self._configs = []
        for artifact in artifacts:
            data = _read_artifact(artifact)
            _check(lib.hsattn_model_add_layer(self._handle, data, len(data)))
            c = _LayerConfig()
            c.struct_size = ctypes.sizeof(c)
            layer = len(self._configs)
            _check(lib.hsattn_model_get_layer_config(self._handle, layer, ctypes.byref(c)))
            config = LayerConfig(c)
            for index in range(c.num_step_inputs):
                info = _StepInputInfo()
                _check(lib.hsattn_model_get_step_input(self._handle, layer, index, ctypes.byref(info)))
                config.step_inputs.append(StepInputInfo(info))
            self._configs.append(config)

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.hsattn_model_destroy(self._handle)
            self._handle = None

    @property
    def num_layers(self):
        return len(self._configs)

    @property
    def pool_pages(self):
        return self._lib.hsattn_model_pool_pages(self._handle)

    @property
    def free_pages(self):
        return self._lib.hsattn_model_free_pages(self._handle)

    def config(self, layer=0):
        if not 0 <= layer < len(self._configs):
            raise IndexError(f"layer {layer} out of range (the model has {len(self._configs)} layers)")
        return self._configs[layer]

    def create_request(self):
        rid = ctypes.c_uint64()
        _check(self._lib.hsattn_model_request_create(self._handle, ctypes.byref(rid)))
        return rid.value

    def release_request(self, request):
        _check(self._lib.hsattn_model_request_release(self._handle, request))

    def prefill(self, layer, request, k, v=None, stream=None, inputs=None):
        """As Runtime.prefill, for one layer (CUDA tensors go by the copy engine)."""
        config = self.config(layer)
        if _is_cuda(k):
            tokens, kp, vp = self._device_prompt(layer, k, v)
            si, n, keep = _bind_inputs(config, inputs, False, tokens, True)
            _check(self._lib.hsattn_model_prefill_device_with_inputs(self._handle, layer, request, kp, vp, tokens,
                                                                     _stream_handle(stream), si, n))
            return
        tokens = len(k)
        kb, vb = self._kv(layer, k, v, tokens)
        si, n, keep = _bind_inputs(config, inputs, False, tokens, False)
        _check(self._lib.hsattn_model_prefill_with_inputs(self._handle, layer, request, _ptr(kb), _ptr(vb), tokens,
                                                          si, n))

    def finish_prefill(self, request):
        _check(self._lib.hsattn_model_finish_prefill(self._handle, request))

    def append(self, layer, requests, k, v=None, inputs=None):
        ids, p = _ids(requests)
        kb, vb = self._kv(layer, k, v, None, batch=len(ids))
        si, n, keep = _bind_inputs(self.config(layer), inputs, False, len(ids), False)
        _check(self._lib.hsattn_model_append_with_inputs(self._handle, layer, p, len(ids), _ptr(kb), _ptr(vb),
                                                         si, n))

    def decode_step(self, layer, requests, q, inputs=None):
        """Returns (o as uint16 bits [count][Hq][Dv], stats dict)."""
        ids, p = _ids(requests)
        qb, o = self._qo(layer, q, len(ids))
        s = _StepStats()
        si, n, keep = _bind_inputs(self.config(layer), inputs, True, len(ids), False)
        _check(self._lib.hsattn_model_decode_step_with_inputs(self._handle, layer, p, len(ids), _ptr(qb), _ptr(o),
                                                              ctypes.byref(s), si, n))
        return o, _stats(s)

    # --- device API (CUDA backend) ------------------------------------------
    def slot(self, request):
        """The request's row in the slot-indexed device tensors (the same in every layer)."""
        slot = ctypes.c_uint32()
        _check(self._lib.hsattn_model_request_slot(self._handle, request, ctypes.byref(slot)))
        return slot.value

    def begin_step(self, requests, append=True, stream=None):
        """Host work before each model step, for every layer (never inside a graph capture)."""
        ids, p = _ids(requests)
        _check(self._lib.hsattn_model_begin_step(self._handle, p, len(ids), int(bool(append)),
                                                 _stream_handle(stream)))

    def enqueue_append(self, layer, k, v=None, stream=None, inputs=None):
        kp, vp = self._device_kv(layer, k, v)
        si, n, keep = _bind_inputs(self.config(layer), inputs, False, self._max_batch, True)
        _check(self._lib.hsattn_model_enqueue_append_with_inputs(self._handle, layer, kp, vp, _stream_handle(stream),
                                                                 si, n))

    def enqueue_decode(self, layer, q, o, lse=None, stream=None, inputs=None):
        """o (and lse [max_batch][Hq] float32, when given) are written on the stream."""
        qp, op, lp = self._device_qo(layer, q, o, lse)
        si, n, keep = _bind_inputs(self.config(layer), inputs, True, self._max_batch, True)
        _check(self._lib.hsattn_model_enqueue_decode_with_inputs(self._handle, layer, qp, op, lp,
                                                                 _stream_handle(stream), si, n))

    def enqueue_step_report(self, layer, stream=None):
        """Copies the layer's last-step counters to pinned memory on the stream (no wait); see step_report."""
        _check(self._lib.hsattn_model_enqueue_step_report(self._handle, layer, _stream_handle(stream)))

    def step_report(self, layer, requests):
        """The enqueued report's stats for the listed requests, or None while the stream has not got there."""
        ids, p = _ids(requests)
        s, ready = _StepStats(), ctypes.c_int()
        _check(self._lib.hsattn_model_step_report(self._handle, layer, p, len(ids), ctypes.byref(s),
                                                  ctypes.byref(ready)))
        return _stats(s) if ready.value else None

    def external_attention(self, layer):
        """The layer's resident buffer and page tables as torch tensors (Runtime.external_attention)."""
        return _external_attention(self, lambda t, n, c: self._lib.hsattn_model_external_attention(
            self._handle, layer, t, n, c))

    def accounting(self, layer, request):
        a = _Accounting()
        _check(self._lib.hsattn_model_request_get_accounting(self._handle, layer, request, ctypes.byref(a)))
        return {"length_tokens": a.length_tokens, "device_bytes": a.device_bytes,
                "full_device_cache_bytes": a.full_device_cache_bytes, "host_bytes": a.host_bytes}
