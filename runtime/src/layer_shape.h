// The sizes of one layer instance: the artifact's config plus the runtime's
// choices (batch slots, max context, pool pages), and the evaluation of the
// artifact's buffer table against them.
#ifndef HSA_RUNTIME_LAYER_SHAPE_H
#define HSA_RUNTIME_LAYER_SHAPE_H

#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "artifact.h"
#include "expression.h"

namespace hsa {

// The cache format for messages, summaries and JSON: "bf16", "f16", "fp8_latent".
inline const char* kv_dtype_name(artifact::KvDtype dtype) {
  return dtype == artifact::KvDtype::F16 ? "f16" : dtype == artifact::KvDtype::Fp8Latent ? "fp8_latent" : "bf16";
}

struct LayerShape {
  artifact::LayerConfigRecord config{};
  artifact::KvDtype dtype = artifact::KvDtype::BF16;      // the stored cache's format
  artifact::KvDtype act_dtype = artifact::KvDtype::BF16;  // queries' and outputs' (bf16 for Fp8Latent)
  const AlgorithmPackage* algorithm = nullptr;  // the artifact's package (validated at load)
  AlgorithmParams params;
  uint32_t batch = 0;        // B
  uint32_t max_units = 0;    // N
  uint32_t pool_pages = 0;
  uint32_t q_heads = 0, kv_heads = 0, head_dim = 0, value_dim = 0, page_size = 0;
  uint32_t group_size = 0;   // Gq = Hq / Hkv
  uint32_t groups = 0;       // S
  uint32_t heads_per_unit = 0;  // Hu
  uint32_t budget = 0, capacity = 0, sinks = 0, window = 0;
  bool has_separate_v = true;  // false: V is the first Dv dims of K (MLA)
  uint32_t element_bytes = 2;  // of a stored K/V element: 2 (bf16, f16), 1 (Fp8Latent's u8)
  uint32_t act_bytes = 2;      // of a query or output element
  // Elements of a stored key row (Symbol::KeyRow): D, or the bytes of an
  // fp8 latent row (fp8_latent_row_bytes(Dv, D - Dv)).
  uint32_t key_row = 0;
  float scale = 0.0f;        // softmax scale, as the artifact states it
  // The missed-mass bounds the artifact's kernels write (telemetry_contract.h;
  // the buffers' presence says so): per head (io.unselected_log_bound) and
  // per selection group (io.group_unselected_log_bound).
  bool head_bound = false, group_bound = false;
  // The algorithm's step inputs (AlgorithmPackage::step_inputs) with the
  // bytes of one request's row, from the package's buffer dims (which the
  // loader checks the artifact's against).
  struct StepInputRow {
    std::string buffer;
    StepKind kind = StepKind::Decode;
    artifact::ElementType element_type = artifact::ElementType::F32;
    std::vector<int64_t> row_dims;  // the dims after B
    uint64_t row_bytes = 0;
    std::string pool;  // the host-pool buffer [PoolPages][P][row] of an append input, or ""
  };
  std::vector<StepInputRow> step_inputs;

  uint64_t max_tokens() const { return uint64_t(max_units) * page_size; }
  bool fp8_latent() const { return dtype == artifact::KvDtype::Fp8Latent; }
  // Bytes of one stored key row and value row (0 without separate V).
  uint64_t key_row_bytes() const { return uint64_t(key_row) * element_bytes; }
  uint64_t value_row_bytes() const { return has_separate_v ? uint64_t(value_dim) * element_bytes : 0; }
  // K and V bytes of one token of all KV heads, as stored (host pool, full device cache).
  uint64_t token_kv_bytes() const { return uint64_t(kv_heads) * (key_row_bytes() + value_row_bytes()); }
  // Bytes of one unit (K and V) moved by a copy: docs/BUFFERS.md.
  uint64_t unit_bytes() const;
  SymbolValues symbols() const;

  // The device-tier buffers of the contract and the package, and the
  // telemetry buffers the artifact carries: what the CPU reference holds
  // (DeviceBuffers).
  std::vector<artifact::DocumentedBuffer> device_buffers() const;

  // pool_pages == 0 means batch * max_units (every slot can reach max context).
  static Status create(const artifact::LayerConfigRecord& config, const AlgorithmPackage* algorithm,
                       const AlgorithmParams& params, uint32_t batch, uint64_t max_context_tokens,
                       uint32_t pool_pages, LayerShape* out);
  static Status create(const Artifact& artifact, uint32_t batch, uint64_t max_context_tokens, uint32_t pool_pages,
                       LayerShape* out) {
    return create(artifact.config, artifact.algorithm, artifact.params, batch, max_context_tokens, pool_pages, out);
  }
};

// Evaluates the dims of `buffer` with `symbols`; every dim must be >= 0 and the
// byte size must not overflow.
Status evaluate_buffer_dims(const Artifact& artifact, const ArtifactBuffer& buffer, const SymbolValues& symbols,
                            std::vector<int64_t>* dims, uint64_t* bytes);

// Checks that every documented buffer of the artifact has the documented shape
// for `shape` (the runtime relies on the layouts of docs/BUFFERS.md).
Status check_documented_shapes(const Artifact& artifact, const LayerShape& shape);

// Sets shape->head_bound and group_bound from the telemetry buffers the
// artifact carries (telemetry_contract.h), each checked to be a device f32
// [B][Hq] or [B][S] per-batch-slot buffer.
Status find_telemetry_bounds(const Artifact& artifact, LayerShape* shape);

// Device bytes one request occupies: per-batch-slot device buffers / B.
Status per_request_device_bytes(const Artifact& artifact, const LayerShape& shape, uint64_t* bytes);

}  // namespace hsa

#endif  // HSA_RUNTIME_LAYER_SHAPE_H
