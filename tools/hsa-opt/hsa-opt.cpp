//===- hsa-opt.cpp - the hsa optimizer driver -----------------------------===//
//
// mlir-opt with the hsa dialect and passes, over the same dialects, target
// and translations as every hsa tool (hsa::registerToolDialects).
//
//===----------------------------------------------------------------------===//

#include "hsa/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  hsa::registerAllPasses();

  mlir::DialectRegistry registry;
  hsa::registerToolDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "hsa optimizer: hierarchical sparse attention\n", registry));
}
