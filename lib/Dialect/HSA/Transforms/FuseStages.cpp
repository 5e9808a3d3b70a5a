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

namespace {
struct FuseStagesPass : public hsa::impl::HSAFuseStagesBase<FuseStagesPass> {
  void runOnOperation() override {
    SmallVector<DiffOp> diffs;
    getOperation().walk([&](DiffOp diff) {
      if (!diff->getParentOfType<FusedOp>())
        diffs.push_back(diff);
    });
    for (DiffOp diff : diffs) {
      auto gather = dyn_cast_or_null<GatherOp>(diff->getNextNode());
      if (!gather || gather.getCopyUnits() != diff.getCopyUnits() ||
          gather.getCopySlots() != diff.getCopySlots() ||
          gather.getCopyCount() != diff.getCopyCount() ||
          gather.getLayer() != diff.getLayer())
        continue;
      OpBuilder builder(diff);
      auto fused = FusedOp::create(builder, diff.getLoc(), "diff_gather");
      Block *body = builder.createBlock(&fused.getBody());
      diff->moveBefore(body, body->end());
      gather->moveBefore(body, body->end());
    }
  }
};
} // namespace
