//===- HSAAlgorithms.cpp - sparse algorithm attributes --------------------===//
//
// Each algorithm attribute implements SparseAlgorithmAttrInterface: its
// parameter checks against the layer, the representations it keeps on the
// device, and the IR builders hsa-expand-algorithm calls.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"

using namespace mlir;
using namespace mlir::hsa;

static FlatSymbolRefAttr layerRef(StageBuilder &stages) {
  return FlatSymbolRefAttr::get(stages.getLayer().getSymNameAttr());
}

/// Algorithms whose IR builders are not written yet fail expansion with a
/// located error instead of producing a partial pipeline.
static LogicalResult notImplemented(StageBuilder &stages, StringRef name) {
  return emitError(stages.getLoc())
         << "algorithm '" << name
         << "' has no IR builders yet: it verifies but cannot be expanded";
}

//===----------------------------------------------------------------------===//
// Quest
//===----------------------------------------------------------------------===//

StringRef QuestAttr::getAlgorithmName() const { return "quest"; }

LogicalResult QuestAttr::verifyLayer(function_ref<InFlightDiagnostic()>,
                                     const LayerConfigAttr &, int64_t,
                                     const ForcedUnitsAttr &) const {
  return success();
}

void QuestAttr::getRepresentations(const LayerConfigAttr &config,
                                   SmallVectorImpl<BufferSpec> &specs) const {
  for (StringRef name : {"repr.kmin", "repr.kmax"})
    specs.push_back({name.str(), config.getKvDtype(),
                     {kBatchDim, config.getKvHeads(), kUnitsDim,
                      config.getKeyDim()},
                     PlacementTier::device});
}

bool QuestAttr::hasImplementation() const { return true; }

LogicalResult QuestAttr::buildScore(StageBuilder &stages, Value queries,
                                    Value lengths, Value scores) const {
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, reprs, scores);
  return success();
}

LogicalResult QuestAttr::buildUpdateRepresentations(StageBuilder &stages,
                                                    Value keys,
                                                    Value lengths) const {
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  UpdateReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                       keys, lengths, reprs);
  return success();
}

LogicalResult QuestAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                     Value lengths) const {
  Value pages = stages.getBuffer("host.page_of");
  Value hostKeys = stages.getBuffer("host.k");
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  RebuildReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                        lengths, pages, hostKeys, reprs);
  return success();
}

//===----------------------------------------------------------------------===//
// StreamingLLM
//===----------------------------------------------------------------------===//

StringRef StreamingLLMAttr::getAlgorithmName() const {
  return "streaming_llm";
}

LogicalResult
StreamingLLMAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                              const LayerConfigAttr &, int64_t budget,
                              const ForcedUnitsAttr &forced) const {
  int64_t forcedUnits = forced.getSinks() + forced.getWindow();
  if (budget != forcedUnits)
    return emitError() << "streaming_llm selects only the forced units: budget ("
                       << budget << ") must equal sinks + window ("
                       << forcedUnits << ")";
  return success();
}

void StreamingLLMAttr::getRepresentations(const LayerConfigAttr &,
                                          SmallVectorImpl<BufferSpec> &) const {
}

bool StreamingLLMAttr::hasImplementation() const { return true; }

LogicalResult StreamingLLMAttr::buildScore(StageBuilder &stages,
                                           Value queries, Value lengths,
                                           Value scores) const {
  // No representations: the score stage marks forced and invalid units only.
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, ValueRange(), scores);
  return success();
}

// No representations: append only writes the resident slot (store_kv) and
// prefill has nothing to rebuild.
LogicalResult StreamingLLMAttr::buildUpdateRepresentations(StageBuilder &,
                                                           Value,
                                                           Value) const {
  return success();
}

LogicalResult
StreamingLLMAttr::buildRebuildRepresentations(StageBuilder &, Value) const {
  return success();
}

//===----------------------------------------------------------------------===//
// DeepSeek DSA
//===----------------------------------------------------------------------===//

LogicalResult DSAAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              int64_t indexHeads, int64_t indexDim,
                              Type indexDtype) {
  if (indexHeads <= 0)
    return emitError() << "dsa index_heads must be positive, got "
                       << indexHeads;
  if (indexDim <= 0 || indexDim % 16 != 0)
    return emitError() << "dsa index_dim must be a positive multiple of 16, got "
                       << indexDim;
  if (!isa<Float8E4M3FNType>(indexDtype) && !indexDtype.isBF16())
    return emitError() << "dsa index_dtype must be f8E4M3FN or bf16, got "
                       << indexDtype;
  return success();
}

StringRef DSAAttr::getAlgorithmName() const { return "dsa"; }

LogicalResult DSAAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                                   const LayerConfigAttr &config, int64_t,
                                   const ForcedUnitsAttr &) const {
  if (config.getPageSize() != 1)
    return emitError() << "dsa selects single tokens: page_size must be 1, got "
                       << config.getPageSize();
  if (!config.isLatent())
    return emitError() << "dsa needs a latent (MLA) layer: give latent_dim and "
                          "rope_dim instead of head_dim";
  return success();
}

void DSAAttr::getRepresentations(const LayerConfigAttr &config,
                                 SmallVectorImpl<BufferSpec> &specs) const {
  MLIRContext *ctx = getContext();
  specs.push_back({"repr.index_keys", getIndexDtype(),
                   {kBatchDim, kUnitsDim, getIndexDim()},
                   PlacementTier::device});
  specs.push_back({"repr.index_scales", Float32Type::get(ctx),
                   {kBatchDim, kUnitsDim}, PlacementTier::device});
}

bool DSAAttr::hasImplementation() const { return false; }

LogicalResult DSAAttr::buildScore(StageBuilder &stages, Value, Value,
                                  Value) const {
  return notImplemented(stages, getAlgorithmName());
}

LogicalResult DSAAttr::buildUpdateRepresentations(StageBuilder &stages, Value,
                                                  Value) const {
  return notImplemented(stages, getAlgorithmName());
}

LogicalResult DSAAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                   Value) const {
  return notImplemented(stages, getAlgorithmName());
}

//===----------------------------------------------------------------------===//
// ClusterKV
//===----------------------------------------------------------------------===//

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
