// The hsa runtime, C++ API. One Runtime runs one attention layer described by
// one artifact, for up to max_batch concurrent requests. Every call returns a
// Status; nothing throws or aborts on bad input.
//
//   std::unique_ptr<hsa::Runtime> rt;
//   hsa::Runtime::create(options, &rt);
//   rt->load_artifact_file("layer.hsa");
//   hsa::RequestId id; rt->create_request(&id);
//   rt->prefill(id, k, v, tokens);               // K [tokens][Hkv][D], V [tokens][Hkv][Dv]
//   per step: rt->append(&id, 1, new_k, new_v);  // the new token's K/V
//             rt->decode_step(&id, 1, q, o, &stats);
//
// Threads. load_artifact (once) happens before any other call and the
// Runtime is destroyed after every call has returned. Between the two, calls
// on *different* requests may run concurrently from different threads:
// create_request, release_request, prefill, append, decode_step (each call's
// id list disjoint from the others'), request_accounting, selected_units,
// layer_config, backend_name. Calls on the *same* request (an id in two
// concurrent calls' lists) must be serialised by the caller. Backend work is
// serialised internally: concurrent steps of disjoint batches are safe but run
// one after the other (the backend's stream, staging and graph are shared),
// so one decode_step over the whole batch is the fast way. The array
// last_step_kernel_timings returns is valid until the next decode_step: do
// not call it concurrently with steps.
#ifndef HSA_RUNTIME_HPP
#define HSA_RUNTIME_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hsa/artifact_format.h"
#include "hsa/hsattn_export.h"
#include "hsa/status.hpp"

namespace hsa {

enum class BackendKind { Auto = 0, Cpu = 1, Cuda = 2 };  // Auto: CUDA when a driver and device exist

struct RuntimeOptions {
  BackendKind backend = BackendKind::Auto;
  int device = 0;                     // CUDA device ordinal
  uint32_t max_batch = 1;             // B: concurrent requests
  uint64_t max_context_tokens = 4096; // per request; N = ceil(max_context_tokens / P)
  uint32_t pool_pages = 0;            // host pool pages; 0: max_batch * N
  bool use_cuda_graph = false;        // capture the decode step once, replay it
  bool profile_kernels = false;       // time every launch of a step (CUDA)
  // Per request and step, the selected tokens' softmax denominator and, where
  // the algorithm bounds the logits it did not select (Quest), an upper bound
  // of the attention mass the selection missed (request_telemetry). The CUDA
  // backend reads it from the kernels: Quest's bound needs an artifact
  // compiled with `hsa-compile --telemetry` (refused at load otherwise).
  bool telemetry = false;
  std::string cuda_driver_path;       // empty: "libcuda.so.1"
  // Host memory this runtime may use: the host KV pool, pinned staging and,
  // on the CPU backend, its device-tier buffers (which live in host memory).
  // 0: automatic, the smallest of physical memory, RLIMIT_AS, RLIMIT_DATA and
  // the cgroup's memory.max, minus 1/8. load_artifact refuses a layer that
  // needs more (OutOfMemory, before allocating anything); device memory is
  // checked against the device's free memory the same way.
  uint64_t host_memory_limit_bytes = 0;
};

using RequestId = uint64_t;

// One decode step, summed over the requests of the call.
struct StepStats {
  uint64_t units_selected = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t bytes_copied_h2d = 0;  // misses x unit bytes
  double hit_rate = 0.0;          // hits / units_selected (0 when nothing was selected)
};

struct RequestAccounting {
  uint64_t length_tokens = 0;
  uint64_t device_bytes = 0;            // this request's share of the per-slot device buffers
  uint64_t full_device_cache_bytes = 0; // K/V of length_tokens kept whole on the device
  uint64_t host_bytes = 0;              // host pages held + its page_of row
};

// An input the layer's algorithm takes besides K, V and q (DSA: its indexer
// queries, head weights and keys; docs/algorithms/<name>.md), named by its
// buffer in the artifact: `data` holds one row per request, as the call's
// other tensors do (host calls [count][row] in the call's order, device
// calls slot-indexed [B][row], prefill [tokens][row] of the append inputs).
struct StepInput {
  const char* name = nullptr;  // "io.index_q"
  const void* data = nullptr;
};

// One step input of the loaded layer (LayerInfo::step_inputs).
struct StepInputInfo {
  std::string name;                  // "io.index_q"
  bool decode = true;                // decode_step's input; else append's (and prefill's, per token)
  artifact::ElementType element_type = artifact::ElementType::F32;
  std::vector<int64_t> row_shape;    // one request's row: the buffer's dims after B
  uint64_t row_bytes = 0;
};

// The loaded layer: what the artifact states and how this runtime sized it.
struct LayerInfo {
  std::string name;                   // the layer's IR name ("llama3_8b_attn"); "" when the artifact has none
  std::string algorithm;              // the algorithm package ("quest", "streaming_llm", "cluster_kv")
  uint32_t max_batch = 0;             // B: batch slots (RuntimeOptions::max_batch)
  uint64_t max_context_tokens = 0;    // longest request: N * P (max_context_tokens rounded up to whole pages)
  uint32_t pool_pages = 0;            // host pool pages
  uint32_t num_q_heads = 0;           // Hq
  uint32_t num_kv_heads = 0;          // Hkv
  uint32_t head_dim = 0;              // D
  uint32_t value_dim = 0;             // Dv
  uint32_t page_size = 0;             // P: tokens per unit
  uint32_t budget_units = 0;          // K: units each step selects (top-k), sinks and window included
  uint32_t capacity_units = 0;        // C: units the device buffer holds per selection group
  uint32_t sink_units = 0;            // forced first units
  uint32_t window_units = 0;          // forced last units
  artifact::KvDtype kv_dtype = artifact::KvDtype::BF16;  // the stored cache's format
  // q and o: the KV dtype, bf16 for an Fp8Latent cache.
  artifact::KvDtype activation_dtype = artifact::KvDtype::BF16;
  // Bytes of one stored key row of one KV head: what K rows (prefill, append,
  // new_k) hold per head. 2 * D for bf16/f16; fp8_latent_row_bytes(Dv, D - Dv)
  // for Fp8Latent (656 for DeepSeek's 512 + 64).
  uint32_t key_row_bytes = 0;
  artifact::SelectionScope scope = artifact::SelectionScope::Request;
  artifact::PageTableFormat page_table_format = artifact::PageTableFormat::Native;
  float softmax_scale = 0.0f;
  bool value_is_key_prefix = false;   // MLA: V is the first Dv dims of K (no separate V)
  std::vector<StepInputInfo> step_inputs;  // the algorithm's own inputs (none for Quest, StreamingLLM, ClusterKV)
};

// One decode step of one request, per query head (docs/ACCURACY.md, "Telemetry").
struct RequestTelemetry {
  uint64_t step = 0;                     // the request's steps so far: this is the last one's
  std::vector<float> selected_lse;       // [Hq] log of the softmax denominator over the selected tokens
  bool has_bound = false;                // the algorithm bounds the logits it did not select
  std::vector<float> missed_mass_bound;  // [Hq] upper bound of the attention mass outside the selection
  float max_missed_mass_bound = 0.0f;    // over the heads (0 without a bound)
};

// A tensor in the runtime's device memory, described for the caller's own
// kernels (a DLPack / __cuda_array_interface__ view): `shape` and `strides`
// in elements, row-major order of the dims as named below.
// hsattn_dtype_t's values; Fp8Latent: bytes of FlashMLA's fp8 latent rows (u8).
enum class TensorDtype : uint32_t { BF16 = 0, F16 = 1, I32 = 2, Fp8Latent = 3 };
struct DeviceTensor {
  const char* name = "";          // "k_cache", "v_cache", or the table's name in page_table_contract.h
  uint64_t address = 0;           // a CUdeviceptr of the runtime's context
  TensorDtype dtype = TensorDtype::I32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

// What an attention kernel hsa did not write needs to read this layer's
// selection (docs/ENGINE.md "Page tables for external attention kernels"):
// the resident buffer as blocks of one unit and the format's tables, which
// every decode step (decode_step, or enqueue_decode on the caller's stream,
// captured or not) rewrites from its selection. Rows are slot-indexed like the
// device API's tensors; a slot outside the step has k = 0 selected units.
// The pointers stay valid, and the same, for the runtime's lifetime.
struct ExternalAttention {
  artifact::PageTableFormat format = artifact::PageTableFormat::Native;
  uint32_t block_size = 0;   // P: tokens per block (one unit)
  uint64_t num_blocks = 0;   // B * S * C
  // [num_blocks][P][Hu][D] and [num_blocks][P][Hu][Dv] (FlashAttention's paged
  // layout, as strided views: a block is stored [Hu][P][D] like a host page,
  // so the head stride is P * D and the token stride D). Hu = Hkv for scope
  // request, 1 for kv_head. For MLA (V the first Dv dims of K) v_cache views
  // k_cache's memory. An Fp8Latent cache: k_cache is [num_blocks][P][Hu]
  // [key row bytes] of dtype Fp8Latent (FlashMLA's k_cache), and v_cache
  // the same view (values come from dequantising whole rows).
  DeviceTensor k_cache, v_cache;
  std::vector<DeviceTensor> tables;  // the format's, in page_table_contract.h's order (none: native)
};

struct KernelTiming {
  std::string kernel;
  float milliseconds;
};

class HSATTN_EXPORT Runtime {
 public:
  static Status create(const RuntimeOptions& options, std::unique_ptr<Runtime>* out);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const char* backend_name() const;

  // Verifies the artifact completely and sizes every buffer. Once per runtime.
  Status load_artifact_file(const std::string& path);
  Status load_artifact(const void* data, size_t size);
  // The same for a pinned artifact: its bytes must have the SHA-256
  // `expected_sha256` (64 hex digits, as hsa-compile and hsa-run print it),
  // checked before anything is parsed. A mismatch is InvalidArtifact giving
  // both digests; an empty or malformed digest InvalidArgument. An artifact is
  // code (its kernels run with this process's privileges): load only
  // artifacts you trust, or pin their digest (docs/ARTIFACT.md, "Trust model").
  Status load_artifact_file(const std::string& path, const std::string& expected_sha256);
  Status load_artifact(const void* data, size_t size, const std::string& expected_sha256);
  // The loaded layer config (InvalidArgument before load).
  Status layer_config(artifact::LayerConfigRecord* config) const;
  // The loaded layer with its strings resolved and the sizes this runtime
  // chose (InvalidArgument before load).
  Status layer_info(LayerInfo* info) const;

  Status create_request(RequestId* id);
  Status release_request(RequestId id);

  // Appends `tokens` tokens of K [tokens][Hkv][D] and V [tokens][Hkv][Dv]
  // (v ignored, may be null, when V is part of K) to the host pool. K comes
  // in the stored format: for an Fp8Latent layer, rows of key_row_bytes
  // (LayerInfo) bytes per head, quantised (quantize_fp8_latent); their tile
  // scales must be finite and > 0, else InvalidArgument naming the token,
  // head and tile, and nothing changes (append checks the same). The
  // representations of prefilled tokens are built once for all chunks since
  // the last build: by finish_prefill, or else before the request's next
  // append or decode_step. A prompt prefilled in many chunks is summarised
  // once (ClusterKV clusters it once), and a chunk costs only its copy.
  Status prefill(RequestId id, const void* k, const void* v, uint64_t tokens);
  // Every call that takes tensors also has a form with the algorithm's step
  // inputs (LayerInfo::step_inputs; `inputs` lists each input of that call
  // once, in any order). A layer whose algorithm has step inputs refuses the
  // form without them (InvalidArgument naming what is missing). Host calls
  // refuse a NaN or infinite value in an input.
  Status prefill(RequestId id, const void* k, const void* v, uint64_t tokens, const StepInput* inputs,
                 size_t input_count);
  // Builds the representations of the tokens prefilled since the last build
  // (nothing to do: Ok). Call it after a prompt's last chunk to keep the
  // build off the next step's latency. On an error the build stays pending
  // and the tokens stay in the pool; the next call retries.
  Status finish_prefill(RequestId id);
  // Appends one token to each listed request: new_k [count][Hkv][D] (stored
  // format: fp8 latent rows for Fp8Latent), new_v [count][Hkv][Dv].
  Status append(const RequestId* ids, size_t count, const void* new_k, const void* new_v);
  Status append(const RequestId* ids, size_t count, const void* new_k, const void* new_v, const StepInput* inputs,
                size_t input_count);
  // One decode step for each listed request: q [count][Hq][D] in, o [count][Hq][Dv] out.
  Status decode_step(const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats);
  Status decode_step(const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats,
                     const StepInput* inputs, size_t input_count);

  // --- Device API (CUDA backend; docs/ENGINE.md "Device API") -------------
  // Device tensors on the caller's stream, no host synchronisation, and
  // capturable into the caller's CUDA graph. Tensors are slot-indexed: row
  // `request_slot(id)` of q [B][Hq][D], o [B][Hq][Dv], new_k [B][Hkv][D] and
  // new_v [B][Hkv][Dv] (B = max_batch, the layer's KV dtype; an fp8 latent
  // cache takes new_k as [B][Hkv][key_row_bytes] rows, unchecked, and q/o
  // in bf16) belongs to that request; rows of slots outside the step are neither read nor written.
  // Each step:
  //   begin_step(ids, count, /*append=*/true, stream);   // host work, never captured
  //   enqueue_append(new_k, new_v, stream);              // kernels only
  //   enqueue_decode(q, o, lse, stream);                 // kernels only (lse may be null)
  // begin_step reserves each listed request's next token in the host pool
  // (OutOfCapacity when the pool is full; nothing changes then), and uploads
  // the step's lengths and steps into device memory on `stream`. The two
  // enqueue calls read them there, so one graph captured over them replays
  // every later step, whatever the batch composition and lengths, as long as
  // the tensor pointers stay the same (a changed pointer needs a new capture).
  // The appended token goes to the host pool from the device (store_kv).
  // Calls in host memory (prefill, append, decode_step, release_request, ...)
  // first wait for all device work of the context.
  Status request_slot(RequestId id, uint32_t* slot) const;
  // prefill from device memory: K [tokens][Hkv][D] and V [tokens][Hkv][Dv]
  // of this runtime's context go to the host pool by the copy engine on
  // `cuda_stream`, asynchronously (no host synchronisation; the tensors must
  // stay unchanged until the stream has passed this point, as for any CUDA
  // copy). Chunks append, and the representations are built once as for
  // prefill. Host work (it takes pool pages): not inside a capture. On a
  // refusal (OutOfCapacity, a bad tensor or stream) the request is unchanged.
  Status prefill_device(RequestId id, const void* k, const void* v, uint64_t tokens, void* cuda_stream);
  Status prefill_device(RequestId id, const void* k, const void* v, uint64_t tokens, void* cuda_stream,
                        const StepInput* inputs, size_t input_count);
  Status begin_step(const RequestId* ids, size_t count, bool append, void* cuda_stream);
  Status enqueue_append(const void* new_k, const void* new_v, void* cuda_stream);
  Status enqueue_append(const void* new_k, const void* new_v, void* cuda_stream, const StepInput* inputs,
                        size_t input_count);
  // lse, when not null: [B][Hq] f32 device memory, each head's natural-log
  // softmax denominator over the selected tokens (scaled logits; -inf for
  // none), as FlashInfer and FlashMLA return it for merging partial attention.
  Status enqueue_decode(const void* q, void* o, float* lse, void* cuda_stream);
  Status enqueue_decode(const void* q, void* o, float* lse, void* cuda_stream, const StepInput* inputs,
                        size_t input_count);
  // What the listed requests' last device step selected and copied; waits
  // for the device (call it when you want the numbers, not every step).
  Status device_step_stats(const RequestId* ids, size_t count, StepStats* stats);
  // The same without waiting: enqueue_step_report (after a step, on its
  // stream; not inside a capture) copies the counters and telemetry rows the
  // last step left into pinned memory; step_report and
  // step_report_telemetry read that copy once the stream has passed the
  // call (*ready true), and say *ready false, changing nothing, before.
  // One report at a time: the next enqueue_step_report replaces it.
  Status enqueue_step_report(void* cuda_stream);
  Status step_report(const RequestId* ids, size_t count, StepStats* stats, bool* ready);
  Status step_report_telemetry(RequestId id, RequestTelemetry* telemetry, bool* ready);
  // The resident buffer and the page tables for an external attention kernel
  // (CUDA backend; Unsupported on the CPU backend, whose buffers are host
  // memory). Read the tables after the step on the step's stream.
  Status external_attention(ExternalAttention* out) const;

  Status request_accounting(RequestId id, RequestAccounting* accounting) const;
  // sel.units of the request's last decode step: [S][K] entries, -1 padded.
  Status selected_units(RequestId id, int32_t* units, size_t capacity) const;
  // The telemetry of the request's last decode step (RuntimeOptions::telemetry;
  // InvalidArgument without it, NotFound before the request's first step).
  Status request_telemetry(RequestId id, RequestTelemetry* telemetry) const;
  // Per-launch times of the last decode step with profile_kernels: CUDA
  // launches timed with events (not with use_cuda_graph), or the CPU
  // reference backend's stages ("reference.score", ...).
  Status last_step_kernel_timings(const KernelTiming** timings, size_t* count) const;

  // FlashMLA's fp8 latent rows (KvDtype::Fp8Latent; docs/RUNTIME.md) from
  // `rows` bf16 rows of latent_dim + rope_dim values: each tile of
  // kFp8LatentTile latent values quantised to e4m3 with V3.2's power-of-two
  // scale (2^ceil(log2(max(amax, 1e-4) / 448)), stored as f32), the rope
  // values' bf16 bits copied; out holds rows * fp8_latent_row_bytes(latent,
  // rope) bytes. InvalidArgument (writing nothing) for null pointers,
  // latent_dim 0 or not a multiple of the tile, or a NaN or infinite latent
  // value (named by row and element). Needs no runtime.
  static Status quantize_fp8_latent(const void* bf16_rows, uint64_t rows, uint32_t latent_dim, uint32_t rope_dim,
                                    void* fp8_rows);
  // The rows' latent + rope values as floats (code * its tile's scale; rope
  // widened), rows * (latent_dim + rope_dim) of them; the same argument checks.
  static Status dequantize_fp8_latent(const void* fp8_rows, uint64_t rows, uint32_t latent_dim, uint32_t rope_dim,
                                      float* values);

 private:
  friend struct RuntimeInternals;  // debug access for the runtime's own tools (src/runtime_internal.h)
  struct Impl;
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hsa

#endif  // HSA_RUNTIME_HPP
