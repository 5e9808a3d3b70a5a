//===- ClusterKV.td - the ClusterKV algorithm attribute ---*- tablegen -*-===//
//
// One algorithm package's dialect side: its attribute (parameters, verifier,
// representations and IR builders in lib/Dialect/HSA/IR/Algorithms/ClusterKV.cpp).
// Its kernels are lib/Conversion/HSAToGPU/Algorithms/ClusterKV.cpp and its CPU
// reference runtime/src/algorithms/. Included by HSAAttrs.td.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_DIALECT_HSA_IR_ALGORITHMS_CLUSTERKV_TD
#define HSA_DIALECT_HSA_IR_ALGORITHMS_CLUSTERKV_TD

def HSA_ClusterKVAttr : HSA_AlgorithmAttr<"ClusterKV", "cluster_kv"> {
  let summary = "ClusterKV: k-means centroids of keys select clusters";
  let description = [{
    Keys are clustered into `clusters` centroids per KV head with `iterations`
    rounds of k-means at prefill; a query scores centroids and selects the
    units of the best clusters. IR builders come later; layers using it
    verify but do not lower yet.

    ```mlir
    #hsa.cluster_kv<clusters = 400, iterations = 8>
    ```
  }];
  let parameters = (ins "int64_t":$clusters, "int64_t":$iterations);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // HSA_DIALECT_HSA_IR_ALGORITHMS_CLUSTERKV_TD
