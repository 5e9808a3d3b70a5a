//===- AlgorithmKernels.cpp - attach every algorithm package's kernels ---===//

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "Algorithms/Algorithms.h"

#include "mlir/IR/DialectRegistry.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.cpp.inc"

using namespace mlir;
using namespace mlir::hsa;

static void attachAlgorithmKernels(MLIRContext *context, HSADialect *) {
#define HSA_ALGORITHM(Name) register##Name##Kernels(*context);
#include "Algorithms/Algorithms.def"
}

void mlir::hsa::registerAlgorithmKernels(DialectRegistry &registry) {
  registry.addExtension(attachAlgorithmKernels);
}
