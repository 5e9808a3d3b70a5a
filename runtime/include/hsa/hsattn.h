/* The hsa runtime, C API: a thin wrapper of hsa/runtime.hpp with opaque
 * handles. Every function returns an hsa_status_t; on error the detailed
 * message of the calling thread's last failure is hsa_last_error_message().
 *
 * Threads: hsa_runtime_load_artifact* (once) happens before any other
 * call on the handle, hsa_runtime_destroy after all calls returned. In
 * between, calls on different requests may run concurrently from different
 * threads (hsa_request_create/release, hsa_prefill, hsa_append,
 * hsa_decode_step with disjoint id lists, hsa_request_get_accounting,
 * hsa_request_selected_units); calls on one request must be serialised by the
 * caller. Backend work (steps, appends, prefills, resets) is serialised
 * inside the runtime. */
#ifndef HSA_RUNTIME_H
#define HSA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsa_status_t {
  HSA_STATUS_OK = 0,
  HSA_STATUS_INVALID_ARGUMENT = 1,
  HSA_STATUS_INVALID_ARTIFACT = 2,
  HSA_STATUS_NOT_FOUND = 3,
  HSA_STATUS_OUT_OF_CAPACITY = 4,
  HSA_STATUS_UNAVAILABLE = 5,
  HSA_STATUS_UNSUPPORTED = 6,
  HSA_STATUS_DEVICE_ERROR = 7,
  HSA_STATUS_OUT_OF_MEMORY = 8,
  HSA_STATUS_INTERNAL = 9
} hsa_status_t;

typedef enum hsa_backend_t { HSA_BACKEND_AUTO = 0, HSA_BACKEND_CPU = 1, HSA_BACKEND_CUDA = 2 } hsa_backend_t;

typedef struct hsa_runtime hsa_runtime; /* opaque */
typedef uint64_t hsa_request_id;

typedef struct hsa_runtime_options {
  hsa_backend_t backend;
  int device;
  uint32_t max_batch;
  uint64_t max_context_tokens;
  uint32_t pool_pages;      /* 0: max_batch * ceil(max_context_tokens / P) */
  int use_cuda_graph;
  int profile_kernels;
  const char* cuda_driver_path; /* NULL: "libcuda.so.1" */
  /* Host memory the runtime may use (host pool, pinned staging, the CPU
   * backend's buffers); 0: automatic (physical memory, RLIMIT_AS/RLIMIT_DATA,
   * cgroup memory.max, minus 1/8). Loading a layer that needs more fails with
   * HSA_STATUS_OUT_OF_MEMORY before anything is allocated. */
  uint64_t host_memory_limit_bytes;
} hsa_runtime_options;

typedef struct hsa_step_stats {
  uint64_t units_selected;
  uint64_t hits;
  uint64_t misses;
  uint64_t bytes_copied_h2d;
  double hit_rate;
} hsa_step_stats;

typedef struct hsa_request_accounting {
  uint64_t length_tokens;
  uint64_t device_bytes;
  uint64_t full_device_cache_bytes;
  uint64_t host_bytes;
} hsa_request_accounting;

/* Fills defaults: auto backend, device 0, batch 1, 4096 tokens, pool for
 * every slot at max context, no graph, no profiling, the automatic host
 * memory limit (0). */
void hsa_runtime_options_init(hsa_runtime_options* options);
/* A static description of a status code. */
const char* hsa_status_message(hsa_status_t status);
/* The detailed message of this thread's last failed call ("" if none). */
const char* hsa_last_error_message(void);

hsa_status_t hsa_runtime_create(const hsa_runtime_options* options, hsa_runtime** runtime);
void hsa_runtime_destroy(hsa_runtime* runtime);
const char* hsa_runtime_backend_name(const hsa_runtime* runtime);

hsa_status_t hsa_runtime_load_artifact_file(hsa_runtime* runtime, const char* path);
hsa_status_t hsa_runtime_load_artifact(hsa_runtime* runtime, const void* data, size_t size);
/* Pinned loads: the artifact's bytes must have the SHA-256 `sha256_hex` (64
 * hex digits, as hsa-compile and hsa-run print it), checked before anything is
 * parsed: HSA_STATUS_INVALID_ARTIFACT giving both digests on a mismatch,
 * HSA_STATUS_INVALID_ARGUMENT for a NULL or malformed digest. An artifact is
 * code (its kernels run with this process's privileges): load only artifacts
 * you trust, or pin their digest (docs/ARTIFACT.md, "Trust model"). */
hsa_status_t hsa_runtime_load_artifact_file_checked(hsa_runtime* runtime, const char* path, const char* sha256_hex);
hsa_status_t hsa_runtime_load_artifact_checked(hsa_runtime* runtime, const void* data, size_t size,
                                               const char* sha256_hex);

hsa_status_t hsa_request_create(hsa_runtime* runtime, hsa_request_id* id);
hsa_status_t hsa_request_release(hsa_runtime* runtime, hsa_request_id id);

/* K [tokens][Hkv][D], V [tokens][Hkv][Dv] in the layer's KV dtype (bf16/f16 bits). */
hsa_status_t hsa_prefill(hsa_runtime* runtime, hsa_request_id id, const void* k, const void* v, uint64_t tokens);
/* One token per request: new_k [count][Hkv][D], new_v [count][Hkv][Dv]. */
hsa_status_t hsa_append(hsa_runtime* runtime, const hsa_request_id* ids, size_t count, const void* new_k,
                        const void* new_v);
/* q [count][Hq][D] in, o [count][Hq][Dv] out; stats may be NULL. */
hsa_status_t hsa_decode_step(hsa_runtime* runtime, const hsa_request_id* ids, size_t count, const void* q, void* o,
                             hsa_step_stats* stats);

hsa_status_t hsa_request_get_accounting(const hsa_runtime* runtime, hsa_request_id id,
                                        hsa_request_accounting* accounting);
/* The request's selected units of its last step: S*K entries, -1 padded. */
hsa_status_t hsa_request_selected_units(const hsa_runtime* runtime, hsa_request_id id, int32_t* units,
                                        size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* HSA_RUNTIME_H */
