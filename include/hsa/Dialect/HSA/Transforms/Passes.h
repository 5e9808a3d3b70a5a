//===- Passes.h - hsa dialect passes ----------------------------*- C++ -*-===//

#ifndef HSA_DIALECT_HSA_TRANSFORMS_PASSES_H
#define HSA_DIALECT_HSA_TRANSFORMS_PASSES_H

#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace hsa {

#define GEN_PASS_DECL
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"

/// hsa-fuse-stages' score + top-k rule for one layer: a row of the longest
/// context holds ceil(maxContext / page size) units; score and top-k become
/// one kernel when that is at most `maxUnits` (0: never).
struct ScoreTopKFusion {
  int64_t rowUnits = 0;
  bool fused = false;
};
ScoreTopKFusion decideScoreTopKFusion(LayerOp layer, int64_t maxContext,
                                      int64_t maxUnits);

} // namespace hsa
} // namespace mlir

#endif // HSA_DIALECT_HSA_TRANSFORMS_PASSES_H
