//===- Targets.h - the GPU targets hsa's kernels can be built for -*- C++ -*-===//
//
// hsa-lower-to-nvvm and hsa-compile check the chip, the PTX features and the
// kernel format before anything is lowered: NVPTX aborts the process on a
// chip it does not know and on a PTX ISA below the chip's minimum, and an
// unknown format would otherwise fail after the whole lowering.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_PIPELINES_TARGETS_H
#define HSA_PIPELINES_TARGETS_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace hsa {

/// A chip hsa can generate kernels for.
struct ChipInfo {
  llvm::StringLiteral chip;
  /// Minimum PTX ISA version of the chip, major * 10 + minor (NVPTX's rule).
  unsigned minPtxVersion;
};

/// The chip's entry, or nullopt if hsa cannot target it (below sm_75, which
/// CUDA 13 needs, or unknown to LLVM's NVPTX or to CUDA 13's ptxas).
std::optional<ChipInfo> lookupChip(llvm::StringRef chip);

/// The supported chips, comma separated, for messages.
std::string supportedChips();

/// Checks `chip`, `features` and `format`, and resolves the features: empty
/// features become the chip's minimum PTX ISA, at least 8.4 on sm_89 and
/// later (fp8 tensor cores need it: "+ptx84" for sm_90a). On
/// success returns the features to use; otherwise sets `error` to a message
/// that names the option and what to pass instead.
std::optional<std::string> resolveNVVMTarget(llvm::StringRef chip,
                                             llvm::StringRef features,
                                             llvm::StringRef format,
                                             std::string &error);

/// Whether kernels for `chip` with resolved `features` ("+ptxNN") may use
/// fp8 tensor-core MMA (mma.sync m16n8k32 e4m3: sm_89+, PTX ISA 8.4+).
bool hasFp8MMA(llvm::StringRef chip, llvm::StringRef features);

/// Whether kernels for `chip` may use warpgroup MMA (wgmma.mma_async):
/// sm_90a only (Blackwell's tensor cores take tcgen05 instead).
bool hasWarpgroupMMA(llvm::StringRef chip);

/// Whether kernels for `chip` may run as thread-block clusters with
/// distributed shared memory: sm_90 and later.
bool hasClusters(llvm::StringRef chip);

/// What the kernel generators may use on a target (convert-hsa-to-gpu's
/// fp8-mma, wgmma and clusters options).
struct TargetFeatures {
  bool fp8MMA = true, wgmma = true, clusters = true;
};
/// The features of `chip` with resolved `features` ("+ptxNN").
TargetFeatures targetFeatures(llvm::StringRef chip, llvm::StringRef features);

} // namespace hsa

#endif // HSA_PIPELINES_TARGETS_H
