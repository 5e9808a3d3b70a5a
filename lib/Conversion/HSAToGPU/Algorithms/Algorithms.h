//===- Algorithms.h - registration of the algorithm packages ----*- C++ -*-===//
//
// Private to lib/Conversion/HSAToGPU: one register<Name>Kernels per line of
// Algorithms.def, defined by Algorithms/<Name>.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_LIB_CONVERSION_HSATOGPU_ALGORITHMS_ALGORITHMS_H
#define HSA_LIB_CONVERSION_HSATOGPU_ALGORITHMS_ALGORITHMS_H

namespace mlir {
class MLIRContext;
namespace hsa {
#define HSA_ALGORITHM(Name) void register##Name##Kernels(MLIRContext &context);
#include "Algorithms.def"
} // namespace hsa
} // namespace mlir

#endif // HSA_LIB_CONVERSION_HSATOGPU_ALGORITHMS_ALGORITHMS_H
