// The C API: handles wrap hsa::Runtime; statuses map 1:1 onto hsattn_status_t.
#include "hsa/hsattn.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "hsa/model_runtime.hpp"
#include "hsa/runtime.hpp"

struct hsattn_runtime {
  std::unique_ptr<hsa::Runtime> runtime;
  // The loaded layer, kept from the load on (the contract orders the load
  // before every other call): its strings are what
  // hsattn_runtime_get_layer_config hands out, valid until destroy.
  bool has_layer = false;
  hsa::LayerInfo layer;
};

struct hsattn_model {
  std::unique_ptr<hsa::ModelRuntime> model;
  std::vector<hsa::LayerInfo> layers;  // kept from each add on: the config query's strings
};

// The first version of hsattn_layer_config ends after `flags`; callers of
// that version pass at least this size. Fields are only appended.
constexpr size_t kLayerConfigV1Size = offsetof(hsattn_layer_config, flags) + sizeof(uint32_t);
// Version 2 appends num_step_inputs (LP64: 96 -> 104 bytes; a version-1
// caller's 96 bytes get exactly the first version's fields), version 3
// key_row_bytes and activation_dtype (104 -> 112: a version-2 caller's 104
// bytes end with num_step_inputs and its padding).
constexpr size_t kLayerConfigV2Size = offsetof(hsattn_layer_config, num_step_inputs) + sizeof(uint32_t);
static_assert(sizeof(void*) != 8 || (sizeof(hsattn_layer_config) == 112 && kLayerConfigV1Size == 96 &&
                                     kLayerConfigV2Size == 100),
              "hsattn_layer_config's LP64 layout is fixed");
static_assert(sizeof(hsattn_step_input) == sizeof(hsa::StepInput) &&
                  offsetof(hsattn_step_input, data) == offsetof(hsa::StepInput, data),
              "hsattn_step_input is hsa::StepInput");
static_assert(int(HSATTN_ELEMENT_F8E4M3FN) == int(hsa::artifact::ElementType::F8E4M3FN) &&
                  int(HSATTN_ELEMENT_U8) == int(hsa::artifact::ElementType::U8) &&
                  int(HSATTN_ELEMENT_F32) == int(hsa::artifact::ElementType::F32),
              "hsattn_element_type_t is the artifact's ElementType");
static_assert(int(HSATTN_DTYPE_FP8_LATENT) == int(hsa::TensorDtype::Fp8Latent), "TensorDtype is hsattn_dtype_t");
static_assert(int(HSATTN_DTYPE_F16) == int(hsa::artifact::KvDtype::F16) &&
                  int(HSATTN_SCOPE_KV_HEAD) == int(hsa::artifact::SelectionScope::KvHead) &&
                  int(HSATTN_PAGE_TABLE_TOKEN_INDICES) == int(hsa::artifact::PageTableFormat::TokenIndices) &&
                  HSATTN_LAYER_VALUE_IS_KEY_PREFIX == hsa::artifact::kLayerFlagValueIsKeyPrefix &&
                  int(HSATTN_DTYPE_I32) == int(hsa::TensorDtype::I32) &&
                  int(HSATTN_DTYPE_F16) == int(hsa::TensorDtype::F16),
              "the C enums are the artifact's values");

namespace {

thread_local std::string last_error;

// Stores the message of a failed status for hsattn_last_error_message(); when
// even that copy fails (no memory), the message is empty rather than stale.
hsattn_status_t record(const hsa::Status& status) noexcept {
  if (!status.is_ok()) {
    try {
      last_error = status.message();
    } catch (...) {
      last_error.clear();
    }
  }
  return hsattn_status_t(int(status.code()));
}

// The integer a C caller stored in an enum-typed field or parameter. C lets
// any int live there; loading a value outside the enumerators as the C++
// enum type would be undefined behaviour (UBSan: "load of value 77, which is
// not a valid value for type 'hsattn_backend_t'"), so it is read as bytes.
template <typename Enum>
int enum_as_int(const Enum& value) {
  static_assert(std::is_enum<Enum>::value && sizeof(Enum) == sizeof(int), "a C enum is int-sized");
  int v;
  std::memcpy(&v, &value, sizeof(v));
  return v;
}

hsattn_status_t fail(hsa::StatusCode code, const char* message) noexcept {
  try {
    return record(hsa::Status(code, message));
  } catch (...) {  // the message could not be allocated: keep the code
    last_error.clear();
    return hsattn_status_t(int(code));
  }
}

// Runs the body of a C API function: no C++ exception crosses into C (the
// Runtime methods already return statuses; this covers the wrapper's own
// allocations, e.g. copying a message or a path).
template <typename Body>
hsattn_status_t guard(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(hsa::StatusCode::OutOfMemory, "out of host memory");
  } catch (...) {
    return fail(hsa::StatusCode::Internal, "internal error: an exception reached the C API");
  }
}

// A load's status; on success the handle keeps the layer for the config query.
hsattn_status_t loaded(hsattn_runtime* handle, const hsa::Status& status) {
  const hsattn_status_t result = record(status);
  if (result == HSATTN_STATUS_OK) {
    const hsattn_status_t info = record(handle->runtime->layer_info(&handle->layer));
    if (info != HSATTN_STATUS_OK) return info;
    handle->has_layer = true;
  }
  return result;
}

// The C options as the C++ ones (the backend checked first: see enum_as_int).
hsattn_status_t runtime_options(const hsattn_runtime_options* options, const char* caller, hsa::RuntimeOptions* out) {
  const int backend = enum_as_int(options->backend);
  if (backend < HSATTN_BACKEND_AUTO || backend > HSATTN_BACKEND_CUDA)
    return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                              std::string(caller) + ": unknown backend " + std::to_string(backend) +
                                  " (HSATTN_BACKEND_AUTO 0, HSATTN_BACKEND_CPU 1, HSATTN_BACKEND_CUDA 2)"));
  hsa::RuntimeOptions o;
  o.backend = hsa::BackendKind(backend);
  o.device = options->device;
  o.max_batch = options->max_batch;
  o.max_context_tokens = options->max_context_tokens;
  o.pool_pages = options->pool_pages;
  o.use_cuda_graph = options->use_cuda_graph != 0;
  o.profile_kernels = options->profile_kernels != 0;
  if (options->cuda_driver_path) o.cuda_driver_path = options->cuda_driver_path;
  o.host_memory_limit_bytes = options->host_memory_limit_bytes;
  o.telemetry = options->telemetry != 0;
  *out = o;
  return HSATTN_STATUS_OK;
}

const hsa::StepInput* cpp_inputs(const hsattn_step_input* inputs) {
  return reinterpret_cast<const hsa::StepInput*>(inputs);
}

hsattn_status_t step_input_info(const hsa::LayerInfo& l, uint32_t index, hsattn_step_input_info* info) {
  if (!info) return fail(hsa::StatusCode::InvalidArgument, "null step input info output");
  if (index >= l.step_inputs.size())
    return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                              "step input " + std::to_string(index) + " of a layer with " +
                                  std::to_string(l.step_inputs.size()) + " (hsattn_layer_config.num_step_inputs)"));
  const hsa::StepInputInfo& in = l.step_inputs[index];
  if (in.row_shape.size() > HSATTN_MAX_STEP_INPUT_RANK)
    return fail(hsa::StatusCode::Unsupported, "a step input row of rank above HSATTN_MAX_STEP_INPUT_RANK");
  hsattn_step_input_info out;
  std::memset(&out, 0, sizeof(out));
  out.name = in.name.c_str();
  out.decode = in.decode ? 1 : 0;
  out.element_type = uint32_t(in.element_type);
  out.rank = uint32_t(in.row_shape.size());
  for (size_t d = 0; d < in.row_shape.size(); ++d) out.row_shape[d] = in.row_shape[d];
  out.row_bytes = in.row_bytes;
  *info = out;
  return HSATTN_STATUS_OK;
}

// KvDtype's values are hsattn_dtype_t's for bf16 and f16; Fp8Latent (2 in the
// artifact) is HSATTN_DTYPE_FP8_LATENT (3: 2 is I32).
uint32_t c_dtype(hsa::artifact::KvDtype dtype) {
  switch (dtype) {
    case hsa::artifact::KvDtype::BF16: return HSATTN_DTYPE_BF16;
    case hsa::artifact::KvDtype::F16: return HSATTN_DTYPE_F16;
    case hsa::artifact::KvDtype::Fp8Latent: return HSATTN_DTYPE_FP8_LATENT;
  }
  return HSATTN_DTYPE_BF16;
}

// Fills the caller's version of the config (its struct_size) from a layer.
hsattn_status_t layer_config(const hsa::LayerInfo& l, hsattn_layer_config* config) {
  if (!config) return fail(hsa::StatusCode::InvalidArgument, "null layer config output");
  if (config->struct_size < kLayerConfigV1Size)
    return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                              "hsattn_layer_config.struct_size " + std::to_string(config->struct_size) +
                                  " is below the first version's " + std::to_string(kLayerConfigV1Size) +
                                  ": set it to sizeof(hsattn_layer_config)"));
  hsattn_layer_config c;
  std::memset(&c, 0, sizeof(c));
  c.struct_size = sizeof(c);
  c.name = l.name.c_str();
  c.algorithm = l.algorithm.c_str();
  c.max_batch = l.max_batch;
  c.pool_pages = l.pool_pages;
  c.max_context_tokens = l.max_context_tokens;
  c.num_q_heads = l.num_q_heads;
  c.num_kv_heads = l.num_kv_heads;
  c.head_dim = l.head_dim;
  c.value_dim = l.value_dim;
  c.page_size = l.page_size;
  c.budget_units = l.budget_units;
  c.capacity_units = l.capacity_units;
  c.sink_units = l.sink_units;
  c.window_units = l.window_units;
  c.kv_dtype = c_dtype(l.kv_dtype);
  c.activation_dtype = c_dtype(l.activation_dtype);
  c.key_row_bytes = l.key_row_bytes;
  c.scope = uint32_t(l.scope);
  c.page_table_format = uint32_t(l.page_table_format);
  c.softmax_scale = l.softmax_scale;
  c.flags = l.value_is_key_prefix ? HSATTN_LAYER_VALUE_IS_KEY_PREFIX : 0u;
  c.num_step_inputs = uint32_t(l.step_inputs.size());
  // The fields of the caller's version that this runtime knows; the tail
  // of a newer caller's struct is left as it was. (A version-2 caller's 104
  // bytes take key_row_bytes into its trailing padding: harmless.)
  const size_t filled = config->struct_size < sizeof(c) ? config->struct_size : sizeof(c);
  c.struct_size = filled;
  std::memcpy(config, &c, filled);
  return HSATTN_STATUS_OK;
}

hsattn_step_stats c_stats(const hsa::StepStats& s) {
  return hsattn_step_stats{s.units_selected, s.hits, s.misses, s.bytes_copied_h2d, s.hit_rate};
}

// k_cache, v_cache, then the tables, into the caller's array.
hsattn_status_t c_tensors(const hsa::ExternalAttention& e, hsattn_device_tensor* tensors, size_t capacity,
                          size_t* count) {
  if (!count) return fail(hsa::StatusCode::InvalidArgument, "null tensor count output");
  const size_t n = 2 + e.tables.size();
  *count = n;
  if (!tensors || capacity < n)
    return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                              "the layer has " + std::to_string(n) + " external-attention tensors, capacity " +
                                  std::to_string(capacity) + " (pass an array of at least that many)"));
  std::vector<const hsa::DeviceTensor*> all = {&e.k_cache, &e.v_cache};
  for (const hsa::DeviceTensor& t : e.tables) all.push_back(&t);
  for (size_t i = 0; i < n; ++i) {
    const hsa::DeviceTensor& t = *all[i];
    hsattn_device_tensor c{};
    c.name = t.name;
    c.address = t.address;
    c.dtype = uint32_t(t.dtype);
    c.rank = uint32_t(t.shape.size());
    for (size_t d = 0; d < t.shape.size() && d < HSATTN_MAX_TENSOR_RANK; ++d)
      c.shape[d] = t.shape[d], c.strides[d] = t.strides[d];
    tensors[i] = c;
  }
  return HSATTN_STATUS_OK;
}

}  // namespace

extern "C" {

void hsattn_runtime_options_init(hsattn_runtime_options* options) {
  if (!options) return;
  const hsa::RuntimeOptions defaults;
  options->backend = HSATTN_BACKEND_AUTO;
  options->device = defaults.device;
  options->max_batch = defaults.max_batch;
  options->max_context_tokens = defaults.max_context_tokens;
  options->pool_pages = defaults.pool_pages;
  options->use_cuda_graph = 0;
  options->profile_kernels = 0;
  options->cuda_driver_path = nullptr;
  options->host_memory_limit_bytes = defaults.host_memory_limit_bytes;
  options->telemetry = defaults.telemetry ? 1 : 0;
}

const char* hsattn_status_message(hsattn_status_t status) {
  switch (enum_as_int(status)) {
    case HSATTN_STATUS_OK: return "ok";
    case HSATTN_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case HSATTN_STATUS_INVALID_ARTIFACT: return "invalid artifact";
    case HSATTN_STATUS_NOT_FOUND: return "not found";
    case HSATTN_STATUS_OUT_OF_CAPACITY: return "out of capacity";
    case HSATTN_STATUS_UNAVAILABLE: return "unavailable";
    case HSATTN_STATUS_UNSUPPORTED: return "unsupported";
    case HSATTN_STATUS_DEVICE_ERROR: return "device error";
    case HSATTN_STATUS_OUT_OF_MEMORY: return "out of memory";
    case HSATTN_STATUS_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* hsattn_last_error_message(void) { return last_error.c_str(); }

hsattn_status_t hsattn_runtime_create(const hsattn_runtime_options* options, hsattn_runtime** runtime) {
  return guard([&]() -> hsattn_status_t {
    if (!options || !runtime) return fail(hsa::StatusCode::InvalidArgument, "hsattn_runtime_create: null argument");
    *runtime = nullptr;
    hsa::RuntimeOptions o;
    const hsattn_status_t converted = runtime_options(options, "hsattn_runtime_create", &o);
    if (converted != HSATTN_STATUS_OK) return converted;
    std::unique_ptr<hsattn_runtime> handle(new hsattn_runtime());
    const hsattn_status_t status = record(hsa::Runtime::create(o, &handle->runtime));
    if (status == HSATTN_STATUS_OK) *runtime = handle.release();
    return status;
  });
}

void hsattn_runtime_destroy(hsattn_runtime* runtime) { delete runtime; }

const char* hsattn_runtime_backend_name(const hsattn_runtime* runtime) {
  return runtime ? runtime->runtime->backend_name() : "";
}

#define HSATTN_REQUIRE_RUNTIME(rt) \
  if (!(rt)) return fail(hsa::StatusCode::InvalidArgument, "null runtime handle")

hsattn_status_t hsattn_runtime_load_artifact_file(hsattn_runtime* runtime, const char* path) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!path) return fail(hsa::StatusCode::InvalidArgument, "null artifact path");
    return loaded(runtime, runtime->runtime->load_artifact_file(path));
  });
}

hsattn_status_t hsattn_runtime_load_artifact(hsattn_runtime* runtime, const void* data, size_t size) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return loaded(runtime, runtime->runtime->load_artifact(data, size));
  });
}

hsattn_status_t hsattn_runtime_load_artifact_file_checked(hsattn_runtime* runtime, const char* path, const char* sha256_hex) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!path) return fail(hsa::StatusCode::InvalidArgument, "null artifact path");
    if (!sha256_hex)
      return fail(hsa::StatusCode::InvalidArgument,
                  "null expected SHA-256: give the artifact's digest, or use hsattn_runtime_load_artifact_file");
    return loaded(runtime, runtime->runtime->load_artifact_file(path, sha256_hex));
  });
}

hsattn_status_t hsattn_runtime_load_artifact_checked(hsattn_runtime* runtime, const void* data, size_t size,
                                               const char* sha256_hex) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!sha256_hex)
      return fail(hsa::StatusCode::InvalidArgument,
                  "null expected SHA-256: give the artifact's digest, or use hsattn_runtime_load_artifact");
    return loaded(runtime, runtime->runtime->load_artifact(data, size, sha256_hex));
  });
}

hsattn_status_t hsattn_quantize_fp8_latent(const void* bf16_rows, uint64_t rows, uint32_t latent_dim, uint32_t rope_dim,
                                           void* fp8_rows) {
  return guard([&]() -> hsattn_status_t {
    return record(hsa::Runtime::quantize_fp8_latent(bf16_rows, rows, latent_dim, rope_dim, fp8_rows));
  });
}

hsattn_status_t hsattn_dequantize_fp8_latent(const void* fp8_rows, uint64_t rows, uint32_t latent_dim,
                                             uint32_t rope_dim, float* values) {
  return guard([&]() -> hsattn_status_t {
    return record(hsa::Runtime::dequantize_fp8_latent(fp8_rows, rows, latent_dim, rope_dim, values));
  });
}

hsattn_status_t hsattn_runtime_get_layer_config(const hsattn_runtime* runtime, hsattn_layer_config* config) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (config && config->struct_size >= kLayerConfigV1Size && !runtime->has_layer) {
      hsa::LayerInfo unused;
      const hsattn_status_t status = record(runtime->runtime->layer_info(&unused));
      return status != HSATTN_STATUS_OK ? status : fail(hsa::StatusCode::Internal, "layer config not kept at load");
    }
    return layer_config(runtime->layer, config);
  });
}

hsattn_status_t hsattn_request_create(hsattn_runtime* runtime, hsattn_request_id* id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->create_request(id));
  });
}

hsattn_status_t hsattn_request_release(hsattn_runtime* runtime, hsattn_request_id id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->release_request(id));
  });
}

hsattn_status_t hsattn_prefill(hsattn_runtime* runtime, hsattn_request_id id, const void* k, const void* v, uint64_t tokens) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->prefill(id, k, v, tokens));
  });
}

hsattn_status_t hsattn_prefill_with_inputs(hsattn_runtime* runtime, hsattn_request_id id, const void* k, const void* v,
                                          uint64_t tokens, const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->prefill(id, k, v, tokens, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_append_with_inputs(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                          const void* new_k, const void* new_v, const hsattn_step_input* inputs,
                                          size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->append(ids, count, new_k, new_v, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_decode_step_with_inputs(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                               const void* q, void* o, hsattn_step_stats* stats,
                                               const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    hsa::StepStats s;
    const hsattn_status_t status =
        record(runtime->runtime->decode_step(ids, count, q, o, &s, cpp_inputs(inputs), input_count));
    if (status == HSATTN_STATUS_OK && stats) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_prefill_device_with_inputs(hsattn_runtime* runtime, hsattn_request_id id, const void* k,
                                                  const void* v, uint64_t tokens, void* cuda_stream,
                                                  const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->prefill_device(id, k, v, tokens, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_enqueue_append_with_inputs(hsattn_runtime* runtime, const void* new_k, const void* new_v,
                                                  void* cuda_stream, const hsattn_step_input* inputs,
                                                  size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->enqueue_append(new_k, new_v, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_enqueue_decode_with_inputs(hsattn_runtime* runtime, const void* q, void* o, float* lse,
                                                  void* cuda_stream, const hsattn_step_input* inputs,
                                                  size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->enqueue_decode(q, o, lse, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_runtime_get_step_input(const hsattn_runtime* runtime, uint32_t index,
                                              hsattn_step_input_info* info) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!runtime->has_layer) return fail(hsa::StatusCode::InvalidArgument, "no artifact loaded: call load_artifact first");
    return step_input_info(runtime->layer, index, info);
  });
}

hsattn_status_t hsattn_finish_prefill(hsattn_runtime* runtime, hsattn_request_id id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->finish_prefill(id));
  });
}

hsattn_status_t hsattn_append(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count, const void* new_k,
                        const void* new_v) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->append(ids, count, new_k, new_v));
  });
}

hsattn_status_t hsattn_decode_step(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count, const void* q, void* o,
                             hsattn_step_stats* stats) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    hsa::StepStats s;
    const hsattn_status_t status = record(runtime->runtime->decode_step(ids, count, q, o, &s));
    if (status == HSATTN_STATUS_OK && stats) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_request_slot(const hsattn_runtime* runtime, hsattn_request_id id, uint32_t* slot) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->request_slot(id, slot));
  });
}

hsattn_status_t hsattn_prefill_device(hsattn_runtime* runtime, hsattn_request_id id, const void* k, const void* v,
                                      uint64_t tokens, void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->prefill_device(id, k, v, tokens, cuda_stream));
  });
}

hsattn_status_t hsattn_begin_step(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count, int append,
                                  void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->begin_step(ids, count, append != 0, cuda_stream));
  });
}

hsattn_status_t hsattn_enqueue_append(hsattn_runtime* runtime, const void* new_k, const void* new_v,
                                      void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->enqueue_append(new_k, new_v, cuda_stream));
  });
}

hsattn_status_t hsattn_enqueue_decode(hsattn_runtime* runtime, const void* q, void* o, float* lse,
                                      void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->enqueue_decode(q, o, lse, cuda_stream));
  });
}

hsattn_status_t hsattn_device_step_stats(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                         hsattn_step_stats* stats) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!stats) return record(hsa::Status(hsa::StatusCode::InvalidArgument, "null stats output"));
    hsa::StepStats s;
    const hsattn_status_t status = record(runtime->runtime->device_step_stats(ids, count, &s));
    if (status == HSATTN_STATUS_OK) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_enqueue_step_report(hsattn_runtime* runtime, void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->enqueue_step_report(cuda_stream));
  });
}

hsattn_status_t hsattn_step_report(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                   hsattn_step_stats* stats, int* ready) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!stats || !ready) return fail(hsa::StatusCode::InvalidArgument, "null stats or ready output");
    hsa::StepStats s;
    bool done = false;
    const hsattn_status_t status = record(runtime->runtime->step_report(ids, count, &s, &done));
    if (status != HSATTN_STATUS_OK) return status;
    *ready = done ? 1 : 0;
    if (done) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_external_attention(const hsattn_runtime* runtime, hsattn_device_tensor* tensors,
                                          size_t capacity, size_t* count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    hsa::ExternalAttention e;
    const hsattn_status_t status = record(runtime->runtime->external_attention(&e));
    return status == HSATTN_STATUS_OK ? c_tensors(e, tensors, capacity, count) : status;
  });
}

hsattn_status_t hsattn_request_get_accounting(const hsattn_runtime* runtime, hsattn_request_id id,
                                        hsattn_request_accounting* accounting) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    if (!accounting) return fail(hsa::StatusCode::InvalidArgument, "null accounting output");
    hsa::RequestAccounting a;
    const hsattn_status_t status = record(runtime->runtime->request_accounting(id, &a));
    if (status == HSATTN_STATUS_OK)
      *accounting = hsattn_request_accounting{a.length_tokens, a.device_bytes, a.full_device_cache_bytes, a.host_bytes};
    return status;
  });
}

hsattn_status_t hsattn_request_get_telemetry(const hsattn_runtime* runtime, hsattn_request_id id, float* selected_lse,
                                             float* missed_mass_bound, size_t heads, int* has_bound) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    hsa::RequestTelemetry t;
    const hsattn_status_t status = record(runtime->runtime->request_telemetry(id, &t));
    if (status != HSATTN_STATUS_OK) return status;
    if (heads != t.selected_lse.size())
      return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                                "hsattn_request_get_telemetry: heads " + std::to_string(heads) + ", the layer has " +
                                    std::to_string(t.selected_lse.size()) + " query heads"));
    if (selected_lse) std::memcpy(selected_lse, t.selected_lse.data(), heads * sizeof(float));
    if (missed_mass_bound && t.has_bound) std::memcpy(missed_mass_bound, t.missed_mass_bound.data(), heads * sizeof(float));
    if (has_bound) *has_bound = t.has_bound ? 1 : 0;
    return HSATTN_STATUS_OK;
  });
}

hsattn_status_t hsattn_request_selected_units(const hsattn_runtime* runtime, hsattn_request_id id, int32_t* units,
                                        size_t capacity) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->selected_units(id, units, capacity));
  });
}

// --- the model runtime ---

#define HSATTN_REQUIRE_MODEL(m) \
  if (!(m)) return fail(hsa::StatusCode::InvalidArgument, "null model handle")

hsattn_status_t hsattn_model_create(const hsattn_runtime_options* options, hsattn_model** model) {
  return guard([&]() -> hsattn_status_t {
    if (!options || !model) return fail(hsa::StatusCode::InvalidArgument, "hsattn_model_create: null argument");
    *model = nullptr;
    hsa::RuntimeOptions o;
    const hsattn_status_t converted = runtime_options(options, "hsattn_model_create", &o);
    if (converted != HSATTN_STATUS_OK) return converted;
    std::unique_ptr<hsattn_model> handle(new hsattn_model());
    const hsattn_status_t status = record(hsa::ModelRuntime::create(o, &handle->model));
    if (status == HSATTN_STATUS_OK) *model = handle.release();
    return status;
  });
}

void hsattn_model_destroy(hsattn_model* model) { delete model; }

namespace {
// An add's status; on success the handle keeps the new layer's config.
hsattn_status_t added(hsattn_model* handle, const hsa::Status& status) {
  const hsattn_status_t result = record(status);
  if (result != HSATTN_STATUS_OK) return result;
  hsa::LayerInfo info;
  const hsattn_status_t got = record(handle->model->layer_info(handle->model->num_layers() - 1, &info));
  if (got != HSATTN_STATUS_OK) return got;
  handle->layers.push_back(std::move(info));
  return HSATTN_STATUS_OK;
}
}  // namespace

hsattn_status_t hsattn_model_add_layer(hsattn_model* model, const void* data, size_t size) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (!data) return fail(hsa::StatusCode::InvalidArgument, "hsattn_model_add_layer: null artifact data");
    model->layers.reserve(model->layers.size() + 1);  // the push_back after a successful add cannot throw
    return added(model, model->model->add_layer(data, size));
  });
}

hsattn_status_t hsattn_model_add_layer_file(hsattn_model* model, const char* path) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (!path) return fail(hsa::StatusCode::InvalidArgument, "hsattn_model_add_layer_file: null path");
    model->layers.reserve(model->layers.size() + 1);
    return added(model, model->model->add_layer_file(path));
  });
}

uint32_t hsattn_model_num_layers(const hsattn_model* model) { return model ? model->model->num_layers() : 0; }
uint32_t hsattn_model_pool_pages(const hsattn_model* model) { return model ? model->model->pool_pages() : 0; }
uint32_t hsattn_model_free_pages(const hsattn_model* model) { return model ? model->model->free_pages() : 0; }

hsattn_status_t hsattn_model_get_layer_config(const hsattn_model* model, uint32_t layer, hsattn_layer_config* config) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (layer >= model->layers.size())
      return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                                "layer " + std::to_string(layer) + " out of range (the model has " +
                                    std::to_string(model->layers.size()) + " layers)"));
    return layer_config(model->layers[layer], config);
  });
}

hsattn_status_t hsattn_model_request_create(hsattn_model* model, hsattn_request_id* id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->create_request(id));
  });
}

hsattn_status_t hsattn_model_request_release(hsattn_model* model, hsattn_request_id id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->release_request(id));
  });
}

hsattn_status_t hsattn_model_prefill(hsattn_model* model, uint32_t layer, hsattn_request_id id, const void* k,
                                     const void* v, uint64_t tokens) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->prefill(layer, id, k, v, tokens));
  });
}

hsattn_status_t hsattn_model_finish_prefill(hsattn_model* model, hsattn_request_id id) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->finish_prefill(id));
  });
}

hsattn_status_t hsattn_model_append(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids, size_t count,
                                    const void* new_k, const void* new_v) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->append(layer, ids, count, new_k, new_v));
  });
}

hsattn_status_t hsattn_model_decode_step(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids,
                                         size_t count, const void* q, void* o, hsattn_step_stats* stats) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    hsa::StepStats s;
    const hsattn_status_t status = record(model->model->decode_step(layer, ids, count, q, o, &s));
    if (status == HSATTN_STATUS_OK && stats) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_model_get_step_input(const hsattn_model* model, uint32_t layer, uint32_t index,
                                            hsattn_step_input_info* info) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (layer >= model->layers.size())
      return record(hsa::Status(hsa::StatusCode::InvalidArgument, "layer " + std::to_string(layer) + " of a model of " +
                                                                      std::to_string(model->layers.size())));
    return step_input_info(model->layers[layer], index, info);
  });
}

hsattn_status_t hsattn_model_prefill_with_inputs(hsattn_model* model, uint32_t layer, hsattn_request_id id,
                                                 const void* k, const void* v, uint64_t tokens,
                                                 const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->prefill(layer, id, k, v, tokens, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_model_append_with_inputs(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids,
                                                size_t count, const void* new_k, const void* new_v,
                                                const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->append(layer, ids, count, new_k, new_v, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_model_decode_step_with_inputs(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids,
                                                     size_t count, const void* q, void* o, hsattn_step_stats* stats,
                                                     const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    hsa::StepStats s;
    const hsattn_status_t status =
        record(model->model->decode_step(layer, ids, count, q, o, &s, cpp_inputs(inputs), input_count));
    if (status == HSATTN_STATUS_OK && stats) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_model_prefill_device_with_inputs(hsattn_model* model, uint32_t layer, hsattn_request_id id,
                                                        const void* k, const void* v, uint64_t tokens,
                                                        void* cuda_stream, const hsattn_step_input* inputs,
                                                        size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(
        model->model->prefill_device(layer, id, k, v, tokens, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_model_enqueue_append_with_inputs(hsattn_model* model, uint32_t layer, const void* new_k,
                                                        const void* new_v, void* cuda_stream,
                                                        const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->enqueue_append(layer, new_k, new_v, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_model_enqueue_decode_with_inputs(hsattn_model* model, uint32_t layer, const void* q, void* o,
                                                        float* lse, void* cuda_stream,
                                                        const hsattn_step_input* inputs, size_t input_count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->enqueue_decode(layer, q, o, lse, cuda_stream, cpp_inputs(inputs), input_count));
  });
}

hsattn_status_t hsattn_model_request_slot(const hsattn_model* model, hsattn_request_id id, uint32_t* slot) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->request_slot(id, slot));
  });
}

hsattn_status_t hsattn_model_prefill_device(hsattn_model* model, uint32_t layer, hsattn_request_id id, const void* k,
                                            const void* v, uint64_t tokens, void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->prefill_device(layer, id, k, v, tokens, cuda_stream));
  });
}

hsattn_status_t hsattn_model_begin_step(hsattn_model* model, const hsattn_request_id* ids, size_t count, int append,
                                        void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->begin_step(ids, count, append != 0, cuda_stream));
  });
}

hsattn_status_t hsattn_model_enqueue_append(hsattn_model* model, uint32_t layer, const void* new_k, const void* new_v,
                                            void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->enqueue_append(layer, new_k, new_v, cuda_stream));
  });
}

hsattn_status_t hsattn_model_enqueue_decode(hsattn_model* model, uint32_t layer, const void* q, void* o, float* lse,
                                            void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->enqueue_decode(layer, q, o, lse, cuda_stream));
  });
}

hsattn_status_t hsattn_model_enqueue_step_report(hsattn_model* model, uint32_t layer, void* cuda_stream) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    return record(model->model->enqueue_step_report(layer, cuda_stream));
  });
}

hsattn_status_t hsattn_model_step_report(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids,
                                         size_t count, hsattn_step_stats* stats, int* ready) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (!stats || !ready) return fail(hsa::StatusCode::InvalidArgument, "null stats or ready output");
    hsa::StepStats s;
    bool done = false;
    const hsattn_status_t status = record(model->model->step_report(layer, ids, count, &s, &done));
    if (status != HSATTN_STATUS_OK) return status;
    *ready = done ? 1 : 0;
    if (done) *stats = c_stats(s);
    return status;
  });
}

hsattn_status_t hsattn_model_external_attention(const hsattn_model* model, uint32_t layer,
                                                hsattn_device_tensor* tensors, size_t capacity, size_t* count) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    hsa::ExternalAttention e;
    const hsattn_status_t status = record(model->model->external_attention(layer, &e));
    return status == HSATTN_STATUS_OK ? c_tensors(e, tensors, capacity, count) : status;
  });
}

hsattn_status_t hsattn_model_request_get_accounting(const hsattn_model* model, uint32_t layer, hsattn_request_id id,
                                                    hsattn_request_accounting* accounting) {
  return guard([&]() -> hsattn_status_t {
    HSATTN_REQUIRE_MODEL(model);
    if (!accounting) return fail(hsa::StatusCode::InvalidArgument, "null accounting output");
    hsa::RequestAccounting a;
    const hsattn_status_t status = record(model->model->request_accounting(layer, id, &a));
    if (status == HSATTN_STATUS_OK)
      *accounting = hsattn_request_accounting{a.length_tokens, a.device_bytes, a.full_device_cache_bytes, a.host_bytes};
    return status;
  });
}

}  // extern "C"
