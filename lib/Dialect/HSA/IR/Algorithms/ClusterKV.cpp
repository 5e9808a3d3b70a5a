//===- ClusterKV.cpp - the ClusterKV algorithm attribute --------------------------===//
//
// SparseAlgorithmAttrInterface for #hsa.cluster_kv: its
// parameter checks against the layer, the representations it keeps on the
// device, the parameters the artifact records, and the IR builders
// hsa-expand-algorithm calls.
//
//===----------------------------------------------------------------------===//

#include "AlgorithmSupport.h"

using namespace mlir;
using namespace mlir::hsa;

LogicalResult
ClusterKVAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t clusters, int64_t iterations) {
  if (clusters <= 0)
    return emitError() << "cluster_kv clusters must be positive, got "
                       << clusters;
  if (iterations <= 0)
    return emitError() << "cluster_kv iterations must be positive, got "
                       << iterations;
  return success();
}

StringRef ClusterKVAttr::getAlgorithmName() const { return "cluster_kv"; }

LogicalResult
ClusterKVAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                           const LayerConfigAttr &config, int64_t,
                           const ForcedUnitsAttr &) const {
  if (config.isLatent())
    return emitError() << "cluster_kv clusters per-head keys: it needs "
                          "head_dim, not a latent (MLA) layer";
  return success();
}

void ClusterKVAttr::getRepresentations(
    const LayerConfigAttr &config, SmallVectorImpl<BufferSpec> &specs) const {
  MLIRContext *ctx = getContext();
  specs.push_back({"repr.centroids", Float32Type::get(ctx),
                   {kBatchDim, config.getKvHeads(), getClusters(),
                    config.getKeyDim()},
                   PlacementTier::device});
  specs.push_back({"repr.cluster_of", IntegerType::get(ctx, 32),
                   {kBatchDim, config.getKvHeads(), kUnitsDim},
                   PlacementTier::device});
}

void ClusterKVAttr::getArtifactParameters(
    SmallVectorImpl<AlgorithmParameter> &params) const {
  params.push_back(AlgorithmParameter::integer("clusters", getClusters()));
  params.push_back(AlgorithmParameter::integer("iterations", getIterations()));
}

bool ClusterKVAttr::hasImplementation() const { return false; }

LogicalResult ClusterKVAttr::buildScore(StageBuilder &stages, Value, Value,
                                        Value) const {
  return notImplemented(stages, getAlgorithmName());
}

LogicalResult ClusterKVAttr::buildUpdateRepresentations(StageBuilder &stages,
                                                        Value, Value) const {
  return notImplemented(stages, getAlgorithmName());
}

LogicalResult ClusterKVAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                         Value) const {
  return notImplemented(stages, getAlgorithmName());
}
