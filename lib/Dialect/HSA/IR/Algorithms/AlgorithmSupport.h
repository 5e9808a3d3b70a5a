//===- AlgorithmSupport.h - shared helpers of the algorithm attributes ----===//
//
// Private to lib/Dialect/HSA/IR/Algorithms: what every algorithm's IR
// builders share.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_LIB_DIALECT_HSA_IR_ALGORITHMS_ALGORITHMSUPPORT_H
#define HSA_LIB_DIALECT_HSA_IR_ALGORITHMS_ALGORITHMSUPPORT_H

#include "hsa/Dialect/HSA/IR/HSADialect.h"

namespace mlir {
namespace hsa {

inline FlatSymbolRefAttr layerRef(StageBuilder &stages) {
  return FlatSymbolRefAttr::get(stages.getLayer().getSymNameAttr());
}

/// Algorithms whose IR builders are not written yet fail expansion with a
/// located error instead of producing a partial pipeline.
inline LogicalResult notImplemented(StageBuilder &stages, StringRef name) {
  return emitError(stages.getLoc())
         << "algorithm '" << name
         << "' has no IR builders yet: it verifies but cannot be expanded";
}

} // namespace hsa
} // namespace mlir

#endif // HSA_LIB_DIALECT_HSA_IR_ALGORITHMS_ALGORITHMSUPPORT_H
