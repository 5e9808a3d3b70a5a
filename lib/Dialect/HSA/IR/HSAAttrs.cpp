//===- HSAAttrs.cpp - hsa attributes: config, buffer, forced units -------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "hsa/artifact_format.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hsa;

#include "hsa/Dialect/HSA/IR/HSAEnums.cpp.inc"
#include "hsa/Dialect/HSA/IR/HSAInterfaces.cpp.inc"
#include "hsa/Dialect/HSA/IR/HSAOpInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "hsa/Dialect/HSA/IR/HSAAttrs.cpp.inc"

void HSADialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "hsa/Dialect/HSA/IR/HSAAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// LayerConfigAttr
//===----------------------------------------------------------------------===//

// Upper bounds far above any model, so that every size the compiler and the
// runtime derive (products of heads, dims, pages, units) fits in int64.
static constexpr int64_t kMaxHeads = 4096;
static constexpr int64_t kMaxHeadDim = 65536;
static constexpr int64_t kMaxPageSize = 1 << 20;
static constexpr int64_t kMaxUnits = 1 << 24;

LogicalResult
LayerConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t qHeads, int64_t kvHeads,
                        std::optional<int64_t> headDim,
                        std::optional<int64_t> latentDim,
                        std::optional<int64_t> ropeDim, Type kvDtype,
                        int64_t pageSize, SelectionScope scope) {
  if (qHeads <= 0 || kvHeads <= 0)
    return emitError() << "q_heads (" << qHeads << ") and kv_heads ("
                       << kvHeads << ") must be positive";
  if (qHeads > kMaxHeads || kvHeads > kMaxHeads)
    return emitError() << "q_heads (" << qHeads << ") and kv_heads ("
                       << kvHeads << ") must be at most " << kMaxHeads;
  if (qHeads % kvHeads != 0)
    return emitError() << "q_heads (" << qHeads
                       << ") must be a multiple of kv_heads (" << kvHeads
                       << ")";
  if (headDim.has_value() == latentDim.has_value())
    return emitError() << "give either head_dim, or latent_dim and rope_dim "
                          "for a latent (MLA) layer";
  if (latentDim.has_value() != ropeDim.has_value())
    return emitError() << "latent_dim and rope_dim go together";
  for (std::optional<int64_t> dim : {headDim, latentDim, ropeDim})
    if (dim && *dim <= 0)
      return emitError() << "head and latent dims must be positive, got "
                         << *dim;
    else if (dim && *dim > kMaxHeadDim)
      return emitError() << "head and latent dims must be at most "
                         << kMaxHeadDim << ", got " << *dim;
  if (latentDim && kvHeads != 1)
    return emitError() << "a latent (MLA) layer has one KV head, got kv_heads = "
                       << kvHeads;
  if (isa<Float8E4M3FNType>(kvDtype)) {
    // FlashMLA's fp8 latent row: the layout only exists for a latent cache.
    if (!latentDim)
      return emitError() << "kv_dtype f8E4M3FN is FlashMLA's fp8 latent row "
                            "and needs a latent (MLA) layer (latent_dim and "
                            "rope_dim); use bf16 or f16 here";
    if (*latentDim % ::hsa::artifact::kFp8LatentTile != 0)
      return emitError() << "an fp8 latent row has one scale per "
                         << ::hsa::artifact::kFp8LatentTile
                         << " latent elements: latent_dim must be a multiple "
                            "of it, got "
                         << *latentDim;
    uint32_t rowBytes = ::hsa::artifact::fp8_latent_row_bytes(
        uint32_t(*latentDim), uint32_t(*ropeDim));
    if (rowBytes % 16 != 0)
      return emitError() << "an fp8 latent row of " << *latentDim << " + "
                         << *ropeDim << " dims is " << rowBytes
                         << " bytes, not a multiple of 16 (kernels copy rows "
                            "in 16-byte vectors)";
  } else if (!kvDtype.isBF16() && !kvDtype.isF16()) {
    return emitError() << "kv_dtype must be bf16, f16 or (latent layers) "
                          "f8E4M3FN, got "
                       << kvDtype;
  }
  if (pageSize <= 0)
    return emitError() << "page_size must be positive, got " << pageSize;
  if (pageSize > kMaxPageSize)
    return emitError() << "page_size must be at most " << kMaxPageSize
                       << " tokens, got " << pageSize;
  return success();
}

int64_t LayerConfigAttr::getKeyDim() const {
  return isLatent() ? *getLatentDim() + *getRopeDim() : *getHeadDim();
}

int64_t LayerConfigAttr::getValueDim() const {
  return isLatent() ? *getLatentDim() : *getHeadDim();
}

int64_t LayerConfigAttr::getSelectionGroups() const {
  return getScope() == SelectionScope::kv_head ? getKvHeads() : 1;
}

int64_t LayerConfigAttr::getHeadsPerUnit() const {
  return getKvHeads() / getSelectionGroups();
}

bool LayerConfigAttr::isFp8Latent() const {
  return isa<Float8E4M3FNType>(getKvDtype());
}

Type LayerConfigAttr::getStoredType() const {
  return isFp8Latent() ? IntegerType::get(getContext(), 8) : getKvDtype();
}

Type LayerConfigAttr::getActivationType() const {
  return isFp8Latent() ? BFloat16Type::get(getContext()) : getKvDtype();
}

int64_t LayerConfigAttr::getKeyRowElements() const {
  if (isFp8Latent())
    return ::hsa::artifact::fp8_latent_row_bytes(uint32_t(*getLatentDim()),
                                                 uint32_t(*getRopeDim()));
  return getKeyDim();
}

int64_t LayerConfigAttr::getElementBytes() const {
  return getStoredType().getIntOrFloatBitWidth() / 8;
}

int64_t LayerConfigAttr::getUnitBytes() const {
  int64_t rowElements =
      getKeyRowElements() + (isLatent() ? 0 : getValueDim());
  return getHeadsPerUnit() * getPageSize() * rowElements * getElementBytes();
}

//===----------------------------------------------------------------------===//
// BufferPolicyAttr, ForcedUnitsAttr
//===----------------------------------------------------------------------===//

LogicalResult
BufferPolicyAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t capacity, EvictionPolicy) {
  if (capacity <= 0)
    return emitError() << "buffer capacity must be positive, got " << capacity;
  if (capacity > kMaxUnits)
    return emitError() << "buffer capacity must be at most " << kMaxUnits
                       << " units, got " << capacity;
  return success();
}

LogicalResult
ForcedUnitsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t sinks, int64_t window) {
  if (sinks < 0)
    return emitError() << "sinks must be non-negative, got " << sinks;
  if (window < 1)
    return emitError() << "window must be at least 1 (it always holds the "
                          "unit being written), got "
                       << window;
  if (sinks > kMaxUnits || window > kMaxUnits)
    return emitError() << "sinks (" << sinks << ") and window (" << window
                       << ") must be at most " << kMaxUnits << " units";
  return success();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

MemRefType mlir::hsa::getBufferType(const BufferSpec &spec) {
  SmallVector<int64_t> shape;
  for (int64_t dim : spec.shape)
    shape.push_back(dim < 0 ? ShapedType::kDynamic : dim);
  return MemRefType::get(shape, spec.elementType, MemRefLayoutAttrInterface(),
                         PlacementTierAttr::get(spec.elementType.getContext(),
                                       spec.tier));
}

std::optional<PlacementTier> mlir::hsa::getTier(MemRefType type) {
  if (auto tier = dyn_cast_or_null<PlacementTierAttr>(type.getMemorySpace()))
    return tier.getValue();
  return std::nullopt;
}
