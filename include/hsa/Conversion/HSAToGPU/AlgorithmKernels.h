//===- AlgorithmKernels.h - an algorithm's kernels, as a model --*- C++ -*-===//
//
// AlgorithmKernelsAttrInterface (AlgorithmKernels.td) and the registration of
// every algorithm package's model.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_H
#define HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_H

#include "hsa/Dialect/HSA/IR/HSADialect.h"

namespace mlir {
class DialectRegistry;
namespace hsa {
// Private to lib/Conversion/HSAToGPU (KernelBuilder.h, ScoreFrame.h).
class KernelContext;
class ScoreFrame;
} // namespace hsa
} // namespace mlir

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h.inc"

namespace mlir {
namespace hsa {

/// Attaches every algorithm package's kernels to its attribute
/// (lib/Conversion/HSAToGPU/Algorithms/Algorithms.def).
void registerAlgorithmKernels(DialectRegistry &registry);

} // namespace hsa
} // namespace mlir

#endif // HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_H
