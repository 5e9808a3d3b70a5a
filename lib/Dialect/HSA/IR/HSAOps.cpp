//===- HSAOps.cpp - hsa operations and their verifiers --------------------===//
//
// Every op that refers to a layer checks its operands against the layer's
// named buffers (docs/BUFFERS.md): shape, element type and placement tier.
// The tier checks are how the IR enforces the placement rules: score and
// attend read only device memory, gather copies host -> device, rebuild_repr
// reads the host pool into device representations, store_kv writes only the
// device buffer (the runtime writes the host pool).
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "hsa/layer_contract.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::hsa;

// The layer's algorithm and format are attribute interfaces; parse any
// attribute and say which kinds fit, instead of the generic "invalid kind of
// attribute specified".
template <typename InterfaceT>
static ParseResult parseInterfaceAttr(OpAsmParser &parser, InterfaceT &result,
                                      StringRef expected) {
  SMLoc loc = parser.getCurrentLocation();
  Attribute attr;
  if (parser.parseAttribute(attr))
    return failure();
  result = dyn_cast<InterfaceT>(attr);
  if (!result)
    return parser.emitError(loc) << "expected " << expected << ", got " << attr;
  return success();
}

static ParseResult parseAlgorithm(OpAsmParser &parser,
                                  SparseAlgorithmAttrInterface &algorithm) {
  return parseInterfaceAttr(parser, algorithm,
                            "a sparse-attention algorithm (#hsa.quest, "
                            "#hsa.streaming_llm, #hsa.dsa, #hsa.cluster_kv)");
}

static void printAlgorithm(OpAsmPrinter &printer, Operation *,
                           SparseAlgorithmAttrInterface algorithm) {
  printer.printAttribute(algorithm);
}

static ParseResult parseFormat(OpAsmParser &parser,
                               PageTableFormatAttrInterface &format) {
  return parseInterfaceAttr(parser, format,
                            "a page-table format (#hsa.native, "
                            "#hsa.flash_attn_block_table, #hsa.flashinfer_csr, "
                            "#hsa.token_indices)");
}

static void printFormat(OpAsmPrinter &printer, Operation *,
                        PageTableFormatAttrInterface format) {
  printer.printAttribute(format);
}

#define GET_OP_CLASSES
#include "hsa/Dialect/HSA/IR/HSAOps.cpp.inc"

//===----------------------------------------------------------------------===//
// LayerOp
//===----------------------------------------------------------------------===//

/// The layer attribute holding the buffers lowerings declared.
static constexpr StringLiteral kKernelBuffersAttr = "hsa.kernel_buffers";

DictionaryAttr mlir::hsa::encodeBufferSpec(MLIRContext *context,
                                           const BufferSpec &spec) {
  Builder b(context);
  SmallVector<Attribute> shape;
  for (int64_t dim : spec.shape) {
    switch (dim) {
    case kBatchDim: shape.push_back(b.getStringAttr("B")); break;
    case kUnitsDim: shape.push_back(b.getStringAttr("N")); break;
    case kPagesDim: shape.push_back(b.getStringAttr("pages")); break;
    case kBatchPlusOneDim: shape.push_back(b.getStringAttr("B+1")); break;
    default: shape.push_back(b.getI64IntegerAttr(dim)); break;
    }
  }
  return b.getDictionaryAttr({
      b.getNamedAttr("name", b.getStringAttr(spec.name)),
      b.getNamedAttr("tier", PlacementTierAttr::get(context, spec.tier)),
      b.getNamedAttr("element", TypeAttr::get(spec.elementType)),
      b.getNamedAttr("shape", b.getArrayAttr(shape)),
      b.getNamedAttr("fill", b.getI64IntegerAttr(spec.fill)),
  });
}

FailureOr<BufferSpec> mlir::hsa::decodeBufferSpec(DictionaryAttr entry) {
  auto name = entry.getAs<StringAttr>("name");
  auto tier = entry.getAs<PlacementTierAttr>("tier");
  auto element = entry.getAs<TypeAttr>("element");
  auto shape = entry.getAs<ArrayAttr>("shape");
  auto fill = entry.getAs<IntegerAttr>("fill");
  if (!name || !tier || !element || !shape || !fill)
    return failure();
  BufferSpec spec{name.str(), element.getValue(), {}, tier.getValue(),
                  fill.getInt()};
  for (Attribute dim : shape) {
    if (auto constant = dyn_cast<IntegerAttr>(dim)) {
      spec.shape.push_back(constant.getInt());
      continue;
    }
    auto symbol = dyn_cast<StringAttr>(dim);
    if (!symbol)
      return failure();
    int64_t value = llvm::StringSwitch<int64_t>(symbol.getValue())
                        .Case("B", kBatchDim)
                        .Case("N", kUnitsDim)
                        .Case("pages", kPagesDim)
                        .Case("B+1", kBatchPlusOneDim)
                        .Default(0);
    if (value == 0)
      return failure();
    spec.shape.push_back(value);
  }
  return spec;
}

double LayerOp::getEffectiveSoftmaxScale() {
  if (std::optional<APFloat> scale = getSoftmaxScale())
    return scale->convertToDouble();
  return 1.0 / std::sqrt(static_cast<double>(getConfig().getKeyDim()));
}

void LayerOp::getStateBuffers(SmallVectorImpl<BufferSpec> &specs) {
  namespace contract = ::hsa::artifact::contract;
  using Symbol = ::hsa::artifact::Symbol;
  LayerConfigAttr config = getConfig();
  MLIRContext *ctx = getContext();
  Type kv = config.getStoredType(), act = config.getActivationType();
  Type i32 = IntegerType::get(ctx, 32);
  Type f32 = Float32Type::get(ctx);
  int64_t hq = config.getQHeads(), hkv = config.getKvHeads();
  int64_t dk = config.getKeyDim(), dv = config.getValueDim();
  int64_t p = config.getPageSize(), s = config.getSelectionGroups();
  int64_t hu = config.getHeadsPerUnit();
  int64_t k = getBudget(), c = getBuffer().getCapacity();
  bool separateValues = !config.isLatent();
  auto host = PlacementTier::host, device = PlacementTier::device;

  auto add = [&](StringRef name, Type type, SmallVector<int64_t> shape,
                 PlacementTier tier, int64_t fill = 0) {
    specs.push_back({name.str(), type, std::move(shape), tier, fill});
  };
  // A contract dim: a constant of this layer, or a runtime size.
  auto dimOf = [&](Symbol symbol) -> int64_t {
    switch (symbol) {
    case Symbol::Batch: return kBatchDim;
    case Symbol::MaxUnits: return kUnitsDim;
    case Symbol::PoolPages: return kPagesDim;
    case Symbol::QHeads: return hq;
    case Symbol::KvHeads: return hkv;
    case Symbol::HeadDim: return dk;
    case Symbol::KeyRow: return config.getKeyRowElements();
    case Symbol::ValueDim: return dv;
    case Symbol::PageSize: return p;
    case Symbol::Groups: return s;
    case Symbol::HeadsPerUnit: return hu;
    case Symbol::Budget: return k;
    case Symbol::Capacity: return c;
    default: break;
    }
    llvm_unreachable("a symbol the layer contract does not use as a dim");
  };
  // The layer contract (runtime/include/hsa/layer_contract.def), the table
  // the runtime checks artifacts against.
  for (const contract::BufferEntry &entry : contract::buffers()) {
    if (entry.algorithm_buffers) {
      getAlgorithm().getRepresentations(config, specs);
      // The algorithm's own step inputs are I/O buffers of the layer too.
      for (StepKind kind : {StepKind::Decode, StepKind::Append})
        getAlgorithm().getStepInputs(config, kind, specs);
      continue;
    }
    if (entry.presence == contract::Presence::SeparateValues &&
        !separateValues)
      continue;
    SmallVector<int64_t> shape;
    for (uint32_t i = 0; i < entry.rank; ++i)
      shape.push_back(dimOf(entry.dims[i]));
    Type type = entry.element == contract::Element::Kv    ? kv
                : entry.element == contract::Element::Act ? act
                : entry.element == contract::Element::I32 ? i32
                                                          : f32;
    add(entry.name, type, std::move(shape),
        entry.tier == ::hsa::artifact::Tier::Host ? host : device,
        entry.fill == contract::Fill::MinusOne ? -1 : 0);
  }
  // Buffers a lowering's kernels declared (declareKernelBuffer): not part
  // of the contract; the runtime allocates what the artifact lists.
  if (auto declared = (*this)->getAttrOfType<ArrayAttr>(kKernelBuffersAttr))
    for (auto entry : declared.getAsRange<DictionaryAttr>())
      if (FailureOr<BufferSpec> spec = decodeBufferSpec(entry);
          succeeded(spec))
        specs.push_back(std::move(*spec));
  getFormat().getExportedTables(config, k, specs);
}

int64_t LayerOp::getBytesPerRequest(const BufferSpec &spec,
                                    int64_t contextTokens) {
  // Saturates at INT64_MAX: a context option far beyond any device must not
  // overflow (the attributes' bounds keep the layer's own dims small).
  const uint64_t pageSize = getConfig().getPageSize();
  const uint64_t units =
      contextTokens <= 0 ? 0 : (uint64_t(contextTokens) - 1) / pageSize + 1;
  bool overflow = false;
  uint64_t elements = 1;
  for (int64_t dim : spec.shape) {
    switch (dim) {
    case kBatchDim:
      break; // one request
    case kBatchPlusOneDim:
      break; // one row per request
    case kUnitsDim:
    case kPagesDim:
      elements = llvm::SaturatingMultiply(elements, units, &overflow);
      break;
    default:
      elements = llvm::SaturatingMultiply(elements, uint64_t(dim), &overflow);
    }
  }
  uint64_t bytes = llvm::SaturatingMultiply(
      elements, uint64_t(spec.elementType.getIntOrFloatBitWidth() / 8),
      &overflow);
  return int64_t(std::min<uint64_t>(bytes, INT64_MAX));
}

static bool sameSpec(const BufferSpec &a, const BufferSpec &b) {
  return a.name == b.name && a.elementType == b.elementType &&
         a.shape == b.shape && a.tier == b.tier && a.fill == b.fill;
}

LogicalResult LayerOp::declareKernelBuffer(const BufferSpec &spec) {
  if (FailureOr<BufferSpec> existing = getStateBuffer(spec.name);
      succeeded(existing))
    return success(sameSpec(*existing, spec));
  SmallVector<Attribute> entries;
  if (auto declared = (*this)->getAttrOfType<ArrayAttr>(kKernelBuffersAttr))
    llvm::append_range(entries, declared.getValue());
  entries.push_back(encodeBufferSpec(getContext(), spec));
  (*this)->setAttr(kKernelBuffersAttr, ArrayAttr::get(getContext(), entries));
  return success();
}

FailureOr<BufferSpec> LayerOp::getStateBuffer(StringRef name) {
  SmallVector<BufferSpec> specs;
  getStateBuffers(specs);
  for (BufferSpec &spec : specs)
    if (spec.name == name)
      return spec;
  return failure();
}

LogicalResult LayerOp::verify() {
  int64_t budget = getBudget();
  int64_t capacity = getBuffer().getCapacity();
  ForcedUnitsAttr forced = getForced();
  if (budget < 1)
    return emitOpError() << "budget must be at least 1 unit, got " << budget;
  if (budget > capacity)
    return emitOpError() << "budget (" << budget
                         << ") must not exceed the buffer capacity ("
                         << capacity << ")";
  if (forced.getSinks() + forced.getWindow() > budget)
    return emitOpError() << "forced units (sinks " << forced.getSinks()
                         << " + window " << forced.getWindow()
                         << ") must fit in the budget (" << budget << ")";
  if (std::optional<APFloat> scale = getSoftmaxScale()) {
    if (!scale->isFiniteNonZero() || scale->isNegative())
      return emitOpError() << "softmax_scale must be positive and finite";
  } else if (getConfig().isLatent()) {
    // 1/sqrt(key dim) is not an MLA model's scale (DeepSeek-V3.2's is
    // 192^-0.5 * mscale^2 over 576-wide keys): a default would be silently
    // wrong, so the layer must state it.
    return emitOpError()
           << "a latent (MLA) layer needs its model's softmax scale: add "
              "{softmax_scale = ... : f32} (DeepSeek-V3.2: 192^-0.5 * "
              "(0.1 * ln(40) + 1)^2 = 0.1353), 1/sqrt(latent_dim + rope_dim) "
              "is not it";
  }
  // Buffers a lowering declared: each a complete description and none twice
  // (getStateBuffers would otherwise drop a malformed entry silently and the
  // artifact would miss the buffer).
  if (Attribute declared = (*this)->getAttr(kKernelBuffersAttr)) {
    auto entries = dyn_cast<ArrayAttr>(declared);
    if (!entries)
      return emitOpError() << "'" << kKernelBuffersAttr
                           << "' must be an array of buffer descriptions";
    llvm::StringSet<> names;
    for (auto [index, entry] : llvm::enumerate(entries.getValue())) {
      auto dict = dyn_cast<DictionaryAttr>(entry);
      FailureOr<BufferSpec> spec =
          dict ? decodeBufferSpec(dict) : FailureOr<BufferSpec>(failure());
      if (failed(spec))
        return emitOpError()
               << "'" << kKernelBuffersAttr << "' entry " << index
               << " is not a buffer description {name, tier, element, shape "
                  "(integers or \"B\", \"N\", \"pages\", \"B+1\"), fill}";
      if (!names.insert(spec->name).second)
        return emitOpError() << "'" << kKernelBuffersAttr << "' declares '"
                             << spec->name << "' twice";
    }
  }
  auto emitError = [&]() { return emitOpError(); };
  if (failed(getAlgorithm().verifyLayer(emitError, getConfig(), budget,
                                        forced)) ||
      failed(getFormat().verifyLayer(emitError, getConfig())))
    return failure();
  // A registered lowering's limits (LoweringLimitsOpInterface).
  if (auto limits = dyn_cast<LoweringLimitsOpInterface>(getOperation()))
    return limits.verifyLoweringLimits();
  return success();
}

//===----------------------------------------------------------------------===//
// Operand checks against the layer's buffers
//===----------------------------------------------------------------------===//

static FailureOr<LayerOp> lookupLayer(Operation *op, FlatSymbolRefAttr ref,
                                      SymbolTableCollection &symbolTable) {
  auto layer = symbolTable.lookupNearestSymbolFrom<LayerOp>(op, ref);
  if (!layer)
    return op->emitOpError() << "'" << ref << "' does not reference an hsa.layer";
  return layer;
}

static std::string describeShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    switch (dim) {
    case kBatchDim: os << "B"; break;
    case kUnitsDim: os << "N"; break;
    case kPagesDim: os << "pages"; break;
    case kBatchPlusOneDim: os << "B+1"; break;
    default: os << dim;
    }
  });
  os << "]";
  return text;
}

static StringRef tierName(PlacementTier tier) { return stringifyPlacementTier(tier); }

/// Checks one memref operand against the named buffer it stands for. `rule`
/// says why the tier is required, for the diagnostic.
static LogicalResult verifyBuffer(Operation *op, StringRef operand, Value value,
                                  const BufferSpec &spec, StringRef rule) {
  auto type = cast<MemRefType>(value.getType());
  std::optional<PlacementTier> tier = getTier(type);
  if (!tier)
    return op->emitOpError()
           << "operand '" << operand << "' must be in the "
           << tierName(spec.tier) << " tier (" << rule
           << "), but its memory space is not an #hsa.tier";
  if (*tier != spec.tier)
    return op->emitOpError()
           << "operand '" << operand << "' must be in the "
           << tierName(spec.tier) << " tier (" << rule << "), but it is in the "
           << tierName(*tier) << " tier";
  if (type.getElementType() != spec.elementType)
    return op->emitOpError()
           << "operand '" << operand << "' must have element type "
           << spec.elementType << " (buffer '" << spec.name << "'), got "
           << type.getElementType();
  bool shapeMatches =
      type.getRank() == static_cast<int64_t>(spec.shape.size()) &&
      llvm::all_of(llvm::zip(type.getShape(), spec.shape), [](auto dims) {
        auto [actual, expected] = dims;
        return expected < 0 || actual == expected;
      });
  if (!shapeMatches)
    return op->emitOpError()
           << "operand '" << operand << "' must have shape "
           << describeShape(spec.shape) << " (buffer '" << spec.name
           << "'), got " << type;
  return success();
}

namespace {
/// One operand of an op and the named layer buffer it stands for.
struct Binding {
  StringRef operand;
  Value value;
  StringRef buffer;
};
} // namespace

static LogicalResult verifyBindings(Operation *op, LayerOp layer,
                                    ArrayRef<Binding> bindings,
                                    StringRef rule) {
  for (const Binding &binding : bindings) {
    if (!binding.value)
      continue;
    FailureOr<BufferSpec> spec = layer.getStateBuffer(binding.buffer);
    // Buffers a layer lacks (values of a latent layer) are caught by
    // verifyValuePresence with a clearer message.
    if (failed(spec))
      continue;
    if (failed(verifyBuffer(op, binding.operand, binding.value, *spec, rule)))
      return failure();
  }
  return success();
}

/// Latent (MLA) layers store one tensor; the others store keys and values.
static LogicalResult verifyValuePresence(Operation *op, LayerOp layer,
                                         StringRef operand, Value values) {
  bool latent = layer.getConfig().isLatent();
  if (latent && values)
    return op->emitOpError() << "takes no '" << operand
                             << "': a latent (MLA) layer stores one tensor";
  if (!latent && !values)
    return op->emitOpError() << "needs '" << operand
                             << "': the layer stores keys and values";
  return success();
}

/// The algorithm's own step inputs (getStepInputs), in its order.
static LogicalResult verifyStepInputs(Operation *op, LayerOp layer,
                                      StepKind kind, ValueRange inputs,
                                      StringRef rule) {
  SmallVector<BufferSpec> specs;
  layer.getAlgorithm().getStepInputs(layer.getConfig(), kind, specs);
  if (specs.size() != inputs.size()) {
    InFlightDiagnostic diag =
        op->emitOpError() << "expects " << specs.size()
                          << " algorithm input(s) for algorithm '"
                          << layer.getAlgorithm().getAlgorithmName() << "'";
    if (!specs.empty()) {
      diag << " (";
      llvm::interleaveComma(specs, diag,
                            [&](const BufferSpec &s) { diag << s.name; });
      diag << ")";
    }
    return diag << ", got " << inputs.size();
  }
  for (auto [spec, input] : llvm::zip(specs, inputs))
    if (failed(verifyBuffer(op, spec.name, input, spec, rule)))
      return failure();
  return success();
}

/// The algorithm's representations split by tier: the device ones (the
/// stage ops' `reprs`) and the host ones (in the host pool, paged like
/// host.k: their `host(...)` group), each in the order it lists them.
static void getRepresentationsByTier(LayerOp layer,
                                     SmallVectorImpl<BufferSpec> &device,
                                     SmallVectorImpl<BufferSpec> &host) {
  SmallVector<BufferSpec> specs;
  layer.getAlgorithm().getRepresentations(layer.getConfig(), specs);
  for (BufferSpec &spec : specs)
    (spec.tier == PlacementTier::host ? host : device).push_back(spec);
}

/// The device representations must be the algorithm's, in the order it
/// lists them.
static LogicalResult verifyRepresentations(Operation *op, LayerOp layer,
                                           ValueRange reprs, StringRef rule) {
  SmallVector<BufferSpec> specs, hostSpecs;
  getRepresentationsByTier(layer, specs, hostSpecs);
  if (specs.size() != reprs.size())
    return op->emitOpError()
           << "expects " << specs.size() << " representation(s) for algorithm '"
           << layer.getAlgorithm().getAlgorithmName() << "', got "
           << reprs.size();
  for (auto [spec, repr] : llvm::zip(specs, reprs))
    if (failed(verifyBuffer(op, spec.name, repr, spec, rule)))
      return failure();
  return success();
}

/// The host representations likewise (update_repr, rebuild_repr).
static LogicalResult verifyHostRepresentations(Operation *op, LayerOp layer,
                                               ValueRange reprs) {
  static constexpr StringLiteral rule =
      "host representations live in the host pool, beside host.k";
  SmallVector<BufferSpec> deviceSpecs, specs;
  getRepresentationsByTier(layer, deviceSpecs, specs);
  if (specs.size() != reprs.size()) {
    InFlightDiagnostic diag =
        op->emitOpError() << "expects " << specs.size()
                          << " host representation(s) for algorithm '"
                          << layer.getAlgorithm().getAlgorithmName() << "'";
    if (!specs.empty()) {
      diag << " (";
      llvm::interleaveComma(specs, diag,
                            [&](const BufferSpec &s) { diag << s.name; });
      diag << ")";
    }
    return diag << ", got " << reprs.size();
  }
  for (auto [spec, repr] : llvm::zip(specs, reprs))
    if (failed(verifyBuffer(op, spec.name, repr, spec, rule)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// StateOp
//===----------------------------------------------------------------------===//

LogicalResult StateOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer))
    return failure();
  FailureOr<BufferSpec> spec = layer->getStateBuffer(getName());
  if (failed(spec))
    return emitOpError() << "layer '" << getLayerAttr()
                         << "' has no state buffer named '" << getName() << "'";
  return verifyBuffer(*this, "result", getBuffer(), *spec,
                      "where the layer places this buffer");
}

//===----------------------------------------------------------------------===//
// High-level ops
//===----------------------------------------------------------------------===//

static constexpr StringLiteral kHighLevelRule =
    "layer inputs and outputs are device tensors";

LogicalResult PrefillOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"lengths", getLengths(), "req.length"}},
                        kHighLevelRule);
}

LogicalResult AppendOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyValuePresence(*this, *layer, "values", getValues())) ||
      failed(verifyStepInputs(*this, *layer, StepKind::Append, getInputs(),
                              kHighLevelRule)))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"keys", getKeys(), "io.new_k"},
                         {"values", getValues(), "io.new_v"},
                         {"lengths", getLengths(), "req.length"}},
                        kHighLevelRule);
}

LogicalResult
DecodeStepOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyStepInputs(*this, *layer, StepKind::Decode, getInputs(),
                              kHighLevelRule)))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"queries", getQueries(), "io.q"},
                         {"lengths", getLengths(), "req.length"},
                         {"output", getOutput(), "io.o"}},
                        kHighLevelRule);
}

//===----------------------------------------------------------------------===//
// Stage ops
//===----------------------------------------------------------------------===//

LogicalResult ScoreOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  static constexpr StringLiteral rule = "score reads only device memory";
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyBindings(*this, *layer,
                            {{"queries", getQueries(), "io.q"},
                             {"lengths", getLengths(), "req.length"},
                             {"scores", getScores(), "sel.scores"}},
                            rule)) ||
      failed(verifyStepInputs(*this, *layer, StepKind::Decode, getInputs(),
                              rule)))
    return failure();
  return verifyRepresentations(*this, *layer, getReprs(), rule);
}

LogicalResult TopKOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"scores", getScores(), "sel.scores"},
                         {"lengths", getLengths(), "req.length"},
                         {"units", getUnits(), "sel.units"}},
                        "topk selects on the device");
}

LogicalResult DiffOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"units", getUnits(), "sel.units"},
                         {"steps", getSteps(), "req.step"},
                         {"slot_unit", getSlotUnit(), "buf.slot_unit"},
                         {"last_used", getLastUsed(), "buf.last_used"},
                         {"unit_slot", getUnitSlot(), "buf.unit_slot"},
                         {"slots", getSlots(), "sel.slots"},
                         {"copy_units", getCopyUnits(), "sel.copy_units"},
                         {"copy_slots", getCopySlots(), "sel.copy_slots"},
                         {"copy_count", getCopyCount(), "sel.copy_count"}},
                        "the buffer's residency lives on the device");
}

LogicalResult
PageTableOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer))
    return failure();
  SmallVector<BufferSpec> tables;
  layer->getFormat().getExportedTables(layer->getConfig(), layer->getBudget(),
                                       tables);
  StringRef format = layer->getFormat().getFormatName();
  if (tables.empty())
    return emitOpError() << "has no tables to write: format '" << format
                         << "' exports none (hsa's own attention reads "
                            "sel.slots)";
  if (tables.size() != getTables().size()) {
    InFlightDiagnostic diag = emitOpError()
                              << "expects " << tables.size()
                              << " table(s) for format '" << format << "' (";
    llvm::interleaveComma(tables, diag,
                          [&](const BufferSpec &t) { diag << t.name; });
    return diag << "), got " << getTables().size();
  }
  SmallVector<Binding> bindings = {{"units", getUnits(), "sel.units"},
                                   {"slots", getSlots(), "sel.slots"},
                                   {"lengths", getLengths(), "req.length"}};
  for (auto [spec, table] : llvm::zip(tables, getTables()))
    bindings.push_back({"tables", table, spec.name});
  return verifyBindings(*this, *layer, bindings,
                        "the tables are written on the device");
}

LogicalResult GatherOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyValuePresence(*this, *layer, "host_values",
                                 getHostValues())) ||
      failed(verifyValuePresence(*this, *layer, "values", getValues())))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"copy_units", getCopyUnits(), "sel.copy_units"},
                         {"copy_slots", getCopySlots(), "sel.copy_slots"},
                         {"copy_count", getCopyCount(), "sel.copy_count"},
                         {"page_of", getPageOf(), "host.page_of"},
                         {"host_keys", getHostKeys(), "host.k"},
                         {"host_values", getHostValues(), "host.v"},
                         {"keys", getKeys(), "buf.k"},
                         {"values", getValues(), "buf.v"}},
                        "gather copies host -> device");
}

LogicalResult AttendOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyValuePresence(*this, *layer, "values", getValues())))
    return failure();
  return verifyBindings(*this, *layer,
                        {{"queries", getQueries(), "io.q"},
                         {"lengths", getLengths(), "req.length"},
                         {"units", getUnits(), "sel.units"},
                         {"slots", getSlots(), "sel.slots"},
                         {"keys", getKeys(), "buf.k"},
                         {"values", getValues(), "buf.v"},
                         {"output", getOutput(), "io.o"}},
                        "attend reads only device memory");
}

LogicalResult
UpdateReprOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  static constexpr StringLiteral rule = "representations live on the device";
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyBindings(*this, *layer,
                            {{"keys", getKeys(), "io.new_k"},
                             {"lengths", getLengths(), "req.length"}},
                            rule)) ||
      failed(verifyStepInputs(*this, *layer, StepKind::Append, getInputs(),
                              rule)) ||
      failed(verifyHostRepresentations(*this, *layer, getHostReprs())))
    return failure();
  // The token's host rows go to the page the runtime allocated for it.
  if (getHostReprs().empty() == static_cast<bool>(getPageOf()))
    return emitOpError() << "takes 'pages' exactly when it writes host "
                            "representations: their rows go to the token's "
                            "page of the host pool";
  if (failed(verifyBindings(
          *this, *layer, {{"page_of", getPageOf(), "host.page_of"}},
          "update_repr writes the host representations through the host "
          "pool's mapped address")))
    return failure();
  return verifyRepresentations(*this, *layer, getReprs(), rule);
}

LogicalResult
RebuildReprOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  static constexpr StringLiteral rule =
      "rebuild_repr reads the host pool into device representations";
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyBindings(*this, *layer,
                            {{"lengths", getLengths(), "req.length"},
                             {"page_of", getPageOf(), "host.page_of"},
                             {"host_keys", getHostKeys(), "host.k"}},
                            rule)) ||
      failed(verifyHostRepresentations(*this, *layer, getHostReprs())))
    return failure();
  return verifyRepresentations(*this, *layer, getReprs(), rule);
}

LogicalResult StoreKVOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FailureOr<LayerOp> layer = lookupLayer(*this, getLayerAttr(), symbolTable);
  if (failed(layer) ||
      failed(verifyValuePresence(*this, *layer, "values", getValues())) ||
      failed(verifyValuePresence(*this, *layer, "device_values",
                                 getDeviceValues())))
    return failure();
  // The host pool is written whole or not at all: keys, values and the page
  // table together.
  const bool host = getHostKeys() || getHostValues();
  if (host != static_cast<bool>(getPageOf()))
    return emitOpError()
           << "takes 'host' and 'pages' together: the token's host page "
              "comes from the page table";
  if (host && failed(verifyValuePresence(*this, *layer, "host_values",
                                         getHostValues())))
    return failure();
  return verifyBindings(
      *this, *layer,
      {{"keys", getKeys(), "io.new_k"},
       {"values", getValues(), "io.new_v"},
       {"lengths", getLengths(), "req.length"},
       {"unit_slot", getUnitSlot(), "buf.unit_slot"},
       {"device_keys", getDeviceKeys(), "buf.k"},
       {"device_values", getDeviceValues(), "buf.v"},
       {"host_keys", getHostKeys(), "host.k"},
       {"host_values", getHostValues(), "host.v"},
       {"page_of", getPageOf(), "host.page_of"}},
      "store_kv writes the resident copy in device memory and the host pool "
      "through its mapped address");
}

//===----------------------------------------------------------------------===//
// FusedOp
//===----------------------------------------------------------------------===//

bool FusedOp::isFusion(StringRef kind, Operation *first, Operation *second) {
  if (kind == "diff_gather") {
    auto diff = dyn_cast_or_null<DiffOp>(first);
    auto gather = dyn_cast_or_null<GatherOp>(second);
    return diff && gather && gather.getCopyUnits() == diff.getCopyUnits() &&
           gather.getCopySlots() == diff.getCopySlots() &&
           gather.getCopyCount() == diff.getCopyCount() &&
           gather.getLayer() == diff.getLayer();
  }
  if (kind == "score_topk") {
    auto score = dyn_cast_or_null<ScoreOp>(first);
    auto topk = dyn_cast_or_null<TopKOp>(second);
    return score && topk && topk.getScores() == score.getScores() &&
           topk.getLengths() == score.getLengths() &&
           topk.getLayer() == score.getLayer();
  }
  return false;
}

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  auto ops = llvm::to_vector(llvm::make_pointer_range(body.getOperations()));
  Operation *first = ops.size() == 2 ? ops[0] : nullptr;
  Operation *second = ops.size() == 2 ? ops[1] : nullptr;
  if (getKind() == "diff_gather") {
    if (!isa_and_present<DiffOp>(first) || !isa_and_present<GatherOp>(second))
      return emitOpError() << "'diff_gather' holds exactly one hsa.diff "
                              "followed by one hsa.gather";
    if (!isFusion(getKind(), first, second))
      return emitOpError() << "'diff_gather' needs the gather to copy the "
                              "diff's copy list of the same layer";
    return success();
  }
  if (getKind() == "score_topk") {
    if (!isa_and_present<ScoreOp>(first) || !isa_and_present<TopKOp>(second))
      return emitOpError() << "'score_topk' holds exactly one hsa.score "
                              "followed by one hsa.topk";
    if (!isFusion(getKind(), first, second))
      return emitOpError() << "'score_topk' needs the top-k to select from "
                              "the score's output, with the same lengths and "
                              "layer";
    return success();
  }
  return emitOpError() << "unknown fusion '" << getKind()
                       << "' (known: diff_gather, score_topk)";
}
