//===- Quest.cpp - the Quest algorithm attribute --------------------------===//
//
// SparseAlgorithmAttrInterface for #hsa.quest: its
// parameter checks against the layer, the representations it keeps on the
// device, the parameters the artifact records, and the IR builders
// hsa-expand-algorithm calls.
//
//===----------------------------------------------------------------------===//

#include "AlgorithmSupport.h"

using namespace mlir;
using namespace mlir::hsa;

StringRef QuestAttr::getAlgorithmName() const { return "quest"; }

LogicalResult
QuestAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                       const LayerConfigAttr &config, int64_t,
                       const ForcedUnitsAttr &) const {
  // Quest's bounds are element-wise min / max of the cached keys.
  if (config.isFp8Latent())
    return emitError() << "quest bounds the cached keys element by element "
                          "and needs a bf16 or f16 cache, not fp8 latent "
                          "rows (kv_dtype = f8E4M3FN)";
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

void QuestAttr::getArtifactParameters(
    SmallVectorImpl<AlgorithmParameter> &params) const {
  params.push_back(
      AlgorithmParameter::string("combine", stringifyScoreCombine(getCombine())));
}

bool QuestAttr::hasImplementation() const { return true; }

LogicalResult QuestAttr::buildScore(StageBuilder &stages, Value queries,
                                    Value lengths, Value scores) const {
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, reprs, stages.getStepInputs(), scores);
  return success();
}

LogicalResult QuestAttr::buildUpdateRepresentations(StageBuilder &stages,
                                                    Value keys,
                                                    Value lengths) const {
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  UpdateReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                       keys, lengths, reprs, stages.getStepInputs(),
                       /*page_of=*/Value(), /*host_reprs=*/ValueRange());
  return success();
}

LogicalResult QuestAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                     Value lengths) const {
  Value pages = stages.getBuffer("host.page_of");
  Value hostKeys = stages.getBuffer("host.k");
  SmallVector<Value> reprs = {stages.getBuffer("repr.kmin"),
                              stages.getBuffer("repr.kmax")};
  RebuildReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                        lengths, pages, hostKeys, /*host_reprs=*/ValueRange(),
                        reprs);
  return success();
}
