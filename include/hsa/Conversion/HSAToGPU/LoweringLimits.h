//===- LoweringLimits.h - what HSAToGPU can generate kernels for -*- C++ -*-===//
//
// Attaches HSAToGPU's LoweringLimitsOpInterface model to hsa.layer: with it
// registered, the layer verifier refuses, at the layer, what the kernel
// generators would refuse later at a stage op.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_CONVERSION_HSATOGPU_LOWERINGLIMITS_H
#define HSA_CONVERSION_HSATOGPU_LOWERINGLIMITS_H

namespace mlir {
class DialectRegistry;
namespace hsa {

void registerLoweringLimits(DialectRegistry &registry);

} // namespace hsa
} // namespace mlir

#endif // HSA_CONVERSION_HSATOGPU_LOWERINGLIMITS_H
