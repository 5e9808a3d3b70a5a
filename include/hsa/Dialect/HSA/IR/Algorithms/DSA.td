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

def HSA_DSAAttr : HSA_AlgorithmAttr<"DSA", "dsa"> {
  let summary = "DeepSeek sparse attention: a learned token-level indexer";
  let description = [{
    Per-token indexer keys (`index_dim` elements of `index_dtype`, one fp32
    scale per token) scored by `index_heads` indexer query heads:
    `k_scale[t] * sum_j max(0, qI[j] . kI[t]) * w[j]`. Token-level selection
    (`page_size = 1`) over one latent KV head. IR builders come later; layers
    using it verify but do not lower yet.

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
