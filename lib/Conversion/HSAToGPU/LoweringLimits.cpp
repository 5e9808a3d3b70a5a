//===- LoweringLimits.cpp - HSAToGPU's limits as a model of hsa.layer -----===//
//
// Each kernel family states its limits on the layer alone (check*Limits in
// its own file, the rule its lowering applies too); this model runs them all
// when a layer is verified.
//
//===----------------------------------------------------------------------===//

#include "hsa/Conversion/HSAToGPU/LoweringLimits.h"

#include "KernelBuilder.h"

#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::hsa;

namespace {
struct LayerLoweringLimits
    : public LoweringLimitsOpInterface::ExternalModel<LayerLoweringLimits,
                                                      LayerOp> {
  LogicalResult verifyLoweringLimits(Operation *op) const {
    auto layer = cast<LayerOp>(op);
    // An algorithm without kernels is refused by lowering itself, with that
    // reason; its layers still verify (examples/deepseek-v32-dsa.mlir).
    if (!layer.getAlgorithm().hasImplementation())
      return success();
    auto emitError = [&] { return layer.emitOpError(); };
    for (auto check : {checkVectorDims, checkScoreLimits, checkTopKLimits,
                       checkDiffLimits, checkAttendLimits})
      if (failed(check(layer, emitError)))
        return failure();
    return success();
  }
};
} // namespace

void mlir::hsa::registerLoweringLimits(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, HSADialect *) {
    LayerOp::attachInterface<LayerLoweringLimits>(*context);
  });
}
