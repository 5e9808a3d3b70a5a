//===- Passes.td - hsa dialect passes ----------------------*- tablegen -*-===//

#ifndef HSA_TRANSFORMS_PASSES_TD
#define HSA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def HSAExpandAlgorithm : Pass<"hsa-expand-algorithm", "ModuleOp"> {
  let summary = "Expand prefill/decode_step/append into stage ops";
  let description = [{
    Rewrites the high-level ops through their layer's algorithm
    (SparseAlgorithmAttrInterface):

    - `hsa.decode_step` -> `score` (the algorithm's), `topk`, `diff`,
      `gather`, `attend`;
    - `hsa.append` -> `store_kv` (the token into its resident slot) and the
      algorithm's representation update (Quest: `update_repr`);
    - `hsa.prefill` -> the algorithm's representation rebuild from the host
      pool (Quest: `rebuild_repr`; StreamingLLM: nothing).

    The runtime writes prompt and appended tokens to the host pool itself
    (docs/RUNTIME.md), so no stage writes host memory.

    Named state buffers become `hsa.state` ops at the start of the enclosing
    function, one per name. A layer whose algorithm has no IR builders yet
    gets a located error.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def HSAPlanBuffers : Pass<"hsa-plan-buffers", "ModuleOp"> {
  let summary = "Decide every buffer of each layer and record the plan";
  let description = [{
    Records on each `hsa.layer` the complete buffer plan as the `hsa.plan`
    attribute: for every named buffer (host pool, representations, unit
    buffer, slot maps, page tables, scratch; docs/BUFFERS.md) its tier,
    element type, shape (constants and the runtime sizes `B`, `N`, `pages`,
    `B+1`) and fill value. The artifact exporter writes this plan so the
    runtime allocates exactly what the kernels were compiled for.

    With `report`, each layer also gets a remark with the bytes one request
    needs at `max-context` tokens: device (representations, unit buffer,
    maps, tables, scratch) against a full device-resident cache, and host.

    Always, a layer whose request needs more device memory at `max-context`
    than a full device-resident cache of that context gets a warning (hsa
    then saves nothing), and a layer whose request needs more than
    `device-memory-gib` even at one token gets an error: no batch of it can
    be served.
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Emit a remark per layer with per-request memory accounting">,
    Option<"maxContext", "max-context", "int64_t", /*default=*/"131072",
           "Context length (tokens) the report and the warning account for">,
    Option<"deviceMemoryGiB", "device-memory-gib", "int64_t",
           /*default=*/"140",
           "GPU memory (GiB) one request must fit in (default: an H200's "
           "140; 0: unchecked)">,
  ];
}

def HSAFuseStages : Pass<"hsa-fuse-stages", "ModuleOp"> {
  let summary = "Group stage ops that one kernel should run together";
  let description = [{
    Wraps each `hsa.diff` directly followed by the `hsa.gather` of its copy
    list into `hsa.fused "diff_gather"`: one kernel decides the misses and
    copies them with SM loads from mapped host memory (zero-copy reaches
    ~51 GB/s where per-page copy-engine calls reach 1-33 GB/s), saving a
    launch and the copy list's round trip. The fused kernel copies with the
    one block of its (request, group), so it is fused only while a step's
    copy list is short: when the layer's budget is at most
    `diff-gather-max-budget` units. Beyond, one block's zero-copy loads are
    the step's bottleneck at small batch (DSA's 2048 token rows at B = 1: 254
    us fused on the H200, one SM at ~9 GB/s), and the separate gather
    kernel spreads the copies over the grid.

    Wraps each `hsa.score` directly followed by the `hsa.topk` of its scores
    into `hsa.fused "score_topk"` where the unit count allows: the last
    score block of a row selects it with 256 threads, which beats a separate
    top-k launch of 1024 threads per row while a row holds a few thousand
    units and loses beyond (on the H200, docs/PERF.md: 2-10% faster steps at
    2048 units per row, 2-10% slower at 8192). The unit count is a runtime
    size, so the pass decides on its bound: a row of the longest context
    the layer serves (`max-context`) holds ceil(max-context / page size)
    units, and the layer is fused when that is at most
    `score-topk-max-units`. The fused kernel is correct for any unit count;
    a longer context only makes it slower than two kernels.

    Leave this pass out (the pipeline's `fuse=false`) to lower and test
    every stage alone.
  }];
  let options = [
    Option<"maxContext", "max-context", "int64_t", /*default=*/"131072",
           "Longest context (tokens) a request of the layer reaches">,
    Option<"scoreTopKMaxUnits", "score-topk-max-units", "int64_t",
           /*default=*/"4096",
           "Fuse score and top-k when a row holds at most this many units at "
           "max-context (0: never)">,
    Option<"diffGatherMaxBudget", "diff-gather-max-budget", "int64_t",
           /*default=*/"1024",
           "Fuse diff and gather when the layer's budget is at most this many "
           "units (0: never)">,
  ];
}

#endif // HSA_TRANSFORMS_PASSES_TD
