//===- HSADialect.cpp - hsa dialect registration --------------------------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"

using namespace mlir;
using namespace mlir::hsa;

#include "hsa/Dialect/HSA/IR/HSADialect.cpp.inc"

void HSADialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "hsa/Dialect/HSA/IR/HSAOps.cpp.inc"
      >();
}
