//===- StreamingLLM.cpp - the StreamingLLM algorithm attribute --------------------------===//
//
// SparseAlgorithmAttrInterface for #hsa.streaming_llm: its
// parameter checks against the layer, the representations it keeps on the
// device, the parameters the artifact records, and the IR builders
// hsa-expand-algorithm calls.
//
//===----------------------------------------------------------------------===//

#include "AlgorithmSupport.h"

using namespace mlir;
using namespace mlir::hsa;

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

void StreamingLLMAttr::getArtifactParameters(
    SmallVectorImpl<AlgorithmParameter> &) const {}

bool StreamingLLMAttr::hasImplementation() const { return true; }

LogicalResult StreamingLLMAttr::buildScore(StageBuilder &stages,
                                           Value queries, Value lengths,
                                           Value scores) const {
  // No representations: the score stage marks forced and invalid units only.
  ScoreOp::create(stages.getBuilder(), stages.getLoc(), layerRef(stages),
                  queries, lengths, ValueRange(), stages.getStepInputs(),
                  scores);
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
