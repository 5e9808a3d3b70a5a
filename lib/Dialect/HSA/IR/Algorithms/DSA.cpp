//===- DSA.cpp - the DSA algorithm attribute --------------------------===//
//
// SparseAlgorithmAttrInterface for #hsa.dsa: its
// parameter checks against the layer, the representations it keeps on the
// device, the parameters the artifact records, and the IR builders
// hsa-expand-algorithm calls.
//
//===----------------------------------------------------------------------===//

#include "AlgorithmSupport.h"

using namespace mlir;
using namespace mlir::hsa;

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
  // Every token's key as the caller gave it, paged like host.k: prefill
  // quantises from here, append writes its row (zero-copy).
  specs.push_back({"host.index_k", BFloat16Type::get(ctx),
                   {kPagesDim, config.getPageSize(), getIndexDim()},
                   PlacementTier::host});
}

void DSAAttr::getStepInputs(const LayerConfigAttr &, StepKind kind,
                            SmallVectorImpl<BufferSpec> &specs) const {
  MLIRContext *ctx = getContext();
  switch (kind) {
  case StepKind::Decode:
    specs.push_back({"io.index_q", getIndexDtype(),
                     {kBatchDim, getIndexHeads(), getIndexDim()},
                     PlacementTier::device});
    specs.push_back({"io.index_w", Float32Type::get(ctx),
                     {kBatchDim, getIndexHeads()}, PlacementTier::device});
    break;
  case StepKind::Append:
    specs.push_back({"io.new_index_k", BFloat16Type::get(ctx),
                     {kBatchDim, getIndexDim()}, PlacementTier::device});
    break;
  }
}

void DSAAttr::getArtifactParameters(
    SmallVectorImpl<AlgorithmParameter> &params) const {
  std::string dtype;
  llvm::raw_string_ostream os(dtype);
  os << getIndexDtype();
  params.push_back(AlgorithmParameter::integer("index_heads", getIndexHeads()));
  params.push_back(AlgorithmParameter::integer("index_dim", getIndexDim()));
  params.push_back(AlgorithmParameter::string("index_dtype", dtype));
}

bool DSAAttr::hasImplementation() const { return true; }

/// The device representations, in getRepresentations' order.
static SmallVector<Value> deviceReprs(StageBuilder &stages) {
  return {stages.getBuffer("repr.index_keys"),
          stages.getBuffer("repr.index_scales")};
}

LogicalResult DSAAttr::buildScore(StageBuilder &stages, Value queries,
                                  Value lengths, Value scores) const {
  // The indexer scores from its own queries and weights (the step inputs);
  // the layer's MLA queries are the op's `queries` all the same.
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, deviceReprs(stages),
                  stages.getStepInputs(), scores);
  return success();
}

LogicalResult DSAAttr::buildUpdateRepresentations(StageBuilder &stages,
                                                  Value keys,
                                                  Value lengths) const {
  UpdateReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                       keys, lengths, deviceReprs(stages),
                       stages.getStepInputs(), stages.getBuffer("host.page_of"),
                       ValueRange{stages.getBuffer("host.index_k")});
  return success();
}

LogicalResult DSAAttr::buildRebuildRepresentations(StageBuilder &stages,
                                                   Value lengths) const {
  RebuildReprOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                        lengths, stages.getBuffer("host.page_of"),
                        stages.getBuffer("host.k"),
                        ValueRange{stages.getBuffer("host.index_k")},
                        deviceReprs(stages));
  return success();
}
