//===- HSAFormats.cpp - page-table format attributes ----------------------===//
//
// Each format implements PageTableFormatAttrInterface (the seed's
// BackendAdaptor): which layers it can express and which tables it exports.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"

#include "hsa/page_table_contract.h"

using namespace mlir;
using namespace mlir::hsa;

namespace contract = ::hsa::page_table_contract;

/// The format's tables as runtime/include/hsa/page_table_contract.h lists
/// them, with the layer's dims.
static void exportTables(MLIRContext *ctx,
                         ::hsa::artifact::PageTableFormat format,
                         const LayerConfigAttr &config, int64_t budget,
                         SmallVectorImpl<BufferSpec> &tables) {
  for (const contract::Table &table : contract::tables(format)) {
    SmallVector<int64_t> shape;
    switch (table.dims) {
    case contract::Dims::Batch:
      shape = {kBatchDim};
      break;
    case contract::Dims::BatchPlusOne:
      shape = {kBatchPlusOneDim};
      break;
    case contract::Dims::BatchBudget:
      shape = {kBatchDim, budget};
      break;
    case contract::Dims::BatchGroupsTokens:
      shape = {kBatchDim, config.getSelectionGroups(),
               budget * config.getPageSize()};
      break;
    }
    tables.push_back(
        {table.name, IntegerType::get(ctx, 32), shape, PlacementTier::device});
  }
}

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
    const LayerConfigAttr &config, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  exportTables(getContext(),
               ::hsa::artifact::PageTableFormat::FlashAttnBlockTable, config,
               budget, tables);
}

StringRef FlashInferCSRAttr::getFormatName() const { return "flashinfer_csr"; }
LogicalResult
FlashInferCSRAttr::verifyLayer(function_ref<InFlightDiagnostic()> emitError,
                               const LayerConfigAttr &config) const {
  return requireRequestScope(emitError, config, getFormatName());
}
void FlashInferCSRAttr::getExportedTables(
    const LayerConfigAttr &config, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  exportTables(getContext(), ::hsa::artifact::PageTableFormat::FlashInferCsr,
               config, budget, tables);
}

StringRef TokenIndicesAttr::getFormatName() const { return "token_indices"; }
LogicalResult TokenIndicesAttr::verifyLayer(function_ref<InFlightDiagnostic()>,
                                            const LayerConfigAttr &) const {
  return success();
}
void TokenIndicesAttr::getExportedTables(
    const LayerConfigAttr &config, int64_t budget,
    SmallVectorImpl<BufferSpec> &tables) const {
  exportTables(getContext(), ::hsa::artifact::PageTableFormat::TokenIndices,
               config, budget, tables);
}
