//===- InitAll.cpp - register every hsa dialect and pass ------------------===//

#include "hsa/InitAll.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"
#include "hsa/Conversion/HSAToGPU/LoweringLimits.h"
#include "hsa/Conversion/Passes.h"
#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "hsa/Dialect/HSA/Transforms/Passes.h"
#include "hsa/Pipelines/Pipelines.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void hsa::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::hsa::HSADialect>();
}

void hsa::registerAllPasses() {
  mlir::hsa::registerHSAPasses();
  mlir::hsa::registerHSAConversionPasses();
  hsa::registerPipelines();
}

void hsa::registerToolDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  hsa::registerAllDialects(registry);
  mlir::hsa::registerLoweringLimits(registry);
  mlir::hsa::registerAlgorithmKernels(registry);
}
