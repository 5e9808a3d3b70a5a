//===- hsa-opt.cpp - the hsa optimizer driver -----------------------------===//
//
// mlir-opt with the hsa dialect and passes. Registers the NVVM target and
// the LLVM IR translations as well: without them gpu-module-to-binary fails
// (docs/../shared TOOLCHAIN notes), and the ConvertToLLVM extensions, without
// which convert-gpu-to-nvvm silently leaves memref ops behind.
//
//===----------------------------------------------------------------------===//

#include "hsa/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  hsa::registerAllPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  hsa::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "hsa optimizer: hierarchical sparse attention\n", registry));
}
