// The runtime side of an algorithm package: its parameters (validated when an
// artifact is loaded), the buffers its representations live in, and its CPU
// reference (score, prefill, append) with the check of a device's
// representations against it. One package per file in this directory,
// registered by one line of algorithms.def; the loader, the CPU backend, the
// stage checker, hsa-run and the test-artifact tool find it by the name the
// artifact records (LayerConfigRecord::algorithm). docs/ALGORITHMS.md walks
// through adding one.
#ifndef HSA_RUNTIME_ALGORITHMS_ALGORITHM_H
#define HSA_RUNTIME_ALGORITHMS_ALGORITHM_H

#include <cstdint>
#include <string>
#include <vector>

#include "hsa/artifact_writer.h"
#include "hsa/status.hpp"

namespace hsa {

struct LayerShape;
struct HostBuffers;
struct DeviceBuffers;

// One parameter as the artifact records it (AlgorithmParamRecord).
struct AlgorithmParam {
  std::string name;
  artifact::ParamKind kind = artifact::ParamKind::Integer;
  int64_t integer = 0;  // Integer
  std::string text;     // String
};

struct AlgorithmParams {
  std::vector<AlgorithmParam> items;

  const AlgorithmParam* find(const std::string& name) const;
  // The value of a parameter the package declared (validated at load, so
  // present with its kind); 0 / "" otherwise.
  int64_t integer(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  // "combine=max, clusters=64" for summaries.
  std::string describe() const;
};

// A parameter a package accepts: an integer in [min, max], or one of `choices`.
struct ParamSpec {
  const char* name;
  artifact::ParamKind kind;
  int64_t min = 0, max = 0;
  std::vector<const char*> choices;

  static ParamSpec integer(const char* name, int64_t min, int64_t max) {
    return ParamSpec{name, artifact::ParamKind::Integer, min, max, {}};
  }
  static ParamSpec choice(const char* name, std::vector<const char*> choices) {
    return ParamSpec{name, artifact::ParamKind::String, 0, 0, std::move(choices)};
  }
};

// What a representation check found for one request: `compared` elements,
// and the first mismatch of each kind (the stage checker attributes them).
struct ReprCheckResult {
  uint64_t compared = 0;
  uint64_t mismatches = 0;
  std::string first_mismatch;  // "" when none
  double agreement = 1.0;      // packages with approximate representations: fraction that agreed
  void mismatch(const std::string& what) {
    if (mismatches++ == 0) first_mismatch = what;
  }
};

// Which call of a step an algorithm's own input belongs to.
enum class StepKind { Append, Decode };

// An input the algorithm takes besides the layer's own (DSA's indexer
// queries, head weights and keys), named by its buffer in the artifact's
// table (device tier, [B][...]: one row per request). The artifact states the
// row's element type and dims; the package says which call takes it. Append
// inputs are per token, so prefill takes their rows too, [tokens][row], and
// `pool`, when set, names the host-tier buffer [PoolPages][P][row] of the
// same element type where the host pool keeps every token's row (as it keeps
// K and V): the representations are rebuilt from there.
struct StepInputSpec {
  const char* buffer;
  StepKind kind;
  const char* pool = nullptr;
};

class AlgorithmPackage {
 public:
  virtual ~AlgorithmPackage() = default;
  // The name in artifacts and in the IR (`#hsa.<name>`).
  virtual const char* name() const = 0;
  virtual std::vector<ParamSpec> parameters() const = 0;
  // Rules that tie parameters to the layer (after every parameter is in range).
  virtual Status check_layer(const artifact::LayerConfigRecord& config, const AlgorithmParams& params) const {
    return Status::ok();
  }
  // Whether the package's reference reads the cached key rows' values
  // (host.k, io.new_k) as bf16/f16 elements: Quest's bounds and ClusterKV's
  // centroids are built from them. Such a package cannot take a KvDtype::
  // Fp8Latent cache, and the loader refuses that pairing; a package whose
  // scores come from elsewhere (DSA's indexer keys, StreamingLLM's positions)
  // says false. True by default: a new package must opt in to fp8 rows.
  virtual bool reads_key_rows() const { return true; }
  // The package's own device buffers (repr.*; kernel scratch is not listed:
  // the CPU reference does not need it), in the table's order.
  virtual std::vector<artifact::DocumentedBuffer> buffers(const artifact::LayerConfigRecord& config,
                                                          const AlgorithmParams& params) const {
    return {};
  }

  // The algorithm's step inputs (their buffers are among buffers()), in the
  // table's order.
  virtual std::vector<StepInputSpec> step_inputs(const artifact::LayerConfigRecord& config,
                                                 const AlgorithmParams& params) const {
    return {};
  }

  // Step inputs for a synthetic workload (hsa-run) that follow its attention:
  // rows of the inputs of `kind` (step_inputs order, [count][row] each) made
  // from the step's own tensor, q [count][Hq][D] at decode, the tokens' K
  // [count][Hkv][D] at append and prefill: bf16/f16 elements (for an
  // Fp8Latent layer the bf16 rows the tool quantises afterwards). False: the
  // tool feeds random rows.
  virtual bool synthesize_step_inputs(const LayerShape& shape, StepKind kind, const uint16_t* tensor, uint64_t count,
                                      std::vector<std::vector<uint8_t>>* rows) const {
    return false;
  }

  // --- The CPU reference (docs/algorithms/<name>.md) -------------------------
  // Scores units [first, end) of row (b, g) of sel.scores: exactly the valid,
  // non-forced units (the frame writes +inf/-inf for the others).
  virtual void score(const LayerShape& shape, const DeviceBuffers& dev, uint32_t b, uint32_t g, uint32_t first,
                     uint32_t end, float* row) const = 0;
  // Prefill: the request in slot b has req.length[b] tokens in the host pool;
  // units [first_unit, end_unit) are new or changed.
  virtual void build_representations(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev,
                                     uint32_t b, uint32_t first_unit, uint32_t end_unit) const {}
  // Append: token t = req.length[b] (io.new_k row b and the append inputs'
  // rows b, all already in the host pool) joins the representations;
  // req.length is not yet incremented.
  virtual void append(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev, uint32_t b) const {}
  // Compares the device's representations (`device`, a snapshot) of slot b
  // with the reference's (`model`, built by the calls above from the same
  // history: a prefill of `prefill_length` tokens, then appends up to
  // req.length). `full`: the first check of this request (else only what the
  // last appends can have changed needs a look).
  virtual void check_representations(const LayerShape& shape, const HostBuffers& host, const DeviceBuffers& device,
                                     const DeviceBuffers& model, uint32_t b, uint32_t prefill_length, bool full,
                                     ReprCheckResult* result) const {}

  // --- Online telemetry (docs/ACCURACY.md, "Telemetry") ------------------
  // Upper bounds of scale * q_h . k over the tokens of each of units
  // [0, units) of slot b, for query head h (out[u]); false when the
  // algorithm's representations bound no logit (then nothing bounds the
  // attention mass a selection misses).
  virtual bool logit_upper_bounds(const LayerShape& shape, const DeviceBuffers& dev, uint32_t b, uint32_t h,
                                  uint32_t units, double* out) const {
    return false;
  }
  // Whether logit_upper_bounds gives bounds: then the generated kernels
  // compute the bound too, into io.unselected_log_bound, when compiled with
  // telemetry (the CUDA backend refuses telemetry on artifacts without it).
  virtual bool bounds_unselected_logits() const { return false; }
  // Whether every unit's score times the softmax scale bounds the logits of
  // every query head of its selection group (Quest with combine = max): then
  // the top-k's group bound (io.group_unselected_log_bound) is valid.
  virtual bool scores_bound_group_logits(const LayerShape& shape) const { return false; }
  // The stage checker's bound on |device score - reference score|, relative
  // to max(1, the row's largest |reference score|): the precision the
  // package's GPU kernels are entitled to.
  virtual double score_tolerance(const LayerShape& shape) const { return kDefaultScoreTolerance; }
  static constexpr double kDefaultScoreTolerance = 1e-4;
};

// The package registered under `name`, or null.
const AlgorithmPackage* find_algorithm(const std::string& name);
// "quest, streaming_llm, cluster_kv": for messages.
std::string registered_algorithms();
// Every parameter declared and in range, no unknown or duplicate name, then
// the package's layer rules. `where` prefixes messages ("algorithm 'quest'").
Status validate_algorithm_params(const AlgorithmPackage& package, const artifact::LayerConfigRecord& config,
                                 const AlgorithmParams& params);

}  // namespace hsa

#endif  // HSA_RUNTIME_ALGORITHMS_ALGORITHM_H
