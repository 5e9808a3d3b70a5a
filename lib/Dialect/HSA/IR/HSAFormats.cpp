//===- HSAFormats.cpp - page-table format attributes ----------------------===//
//
// Each format implements PageTableFormatAttrInterface (the seed's
// BackendAdaptor): which layers it can express and which tables it exports.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"

using namespace mlir;
using namespace mlir::hsa;

static Type i32(MLIRContext *ctx) { return IntegerType::get(ctx, 32); }

/// External paged-attention libraries index pages that hold every KV head.
static LogicalResult requireRequestScope(
    function_ref<InFlightDiagnostic()> emitError, LayerConfigAttr config,
    StringRef format) {
  if (config.getScope() != SelectionScope::request)
    return emitError() << "page-table format '" << format
                       << "' indexes pages of all KV heads: it needs "
                          "scope = request";
  return success();
}

StringRef NativeFormatAttr::getFormatName() const { return "native"; }
LogicalResult NativeFormatAttr::verifyLayer(function_ref<InFlightDiagnostic()>,
                                            const LayerConfigAttr &) const {
  return success();
}
void NativeFormatAttr::getExportedTables(const LayerConfigAttr &, int64_t,
                                         SmallVectorImpl<BufferSpec> &) const {
}

StringRef FlashAttnBlockTableAttr::getFormatName() const {
  return "flash_attn_block_table";
}
LogicalResult FlashAttnBlockTableAttr::verifyLayer(
    function_ref<InFlightDiagnostic()> emitError,
    const LayerConfigAttr &config) const {
  if (failed(requireRequestScope(emitError, config, getFormatName())))
    return failure();
  if (config.getPageSize() % 16 != 0)
    return emitError() << "flash_attn_block_table needs page_size to be a "
                          "multiple of 16, got "
                       << config.getPageSize();
  return success();
}
void FlashAttnBlockTableAttr::getExportedTables(
    const LayerConfigAttr &, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  MLIRContext *ctx = getContext();
  tables.push_back({"fa.block_table", i32(ctx), {kBatchDim, budget},
                    PlacementTier::device});
  tables.push_back(
      {"fa.seqlens", i32(ctx), {kBatchDim}, PlacementTier::device});
}

StringRef FlashInferCSRAttr::getFormatName() const { return "flashinfer_csr"; }
LogicalResult
FlashInferCSRAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                               const LayerConfigAttr &config) const {
  return requireRequestScope(emitError, config, getFormatName());
}
void FlashInferCSRAttr::getExportedTables(
    const LayerConfigAttr &, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  MLIRContext *ctx = getContext();
  tables.push_back(
      {"fi.indptr", i32(ctx), {kBatchPlusOneDim}, PlacementTier::device});
  tables.push_back({"fi.indices", i32(ctx), {kBatchDim, budget},
                    PlacementTier::device});
  tables.push_back(
      {"fi.last_page_len", i32(ctx), {kBatchDim}, PlacementTier::device});
}

StringRef TokenIndicesAttr::getFormatName() const { return "token_indices"; }
LogicalResult TokenIndicesAttr::verifyLayer(function_ref<InFlightDiagnostic()>,
                                            const LayerConfigAttr &) const {
  return success();
}
void TokenIndicesAttr::getExportedTables(
    const LayerConfigAttr &config, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  tables.push_back({"tok.indices", i32(getContext()),
                    {kBatchDim, config.getSelectionGroups(),
                     budget * config.getPageSize()},
                    PlacementTier::device});
}
