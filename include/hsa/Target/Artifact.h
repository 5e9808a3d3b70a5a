//===- Artifact.h - export a lowered hsa module as a runtime artifact -*- C++ -*-===//
//
// The artifact (docs/ARTIFACT.md) is data: the layer config, the buffer table
// of hsa-plan-buffers, the kernels of each gpu.binary (PTX and/or cubin) and
// one launch plan per host function (prefill, decode_step, append), whose
// grid sizes and memref descriptor fields are size expressions over the
// runtime's symbols (batch, max units, pool pages). Input: a module after
// hsa-lower-to-nvvm.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_TARGET_ARTIFACT_H
#define HSA_TARGET_ARTIFACT_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <vector>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace hsa {

/// Builds the artifact image of `module`. Emits located diagnostics and
/// fails on anything the runtime could not execute exactly.
llvm::LogicalResult buildArtifact(mlir::ModuleOp module,
                                  std::vector<uint8_t> &image);

/// Writes the artifact image of `module` to `os`.
llvm::LogicalResult exportArtifact(mlir::ModuleOp module,
                                   llvm::raw_ostream &os);

/// Writes the artifact image as a C/C++ header (an aligned byte array and
/// its size) for engines that embed the kernels.
llvm::LogicalResult exportArtifactHeader(mlir::ModuleOp module,
                                         llvm::raw_ostream &os);

/// Registers --hsa-to-artifact and --hsa-to-cpp-header with
/// mlir-translate's registry.
void registerArtifactTranslations();

} // namespace hsa

#endif // HSA_TARGET_ARTIFACT_H
