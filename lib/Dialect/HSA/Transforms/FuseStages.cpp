//===- FuseStages.cpp - group stage ops into one kernel -------------------===//

#include "hsa/Dialect/HSA/Transforms/Passes.h"

namespace mlir {
namespace hsa {
#define GEN_PASS_DEF_HSAFUSESTAGES
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"
} // namespace hsa
} // namespace mlir

using namespace mlir;
using namespace mlir::hsa;

ScoreTopKFusion mlir::hsa::decideScoreTopKFusion(LayerOp layer,
                                                 int64_t maxContext,
                                                 int64_t maxUnits) {
  ScoreTopKFusion decision;
  int64_t pageSize = layer.getConfig().getPageSize();
  decision.rowUnits =
      (std::max<int64_t>(maxContext, 1) + pageSize - 1) / pageSize;
  decision.fused = maxUnits > 0 && decision.rowUnits <= maxUnits;
  return decision;
}

namespace {
/// Moves `first` and `second` (adjacent, in order) into a new
/// `hsa.fused kind` at `first`'s place.
void fuse(Operation *first, Operation *second, StringRef kind) {
  OpBuilder builder(first);
  auto fused = FusedOp::create(builder, first->getLoc(), kind);
  Block *body = builder.createBlock(&fused.getBody());
  first->moveBefore(body, body->end());
  second->moveBefore(body, body->end());
}

struct FuseStagesPass : public hsa::impl::HSAFuseStagesBase<FuseStagesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (maxContext < 1) {
      getOperation().emitError()
          << "hsa-fuse-stages: max-context must be at least 1 token (got "
          << maxContext.getValue() << ")";
      return signalPassFailure();
    }
    SmallVector<DiffOp> diffs;
    SmallVector<ScoreOp> scores;
    getOperation().walk([&](Operation *op) {
      if (op->getParentOfType<FusedOp>())
        return;
      if (auto diff = dyn_cast<DiffOp>(op))
        diffs.push_back(diff);
      else if (auto score = dyn_cast<ScoreOp>(op))
        scores.push_back(score);
    });
    for (DiffOp diff : diffs) {
      Operation *next = diff->getNextNode();
      auto layer = SymbolTable::lookupNearestSymbolFrom<LayerOp>(
          diff, diff.getLayerAttr());
      if (FusedOp::isFusion("diff_gather", diff, next) && layer &&
          layer.getBudget() <= diffGatherMaxBudget)
        fuse(diff, next, "diff_gather");
    }
    for (ScoreOp score : scores) {
      Operation *next = score->getNextNode();
      if (!FusedOp::isFusion("score_topk", score, next))
        continue;
      // The longest row: ceil(max-context / P) units for one block.
      auto layer = SymbolTable::lookupNearestSymbolFrom<LayerOp>(
          score, score.getLayerAttr());
      if (!layer ||
          !decideScoreTopKFusion(layer, maxContext, scoreTopKMaxUnits).fused)
        continue;
      fuse(score, next, "score_topk");
    }
  }
};
} // namespace
