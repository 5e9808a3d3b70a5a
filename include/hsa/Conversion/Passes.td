//===- Passes.td - hsa conversion passes -------------------*- tablegen -*-===//

#ifndef HSA_CONVERSION_PASSES_TD
#define HSA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertHSAToGPU : Pass<"convert-hsa-to-gpu", "ModuleOp"> {
  let summary = "Turn hsa stage ops into generated GPU kernels and launches";
  let description = [{
    Each stage op (`score`, `topk`, `diff`, `gather`, `attend`, `store_kv`,
    `update_repr`, `rebuild_repr`, and the fused ops of `hsa-fuse-stages`)
    becomes a `gpu.func`
    in the `gpu.module @hsa_kernels`, specialised at compile time on the
    layer's config, and a `gpu.launch_func` at the op's place. Launch sizes
    are arith expressions over `memref.dim` of the layer's named buffers, so
    the artifact exporter can turn them into the runtime's launch plan.
    Placement tiers end at the launch: operands are cast to plain memrefs.

    Kernel ABI: every memref argument is passed as the expanded memref
    descriptor (allocated pointer, aligned pointer, offset, sizes, strides),
    scalars as i32; the artifact records it (docs/ARTIFACT.md).
  }];
  let options = [
    Option<"printPlans", "print-plans", "bool", /*default=*/"false",
           "Print every kernel's plan (grid, block, shared memory, tiles, "
           "splits, unrolls: computed from the layer before its IR is "
           "built) to stdout, one line per kernel">,
    Option<"attentionSplitTokens", "attention-split-tokens", "int64_t",
           /*default=*/"128",
           "Tokens one split-K attention block covers (rounded to whole "
           "units); the split count ceil(budget / units per split) sizes the "
           "attention's scratch">,
    Option<"telemetry", "telemetry", "bool", /*default=*/"false",
           "Generate the algorithm's telemetry outputs (docs/ACCURACY.md, "
           "\"Telemetry\"): for an algorithm that bounds the logits of the "
           "units it does not select (Quest), each head's log of that "
           "bound's mass over the unselected units "
           "(io.unselected_log_bound). Attention writes io.lse either way">,
    Option<"groupBound", "group-bound", "bool", /*default=*/"true",
           "Where the algorithm's unit scores bound the logits of every "
           "query head of their group (Quest with combine = max), the top-k "
           "also writes the log of the unselected units' mass at their "
           "scores (io.group_unselected_log_bound, per request and group): "
           "a looser bound than `telemetry`'s at almost no cost">,
    Option<"maxContext", "max-context", "int64_t", /*default=*/"131072",
           "Longest context (tokens) a request of a layer reaches: a row of "
           "the top-k holds at most ceil(max-context / page size) units">,
    Option<"topkMultiBlockMinUnits", "topk-multiblock-min-units", "int64_t",
           /*default=*/"32768",
           "Run an unfused top-k over several blocks per row (histogram, "
           "candidates, finish: TopK.cpp) when a row holds at least this "
           "many units at max-context, the top-k computes no group bound "
           "and the budget is at most 4096 units (0: never)">,
    Option<"fp8MMA", "fp8-mma", "bool", /*default=*/"true",
           "Multiply fp8 operands on tensor cores (mma.sync m16n8k32 e4m3: "
           "sm_89 or later, PTX ISA 8.4): the DSA indexer's score. "
           "hsa-lower-to-nvvm sets it from its chip and PTX features; off, "
           "the kernels decode fp8 to f32 and use CUDA cores">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"true",
           "With fp8-mma, use warpgroup MMA (wgmma.mma_async e4m3 from "
           "shared memory: sm_90a only) instead of mma.sync, which sm_90 "
           "runs as f16 MMAs after converting the fp8 operands. "
           "hsa-lower-to-nvvm sets it from its chip">,
    Option<"mlaTensorCores", "mla-tensor-cores", "bool", /*default=*/"true",
           "With wgmma, latent (MLA) layers in bf16 / f16 attend on "
           "warpgroup MMA (AttentionMLA.cpp: 64 query heads per block, "
           "wgmma m64n32k16 for Q K^T and m64n{Dv/2}k16 for P V) instead of "
           "the CUDA-core split kernel; off, or for shapes it does not "
           "support, the CUDA-core kernel">,
    Option<"topkCluster", "topk-cluster", "bool", /*default=*/"false",
           "Run the several-block top-k as one kernel per row on a cluster "
           "of 8 blocks (sm_90+: thread-block clusters) that merges its "
           "histograms through distributed shared memory, instead of four "
           "launches through global memory. Off by default: on the H200 it "
           "is slower today (docs/PERF.md \"Cluster top-k\"). "
           "hsa-lower-to-nvvm turns it off below sm_90">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // HSA_CONVERSION_PASSES_TD
