//===- Passes.h - hsa conversion passes -------------------------*- C++ -*-===//

#ifndef HSA_CONVERSION_PASSES_H
#define HSA_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace gpu { class GPUDialect; }
namespace LLVM { class LLVMDialect; }
namespace memref { class MemRefDialect; }
namespace scf { class SCFDialect; }
namespace vector { class VectorDialect; }

namespace hsa {

#define GEN_PASS_DECL
#include "hsa/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "hsa/Conversion/Passes.h.inc"

} // namespace hsa
} // namespace mlir

#endif // HSA_CONVERSION_PASSES_H
