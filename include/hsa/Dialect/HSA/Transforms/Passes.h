//===- Passes.h - hsa dialect passes ----------------------------*- C++ -*-===//

#ifndef HSA_DIALECT_HSA_TRANSFORMS_PASSES_H
#define HSA_DIALECT_HSA_TRANSFORMS_PASSES_H

#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace hsa {

#define GEN_PASS_DECL
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"

} // namespace hsa
} // namespace mlir

#endif // HSA_DIALECT_HSA_TRANSFORMS_PASSES_H
