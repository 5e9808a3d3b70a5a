/* The hsa runtime, C API: a thin wrapper of hsa/runtime.hpp with opaque
 * handles. Every function returns an hsattn_status_t; on error the detailed
 * message of the calling thread's last failure is hsattn_last_error_message().
 *
 * Threads: hsattn_runtime_load_artifact* (once) happens before any other
 * call on the handle, hsattn_runtime_destroy after all calls returned. In
 * between, calls on different requests may run concurrently from different
 * threads (hsattn_request_create/release, hsattn_prefill, hsattn_append,
 * hsattn_decode_step with disjoint id lists, hsattn_request_get_accounting,
 * hsattn_request_selected_units); calls on one request must be serialised by the
 * caller. Backend work (steps, appends, prefills, resets) is serialised
 * inside the runtime. */
#ifndef HSATTN_H
#define HSATTN_H

#include <stddef.h>
#include <stdint.h>

#include "hsa/hsattn_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsattn_status_t {
  HSATTN_STATUS_OK = 0,
  HSATTN_STATUS_INVALID_ARGUMENT = 1,
  HSATTN_STATUS_INVALID_ARTIFACT = 2,
  HSATTN_STATUS_NOT_FOUND = 3,
  HSATTN_STATUS_OUT_OF_CAPACITY = 4,
  HSATTN_STATUS_UNAVAILABLE = 5,
  HSATTN_STATUS_UNSUPPORTED = 6,
  HSATTN_STATUS_DEVICE_ERROR = 7,
  HSATTN_STATUS_OUT_OF_MEMORY = 8,
  HSATTN_STATUS_INTERNAL = 9
} hsattn_status_t;

typedef enum hsattn_backend_t { HSATTN_BACKEND_AUTO = 0, HSATTN_BACKEND_CPU = 1, HSATTN_BACKEND_CUDA = 2 } hsattn_backend_t;

typedef struct hsattn_runtime hsattn_runtime; /* opaque */
typedef uint64_t hsattn_request_id;

typedef struct hsattn_runtime_options {
  hsattn_backend_t backend;
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
   * HSATTN_STATUS_OUT_OF_MEMORY before anything is allocated. */
  uint64_t host_memory_limit_bytes;
  /* Per request and step, the selected tokens' softmax denominator and, for
   * Quest, an upper bound of the attention mass the selection missed
   * (hsattn_request_get_telemetry). On the CUDA backend Quest's bound needs
   * an artifact compiled with `hsa-compile --telemetry`. */
  int telemetry;
} hsattn_runtime_options;

typedef struct hsattn_step_stats {
  uint64_t units_selected;
  uint64_t hits;
  uint64_t misses;
  uint64_t bytes_copied_h2d;
  double hit_rate;
} hsattn_step_stats;

typedef struct hsattn_request_accounting {
  uint64_t length_tokens;
  uint64_t device_bytes;
  uint64_t full_device_cache_bytes;
  uint64_t host_bytes;
} hsattn_request_accounting;

/* The loaded layer (hsattn_runtime_get_layer_config). */
/* FP8_LATENT: FlashMLA's fp8 latent row (latent e4m3 bytes | one f32 scale
 * per 128 latent elements | rope bf16; 656 bytes for DeepSeek's 512 + 64), a
 * latent (MLA) layer's stored cache; its queries and outputs are bf16
 * (hsattn_layer_config.activation_dtype). */
typedef enum hsattn_dtype_t {
  HSATTN_DTYPE_BF16 = 0,
  HSATTN_DTYPE_F16 = 1,
  HSATTN_DTYPE_I32 = 2,
  HSATTN_DTYPE_FP8_LATENT = 3
} hsattn_dtype_t;
typedef enum hsattn_scope_t { HSATTN_SCOPE_REQUEST = 0, HSATTN_SCOPE_KV_HEAD = 1 } hsattn_scope_t;
typedef enum hsattn_page_table_format_t {
  HSATTN_PAGE_TABLE_NATIVE = 0,
  HSATTN_PAGE_TABLE_FLASH_ATTN_BLOCK_TABLE = 1,
  HSATTN_PAGE_TABLE_FLASHINFER_CSR = 2,
  HSATTN_PAGE_TABLE_TOKEN_INDICES = 3
} hsattn_page_table_format_t;
#define HSATTN_LAYER_VALUE_IS_KEY_PREFIX 1u /* flags: MLA, V is the first value_dim dims of K */

/* Fields are only ever appended. Set struct_size = sizeof(hsattn_layer_config)
 * before the call: the runtime fills the fields that fit in struct_size (it
 * must hold at least this first version's fields) and sets struct_size to the
 * bytes it filled, so a caller compiled against a newer header knows which
 * trailing fields an older runtime left alone. */
typedef struct hsattn_layer_config {
  size_t struct_size;
  const char* name;       /* the layer's IR name ("llama3_8b_attn"); "" when the artifact has none */
  const char* algorithm;  /* the algorithm package: "quest", "streaming_llm", "cluster_kv" */
  /* (both strings stay valid until hsattn_runtime_destroy) */
  uint32_t max_batch;     /* B: batch slots, as hsattn_runtime_options.max_batch */
  uint32_t pool_pages;    /* host pool pages */
  uint64_t max_context_tokens; /* longest request: max_context_tokens rounded up to whole pages */
  uint32_t num_q_heads;   /* Hq */
  uint32_t num_kv_heads;  /* Hkv */
  uint32_t head_dim;      /* D */
  uint32_t value_dim;     /* Dv */
  uint32_t page_size;     /* P: tokens per unit */
  uint32_t budget_units;  /* K: units each step selects (top-k), sinks and window included */
  uint32_t capacity_units; /* C: units the device buffer holds per selection group */
  uint32_t sink_units;    /* forced first units */
  uint32_t window_units;  /* forced last units */
  uint32_t kv_dtype;      /* hsattn_dtype_t */
  uint32_t scope;         /* hsattn_scope_t: one selection per request, or per KV head */
  uint32_t page_table_format; /* hsattn_page_table_format_t */
  float softmax_scale;
  uint32_t flags;         /* HSATTN_LAYER_* */
  uint32_t num_step_inputs; /* the algorithm's own inputs (hsattn_runtime_get_step_input); since version 2 */
  /* Since version 3 (struct_size > 104): the bytes of one stored key row of
   * one KV head, what K rows (prefill, append new_k) hold per head: 2 * D for
   * bf16/f16, 656 for DeepSeek's fp8 latent rows; and q's and o's dtype
   * (hsattn_dtype_t: kv_dtype, bf16 for FP8_LATENT). */
  uint32_t key_row_bytes;
  uint32_t activation_dtype;
} hsattn_layer_config;

/* The algorithm's own inputs to a step (DSA: its indexer queries, head
 * weights and keys; docs/algorithms/<name>.md), named by their buffer in the
 * artifact; data holds one row per request as the call's other tensors do
 * (host calls [count][row] in the call's order, device calls slot-indexed
 * [B][row], prefill [tokens][row] of the append inputs). The *_with_inputs
 * calls take each input of that call once, in any order; a layer whose
 * algorithm has inputs refuses the calls without them. Host calls refuse a
 * NaN or infinite input value. */
typedef struct hsattn_step_input {
  const char* name; /* "io.index_q" */
  const void* data;
} hsattn_step_input;

/* The artifact's element types (hsattn_step_input_info.element_type). */
typedef enum hsattn_element_type_t {
  HSATTN_ELEMENT_BF16 = 0,
  HSATTN_ELEMENT_F16 = 1,
  HSATTN_ELEMENT_F32 = 2,
  HSATTN_ELEMENT_I32 = 3,
  HSATTN_ELEMENT_I64 = 4,
  HSATTN_ELEMENT_U8 = 5,
  HSATTN_ELEMENT_F8E4M3FN = 6
} hsattn_element_type_t;

#define HSATTN_MAX_STEP_INPUT_RANK 7
typedef struct hsattn_step_input_info {
  const char* name;       /* valid until hsattn_runtime_destroy / hsattn_model_destroy */
  int decode;             /* 1: hsattn_decode_step's; 0: hsattn_append's (and prefill's, per token) */
  uint32_t element_type;  /* hsattn_element_type_t */
  uint32_t rank;          /* of one request's row: the buffer's dims after B */
  int64_t row_shape[HSATTN_MAX_STEP_INPUT_RANK];
  uint64_t row_bytes;
} hsattn_step_input_info;

/* Fills defaults: auto backend, device 0, batch 1, 4096 tokens, pool for
 * every slot at max context, no graph, no profiling, the automatic host
 * memory limit (0). */
HSATTN_EXPORT void hsattn_runtime_options_init(hsattn_runtime_options* options);
/* A static description of a status code. */
HSATTN_EXPORT const char* hsattn_status_message(hsattn_status_t status);
/* The detailed message of this thread's last failed call ("" if none). */
HSATTN_EXPORT const char* hsattn_last_error_message(void);

HSATTN_EXPORT hsattn_status_t hsattn_runtime_create(const hsattn_runtime_options* options, hsattn_runtime** runtime);
HSATTN_EXPORT void hsattn_runtime_destroy(hsattn_runtime* runtime);
HSATTN_EXPORT const char* hsattn_runtime_backend_name(const hsattn_runtime* runtime);

HSATTN_EXPORT hsattn_status_t hsattn_runtime_load_artifact_file(hsattn_runtime* runtime, const char* path);
HSATTN_EXPORT hsattn_status_t hsattn_runtime_load_artifact(hsattn_runtime* runtime, const void* data, size_t size);
/* Pinned loads: the artifact's bytes must have the SHA-256 `sha256_hex` (64
 * hex digits, as hsa-compile and hsa-run print it), checked before anything is
 * parsed: HSATTN_STATUS_INVALID_ARTIFACT giving both digests on a mismatch,
 * HSATTN_STATUS_INVALID_ARGUMENT for a NULL or malformed digest. An artifact is
 * code (its kernels run with this process's privileges): load only artifacts
 * you trust, or pin their digest (docs/ARTIFACT.md, "Trust model"). */
HSATTN_EXPORT hsattn_status_t hsattn_runtime_load_artifact_file_checked(hsattn_runtime* runtime, const char* path,
                                                                        const char* sha256_hex);
HSATTN_EXPORT hsattn_status_t hsattn_runtime_load_artifact_checked(hsattn_runtime* runtime, const void* data,
                                                                   size_t size, const char* sha256_hex);

/* The loaded layer's config: HSATTN_STATUS_INVALID_ARGUMENT before a load, or
 * for a NULL config or a struct_size below the first version's. */
HSATTN_EXPORT hsattn_status_t hsattn_runtime_get_layer_config(const hsattn_runtime* runtime,
                                                              hsattn_layer_config* config);

/* Step input `index` < hsattn_layer_config.num_step_inputs of the loaded layer. */
HSATTN_EXPORT hsattn_status_t hsattn_runtime_get_step_input(const hsattn_runtime* runtime, uint32_t index,
                                                            hsattn_step_input_info* info);
HSATTN_EXPORT hsattn_status_t hsattn_request_create(hsattn_runtime* runtime, hsattn_request_id* id);
HSATTN_EXPORT hsattn_status_t hsattn_request_release(hsattn_runtime* runtime, hsattn_request_id id);

/* K [tokens][Hkv][D], V [tokens][Hkv][Dv] in the layer's KV dtype (bf16/f16 bits),
 * into the host pool. An FP8_LATENT layer takes K as stored rows,
 * [tokens][Hkv][key_row_bytes] bytes (hsattn_quantize_fp8_latent makes them);
 * a row whose scale is not finite and > 0 is refused (INVALID_ARGUMENT naming
 * the token, head and tile; nothing changes). hsattn_append checks the same;
 * the device calls copy the bytes unchecked. The representations of prefilled tokens are built once
 * for all chunks since the last build: by hsattn_finish_prefill, or else
 * before the request's next append or decode step. */
HSATTN_EXPORT hsattn_status_t hsattn_prefill(hsattn_runtime* runtime, hsattn_request_id id, const void* k,
                                             const void* v, uint64_t tokens);
/* Builds the representations of the tokens prefilled since the last build
 * (none: OK). Call it after a prompt's last chunk to keep the build off the
 * next step's latency; on an error the build stays pending. */
HSATTN_EXPORT hsattn_status_t hsattn_finish_prefill(hsattn_runtime* runtime, hsattn_request_id id);
/* One token per request: new_k [count][Hkv][D], new_v [count][Hkv][Dv]. */
HSATTN_EXPORT hsattn_status_t hsattn_append(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                            const void* new_k, const void* new_v);
/* q [count][Hq][D] in, o [count][Hq][Dv] out; stats may be NULL. */
HSATTN_EXPORT hsattn_status_t hsattn_decode_step(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                                 const void* q, void* o, hsattn_step_stats* stats);
/* The same with the algorithm's step inputs (hsattn_step_input). */
HSATTN_EXPORT hsattn_status_t hsattn_prefill_with_inputs(hsattn_runtime* runtime, hsattn_request_id id, const void* k,
                                                         const void* v, uint64_t tokens,
                                                         const hsattn_step_input* inputs, size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_append_with_inputs(hsattn_runtime* runtime, const hsattn_request_id* ids,
                                                        size_t count, const void* new_k, const void* new_v,
                                                        const hsattn_step_input* inputs, size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_decode_step_with_inputs(hsattn_runtime* runtime, const hsattn_request_id* ids,
                                                             size_t count, const void* q, void* o,
                                                             hsattn_step_stats* stats,
                                                             const hsattn_step_input* inputs, size_t input_count);

/* Device API (CUDA backend; docs/ENGINE.md "Device API"): device tensors on
 * the caller's stream (a CUstream, NULL for the legacy default stream), no
 * host synchronisation, capturable into the caller's CUDA graph. Tensors are
 * slot-indexed: row hsattn_request_slot(id) of q [B][Hq][D], o [B][Hq][Dv],
 * new_k [B][Hkv][D], new_v [B][Hkv][Dv] (B = max_batch) is that request's.
 * Per step: hsattn_begin_step (host work: reserves the appended token in the
 * host pool and uploads the step's lengths on the stream; never captured),
 * then hsattn_enqueue_append and hsattn_enqueue_decode (kernels only: one
 * graph captured over them replays every later step while the tensor
 * pointers stay the same). The CPU backend answers HSATTN_STATUS_UNSUPPORTED. */
HSATTN_EXPORT hsattn_status_t hsattn_request_slot(const hsattn_runtime* runtime, hsattn_request_id id,
                                                  uint32_t* slot);
/* hsattn_prefill from device memory (K [tokens][Hkv][D], V [tokens][Hkv][Dv]),
 * copied into the host pool by the copy engine on cuda_stream without a host
 * synchronisation; the tensors must stay unchanged until the stream passes
 * the call. Not inside a capture (it takes pool pages). */
HSATTN_EXPORT hsattn_status_t hsattn_prefill_device(hsattn_runtime* runtime, hsattn_request_id id, const void* k,
                                                    const void* v, uint64_t tokens, void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_begin_step(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                                int append, void* cuda_stream);
/* new_k in the stored format: an FP8_LATENT layer's rows [B][Hkv][key_row_bytes],
 * copied as they are (their scales are not checked on this path). */
HSATTN_EXPORT hsattn_status_t hsattn_enqueue_append(hsattn_runtime* runtime, const void* new_k, const void* new_v,
                                                    void* cuda_stream);
/* lse: NULL, or [B][Hq] f32 device memory for each head's log-sum-exp over
 * the selected tokens (natural log of the softmax denominator). */
HSATTN_EXPORT hsattn_status_t hsattn_enqueue_decode(hsattn_runtime* runtime, const void* q, void* o, float* lse,
                                                    void* cuda_stream);
/* The device calls with the algorithm's step inputs (device memory). */
HSATTN_EXPORT hsattn_status_t hsattn_prefill_device_with_inputs(hsattn_runtime* runtime, hsattn_request_id id,
                                                                const void* k, const void* v, uint64_t tokens,
                                                                void* cuda_stream, const hsattn_step_input* inputs,
                                                                size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_enqueue_append_with_inputs(hsattn_runtime* runtime, const void* new_k,
                                                                const void* new_v, void* cuda_stream,
                                                                const hsattn_step_input* inputs, size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_enqueue_decode_with_inputs(hsattn_runtime* runtime, const void* q, void* o,
                                                                float* lse, void* cuda_stream,
                                                                const hsattn_step_input* inputs, size_t input_count);
/* The listed requests' last device step, summed; waits for the device. */
HSATTN_EXPORT hsattn_status_t hsattn_device_step_stats(hsattn_runtime* runtime, const hsattn_request_id* ids,
                                                       size_t count, hsattn_step_stats* stats);

/* hsattn_device_step_stats without waiting: hsattn_enqueue_step_report copies
 * the last step's counters into pinned memory on cuda_stream (after the step,
 * not inside a capture); hsattn_step_report reads that copy: *ready 1 and
 * *stats filled once the stream passed the enqueue, *ready 0 (stats
 * untouched) before. The next enqueue replaces the report. */
HSATTN_EXPORT hsattn_status_t hsattn_enqueue_step_report(hsattn_runtime* runtime, void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_step_report(hsattn_runtime* runtime, const hsattn_request_id* ids, size_t count,
                                                 hsattn_step_stats* stats, int* ready);

/* A tensor in the runtime's device memory (hsa::DeviceTensor): shape and
 * strides in elements, `rank` of them used. */
#define HSATTN_MAX_TENSOR_RANK 4
typedef struct hsattn_device_tensor {
  const char* name;  /* "k_cache", "v_cache" or the table's name ("fa.block_table", ...); static storage */
  uint64_t address;  /* a CUdeviceptr */
  uint32_t dtype;    /* hsattn_dtype_t */
  uint32_t rank;
  int64_t shape[HSATTN_MAX_TENSOR_RANK];
  int64_t strides[HSATTN_MAX_TENSOR_RANK];
} hsattn_device_tensor;
/* For an attention kernel hsa did not write (docs/ENGINE.md "Page tables for
 * external attention kernels"): tensors[0] k_cache [num_blocks][P][Hu][D],
 * tensors[1] v_cache [num_blocks][P][Hu][Dv] (strided views of the resident
 * buffer, one unit per block), then the layer's page-table format's tables,
 * which every decode step rewrites (slot-indexed rows). *count (required) is
 * set to the number of tensors; `capacity` must hold them all (2 + up to 3
 * tables), else HSATTN_STATUS_INVALID_ARGUMENT. CUDA backend only. */
HSATTN_EXPORT hsattn_status_t hsattn_external_attention(const hsattn_runtime* runtime, hsattn_device_tensor* tensors,
                                                        size_t capacity, size_t* count);

HSATTN_EXPORT hsattn_status_t hsattn_request_get_accounting(const hsattn_runtime* runtime, hsattn_request_id id,
                                                            hsattn_request_accounting* accounting);
/* The telemetry of the request's last decode step (options.telemetry), per
 * query head: selected_lse[heads], the log of the softmax denominator over the
 * selected tokens, and missed_mass_bound[heads], an upper bound of the
 * attention mass outside the selection (either may be NULL; heads must be
 * Hq). *has_bound (may be NULL) is 0 when the algorithm bounds nothing it
 * skips (StreamingLLM, ClusterKV): missed_mass_bound is then left as it was. */
HSATTN_EXPORT hsattn_status_t hsattn_request_get_telemetry(const hsattn_runtime* runtime, hsattn_request_id id,
                                                           float* selected_lse, float* missed_mass_bound,
                                                           size_t heads, int* has_bound);
/* The request's selected units of its last step: S*K entries, -1 padded. */
HSATTN_EXPORT hsattn_status_t hsattn_request_selected_units(const hsattn_runtime* runtime, hsattn_request_id id,
                                                            int32_t* units, size_t capacity);

/* A whole model: its attention layers (one artifact each, added in order)
 * with one request table and one host KV page pool shared by the layers
 * (hsa::ModelRuntime, docs/RUNTIME.md). A request has a slot in every layer;
 * the calls below take the layer index where the runtime calls above act on
 * their single layer. The options are a runtime's: max_batch and
 * max_context_tokens hold for every layer, pool_pages counts model pages,
 * host_memory_limit_bytes bounds all layers together. Layers share the page
 * size and are all added before the first request. */
typedef struct hsattn_model hsattn_model; /* opaque */
HSATTN_EXPORT hsattn_status_t hsattn_model_create(const hsattn_runtime_options* options, hsattn_model** model);
HSATTN_EXPORT void hsattn_model_destroy(hsattn_model* model);
HSATTN_EXPORT hsattn_status_t hsattn_model_add_layer(hsattn_model* model, const void* data, size_t size);
HSATTN_EXPORT hsattn_status_t hsattn_model_add_layer_file(hsattn_model* model, const char* path);
HSATTN_EXPORT uint32_t hsattn_model_num_layers(const hsattn_model* model);
/* Host pool pages in all, and those no request holds. */
HSATTN_EXPORT uint32_t hsattn_model_pool_pages(const hsattn_model* model);
HSATTN_EXPORT uint32_t hsattn_model_free_pages(const hsattn_model* model);
HSATTN_EXPORT hsattn_status_t hsattn_model_get_layer_config(const hsattn_model* model, uint32_t layer,
                                                            hsattn_layer_config* config);
HSATTN_EXPORT hsattn_status_t hsattn_model_request_create(hsattn_model* model, hsattn_request_id* id);
HSATTN_EXPORT hsattn_status_t hsattn_model_request_release(hsattn_model* model, hsattn_request_id id);
HSATTN_EXPORT hsattn_status_t hsattn_model_prefill(hsattn_model* model, uint32_t layer, hsattn_request_id id,
                                                   const void* k, const void* v, uint64_t tokens);
/* Every layer's pending build. */
HSATTN_EXPORT hsattn_status_t hsattn_model_finish_prefill(hsattn_model* model, hsattn_request_id id);
HSATTN_EXPORT hsattn_status_t hsattn_model_append(hsattn_model* model, uint32_t layer, const hsattn_request_id* ids,
                                                  size_t count, const void* new_k, const void* new_v);
HSATTN_EXPORT hsattn_status_t hsattn_model_decode_step(hsattn_model* model, uint32_t layer,
                                                       const hsattn_request_id* ids, size_t count, const void* q,
                                                       void* o, hsattn_step_stats* stats);
/* The device API for the whole model (see hsattn_begin_step): one begin_step
 * per model step for every layer, then per layer the two enqueue calls; the
 * request's slot is the same in every layer. */
HSATTN_EXPORT hsattn_status_t hsattn_model_request_slot(const hsattn_model* model, hsattn_request_id id,
                                                        uint32_t* slot);
HSATTN_EXPORT hsattn_status_t hsattn_model_prefill_device(hsattn_model* model, uint32_t layer, hsattn_request_id id,
                                                          const void* k, const void* v, uint64_t tokens,
                                                          void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_model_begin_step(hsattn_model* model, const hsattn_request_id* ids,
                                                      size_t count, int append, void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_model_enqueue_append(hsattn_model* model, uint32_t layer, const void* new_k,
                                                          const void* new_v, void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_model_enqueue_decode(hsattn_model* model, uint32_t layer, const void* q,
                                                          void* o, float* lse, void* cuda_stream);
/* The model's calls with a layer's step inputs. */
HSATTN_EXPORT hsattn_status_t hsattn_model_get_step_input(const hsattn_model* model, uint32_t layer, uint32_t index,
                                                          hsattn_step_input_info* info);
HSATTN_EXPORT hsattn_status_t hsattn_model_prefill_with_inputs(hsattn_model* model, uint32_t layer,
                                                               hsattn_request_id id, const void* k, const void* v,
                                                               uint64_t tokens, const hsattn_step_input* inputs,
                                                               size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_append_with_inputs(hsattn_model* model, uint32_t layer,
                                                              const hsattn_request_id* ids, size_t count,
                                                              const void* new_k, const void* new_v,
                                                              const hsattn_step_input* inputs, size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_decode_step_with_inputs(hsattn_model* model, uint32_t layer,
                                                                   const hsattn_request_id* ids, size_t count,
                                                                   const void* q, void* o, hsattn_step_stats* stats,
                                                                   const hsattn_step_input* inputs,
                                                                   size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_prefill_device_with_inputs(hsattn_model* model, uint32_t layer,
                                                                      hsattn_request_id id, const void* k,
                                                                      const void* v, uint64_t tokens,
                                                                      void* cuda_stream,
                                                                      const hsattn_step_input* inputs,
                                                                      size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_enqueue_append_with_inputs(hsattn_model* model, uint32_t layer,
                                                                      const void* new_k, const void* new_v,
                                                                      void* cuda_stream,
                                                                      const hsattn_step_input* inputs,
                                                                      size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_enqueue_decode_with_inputs(hsattn_model* model, uint32_t layer,
                                                                      const void* q, void* o, float* lse,
                                                                      void* cuda_stream,
                                                                      const hsattn_step_input* inputs,
                                                                      size_t input_count);
HSATTN_EXPORT hsattn_status_t hsattn_model_enqueue_step_report(hsattn_model* model, uint32_t layer,
                                                               void* cuda_stream);
HSATTN_EXPORT hsattn_status_t hsattn_model_step_report(hsattn_model* model, uint32_t layer,
                                                       const hsattn_request_id* ids, size_t count,
                                                       hsattn_step_stats* stats, int* ready);
HSATTN_EXPORT hsattn_status_t hsattn_model_external_attention(const hsattn_model* model, uint32_t layer,
                                                              hsattn_device_tensor* tensors, size_t capacity,
                                                              size_t* count);
HSATTN_EXPORT hsattn_status_t hsattn_model_request_get_accounting(const hsattn_model* model, uint32_t layer,
                                                                  hsattn_request_id id,
                                                                  hsattn_request_accounting* accounting);

/* FlashMLA's fp8 latent rows from bf16 rows (no runtime needed): `rows` rows
 * of latent_dim + rope_dim bf16 values in, rows x (latent_dim + latent_dim /
 * 128 * 4 + 2 * rope_dim) bytes out. Each tile of 128 latent values becomes
 * e4m3 codes with DeepSeek-V3.2's power-of-two scale 2^ceil(log2(max(amax,
 * 1e-4) / 448)), stored as f32; the rope bits are copied. INVALID_ARGUMENT,
 * writing nothing, for NULL pointers, a latent_dim that is 0 or not a multiple
 * of 128, or a NaN or infinite latent value (the message names row and element). */
HSATTN_EXPORT hsattn_status_t hsattn_quantize_fp8_latent(const void* bf16_rows, uint64_t rows, uint32_t latent_dim,
                                                         uint32_t rope_dim, void* fp8_rows);
/* The rows' values as floats, rows x (latent_dim + rope_dim): code x its
 * tile's scale, rope widened. The same argument checks. */
HSATTN_EXPORT hsattn_status_t hsattn_dequantize_fp8_latent(const void* fp8_rows, uint64_t rows, uint32_t latent_dim,
                                                           uint32_t rope_dim, float* values);

#ifdef __cplusplus
}
#endif

#endif /* HSATTN_H */
