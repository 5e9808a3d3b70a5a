// Accuracy of a selection against dense attention (hsa-accuracy and its
// tests; definitions in docs/ACCURACY.md):
//   mass          the dense softmax probability (over all tokens) that falls on
//                 the tokens of the selected units, per query head;
//   token oracle  the mass of the best `budget tokens` tokens of that head
//                 (top-k by true attention; nothing is forced);
//   unit oracle   the best selection the runtime could make: per selection
//                 group, the forced units (sinks, window) plus the K - forced
//                 other units with the largest mass summed over the group's
//                 query heads, so its group mass is >= any selection of K
//                 units that contains the forced ones;
//   recall        mass / unit-oracle mass (and / token-oracle mass);
//   output error  relative L2 of the layer's output vs dense attention;
//   overlap       |S_t & S_t-1| / |S_t| per group between consecutive steps;
//   hit rate      an LRU buffer (reference::lru_diff, the runtime's diff) of
//                 C slots per group replayed over the selections: hits / units
//                 selected over the steps after the first.
#ifndef HSA_RUNTIME_TOOLS_ACCURACY_H
#define HSA_RUNTIME_TOOLS_ACCURACY_H

#include <cstdint>
#include <string>
#include <vector>

#include "hsa/status.hpp"

namespace hsa {
namespace accuracy {

// How query heads map to selection groups (LayerShape's terms).
struct Layout {
  uint32_t q_heads = 32, kv_heads = 8, head_dim = 128, value_dim = 128;
  uint32_t groups = 8;          // S: Hkv (kv_head scope) or 1 (request scope)
  uint32_t page_size = 16;      // P
  float scale = 0.08838834764831845f;
  uint32_t group_of_head(uint32_t h) const {
    return (h / (q_heads / kv_heads)) / (kv_heads / groups);
  }
};

// Dense attention of one decode step: probabilities [Hq][length] and output [Hq][Dv].
struct Dense {
  uint64_t length = 0;
  std::vector<float> prob;
  std::vector<double> out;
  const float* head(uint32_t h) const { return &prob[size_t(h) * length]; }
};

// keys [length][Hkv][D], values [length][Hkv][Dv] (widened to f32), q [Hq][D]
// (already as f32). Threads over heads.
void dense_attention(const Layout& l, const float* keys, const float* values, uint64_t length, const float* q,
                     Dense* out);

// Mass of head h on the tokens of `units` (the head's group row, K entries, -1 padded).
double selection_mass(const Layout& l, const Dense& d, uint32_t h, const int32_t* units, uint32_t k);
// Mass of the `tokens` most attended tokens of head h.
double token_oracle_mass(const Dense& d, uint32_t h, uint64_t tokens);
// The unit oracle's selection [S][K] (ascending, -1 padded): forced units
// u < sinks and u >= n - window, then the best others by group mass.
void unit_oracle(const Layout& l, const Dense& d, uint32_t k, uint32_t sinks, uint32_t window,
                 std::vector<int32_t>* units);
// Quest with combine = max as the runtime selects, modelled from the keys
// [length][Hkv][D] (f32 of the stored bf16/f16 values) and the step's queries
// [Hq][D]: per unit and KV head the per-channel min and max of its keys, each
// query head's bound sum_d max(q_d min_d, q_d max_d), a group's score the max
// over its query heads (as f32), forced units (u < sinks, u >= n - window)
// first, then reference::top_k. bits = 0: the bounds as stored (the runtime's
// selection); bits = 1..15: what bounds stored as `bits`-bit codes would
// select, each unit row coded on its own range [lo, hi] and widened outward
// (quantized_bounds), so every score stays an upper bound of its tokens'
// logits. `scores` (optional) gets the groups' scores [S][n] (forced: +inf).
void quest_max_selection(const Layout& l, const float* keys, uint64_t length, const float* q, uint32_t k,
                         uint32_t sinks, uint32_t window, uint32_t bits, std::vector<int32_t>* units,
                         std::vector<float>* scores = nullptr);
// One unit row's bounds as `bits`-bit codes, decoded: lo = min of the mins
// rounded down to f32, step = (max of the maxes - lo) / (2^bits - 1) rounded
// up to f32, min_d -> lo + floor((min_d - lo) / step) step and max_d -> lo +
// ceil(...) step, each moved one code outward where rounding landed inside.
// What a stored row costs: D codes per bound and two f32 (lo, step).
void quantized_bounds(uint32_t bits, uint32_t dim, const float* kmin, const float* kmax, double* qmin, double* qmax);

// Relative L2 error of `o` [Hq][Dv] against d.out.
double output_error(const Dense& d, const std::vector<double>& o);
// The output of attention restricted to the selection (from the dense
// probabilities: sum p_t v_t / sum p_t over the selected tokens), [Hq][Dv].
void restricted_output(const Layout& l, const Dense& d, const float* values, const std::vector<int32_t>& units,
                       uint32_t k, std::vector<double>* o);
// Mean over groups of |S_t & S_t-1| / |S_t| (rows ascending, -1 padded).
double overlap(uint32_t groups, uint32_t k, const std::vector<int32_t>& now, const std::vector<int32_t>& before);
// An LRU buffer of `capacity` slots per group replayed over selections
// [steps][S][K]: hits / units selected over steps 1.. (NaN with one step).
double lru_hit_rate(uint32_t groups, uint32_t k, uint32_t capacity, const std::vector<std::vector<int32_t>>& steps);

// InvalidArgument when `budget_tokens` cannot be a layer's budget for a
// `context`-token prompt: not a multiple of the page size, below the forced
// units, or larger than the context.
Status check_budget(uint64_t budget_tokens, uint64_t context, uint32_t page_size, uint32_t forced_units);

}  // namespace accuracy
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_ACCURACY_H
