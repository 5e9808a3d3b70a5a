#include "hsa/runtime.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <set>

#include "artifact.h"
#include "backend.h"
#include "cpu_backend.h"
#include "fp8.h"
#include "guarded.h"
#include "host_cache.h"
#include "hsa/page_table_contract.h"
#include "launch_plan.h"
#include "layer_shape.h"
#include "memory_limits.h"
#include "runtime_internal.h"
#if HSA_RUNTIME_HAS_CUDA
#include "cuda_backend.h"
#endif

namespace hsa {

namespace {

Status invalid_argument(const std::string& message) { return Status(StatusCode::InvalidArgument, message); }

// Runtime::Impl::build_from of a slot with nothing to build (a file-scope
// constant: a static member would be exported from the shared library).
constexpr uint32_t kNothingPending = UINT32_MAX;

Status validate_options(const RuntimeOptions& options) {
  const int backend = int(options.backend);
  if (backend < int(BackendKind::Auto) || backend > int(BackendKind::Cuda))
    return invalid_argument("unknown backend " + std::to_string(backend) + " (Auto 0, Cpu 1, Cuda 2)");
  if (options.max_batch == 0) return invalid_argument("max_batch must be >= 1");
  if (options.max_context_tokens == 0) return invalid_argument("max_context_tokens must be >= 1");
  return Status::ok();
}

Status create_backend(const RuntimeOptions& options, std::unique_ptr<Backend>* out) {
  if (options.backend == BackendKind::Cpu) {
    out->reset(new CpuBackend(options.profile_kernels, nullptr, options.telemetry));
    return Status::ok();
  }
#if HSA_RUNTIME_HAS_CUDA
  Status status = create_cuda_backend(options, out);
#else
  Status status(StatusCode::Unavailable, "this runtime was built without the CUDA backend: use backend=cpu");
#endif
  if (status.is_ok() || options.backend == BackendKind::Cuda) return status;
  out->reset(new CpuBackend(options.profile_kernels, nullptr, options.telemetry));  // Auto: fall back to the reference backend
  return Status::ok();
}

}  // namespace

// Threads (docs/RUNTIME.md): calls on different requests may run at the same
// time; the caller serialises calls on one request, loads before and destroys
// after everything else. Three locks make that true, none held while taking
// another:
//  - requests_mutex: the request table (slot_of, slot_used, next_id);
//  - the host cache's own lock: its page pool (free list, page_of entries);
//  - backend_mutex: every backend call. Steps are serialised internally: the
//    backends share per-runtime state across batch slots (CUDA: one stream,
//    the pinned staging rows of all slots, the graph, the timings; CPU: the
//    timings), and a step already uses the whole GPU.
// Per-request data (a slot's length, pages and rows) is touched only by calls
// on that request, which the caller serialises.
struct HSATTN_HIDDEN Runtime::Impl {
  RuntimeOptions options;
  std::unique_ptr<Backend> backend;
  bool loaded = false;
  bool backend_failed = false;  // a backend that failed half-way through prepare is not reused
  Artifact artifact;
  LayerShape shape;
  std::unique_ptr<HostCache> cache;
  // Set by a ModelRuntime before load: the page pool its layers share and the
  // host memory its other layers already hold (this layer's limit is what
  // remains of the model's).
  std::shared_ptr<PagePool> shared_pool;
  uint64_t host_bytes_elsewhere = 0;
  uint64_t device_bytes_per_request = 0;
  MemoryNeeds memory;  // what the loaded instance allocated

  mutable std::mutex requests_mutex;
  std::map<RequestId, uint32_t> slot_of;  // guarded by requests_mutex
  std::vector<char> slot_used;            // guarded by requests_mutex (1: a request or a create in progress)
  RequestId next_id = 1;                  // guarded by requests_mutex

  mutable std::mutex backend_mutex;  // held for every call into `backend` after load
  // Per batch slot, the length its last prefill left (guarded by
  // backend_mutex): the stage checker replays the algorithm's reference from it.
  std::vector<uint32_t> prefill_end;
  // Per batch slot, the length before the first prefill whose representations
  // are not built yet, kNothingPending if none (guarded by backend_mutex).
  // Prefill only fills the host pool; the build runs once over every chunk,
  // at finish_prefill or before the request's next append or decode step.
  std::vector<uint32_t> build_from;

  // Builds the slot's pending representations (backend_mutex held). On an
  // error they stay pending: the next call retries.
  Status build_pending_locked(uint32_t slot) {
    if (build_from[slot] == kNothingPending) return Status::ok();
    HSA_RETURN_IF_ERROR(backend->drain_device_work());  // the build rewrites the slot's rows
    HSA_RETURN_IF_ERROR(backend->after_prefill(slot, build_from[slot]));
    build_from[slot] = kNothingPending;
    return Status::ok();
  }
  // A prefill of the slot from `old_length` on landed in the host pool: its
  // representations are built from there later (backend_mutex held).
  void prefilled_locked(uint32_t slot, uint32_t old_length) {
    build_from[slot] = std::min(build_from[slot], old_length);
    prefill_end[slot] = cache->length(slot);
  }
  Status build_pending_locked(const std::vector<uint32_t>& slots) {
    for (uint32_t slot : slots) HSA_RETURN_IF_ERROR(build_pending_locked(slot));
    return Status::ok();
  }

  // The call's step inputs of `kind` in LayerShape::step_inputs order: each
  // of the layer's inputs of that kind exactly once, no other name. Host
  // calls (`rows` rows each, in host memory) also refuse a NaN or infinity.
  Status bind_inputs(StepKind kind, const StepInput* inputs, size_t input_count, const char* call, bool host,
                     uint64_t rows, StepInputRows* out) const {
    if (input_count > 0 && !inputs) return invalid_argument(std::string(call) + ": null step input list");
    for (size_t i = 0; i < input_count; ++i) {
      const std::string name = inputs[i].name ? inputs[i].name : "";
      bool known = false;
      for (const LayerShape::StepInputRow& row : shape.step_inputs) known = known || (row.buffer == name && row.kind == kind);
      if (!known)
        return invalid_argument(std::string(call) + ": '" + name + "' is not one of its step inputs; " +
                                describe_inputs());
      for (size_t j = 0; j < i; ++j)
        if (inputs[j].name && name == inputs[j].name)
          return invalid_argument(std::string(call) + ": step input '" + name + "' is listed twice");
      if (!inputs[i].data) return invalid_argument(std::string(call) + ": step input '" + name + "' has null data");
    }
    out->clear();
    for (const LayerShape::StepInputRow& row : shape.step_inputs) {
      if (row.kind != kind) continue;
      const void* data = nullptr;
      for (size_t i = 0; i < input_count; ++i)
        if (inputs[i].name && row.buffer == inputs[i].name) data = inputs[i].data;
      if (!data)
        return invalid_argument(std::string(call) + ": the layer's algorithm '" + shape.algorithm->name() +
                                "' needs step input '" + row.buffer + "' (" + describe_row(row) +
                                "); pass it in the form of the call that takes step inputs (docs/algorithms/" +
                                shape.algorithm->name() + ".md)");
      if (host) HSA_RETURN_IF_ERROR(check_finite(row, data, rows, call));
      out->push_back(data);
    }
    return Status::ok();
  }

  static std::string describe_row(const LayerShape::StepInputRow& row) {
    std::string dims;
    for (int64_t d : row.row_dims) dims += "[" + std::to_string(d) + "]";
    return "rows " + dims + " " + element_type_name(row.element_type) + ", one per request" +
           (row.kind == StepKind::Append ? " (per token at prefill)" : "");
  }
  std::string describe_inputs() const {
    if (shape.step_inputs.empty()) return std::string("algorithm '") + shape.algorithm->name() + "' takes none";
    std::string text = std::string("algorithm '") + shape.algorithm->name() + "' takes";
    for (size_t i = 0; i < shape.step_inputs.size(); ++i) {
      const LayerShape::StepInputRow& row = shape.step_inputs[i];
      text += std::string(i ? "," : "") + " '" + row.buffer + "' at " +
              (row.kind == StepKind::Decode ? "decode_step" : "append and prefill");
    }
    return text;
  }
  static Status check_finite(const LayerShape::StepInputRow& row, const void* data, uint64_t rows, const char* call) {
    const uint64_t per_row = row.row_bytes / artifact::element_type_bytes(row.element_type);
    const uint64_t n = rows * per_row;
    auto refuse = [&](uint64_t i, const char* what) {
      return invalid_argument(std::string(call) + ": step input '" + row.buffer + "' row " + std::to_string(i / per_row) +
                              " element " + std::to_string(i % per_row) + " is " + what +
                              ": its values must be finite");
    };
    switch (row.element_type) {
      case artifact::ElementType::F32: {
        const float* x = static_cast<const float*>(data);
        for (uint64_t i = 0; i < n; ++i)
          if (!std::isfinite(x[i])) return refuse(i, std::isnan(x[i]) ? "NaN" : "infinite");
        break;
      }
      case artifact::ElementType::BF16: case artifact::ElementType::F16: {
        const uint16_t* x = static_cast<const uint16_t*>(data);
        const uint16_t exponent = row.element_type == artifact::ElementType::BF16 ? 0x7F80 : 0x7C00;
        for (uint64_t i = 0; i < n; ++i)
          if ((x[i] & exponent) == exponent) return refuse(i, "NaN or infinite");
        break;
      }
      case artifact::ElementType::F8E4M3FN: {
        const uint8_t* x = static_cast<const uint8_t*>(data);
        for (uint64_t i = 0; i < n; ++i)
          if ((x[i] & 0x7F) == 0x7F) return refuse(i, "NaN (e4m3 code 0x7f / 0xff)");
        break;
      }
      default: break;
    }
    return Status::ok();
  }

  // Host calls on an Fp8Latent layer: no e4m3 NaN code in a K row's latent
  // bytes and every tile scale finite and > 0 (a quantiser's output; anything
  // else poisons the token's logits).
  // `rows` rows of Hkv key rows each; `describe(r)` names row r for the
  // message. The device paths copy bytes unchecked (docs/RUNTIME.md).
  Status check_latent_scales(const void* k, uint64_t rows, const char* call,
                             const std::function<std::string(uint64_t)>& describe) const {
    if (!shape.fp8_latent()) return Status::ok();
    const uint8_t* bytes = static_cast<const uint8_t*>(k);
    const uint64_t row_k = shape.key_row_bytes();
    for (uint64_t r = 0; r < rows; ++r)
      for (uint32_t h = 0; h < shape.kv_heads; ++h) {
        const uint8_t* row = bytes + (r * shape.kv_heads + h) * row_k;
        if (const int64_t code = fp8::nan_latent_code(row, shape.value_dim); code >= 0)
          return invalid_argument(std::string(call) + ": " + describe(r) + ", KV head " + std::to_string(h) +
                                  ": latent element " + std::to_string(code) + " (byte " + std::to_string(code) +
                                  " of the " + std::to_string(row_k) +
                                  "-byte fp8 latent row) is an e4m3 NaN code (0x7f / 0xff), which no quantiser "
                                  "writes (quantise the rows with hsattn_quantize_fp8_latent / "
                                  "Runtime::quantize_fp8_latent); nothing was changed");
        const int64_t tile = fp8::bad_latent_scale_tile(row, shape.value_dim);
        if (tile < 0) continue;
        const float scale = fp8::latent_row_scale(row, shape.value_dim, uint32_t(tile));
        char value[32];
        std::snprintf(value, sizeof value, "%.9g", double(scale));
        return invalid_argument(std::string(call) + ": " + describe(r) + ", KV head " + std::to_string(h) +
                                ": the scale of latent tile " + std::to_string(tile) + " (bytes " +
                                std::to_string(shape.value_dim + 4 * tile) + "-" +
                                std::to_string(shape.value_dim + 4 * tile + 3) + " of the " + std::to_string(row_k) +
                                "-byte fp8 latent row) is " + value +
                                ": scales must be finite and > 0 (quantise the rows with "
                                "hsattn_quantize_fp8_latent / Runtime::quantize_fp8_latent); nothing was changed");
      }
    return Status::ok();
  }

  Status require_loaded() const {
    return loaded ? Status::ok() : invalid_argument("no artifact loaded: call load_artifact first");
  }

  Status find_slot_locked(RequestId id, uint32_t* slot) const {
    auto it = slot_of.find(id);
    if (it == slot_of.end()) return Status(StatusCode::NotFound, "unknown request id " + std::to_string(id));
    *slot = it->second;
    return Status::ok();
  }

  Status find_slot(RequestId id, uint32_t* slot) const {
    HSA_RETURN_IF_ERROR(require_loaded());
    std::lock_guard<std::mutex> lock(requests_mutex);
    return find_slot_locked(id, slot);
  }

  // Slots of a batch call: ids known, distinct, count within the batch.
  Status batch_slots(const RequestId* ids, size_t count, std::vector<uint32_t>* slots) const {
    HSA_RETURN_IF_ERROR(require_loaded());
    if (count == 0) return invalid_argument("empty request list");
    if (!ids) return invalid_argument("null request id list");
    if (count > shape.batch)
      return invalid_argument(std::to_string(count) + " requests exceed max_batch " + std::to_string(shape.batch));
    std::set<RequestId> seen;
    std::lock_guard<std::mutex> lock(requests_mutex);
    for (size_t i = 0; i < count; ++i) {
      uint32_t slot = 0;
      HSA_RETURN_IF_ERROR(find_slot_locked(ids[i], &slot));
      if (!seen.insert(ids[i]).second) return invalid_argument("request " + std::to_string(ids[i]) + " listed twice");
      slots->push_back(slot);
    }
    return Status::ok();
  }

  // The host cache's buffers (the host tier of the table) and the backend's.
  Status memory_needs(const Artifact& a, const LayerShape& s, MemoryNeeds* needs) {
    const SymbolValues symbols = s.symbols();
    for (const ArtifactBuffer& b : a.buffers) {
      if (b.tier != artifact::Tier::Host) continue;
      std::vector<int64_t> dims;
      uint64_t bytes = 0;
      HSA_RETURN_IF_ERROR(evaluate_buffer_dims(a, b, symbols, &dims, &bytes));
      needs->host_buffers.push_back(BufferBytes{b.name, bytes});
    }
    HSA_RETURN_IF_ERROR(backend->memory_needs(a, s, needs));
    // Each buffer's size fits 64 bits (checked); their sum saturates.
    auto total = [](std::vector<BufferBytes>& list) {
      std::sort(list.begin(), list.end(), [](const BufferBytes& x, const BufferBytes& y) {
        return x.bytes != y.bytes ? x.bytes > y.bytes : x.name < y.name;
      });
      uint64_t sum = 0;
      for (const BufferBytes& b : list)
        if (__builtin_add_overflow(sum, b.bytes, &sum)) sum = UINT64_MAX;
      return sum;
    };
    needs->host_bytes = total(needs->host_buffers);
    needs->device_bytes = total(needs->device_buffers);
    return Status::ok();
  }

  Status load(Artifact&& loaded_artifact) {
    if (loaded) return invalid_argument("an artifact is already loaded; create another runtime for another layer");
    if (backend_failed) return invalid_argument("a previous load failed in the backend; create a new runtime");
    LayerShape s;
    HSA_RETURN_IF_ERROR(LayerShape::create(loaded_artifact, options.max_batch, options.max_context_tokens,
                                           options.pool_pages, &s));
    HSA_RETURN_IF_ERROR(check_documented_shapes(loaded_artifact, s));
    HSA_RETURN_IF_ERROR(find_telemetry_bounds(loaded_artifact, &s));
    HSA_RETURN_IF_ERROR(per_request_device_bytes(loaded_artifact, s, &device_bytes_per_request));
    // Every launch of every plan must evaluate for this instance (grid, block,
    // shared bytes, ExprI64 arguments), whichever backend runs: an artifact
    // the GPU would reject fails on the CPU backend too.
    for (size_t p = 0; p < loaded_artifact.plans.size(); ++p) {
      std::vector<EvaluatedLaunch> launches;
      HSA_RETURN_IF_ERROR(evaluate_plan(loaded_artifact, p, s.symbols(), [](uint32_t) { return uint64_t(0); }, &launches));
    }
    // Everything this instance will allocate, from the buffer table, checked
    // against the host and device memory before anything is allocated.
    MemoryNeeds needs;
    HSA_RETURN_IF_ERROR(memory_needs(loaded_artifact, s, &needs));
    HostMemoryLimit limit = host_memory_limit(options.host_memory_limit_bytes);
    if (host_bytes_elsewhere > 0 && limit.bytes > 0) {
      limit.bytes = limit.bytes > host_bytes_elsewhere ? limit.bytes - host_bytes_elsewhere : 1;
      limit.source += ", minus " + std::to_string(host_bytes_elsewhere) + " bytes the model's other layers hold";
    }
    HSA_RETURN_IF_ERROR(check_memory_needs(needs, limit,
                                           "max_batch " + std::to_string(s.batch) + ", max_context_tokens " +
                                               std::to_string(options.max_context_tokens) + ", pool_pages " +
                                               std::to_string(s.pool_pages)));
    std::unique_ptr<HostCache> new_cache;
    HSA_RETURN_IF_ERROR(HostCache::create(s, backend->host_allocator(), &new_cache, shared_pool));
    memory = std::move(needs);
    artifact = std::move(loaded_artifact);
    shape = s;
    cache = std::move(new_cache);
    Status status = backend->prepare(artifact, shape, cache.get());
    if (!status.is_ok()) {
      backend_failed = true;
      return status;
    }
    {
      std::lock_guard<std::mutex> lock(requests_mutex);
      slot_used.assign(shape.batch, 0);
      prefill_end.assign(shape.batch, 0);
      build_from.assign(shape.batch, kNothingPending);
    }
    loaded = true;
    return Status::ok();
  }
};

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;

Status Runtime::create(const RuntimeOptions& options, std::unique_ptr<Runtime>* out) {
  return guarded([&]() -> Status {
    if (!out) return invalid_argument("null output runtime");
    HSA_RETURN_IF_ERROR(validate_options(options));
    std::unique_ptr<Impl> impl(new Impl());
    impl->options = options;
    HSA_RETURN_IF_ERROR(create_backend(options, &impl->backend));
    out->reset(new Runtime(std::move(impl)));
    return Status::ok();
  });
}

Status RuntimeInternals::create(const RuntimeOptions& options, std::unique_ptr<Backend> backend,
                                std::unique_ptr<Runtime>* out) {
  return guarded([&]() -> Status {
    if (!out || !backend) return invalid_argument("null runtime output or backend");
    HSA_RETURN_IF_ERROR(validate_options(options));
    std::unique_ptr<Runtime::Impl> impl(new Runtime::Impl());
    impl->options = options;
    impl->backend = std::move(backend);
    out->reset(new Runtime(std::move(impl)));
    return Status::ok();
  });
}

const char* Runtime::backend_name() const { return impl_->backend->name(); }

Status Runtime::load_artifact_file(const std::string& path) {
  return guarded([&]() -> Status {
    Artifact artifact;
    HSA_RETURN_IF_ERROR(hsa::load_artifact_file(path, &artifact));
    return impl_->load(std::move(artifact));
  });
}

Status Runtime::load_artifact(const void* data, size_t size) {
  return guarded([&]() -> Status {
    if (!data) return invalid_argument("null artifact data");
    Artifact artifact;
    HSA_RETURN_IF_ERROR(hsa::load_artifact(static_cast<const uint8_t*>(data), size, &artifact));
    return impl_->load(std::move(artifact));
  });
}

namespace {
// The pinned loads take a digest; an empty one is a mistake, not "unpinned".
Status require_digest(const std::string& expected_sha256) {
  if (expected_sha256.empty())
    return invalid_argument("empty expected SHA-256: give the artifact's 64-hex-digit digest, or load it unpinned "
                            "with the overload without a digest");
  return Status::ok();
}
}  // namespace

Status Runtime::load_artifact_file(const std::string& path, const std::string& expected_sha256) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(require_digest(expected_sha256));
    Artifact artifact;
    HSA_RETURN_IF_ERROR(hsa::load_artifact_file(path, &artifact, expected_sha256));
    return impl_->load(std::move(artifact));
  });
}

Status Runtime::load_artifact(const void* data, size_t size, const std::string& expected_sha256) {
  return guarded([&]() -> Status {
    if (!data) return invalid_argument("null artifact data");
    HSA_RETURN_IF_ERROR(require_digest(expected_sha256));
    Artifact artifact;
    HSA_RETURN_IF_ERROR(hsa::load_artifact(static_cast<const uint8_t*>(data), size, &artifact, expected_sha256));
    return impl_->load(std::move(artifact));
  });
}

Status Runtime::layer_config(artifact::LayerConfigRecord* config) const {
  return guarded([&]() -> Status {
    if (!config) return invalid_argument("null config");
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    *config = impl_->artifact.config;
    return Status::ok();
  });
}

Status Runtime::layer_info(LayerInfo* info) const {
  return guarded([&]() -> Status {
    if (!info) return invalid_argument("null layer info");
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    const Artifact& a = impl_->artifact;
    const LayerShape& s = impl_->shape;
    LayerInfo out;
    out.name = a.name;
    out.algorithm = s.algorithm ? s.algorithm->name() : "";
    out.max_batch = s.batch;
    out.max_context_tokens = s.max_tokens();
    out.pool_pages = s.pool_pages;
    out.num_q_heads = s.q_heads;
    out.num_kv_heads = s.kv_heads;
    out.head_dim = s.head_dim;
    out.value_dim = s.value_dim;
    out.page_size = s.page_size;
    out.budget_units = s.budget;
    out.capacity_units = s.capacity;
    out.sink_units = s.sinks;
    out.window_units = s.window;
    out.kv_dtype = s.dtype;
    out.activation_dtype = s.act_dtype;
    out.key_row_bytes = uint32_t(s.key_row_bytes());
    out.scope = artifact::SelectionScope(a.config.scope);
    out.page_table_format = artifact::PageTableFormat(a.config.page_table_format);
    out.softmax_scale = s.scale;
    out.value_is_key_prefix = !s.has_separate_v;
    for (const LayerShape::StepInputRow& row : s.step_inputs)
      out.step_inputs.push_back(
          StepInputInfo{row.buffer, row.kind == StepKind::Decode, row.element_type, row.row_dims, row.row_bytes});
    *info = std::move(out);
    return Status::ok();
  });
}

Status Runtime::create_request(RequestId* id) {
  return guarded([&]() -> Status {
    if (!id) return invalid_argument("null request id output");
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    Impl& m = *impl_;
    uint32_t slot = 0;
    {  // reserve a free slot; the id is published once the slot is reset
      std::lock_guard<std::mutex> lock(m.requests_mutex);
      while (slot < m.shape.batch && m.slot_used[slot]) ++slot;
      if (slot == m.shape.batch)
        return Status(StatusCode::OutOfCapacity, "all " + std::to_string(m.shape.batch) +
                                                     " batch slots are in use (release a request, or create the "
                                                     "runtime with a larger max_batch)");
      m.slot_used[slot] = 1;
    }
    Status status = Status::ok();
    try {
      {
        std::lock_guard<std::mutex> lock(m.backend_mutex);
        status = m.backend->reset_slot(slot);
        m.prefill_end[slot] = 0;
        m.build_from[slot] = kNothingPending;
      }
      if (status.is_ok()) {
        std::lock_guard<std::mutex> lock(m.requests_mutex);
        const RequestId new_id = m.next_id;
        m.slot_of[new_id] = slot;  // may throw: then the slot is given back below
        ++m.next_id;
        *id = new_id;
        return status;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(m.requests_mutex);
      m.slot_used[slot] = 0;
      throw;
    }
    std::lock_guard<std::mutex> lock(m.requests_mutex);
    m.slot_used[slot] = 0;
    return status;
  });
}

Status RuntimeInternals::create_request_as(Runtime& rt, RequestId id, uint32_t slot) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(rt.impl_->require_loaded());
    Runtime::Impl& m = *rt.impl_;
    {
      std::lock_guard<std::mutex> lock(m.requests_mutex);
      if (slot >= m.shape.batch || m.slot_used[slot]) return invalid_argument("batch slot " + std::to_string(slot) + " is not free");
      if (m.slot_of.count(id)) return invalid_argument("request id " + std::to_string(id) + " exists");
      m.slot_used[slot] = 1;
    }
    Status status;
    {
      std::lock_guard<std::mutex> lock(m.backend_mutex);
      status = m.backend->reset_slot(slot);
      m.prefill_end[slot] = 0;
      m.build_from[slot] = kNothingPending;
    }
    std::lock_guard<std::mutex> lock(m.requests_mutex);
    if (!status.is_ok()) {
      m.slot_used[slot] = 0;
      return status;
    }
    try {
      m.slot_of[id] = slot;
    } catch (...) {
      m.slot_used[slot] = 0;
      throw;
    }
    m.next_id = std::max(m.next_id, id + 1);
    return Status::ok();
  });
}

void RuntimeInternals::share_pool(Runtime& rt, std::shared_ptr<PagePool> pool, uint64_t host_bytes_elsewhere) {
  rt.impl_->shared_pool = std::move(pool);
  rt.impl_->host_bytes_elsewhere = host_bytes_elsewhere;
}

Status Runtime::release_request(RequestId id) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    Impl& m = *impl_;
    uint32_t slot = 0;
    {  // from here on the id is unknown to every other call
      std::lock_guard<std::mutex> lock(m.requests_mutex);
      HSA_RETURN_IF_ERROR(m.find_slot_locked(id, &slot));
      m.slot_of.erase(id);
    }
    {  // device-API work still in flight may read or write the slot's pages
      std::lock_guard<std::mutex> lock(m.backend_mutex);
      HSA_RETURN_IF_ERROR(m.backend->drain_device_work());
    }
    m.cache->release(slot);
    Status status;
    {
      std::lock_guard<std::mutex> lock(m.backend_mutex);
      status = m.backend->reset_slot(slot);
    }
    // Free for a new request only now, after its rows were reset: a create
    // racing with this release cannot see the slot half-cleared. (A failed
    // reset frees it too: create_request resets the slot again.)
    std::lock_guard<std::mutex> lock(m.requests_mutex);
    m.slot_used[slot] = 0;
    return status;
  });
}

Status Runtime::prefill(RequestId id, const void* k, const void* v, uint64_t tokens) {
  return prefill(id, k, v, tokens, nullptr, 0);
}

Status Runtime::prefill(RequestId id, const void* k, const void* v, uint64_t tokens, const StepInput* inputs,
                        size_t input_count) {
  return guarded([&]() -> Status {
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    if (tokens == 0) return invalid_argument("prefill of 0 tokens");
    if (!k || (impl_->shape.has_separate_v && !v)) return invalid_argument("prefill: null K or V");
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(impl_->bind_inputs(StepKind::Append, inputs, input_count, "prefill", true, tokens, &rows));
    HostCache& cache = *impl_->cache;
    const uint32_t old_length = cache.length(slot);
    HSA_RETURN_IF_ERROR(impl_->check_latent_scales(k, tokens, "prefill", [&](uint64_t t) {
      return "request " + std::to_string(id) + " token " + std::to_string(t) + " of the call (position " +
             std::to_string(old_length + t) + ")";
    }));
    HSA_RETURN_IF_ERROR(cache.append(slot, tokens, k, impl_->shape.has_separate_v ? v : nullptr, &rows));
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    impl_->prefilled_locked(slot, old_length);
    return Status::ok();
  });
}

Status Runtime::prefill_device(RequestId id, const void* k, const void* v, uint64_t tokens, void* cuda_stream) {
  return prefill_device(id, k, v, tokens, cuda_stream, nullptr, 0);
}

Status Runtime::prefill_device(RequestId id, const void* k, const void* v, uint64_t tokens, void* cuda_stream,
                               const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    if (tokens == 0) return invalid_argument("prefill_device of 0 tokens");
    if (!k || (impl_->shape.has_separate_v && !v)) return invalid_argument("prefill_device: null K or V");
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(
        impl_->bind_inputs(StepKind::Append, inputs, input_count, "prefill_device", false, tokens, &rows));
    HostCache& cache = *impl_->cache;
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    const uint32_t old_length = cache.length(slot);
    HSA_RETURN_IF_ERROR(cache.extend(&slot, 1, tokens));  // OutOfCapacity before anything is enqueued
    const Status status =
        impl_->backend->enqueue_device_prefill(slot, old_length, uint32_t(tokens), k, v, cuda_stream, rows);
    if (!status.is_ok()) {
      // Copies enqueued before the failure must land before the pages go back.
      const Status drained = impl_->backend->drain_device_work();
      cache.truncate(slot, old_length);
      return drained.is_ok() ? status : drained;
    }
    impl_->prefilled_locked(slot, old_length);
    return Status::ok();
  });
}

Status Runtime::finish_prefill(RequestId id) {
  return guarded([&]() -> Status {
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    return impl_->build_pending_locked(slot);
  });
}

Status Runtime::append(const RequestId* ids, size_t count, const void* new_k, const void* new_v) {
  return append(ids, count, new_k, new_v, nullptr, 0);
}

Status Runtime::append(const RequestId* ids, size_t count, const void* new_k, const void* new_v,
                       const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    std::vector<uint32_t> slots;
    HSA_RETURN_IF_ERROR(impl_->batch_slots(ids, count, &slots));
    if (!new_k || (impl_->shape.has_separate_v && !new_v)) return invalid_argument("append: null K or V");
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(impl_->bind_inputs(StepKind::Append, inputs, input_count, "append", true, count, &rows));
    HostCache& cache = *impl_->cache;
    std::vector<uint32_t> old_lengths(count);
    for (size_t i = 0; i < count; ++i) {
      // Kernels see req.length == 0 as a free slot, so the first token comes by prefill.
      old_lengths[i] = cache.length(slots[i]);
      if (old_lengths[i] == 0)
        return invalid_argument("request " + std::to_string(ids[i]) + " has no tokens: prefill at least one first");
    }
    HSA_RETURN_IF_ERROR(impl_->check_latent_scales(new_k, count, "append", [&](uint64_t i) {
      return "request " + std::to_string(ids[i]) + " (row " + std::to_string(i) + " of new_k)";
    }));
    const void* k = new_k;
    const void* v = impl_->shape.has_separate_v ? new_v : nullptr;
    {  // the prompt's representations first: the append extends them
      std::lock_guard<std::mutex> lock(impl_->backend_mutex);
      HSA_RETURN_IF_ERROR(impl_->backend->drain_device_work());
      HSA_RETURN_IF_ERROR(impl_->build_pending_locked(slots));
    }
    HSA_RETURN_IF_ERROR(cache.append(slots.data(), count, 1, k, v, &rows));  // all requests or none
    Status status;
    {
      std::lock_guard<std::mutex> lock(impl_->backend_mutex);
      status = impl_->backend->after_append(slots.data(), count, k, v, rows);
    }
    if (!status.is_ok())  // as in prefill: the requests keep their old lengths
      for (size_t i = 0; i < count; ++i) cache.truncate(slots[i], old_lengths[i]);
    return status;
  });
}

namespace {
StepStats sum_step_results(const std::vector<SlotStepResult>& results, uint64_t unit_bytes) {
  StepStats total;
  for (const SlotStepResult& r : results) {
    total.units_selected += r.units_selected;
    total.misses += r.misses;
  }
  total.hits = total.units_selected - total.misses;
  total.bytes_copied_h2d = total.misses * unit_bytes;
  total.hit_rate = total.units_selected ? double(total.hits) / double(total.units_selected) : 0.0;
  return total;
}
}  // namespace

Status Runtime::decode_step(const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats) {
  return decode_step(ids, count, q, o, stats, nullptr, 0);
}

Status Runtime::decode_step(const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats,
                            const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    std::vector<uint32_t> slots;
    HSA_RETURN_IF_ERROR(impl_->batch_slots(ids, count, &slots));
    if (!q || !o) return invalid_argument("decode_step: null q or o");
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(impl_->bind_inputs(StepKind::Decode, inputs, input_count, "decode_step", true, count, &rows));
    for (size_t i = 0; i < count; ++i)
      if (impl_->cache->length(slots[i]) == 0)
        return invalid_argument("request " + std::to_string(ids[i]) + " has no tokens: prefill or append first");
    std::vector<SlotStepResult> results(count);
    {
      std::lock_guard<std::mutex> lock(impl_->backend_mutex);
      HSA_RETURN_IF_ERROR(impl_->backend->drain_device_work());
      HSA_RETURN_IF_ERROR(impl_->build_pending_locked(slots));
      HSA_RETURN_IF_ERROR(impl_->backend->decode(slots.data(), count, static_cast<const uint16_t*>(q),
                                                 static_cast<uint16_t*>(o), results.data(), rows));
    }
    if (stats) *stats = sum_step_results(results, impl_->shape.unit_bytes());
    return Status::ok();
  });
}

// --- Device API -------------------------------------------------------------


Status Runtime::request_slot(RequestId id, uint32_t* slot) const {
  return guarded([&]() -> Status {
    if (!slot) return invalid_argument("null slot output");
    return impl_->find_slot(id, slot);
  });
}

Status Runtime::begin_step(const RequestId* ids, size_t count, bool append, void* cuda_stream) {
  return guarded([&]() -> Status {
    std::vector<uint32_t> slots;
    HSA_RETURN_IF_ERROR(impl_->batch_slots(ids, count, &slots));
    HostCache& cache = *impl_->cache;
    std::vector<uint32_t> old_lengths(count);
    for (size_t i = 0; i < count; ++i) {
      old_lengths[i] = cache.length(slots[i]);
      if (old_lengths[i] == 0)
        return invalid_argument("begin_step: request " + std::to_string(ids[i]) +
                                " has no tokens: prefill at least one first");
    }
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    HSA_RETURN_IF_ERROR(impl_->build_pending_locked(slots));  // drains only when a prompt is pending
    if (append) HSA_RETURN_IF_ERROR(cache.extend(slots.data(), count, 1));  // all requests or none
    const Status status = impl_->backend->begin_device_step(slots.data(), count, append, cuda_stream);
    if (!status.is_ok() && append)  // the requests keep their old lengths
      for (size_t i = 0; i < count; ++i) cache.truncate(slots[i], old_lengths[i]);
    return status;
  });
}

Status Runtime::enqueue_append(const void* new_k, const void* new_v, void* cuda_stream) {
  return enqueue_append(new_k, new_v, cuda_stream, nullptr, 0);
}

Status Runtime::enqueue_append(const void* new_k, const void* new_v, void* cuda_stream, const StepInput* inputs,
                               size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(impl_->bind_inputs(StepKind::Append, inputs, input_count, "enqueue_append", false, 0, &rows));
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    return impl_->backend->enqueue_device_append(new_k, new_v, cuda_stream, rows);
  });
}

Status Runtime::enqueue_decode(const void* q, void* o, float* lse, void* cuda_stream) {
  return enqueue_decode(q, o, lse, cuda_stream, nullptr, 0);
}

Status Runtime::enqueue_decode(const void* q, void* o, float* lse, void* cuda_stream, const StepInput* inputs,
                               size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    StepInputRows rows;
    HSA_RETURN_IF_ERROR(impl_->bind_inputs(StepKind::Decode, inputs, input_count, "enqueue_decode", false, 0, &rows));
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    return impl_->backend->enqueue_device_decode(q, o, lse, cuda_stream, rows);
  });
}

Status Runtime::enqueue_step_report(void* cuda_stream) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    return impl_->backend->enqueue_step_report(cuda_stream);
  });
}

Status Runtime::step_report(const RequestId* ids, size_t count, StepStats* stats, bool* ready) {
  return guarded([&]() -> Status {
    if (!stats || !ready) return invalid_argument("null stats or ready output");
    std::vector<uint32_t> slots;
    HSA_RETURN_IF_ERROR(impl_->batch_slots(ids, count, &slots));
    std::vector<SlotStepResult> results(count);
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    HSA_RETURN_IF_ERROR(impl_->backend->step_report_ready(ready));
    if (!*ready) return Status::ok();
    HSA_RETURN_IF_ERROR(impl_->backend->step_report_results(slots.data(), count, results.data()));
    *stats = sum_step_results(results, impl_->shape.unit_bytes());
    return Status::ok();
  });
}

Status Runtime::step_report_telemetry(RequestId id, RequestTelemetry* telemetry, bool* ready) {
  return guarded([&]() -> Status {
    if (!telemetry || !ready) return invalid_argument("null telemetry or ready output");
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    HSA_RETURN_IF_ERROR(impl_->backend->step_report_ready(ready));
    if (!*ready) return Status::ok();
    return impl_->backend->step_report_telemetry(slot, telemetry);
  });
}

Status Runtime::external_attention(ExternalAttention* out) const {
  return guarded([&]() -> Status {
    if (!out) return invalid_argument("null external attention output");
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    const LayerShape& s = impl_->shape;
    const Artifact& artifact = impl_->artifact;
    const SymbolValues symbols = s.symbols();
    // A buffer's address and its dims as the artifact states them (the load
    // checked them against the contract).
    auto find = [&](const char* name, uint64_t* address, std::vector<int64_t>* dims) -> Status {
      const int index = artifact.find_buffer(name);
      if (index < 0) return Status(StatusCode::NotFound, std::string("the artifact has no buffer '") + name + "'");
      uint64_t bytes = 0, held = 0;
      HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, artifact.buffers[size_t(index)], symbols, dims, &bytes));
      return impl_->backend->device_buffer_address(name, address, &held);
    };
    const TensorDtype kv = s.dtype == artifact::KvDtype::F16         ? TensorDtype::F16
                           : s.dtype == artifact::KvDtype::Fp8Latent ? TensorDtype::Fp8Latent
                                                                     : TensorDtype::BF16;
    // buf.k / buf.v [B][S][C][Hu][P][D] as blocks of one unit, in
    // FlashAttention's [blocks][P][Hu][D] order (strided: a block is [Hu][P][D]).
    auto blocks = [&](const char* view, uint64_t address, const std::vector<int64_t>& d, int64_t width) {
      const int64_t hu = d[3], p = d[4], row = d[5];
      return DeviceTensor{view, address, kv, {d[0] * d[1] * d[2], p, hu, width}, {hu * p * row, row, p * row, 1}};
    };
    ExternalAttention e;
    e.format = artifact::PageTableFormat(artifact.config.page_table_format);
    uint64_t k_at = 0, v_at = 0;
    std::vector<int64_t> k_dims, v_dims;
    HSA_RETURN_IF_ERROR(find("buf.k", &k_at, &k_dims));
    e.k_cache = blocks("k_cache", k_at, k_dims, k_dims[5]);
    if (s.has_separate_v) {
      HSA_RETURN_IF_ERROR(find("buf.v", &v_at, &v_dims));
      e.v_cache = blocks("v_cache", v_at, v_dims, v_dims[5]);
    } else if (s.fp8_latent()) {
      e.v_cache = e.k_cache;  // the latent values are the rows' codes times their scales: only whole rows mean anything
      e.v_cache.name = "v_cache";
    } else {
      e.v_cache = blocks("v_cache", k_at, k_dims, s.value_dim);  // MLA: the first Dv dims of each key row
    }
    e.block_size = uint32_t(e.k_cache.shape[1]);
    e.num_blocks = uint64_t(e.k_cache.shape[0]);
    for (const page_table_contract::Table& t : page_table_contract::tables(e.format)) {
      DeviceTensor table{t.name, 0, TensorDtype::I32, {}, {}};
      HSA_RETURN_IF_ERROR(find(t.name, &table.address, &table.shape));
      table.strides.assign(table.shape.size(), 1);
      for (size_t d = table.shape.size(); d-- > 1;) table.strides[d - 1] = table.strides[d] * table.shape[d];
      e.tables.push_back(std::move(table));
    }
    *out = std::move(e);
    return Status::ok();
  });
}

Status Runtime::device_step_stats(const RequestId* ids, size_t count, StepStats* stats) {
  return guarded([&]() -> Status {
    if (!stats) return invalid_argument("null stats output");
    std::vector<uint32_t> slots;
    HSA_RETURN_IF_ERROR(impl_->batch_slots(ids, count, &slots));
    std::vector<SlotStepResult> results(count);
    {
      std::lock_guard<std::mutex> lock(impl_->backend_mutex);
      HSA_RETURN_IF_ERROR(impl_->backend->device_step_results(slots.data(), count, results.data()));
    }
    *stats = sum_step_results(results, impl_->shape.unit_bytes());
    return Status::ok();
  });
}

Status Runtime::request_accounting(RequestId id, RequestAccounting* accounting) const {
  return guarded([&]() -> Status {
    if (!accounting) return invalid_argument("null accounting output");
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    const LayerShape& s = impl_->shape;
    RequestAccounting a;
    a.length_tokens = impl_->cache->length(slot);
    a.device_bytes = impl_->device_bytes_per_request;
    a.full_device_cache_bytes = a.length_tokens * s.token_kv_bytes();  // as stored: 656 B per fp8 latent row
    a.host_bytes = impl_->cache->host_bytes(slot);
    *accounting = a;
    return Status::ok();
  });
}

Status Runtime::selected_units(RequestId id, int32_t* units, size_t capacity) const {
  return guarded([&]() -> Status {
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    const size_t needed = size_t(impl_->shape.groups) * impl_->shape.budget;
    if (!units || capacity < needed)
      return invalid_argument("selected_units needs room for " + std::to_string(needed) + " entries");
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    HSA_RETURN_IF_ERROR(impl_->backend->drain_device_work());
    return impl_->backend->selected_units(slot, units);
  });
}

Status Runtime::request_telemetry(RequestId id, RequestTelemetry* telemetry) const {
  return guarded([&]() -> Status {
    if (!telemetry) return invalid_argument("null telemetry output");
    uint32_t slot = 0;
    HSA_RETURN_IF_ERROR(impl_->find_slot(id, &slot));
    if (!impl_->options.telemetry)
      return invalid_argument("telemetry is off: create the runtime with RuntimeOptions::telemetry");
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    return impl_->backend->telemetry(slot, telemetry);
  });
}

Status Runtime::last_step_kernel_timings(const KernelTiming** timings, size_t* count) const {
  return guarded([&]() -> Status {
    if (!timings || !count) return invalid_argument("null timings output");
    HSA_RETURN_IF_ERROR(impl_->require_loaded());
    std::lock_guard<std::mutex> lock(impl_->backend_mutex);
    const std::vector<KernelTiming>* measured = impl_->backend->kernel_timings();
    if (!measured)
      return Status(StatusCode::Unsupported,
                    std::string("backend '") + backend_name() + "' did not time this step (needs profile_kernels)");
    *timings = measured->data();
    *count = measured->size();
    return Status::ok();
  });
}

namespace {
Status check_latent_dims(const void* in, const void* out, uint32_t latent_dim, const char* call) {
  if (!in || !out) return invalid_argument(std::string(call) + ": null input or output rows");
  if (latent_dim == 0 || latent_dim % artifact::kFp8LatentTile != 0)
    return invalid_argument(std::string(call) + ": latent_dim " + std::to_string(latent_dim) +
                            " must be a positive multiple of " + std::to_string(artifact::kFp8LatentTile) +
                            " (one f32 scale per tile of the fp8 latent row)");
  return Status::ok();
}
}  // namespace

Status Runtime::quantize_fp8_latent(const void* bf16_rows, uint64_t rows, uint32_t latent_dim, uint32_t rope_dim,
                                    void* fp8_rows) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_latent_dims(bf16_rows, fp8_rows, latent_dim, "quantize_fp8_latent"));
    const uint16_t* in = static_cast<const uint16_t*>(bf16_rows);
    const uint64_t width = uint64_t(latent_dim) + rope_dim;
    // Every row checked before any is written: a refusal leaves `fp8_rows` as it was.
    for (uint64_t r = 0; r < rows; ++r)
      for (uint32_t i = 0; i < latent_dim; ++i)
        if (!std::isfinite(bf16_to_float(in[r * width + i])))
          return invalid_argument("quantize_fp8_latent: row " + std::to_string(r) + " latent element " +
                                  std::to_string(i) + " is NaN or infinite: no e4m3 scale represents it");
    uint8_t* out = static_cast<uint8_t*>(fp8_rows);
    const uint64_t row_bytes = artifact::fp8_latent_row_bytes(latent_dim, rope_dim);
    for (uint64_t r = 0; r < rows; ++r) fp8::quantize_latent_row(in + r * width, latent_dim, rope_dim, out + r * row_bytes);
    return Status::ok();
  });
}

Status Runtime::dequantize_fp8_latent(const void* fp8_rows, uint64_t rows, uint32_t latent_dim, uint32_t rope_dim,
                                      float* values) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_latent_dims(fp8_rows, values, latent_dim, "dequantize_fp8_latent"));
    const uint8_t* in = static_cast<const uint8_t*>(fp8_rows);
    const uint64_t row_bytes = artifact::fp8_latent_row_bytes(latent_dim, rope_dim), width = uint64_t(latent_dim) + rope_dim;
    for (uint64_t r = 0; r < rows; ++r) fp8::dequantize_latent_row(in + r * row_bytes, latent_dim, rope_dim, values + r * width);
    return Status::ok();
  });
}

Backend& RuntimeInternals::backend(Runtime& rt) { return *rt.impl_->backend; }

Status RuntimeInternals::require_loaded(const Runtime& rt) { return rt.impl_->require_loaded(); }

const LayerShape& RuntimeInternals::shape(const Runtime& rt) { return rt.impl_->shape; }

const Artifact& RuntimeInternals::artifact(const Runtime& rt) { return rt.impl_->artifact; }

const HostCache& RuntimeInternals::cache(const Runtime& rt) { return *rt.impl_->cache; }

const MemoryNeeds& RuntimeInternals::memory_needs(const Runtime& rt) { return rt.impl_->memory; }

Status RuntimeInternals::slot_of(const Runtime& rt, RequestId id, uint32_t* slot) { return rt.impl_->find_slot(id, slot); }

uint32_t RuntimeInternals::prefill_length(const Runtime& rt, uint32_t slot) {
  std::lock_guard<std::mutex> lock(rt.impl_->backend_mutex);
  return slot < rt.impl_->prefill_end.size() ? rt.impl_->prefill_end[slot] : 0;
}

}  // namespace hsa
