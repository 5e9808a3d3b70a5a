//===- DSA.td - the DSA algorithm attribute ---*- tablegen -*-===//
//
// One algorithm package's dialect side: its attribute (parameters, verifier,
// representations and IR builders in lib/Dialect/HSA/IR/Algorithms/DSA.cpp).
// Its kernels are lib/Conversion/HSAToGPU/Algorithms/DSA.cpp and its CPU
// reference runtime/src/algorithms/. Included by HSAAttrs.td.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_DIALECT_HSA_IR_ALGORITHMS_DSA_TD
#define HSA_DIALECT_HSA_IR_ALGORITHMS_DSA_TD

def HSA_DSAAttr : HSA_AlgorithmAttr<"DSA", "dsa", ["getStepInputs"]> {
  let summary = "DeepSeek sparse attention: a learned token-level indexer";
  let description = [{
    Per-token indexer keys (`index_dim` elements of `index_dtype`, one fp32
    scale per token) scored by `index_heads` indexer query heads:
    `k_scale[t] * sum_j max(0, qI[j] . kI[t]) * w[j]`. Token-level selection
    (`page_size = 1`) over one latent KV head; the budget is the top-k in
    tokens. Its step inputs (`inputs(...)` of the high-level ops, passed on
    to `hsa.score` and `hsa.update_repr`): decode takes the indexer queries
    `io.index_q [B][index_heads][index_dim]` in `index_dtype` (fp8: with the
    per-head query scale folded into the weights, as DeepSeek-V3.2 does) and
    the head weights `io.index_w [B][index_heads]` f32; append takes the new
    token's indexer key `io.new_index_k [B][index_dim]` in bf16, which the
    kernel quantises by V3.2's rule for fp8 (amax = max(|x|, 1e-4), scale =
    2^ceil(log2(amax / 448)), exactly). Representations: `repr.index_keys
    [B][N][index_dim]` (`index_dtype`) and `repr.index_scales [B][N]` f32 on
    the device, and the host representation `host.index_k
    [pages][P][index_dim]` bf16 in the host pool (every token's key as
    given: append writes it, prefill quantises from it).

    ```mlir
    #hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>
    ```
  }];
  let parameters = (ins "int64_t":$index_heads, "int64_t":$index_dim,
                        "::mlir::Type":$index_dtype);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // HSA_DIALECT_HSA_IR_ALGORITHMS_DSA_TD
