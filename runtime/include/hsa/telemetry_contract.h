// The telemetry's part of the layer contract (docs/ACCURACY.md, "Telemetry"):
// the buffers in which generated kernels leave a bound of the attention mass a
// selection missed, and the rounding margin of the cheap one, written once for
// the compiler (which emits them), the runtime (which reads and checks them)
// and the CPU reference (which computes the same value).
//
// Both are optional device buffers an artifact carries when its kernels write
// them; their presence is what says the artifact has that bound.
//
// Dependency-free C++17, like layer_contract.h.
#ifndef HSA_TELEMETRY_CONTRACT_H
#define HSA_TELEMETRY_CONTRACT_H

#include "hsa/artifact_format.h"

namespace hsa {
namespace telemetry_contract {

// Per (request, query head): log U_h, U_h = sum over the unselected valid
// units u of n_u * exp(b_u,h), with b_u,h >= every logit of head h over u's
// tokens. Tight, costly (hsa-compile --telemetry); f32 [Batch][QHeads].
constexpr const char* kHeadBoundBuffer = "io.unselected_log_bound";
constexpr artifact::Symbol kHeadBoundDims[] = {artifact::Symbol::Batch, artifact::Symbol::QHeads};

// Per (request, selection group): log U_g from the scores the top-k already
// reads, for algorithms whose unit score bounds the logit of every query head
// of its group (Quest with combine = max: the max of the heads' bounds):
//   U_g = sum over unselected valid units u of n_u * exp(scale * s_u),
// written by the top-k (or the fused score_topk tail) as
//   log U_g = log(sum) + kGroupBoundMarginLog + units * kGroupBoundMarginPerUnit
// (units: the row's valid units), the margin covering the kernel's f32 sum
// and its approximate exp and log. -inf when no unit is left unselected.
// Looser than the head bound (every head gets its group's max), nearly free;
// f32 [Batch][Groups].
constexpr const char* kGroupBoundBuffer = "io.group_unselected_log_bound";
constexpr artifact::Symbol kGroupBoundDims[] = {artifact::Symbol::Batch, artifact::Symbol::Groups};
constexpr double kGroupBoundMarginLog = 1.0 / 1024;          // 2^-10
constexpr double kGroupBoundMarginPerUnit = 1.0 / 4194304;   // 2^-22

}  // namespace telemetry_contract
}  // namespace hsa

#endif  // HSA_TELEMETRY_CONTRACT_H
