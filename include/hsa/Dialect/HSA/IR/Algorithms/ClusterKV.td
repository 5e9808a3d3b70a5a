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

/// `combine` of #hsa.cluster_kv: optional, `max` by default.
def HSA_ClusterKVCombineParameter : EnumParameter<HSA_ScoreCombine> {
  let defaultValue = "::mlir::hsa::ScoreCombine::max";
}

def HSA_ClusterKVAttr : HSA_AlgorithmAttr<"ClusterKV", "cluster_kv"> {
  let summary = "ClusterKV: k-means centroids of keys select clusters";
  let description = [{
    Keys are clustered per KV head by cosine k-means (`iterations` rounds)
    into `clusters` centroids at prefill; every `recluster_every` appended
    tokens, the new segment is clustered into `new_clusters` more centroids,
    up to `max_clusters` per KV head (0: `clusters + 16 * new_clusters`). A
    token's score for a query is the query's dot product with its cluster's
    centroid; a unit scores the max over its tokens, and `combine` merges the
    query heads of a selection group as for Quest. The exact semantics are
    docs/algorithms/cluster_kv.md. Only `clusters` and `iterations` are
    required.

    ```mlir
    #hsa.cluster_kv<clusters = 400, iterations = 8>
    #hsa.cluster_kv<clusters = 64, iterations = 4, recluster_every = 256,
                    new_clusters = 4, max_clusters = 128, combine = max>
    ```
  }];
  let parameters = (ins "int64_t":$clusters, "int64_t":$iterations,
                        DefaultValuedParameter<"int64_t", "256">:$recluster_every,
                        DefaultValuedParameter<"int64_t", "4">:$new_clusters,
                        DefaultValuedParameter<"int64_t", "0">:$max_clusters,
                        HSA_ClusterKVCombineParameter:$combine);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Centroids per KV head (`Cmax`): `max_clusters`, or
    /// `clusters + 16 * new_clusters` where it is 0.
    int64_t getResolvedMaxClusters() const;
  }];
}

#endif // HSA_DIALECT_HSA_IR_ALGORITHMS_CLUSTERKV_TD
