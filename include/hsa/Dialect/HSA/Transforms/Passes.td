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
    - `hsa.prefill` / `hsa.append` -> `store_kv` and the algorithm's
      representation update.

    Named state buffers become `hsa.state` ops at the start of the enclosing
    function, one per name. A layer whose algorithm has no IR builders yet
    gets a located error.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

#endif // HSA_TRANSFORMS_PASSES_TD
