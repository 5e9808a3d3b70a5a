// The C API: handles wrap hsa::Runtime; statuses map 1:1 onto hsa_status_t.
#include "hsa/hsa_runtime.h"

#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "hsa/runtime.hpp"

struct hsa_runtime {
  std::unique_ptr<hsa::Runtime> runtime;
};

namespace {

thread_local std::string last_error;

// Stores the message of a failed status for hsa_last_error_message(); when
// even that copy fails (no memory), the message is empty rather than stale.
hsa_status_t record(const hsa::Status& status) noexcept {
  if (!status.is_ok()) {
    try {
      last_error = status.message();
    } catch (...) {
      last_error.clear();
    }
  }
  return hsa_status_t(int(status.code()));
}

// The integer a C caller stored in an enum-typed field or parameter. C lets
// any int live there; loading a value outside the enumerators as the C++
// enum type would be undefined behaviour (UBSan: "load of value 77, which is
// not a valid value for type 'hsa_backend_t'"), so it is read as bytes.
template <typename Enum>
int enum_as_int(const Enum& value) {
  static_assert(std::is_enum<Enum>::value && sizeof(Enum) == sizeof(int), "a C enum is int-sized");
  int v;
  std::memcpy(&v, &value, sizeof(v));
  return v;
}

hsa_status_t fail(hsa::StatusCode code, const char* message) noexcept {
  try {
    return record(hsa::Status(code, message));
  } catch (...) {  // the message could not be allocated: keep the code
    last_error.clear();
    return hsa_status_t(int(code));
  }
}

// Runs the body of a C API function: no C++ exception crosses into C (the
// Runtime methods already return statuses; this covers the wrapper's own
// allocations, e.g. copying a message or a path).
template <typename Body>
hsa_status_t guard(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(hsa::StatusCode::OutOfMemory, "out of host memory");
  } catch (...) {
    return fail(hsa::StatusCode::Internal, "internal error: an exception reached the C API");
  }
}

}  // namespace

extern "C" {

void hsa_runtime_options_init(hsa_runtime_options* options) {
  if (!options) return;
  const hsa::RuntimeOptions defaults;
  options->backend = HSA_BACKEND_AUTO;
  options->device = defaults.device;
  options->max_batch = defaults.max_batch;
  options->max_context_tokens = defaults.max_context_tokens;
  options->pool_pages = defaults.pool_pages;
  options->use_cuda_graph = 0;
  options->profile_kernels = 0;
  options->cuda_driver_path = nullptr;
  options->host_memory_limit_bytes = defaults.host_memory_limit_bytes;
}

const char* hsa_status_message(hsa_status_t status) {
  switch (enum_as_int(status)) {
    case HSA_STATUS_OK: return "ok";
    case HSA_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case HSA_STATUS_INVALID_ARTIFACT: return "invalid artifact";
    case HSA_STATUS_NOT_FOUND: return "not found";
    case HSA_STATUS_OUT_OF_CAPACITY: return "out of capacity";
    case HSA_STATUS_UNAVAILABLE: return "unavailable";
    case HSA_STATUS_UNSUPPORTED: return "unsupported";
    case HSA_STATUS_DEVICE_ERROR: return "device error";
    case HSA_STATUS_OUT_OF_MEMORY: return "out of memory";
    case HSA_STATUS_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* hsa_last_error_message(void) { return last_error.c_str(); }

hsa_status_t hsa_runtime_create(const hsa_runtime_options* options, hsa_runtime** runtime) {
  return guard([&]() -> hsa_status_t {
    if (!options || !runtime) return fail(hsa::StatusCode::InvalidArgument, "hsa_runtime_create: null argument");
    *runtime = nullptr;
    const int backend = enum_as_int(options->backend);
    if (backend < HSA_BACKEND_AUTO || backend > HSA_BACKEND_CUDA)
      return record(hsa::Status(hsa::StatusCode::InvalidArgument,
                                "hsa_runtime_create: unknown backend " + std::to_string(backend) +
                                    " (HSA_BACKEND_AUTO 0, HSA_BACKEND_CPU 1, HSA_BACKEND_CUDA 2)"));
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
    std::unique_ptr<hsa_runtime> handle(new hsa_runtime());
    const hsa_status_t status = record(hsa::Runtime::create(o, &handle->runtime));
    if (status == HSA_STATUS_OK) *runtime = handle.release();
    return status;
  });
}

void hsa_runtime_destroy(hsa_runtime* runtime) { delete runtime; }

const char* hsa_runtime_backend_name(const hsa_runtime* runtime) {
  return runtime ? runtime->runtime->backend_name() : "";
}

#define HSA_REQUIRE_RUNTIME(rt) \
  if (!(rt)) return fail(hsa::StatusCode::InvalidArgument, "null runtime handle")

hsa_status_t hsa_runtime_load_artifact_file(hsa_runtime* runtime, const char* path) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    if (!path) return fail(hsa::StatusCode::InvalidArgument, "null artifact path");
    return record(runtime->runtime->load_artifact_file(path));
  });
}

hsa_status_t hsa_runtime_load_artifact(hsa_runtime* runtime, const void* data, size_t size) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->load_artifact(data, size));
  });
}

hsa_status_t hsa_runtime_load_artifact_file_checked(hsa_runtime* runtime, const char* path, const char* sha256_hex) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    if (!path) return fail(hsa::StatusCode::InvalidArgument, "null artifact path");
    if (!sha256_hex)
      return fail(hsa::StatusCode::InvalidArgument,
                  "null expected SHA-256: give the artifact's digest, or use hsa_runtime_load_artifact_file");
    return record(runtime->runtime->load_artifact_file(path, sha256_hex));
  });
}

hsa_status_t hsa_runtime_load_artifact_checked(hsa_runtime* runtime, const void* data, size_t size,
                                               const char* sha256_hex) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    if (!sha256_hex)
      return fail(hsa::StatusCode::InvalidArgument,
                  "null expected SHA-256: give the artifact's digest, or use hsa_runtime_load_artifact");
    return record(runtime->runtime->load_artifact(data, size, sha256_hex));
  });
}

hsa_status_t hsa_request_create(hsa_runtime* runtime, hsa_request_id* id) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->create_request(id));
  });
}

hsa_status_t hsa_request_release(hsa_runtime* runtime, hsa_request_id id) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->release_request(id));
  });
}

hsa_status_t hsa_prefill(hsa_runtime* runtime, hsa_request_id id, const void* k, const void* v, uint64_t tokens) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->prefill(id, k, v, tokens));
  });
}

hsa_status_t hsa_append(hsa_runtime* runtime, const hsa_request_id* ids, size_t count, const void* new_k,
                        const void* new_v) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->append(ids, count, new_k, new_v));
  });
}

hsa_status_t hsa_decode_step(hsa_runtime* runtime, const hsa_request_id* ids, size_t count, const void* q, void* o,
                             hsa_step_stats* stats) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    hsa::StepStats s;
    const hsa_status_t status = record(runtime->runtime->decode_step(ids, count, q, o, &s));
    if (status == HSA_STATUS_OK && stats)
      *stats = hsa_step_stats{s.units_selected, s.hits, s.misses, s.bytes_copied_h2d, s.hit_rate};
    return status;
  });
}

hsa_status_t hsa_request_get_accounting(const hsa_runtime* runtime, hsa_request_id id,
                                        hsa_request_accounting* accounting) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    if (!accounting) return fail(hsa::StatusCode::InvalidArgument, "null accounting output");
    hsa::RequestAccounting a;
    const hsa_status_t status = record(runtime->runtime->request_accounting(id, &a));
    if (status == HSA_STATUS_OK)
      *accounting = hsa_request_accounting{a.length_tokens, a.device_bytes, a.full_device_cache_bytes, a.host_bytes};
    return status;
  });
}

hsa_status_t hsa_request_selected_units(const hsa_runtime* runtime, hsa_request_id id, int32_t* units,
                                        size_t capacity) {
  return guard([&]() -> hsa_status_t {
    HSA_REQUIRE_RUNTIME(runtime);
    return record(runtime->runtime->selected_units(id, units, capacity));
  });
}

}  // extern "C"
