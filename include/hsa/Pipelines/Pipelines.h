//===- Pipelines.h - hsa's named pass pipelines -----------------*- C++ -*-===//
//
// hsa-lower-to-gpu: the hsa dialect down to gpu.func kernels and host-side
// gpu.launch_func sequences (expand, plan, fuse, convert).
// hsa-lower-to-nvvm: hsa-lower-to-gpu, then the kernels through NVVM to a
// gpu.binary (PTX and/or cubin), in the stages of upstream's
// GPUToNVVMPipeline. The host functions stay as they are: hsa-translate
// reads them as launch plans; no host code is generated.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_PIPELINES_PIPELINES_H
#define HSA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"
#include "mlir/Support/LogicalResult.h"

#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace hsa {

/// The options of hsa-lower-to-gpu, which hsa-lower-to-nvvm has too (the
/// derived options struct `Derived` parses them as its own).
template <typename Derived>
struct LowerToGPUOptionsBase : public mlir::PassPipelineOptions<Derived> {
  using Base = mlir::PassPipelineOptions<Derived>;
  typename Base::template Option<bool> fuse{
      *this, "fuse",
      llvm::cl::desc("Fuse stages (diff + gather, score + top-k); off keeps "
                     "every stage its own kernel"),
      llvm::cl::init(true)};
  typename Base::template Option<int64_t> maxContext{
      *this, "max-context",
      llvm::cl::desc("Longest context (tokens) a request reaches: bounds the "
                     "units per row for the score + top-k fusion"),
      llvm::cl::init(131072)};
  typename Base::template Option<int64_t> deviceMemoryGiB{
      *this, "device-memory-gib",
      llvm::cl::desc("GPU memory (GiB) one request must fit in (0: "
                     "unchecked)"),
      llvm::cl::init(140)};
  typename Base::template Option<int64_t> scoreTopKMaxUnits{
      *this, "score-topk-max-units",
      llvm::cl::desc("Fuse score + top-k when a row holds at most this many "
                     "units at max-context (0: never)"),
      llvm::cl::init(4096)};
  typename Base::template Option<int64_t> diffGatherMaxBudget{
      *this, "diff-gather-max-budget",
      llvm::cl::desc("Fuse diff + gather when the layer's budget is at most "
                     "this many units (0: never)"),
      llvm::cl::init(1024)};
  typename Base::template Option<int64_t> topkMultiBlockMinUnits{
      *this, "topk-multiblock-min-units",
      llvm::cl::desc("Run an unfused top-k over several blocks per row when "
                     "a row holds at least this many units at max-context "
                     "and the top-k computes no group bound (budget <= "
                     "4096; 0: never)"),
      llvm::cl::init(32768)};
  typename Base::template Option<bool> topkCluster{
      *this, "topk-cluster",
      llvm::cl::desc("The several-block top-k as one kernel per row on a "
                     "cluster of 8 blocks (sm_90+; hsa-lower-to-nvvm turns "
                     "it off below)"),
      llvm::cl::init(false)};
  typename Base::template Option<bool> mlaTensorCores{
      *this, "mla-tensor-cores",
      llvm::cl::desc("Latent (MLA) layers attend on warpgroup MMA where the "
                     "target has wgmma (sm_90a) and the kernel supports "
                     "their shape"),
      llvm::cl::init(true)};
  typename Base::template Option<int64_t> attentionSplitTokens{
      *this, "attention-split-tokens",
      llvm::cl::desc("Tokens one split-K attention block covers (the split "
                     "count sizes the attention's scratch)"),
      llvm::cl::init(128)};
  typename Base::template Option<bool> telemetry{
      *this, "telemetry",
      llvm::cl::desc("Generate the algorithm's telemetry outputs (Quest: "
                     "the unselected units' logit bound, "
                     "io.unselected_log_bound)"),
      llvm::cl::init(false)};
  typename Base::template Option<bool> groupBound{
      *this, "group-bound",
      llvm::cl::desc("The top-k's cheap bound of the unselected mass where "
                     "the algorithm's scores bound their group's logits "
                     "(Quest max: io.group_unselected_log_bound)"),
      llvm::cl::init(true)};
};

struct LowerToGPUOptions : public LowerToGPUOptionsBase<LowerToGPUOptions> {
  // hsa-lower-to-nvvm decides this from its chip and PTX features.
  Option<bool> fp8MMA{
      *this, "fp8-mma",
      llvm::cl::desc("Multiply fp8 operands on tensor cores (mma.sync "
                     "m16n8k32 e4m3; the target must be sm_89+ with PTX ISA "
                     "8.4+)"),
      llvm::cl::init(true)};
  Option<bool> wgmma{
      *this, "wgmma",
      llvm::cl::desc("With fp8-mma, warpgroup MMA (wgmma, sm_90a only) "
                     "instead of mma.sync"),
      llvm::cl::init(true)};
};

struct LowerToNVVMOptions
    : public LowerToGPUOptionsBase<LowerToNVVMOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture (sm_90a, ...)"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX ISA as +ptxNN (default: the chip's minimum, at "
                     "least +ptx84 on sm_89+ for fp8 tensor cores: +ptx84 "
                     "for sm_90a)"),
      llvm::cl::init("")};
  Option<unsigned> optLevel{*this, "opt-level",
                            llvm::cl::desc("LLVM optimization level (0-3)"),
                            llvm::cl::init(3)};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("gpu.binary contents: isa (PTX), bin (cubin, runs "
                     "ptxas), fatbin, or both (PTX and cubin objects)"),
      llvm::cl::init("isa")};
  Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit holding ptxas/fatbinary for bin, fatbin "
                     "and both (default: found in PATH)"),
      llvm::cl::init("")};
};

/// Appends hsa-lower-to-gpu to `pm` (a builtin.module pass manager).
void buildLowerToGPUPipeline(mlir::OpPassManager &pm,
                             const LowerToGPUOptions &options);

/// Checks the chip, features and format of `options` (Targets.h); on failure
/// sets `error` to a message naming the option.
mlir::LogicalResult checkLowerToNVVMOptions(const LowerToNVVMOptions &options,
                                            std::string &error);

/// Appends the NVVM part of hsa-lower-to-nvvm, up to and excluding the
/// serialization (nvvm-attach-target, kernels to the LLVM dialect).
void buildKernelsToNVVMPipeline(mlir::OpPassManager &pm,
                                const LowerToNVVMOptions &options);

/// Appends all of hsa-lower-to-nvvm. Format "both" serializes twice and
/// keeps the PTX and the cubin objects in each gpu.binary. The options must
/// have passed checkLowerToNVVMOptions.
void buildLowerToNVVMPipeline(mlir::OpPassManager &pm,
                              const LowerToNVVMOptions &options);

/// Registers hsa-lower-to-gpu and hsa-lower-to-nvvm.
void registerPipelines();

} // namespace hsa

#endif // HSA_PIPELINES_PIPELINES_H
