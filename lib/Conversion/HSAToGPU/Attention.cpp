#include "KernelBuilder.h"
using namespace mlir;
using namespace mlir::hsa;
LogicalResult mlir::hsa::lowerAttend(KernelContext &, AttendOp op) {
  return op.emitOpError() << "attention kernel generator is not written yet";
}
