#include "KernelBuilder.h"
using namespace mlir;
using namespace mlir::hsa;
LogicalResult mlir::hsa::lowerDiff(KernelContext &, DiffOp op) {
  return op.emitOpError() << "diff kernel generator is not written yet";
}
LogicalResult mlir::hsa::lowerGather(KernelContext &, GatherOp op) {
  return op.emitOpError() << "gather kernel generator is not written yet";
}
