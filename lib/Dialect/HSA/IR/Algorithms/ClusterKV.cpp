//===- ClusterKV.cpp - the ClusterKV algorithm attribute --------------------------===//
//
// SparseAlgorithmAttrInterface for #hsa.cluster_kv: its
// parameter checks against the layer, the representations it keeps on the
// device, the parameters the artifact records, and the IR builders
// hsa-expand-algorithm calls. The semantics are docs/algorithms/cluster_kv.md.
//
//===----------------------------------------------------------------------===//

#include "AlgorithmSupport.h"

using namespace mlir;
using namespace mlir::hsa;

// The parameter ranges of docs/algorithms/cluster_kv.md.
static constexpr int64_t kMaxClusters = 4096;
static constexpr int64_t kMaxIterations = 64;
static constexpr int64_t kMaxReclusterEvery = 65536;
static constexpr int64_t kMaxCentroidTable = 16384;

LogicalResult
ClusterKVAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t clusters, int64_t iterations,
                      int64_t reclusterEvery, int64_t newClusters,
                      int64_t maxClusters, ScoreCombine) {
  if (clusters < 1 || clusters > kMaxClusters)
    return emitError() << "cluster_kv clusters must be in [1, " << kMaxClusters
                       << "], got " << clusters;
  if (iterations < 1 || iterations > kMaxIterations)
    return emitError() << "cluster_kv iterations must be in [1, "
                       << kMaxIterations << "], got " << iterations;
  if (reclusterEvery < 1 || reclusterEvery > kMaxReclusterEvery)
    return emitError() << "cluster_kv recluster_every must be in [1, "
                       << kMaxReclusterEvery << "], got " << reclusterEvery;
  if (newClusters < 1 || newClusters > kMaxClusters)
    return emitError() << "cluster_kv new_clusters must be in [1, "
                       << kMaxClusters << "], got " << newClusters;
  if (newClusters > reclusterEvery)
    return emitError() << "cluster_kv new_clusters (" << newClusters
                       << ") must not exceed recluster_every ("
                       << reclusterEvery << ")";
  if (maxClusters != 0 &&
      (maxClusters < clusters || maxClusters > kMaxCentroidTable))
    return emitError() << "cluster_kv max_clusters must be 0 or in [clusters ("
                       << clusters << "), " << kMaxCentroidTable << "], got "
                       << maxClusters;
  if (maxClusters == 0 && clusters + 16 * newClusters > kMaxCentroidTable)
    return emitError() << "cluster_kv max_clusters = 0 resolves to clusters + "
                          "16 * new_clusters = "
                       << clusters + 16 * newClusters << ", above "
                       << kMaxCentroidTable << "; give max_clusters";
  return success();
}

int64_t ClusterKVAttr::getResolvedMaxClusters() const {
  if (getMaxClusters() != 0)
    return getMaxClusters();
  return getClusters() + 16 * getNewClusters();
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
  Type f32 = Float32Type::get(ctx), i32 = IntegerType::get(ctx, 32);
  int64_t hkv = config.getKvHeads(), table = getResolvedMaxClusters();
  int64_t dim = config.getKeyDim(), page = config.getPageSize();
  auto device = PlacementTier::device;
  specs.push_back({"repr.centroids", f32, {kBatchDim, hkv, table, dim}, device});
  specs.push_back({"repr.cluster_of", i32, {kBatchDim, hkv, kUnitsDim, page},
                   device, /*fill=*/-1});
  specs.push_back({"repr.cluster_state", i32, {kBatchDim, 2}, device});
  specs.push_back(
      {"scratch.cluster_sums", f32, {kBatchDim, hkv, table, dim}, device});
  specs.push_back(
      {"scratch.cluster_sizes", i32, {kBatchDim, hkv, table}, device});
}

void ClusterKVAttr::getArtifactParameters(
    SmallVectorImpl<AlgorithmParameter> &params) const {
  params.push_back(AlgorithmParameter::integer("clusters", getClusters()));
  params.push_back(AlgorithmParameter::integer("iterations", getIterations()));
  params.push_back(
      AlgorithmParameter::integer("recluster_every", getReclusterEvery()));
  params.push_back(
      AlgorithmParameter::integer("new_clusters", getNewClusters()));
  params.push_back(
      AlgorithmParameter::integer("max_clusters", getResolvedMaxClusters()));
  params.push_back(
      AlgorithmParameter::string("combine", stringifyScoreCombine(getCombine())));
}

bool ClusterKVAttr::hasImplementation() const { return true; }

/// The package's buffers in getRepresentations' order (the stage ops'
/// `reprs`).
static SmallVector<Value> clusterBuffers(StageBuilder &stages) {
  SmallVector<Value> buffers;
  for (StringRef name :
       {"repr.centroids", "repr.cluster_of", "repr.cluster_state",
        "scratch.cluster_sums", "scratch.cluster_sizes"})
    buffers.push_back(stages.getBuffer(name));
  return buffers;
}

LogicalResult ClusterKVAttr::buildScore(StageBuilder &stages, Value queries,
                                        Value lengths, Value scores) const {
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, clusterBuffers(stages),
                  stages.getStepInputs(), scores);
  return success();
}

LogicalResult ClusterKVAttr::buildUpdateRepresentations(StageBuilder &stages,
                                                        Value keys,
                                                        Value lengths) const {
  UpdateReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                       keys, lengths, clusterBuffers(stages),
                       stages.getStepInputs(), /*page_of=*/Value(),
                       /*host_reprs=*/ValueRange());
  return success();
}

LogicalResult ClusterKVAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                         Value lengths) const {
  Value pages = stages.getBuffer("host.page_of");
  Value hostKeys = stages.getBuffer("host.k");
  RebuildReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                        lengths, pages, hostKeys, /*host_reprs=*/ValueRange(),
                        clusterBuffers(stages));
  return success();
}
