// Evaluation of a plan's launches for one layer instance (grid, block, shared
// bytes, one parameter cell per argument: kernel ABI v2). Plain C++: the CUDA
// backend launches the result and the CPU tests check it.
#ifndef HSA_RUNTIME_LAUNCH_PLAN_H
#define HSA_RUNTIME_LAUNCH_PLAN_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "artifact.h"
#include "expression.h"

namespace hsa {

struct EvaluatedLaunch {
  uint32_t kernel = 0;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;
  // One 8-byte cell per kernel parameter, in order. A 4-byte parameter (i32)
  // sits in the low half (little-endian), so a pointer to the cell is what
  // cuLaunchKernel's kernelParams wants for every kind.
  std::vector<uint64_t> cells;
  std::vector<uint32_t> sizes;  // bytes the kernel parameter has: 4 or 8
};

// Evaluates `launch` with `symbols`; `address_of(buffer index)` gives a
// buffer's device address. Errors (InvalidArtifact) name `where`: grid or
// block out of range (x in [1, 2^31-1], y/z in [1, 65535], block x/y <= 1024,
// z <= 64, <= 1024 threads), shared bytes above the kernel's declared maximum,
// an argument expression that cannot be evaluated.
Status evaluate_launch(const Artifact& artifact, const ArtifactLaunch& launch, const SymbolValues& symbols,
                       const std::string& where, const std::function<uint64_t(uint32_t)>& address_of,
                       EvaluatedLaunch* out);

// Every launch of `plan` (an index into artifact.plans).
Status evaluate_plan(const Artifact& artifact, size_t plan, const SymbolValues& symbols,
                     const std::function<uint64_t(uint32_t)>& address_of, std::vector<EvaluatedLaunch>* out);

}  // namespace hsa

#endif  // HSA_RUNTIME_LAUNCH_PLAN_H
