#include "KernelBuilder.h"
using namespace mlir;
using namespace mlir::hsa;
LogicalResult mlir::hsa::lowerScore(KernelContext &, ScoreOp op) {
  return op.emitOpError() << "score kernel generator is not written yet";
}
