// What every backend's telemetry shares (docs/ACCURACY.md, "Telemetry"): the
// missed-mass bound from a head's two logs, its rounding to float, and which
// outputs an artifact's kernels must write for it.
#ifndef HSA_RUNTIME_TELEMETRY_H
#define HSA_RUNTIME_TELEMETRY_H

#include <cmath>
#include <string>

#include "algorithms/algorithm.h"
#include "hsa/telemetry_contract.h"
#include "layer_shape.h"

namespace hsa {

// The kernels' bounds (telemetry_contract.h): per (request, head) log U_h,
// and per (request, group) the top-k's log U_g.
constexpr const char* kUnselectedLogBoundBuffer = telemetry_contract::kHeadBoundBuffer;
constexpr const char* kGroupUnselectedLogBoundBuffer = telemetry_contract::kGroupBoundBuffer;

// U / (Z_sel + U) = 1 / (1 + exp(lse - log U)) from lse = log Z_sel and
// log U, stable at both ends: 0 without unselected mass, 1 without a
// selected token.
inline double missed_mass_bound(double lse, double log_u) {
  if (std::isinf(log_u) && log_u < 0) return 0.0;
  if (std::isinf(lse) && lse < 0) return 1.0;
  return 1.0 / (1.0 + std::exp(lse - log_u));
}

// Rounded up when narrowed: the bound stays a bound.
inline float round_up_to_float(double m) {
  float f = float(m);
  if (double(f) < m) f = std::nextafter(f, 2.0f);
  return f;
}

// Attention writes io.lse into every artifact; an algorithm that bounds the
// logits of its unselected units needs one of the kernels' bounds: the group
// bound (Quest max, written by default) or the per-head one (hsa-compile
// --telemetry). `shape` says which the artifact carries (find_telemetry_bounds).
inline Status check_telemetry_outputs(const LayerShape& shape) {
  if (!shape.algorithm->bounds_unselected_logits() || shape.head_bound || shape.group_bound) return Status::ok();
  return Status(StatusCode::Unsupported,
                std::string("telemetry: the artifact's kernels compute no ") + shape.algorithm->name() +
                    " bound of the unselected units (it has neither '" + kUnselectedLogBoundBuffer + "' nor '" +
                    kGroupUnselectedLogBoundBuffer +
                    "'): recompile the layer with `hsa-compile --telemetry` (or hsa-lower-to-nvvm{telemetry}), "
                    "or turn telemetry off");
}

}  // namespace hsa

#endif  // HSA_RUNTIME_TELEMETRY_H
