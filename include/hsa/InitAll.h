//===- InitAll.h - register every hsa dialect and pass ----------*- C++ -*-===//
//
// One place that registers hsa's dialects and passes, for hsa-opt and for
// engines that embed the compiler.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_INITALL_H
#define HSA_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace hsa {

/// Adds the hsa dialect to `registry`.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Everything hsa's tools parse and lower: upstream's dialects and
/// extensions (without the ConvertToLLVM extensions convert-gpu-to-nvvm
/// silently leaves memref ops behind), the NVVM target and the LLVM IR
/// translations (gpu-module-to-binary needs both), and hsa's dialect.
void registerToolDialects(mlir::DialectRegistry &registry);

/// Registers hsa's passes and named pipelines with the global registry.
void registerAllPasses();

} // namespace hsa

#endif // HSA_INITALL_H
