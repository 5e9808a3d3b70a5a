//===- InitAll.cpp - register every hsa dialect and pass ------------------===//

#include "hsa/InitAll.h"

#include "hsa/Conversion/Passes.h"
#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "hsa/Dialect/HSA/Transforms/Passes.h"
#include "hsa/Pipelines/Pipelines.h"

void hsa::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::hsa::HSADialect>();
}

void hsa::registerAllPasses() {
  mlir::hsa::registerHSAPasses();
  mlir::hsa::registerHSAConversionPasses();
  hsa::registerPipelines();
}
