//===- hsa-translate.cpp - hsa's translation driver -----------------------===//
//
// mlir-translate with hsa's exporters: --hsa-to-artifact writes the runtime
// artifact of a module lowered by hsa-lower-to-nvvm, --hsa-to-cpp-header
// the same bytes as a C/C++ header.
//
//===----------------------------------------------------------------------===//

#include "hsa/Target/Artifact.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  hsa::registerArtifactTranslations();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "hsa translation driver\n"));
}
