//===- ExpandAlgorithm.cpp - high-level ops to stage ops ------------------===//
//
// decode_step becomes score -> topk -> diff -> gather -> attend; append
// becomes store_kv plus the algorithm's representation update; prefill
// becomes the algorithm's representation rebuild from the host pool (the
// runtime writes the host pool itself, docs/RUNTIME.md). The
// algorithm-specific parts come from SparseAlgorithmAttrInterface, so adding
// an algorithm never touches this pass.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace hsa {
#define GEN_PASS_DEF_HSAEXPANDALGORITHM
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"
} // namespace hsa
} // namespace mlir

using namespace mlir;
using namespace mlir::hsa;

namespace {

/// Hands out one `hsa.state` op per (layer, buffer name) and function,
/// created at the start of the function (in order of first use) so every
/// stage can use it.
class StateCache {
public:
  Value get(LayerOp layer, StringRef name, Operation *user) {
    Operation *scope = user->getParentWithTrait<OpTrait::IsIsolatedFromAbove>();
    Block &entry = scope->getRegion(0).front();
    std::string key = (layer.getSymName() + "/" + name).str();
    auto &perScope = cache[scope];
    auto it = perScope.find(key);
    if (it != perScope.end())
      return it->second;
    FailureOr<BufferSpec> spec = layer.getStateBuffer(name);
    assert(succeeded(spec) && "stage builders ask only for listed buffers");
    Operation *&last = lastState[scope];
    OpBuilder builder = last ? OpBuilder(last->getBlock(), ++Block::iterator(last))
                             : OpBuilder::atBlockBegin(&entry);
    Value buffer =
        StateOp::create(builder, layer.getLoc(), Type(getBufferType(*spec)),
                        layer.getSymName(), name);
    perScope[key] = buffer;
    last = buffer.getDefiningOp();
    return buffer;
  }

private:
  DenseMap<Operation *, llvm::StringMap<Value>> cache;
  DenseMap<Operation *, Operation *> lastState;
};

class ExpandStageBuilder : public StageBuilder {
public:
  ExpandStageBuilder(OpBuilder &builder, Operation *user, LayerOp layer,
                     ValueRange stepInputs, StateCache &states)
      : StageBuilder(builder, user->getLoc(), layer, stepInputs), user(user),
        states(states) {}
  Value getBuffer(StringRef name) override {
    return states.get(layer, name, user);
  }

private:
  Operation *user;
  StateCache &states;
};

struct ExpandAlgorithmPass
    : public hsa::impl::HSAExpandAlgorithmBase<ExpandAlgorithmPass> {
  void runOnOperation() override;
};

} // namespace

static LogicalResult expandDecodeStep(DecodeStepOp op, LayerOp layer,
                                      StageBuilder &stages) {
  OpBuilder &b = stages.getBuilder();
  Location loc = op.getLoc();
  FlatSymbolRefAttr ref = op.getLayerAttr();
  auto buf = [&](StringRef name) { return stages.getBuffer(name); };
  bool latent = layer.getConfig().isLatent();

  Value scores = buf("sel.scores");
  if (failed(layer.getAlgorithm().buildScore(stages, op.getQueries(),
                                             op.getLengths(), scores)))
    return failure();
  Value units = buf("sel.units");
  TopKOp::create(b, loc, ref, scores, op.getLengths(), units);
  Value slots = buf("sel.slots"), copyUnits = buf("sel.copy_units"),
        copySlots = buf("sel.copy_slots"), copyCount = buf("sel.copy_count");
  DiffOp::create(b, loc, ref, units, buf("req.step"), buf("buf.slot_unit"),
                 buf("buf.last_used"), buf("buf.unit_slot"), slots, copyUnits,
                 copySlots, copyCount);
  Value keys = buf("buf.k");
  Value values = latent ? Value() : buf("buf.v");
  GatherOp::create(b, loc, ref, copyUnits, copySlots, copyCount,
                   buf("host.page_of"), buf("host.k"),
                   latent ? Value() : buf("host.v"), keys, values);
  // The format's tables for an external attention kernel, from the
  // selection and its slots (after the gather: diff and gather fuse).
  SmallVector<BufferSpec> exported;
  layer.getFormat().getExportedTables(layer.getConfig(), layer.getBudget(),
                                      exported);
  if (!exported.empty()) {
    SmallVector<Value> tables;
    for (const BufferSpec &table : exported)
      tables.push_back(buf(table.name));
    PageTableOp::create(b, loc, ref, units, slots, op.getLengths(), tables);
  }
  AttendOp::create(b, loc, ref, op.getQueries(), op.getLengths(), units, slots,
                   keys, values, op.getOutput());
  return success();
}

/// One token per request: store_kv writes it to the host pool (its page is
/// allocated by the runtime) and to its resident slot, then the
/// representations follow it. Writing the pool on the device is what lets
/// the K/V come from device memory inside the caller's graph.
static LogicalResult expandAppend(AppendOp op, LayerOp layer,
                                  StageBuilder &stages) {
  auto buf = [&](StringRef name) { return stages.getBuffer(name); };
  bool latent = layer.getConfig().isLatent();
  Value unitSlot = buf("buf.unit_slot");
  Value keys = buf("buf.k");
  Value values = latent ? Value() : buf("buf.v");
  Value hostValues = latent ? Value() : buf("host.v");
  StoreKVOp::create(stages.getBuilder(), op.getLoc(), op.getLayerAttr(),
                    op.getKeys(), op.getValues(), op.getLengths(), unitSlot,
                    keys, values, buf("host.k"), hostValues,
                    buf("host.page_of"));
  return layer.getAlgorithm().buildUpdateRepresentations(stages, op.getKeys(),
                                                         op.getLengths());
}

/// The runtime has written the prompts to the host pool; the representations
/// are rebuilt from there.
static LogicalResult expandPrefill(PrefillOp op, LayerOp layer,
                                   StageBuilder &stages) {
  return layer.getAlgorithm().buildRebuildRepresentations(stages,
                                                          op.getLengths());
}

/// Records, for hsa-translate, which launch plan the enclosing function is
/// (`hsa.entry`) and which layer buffer each of its arguments is
/// (`hsa.buffer`): after expansion the kernels only see memrefs.
static LogicalResult annotateEntry(Operation *op, LayerOp layer) {
  auto func = dyn_cast<func::FuncOp>(op->getParentOp());
  if (!func)
    return success();
  StringRef plan;
  SmallVector<std::pair<Value, StringRef>> operands;
  // The algorithm's step inputs bind to the buffers it names for them.
  SmallVector<BufferSpec> inputSpecs;
  auto addStepInputs = [&](StepKind kind, ValueRange inputs) {
    layer.getAlgorithm().getStepInputs(layer.getConfig(), kind, inputSpecs);
    for (auto [spec, input] : llvm::zip(inputSpecs, inputs))
      operands.push_back({input, spec.name});
  };
  if (auto step = dyn_cast<DecodeStepOp>(op)) {
    plan = "decode_step";
    operands = {{step.getQueries(), "io.q"},
                {step.getLengths(), "req.length"},
                {step.getOutput(), "io.o"}};
    addStepInputs(StepKind::Decode, step.getInputs());
  } else if (auto append = dyn_cast<AppendOp>(op)) {
    plan = "append";
    operands = {{append.getKeys(), "io.new_k"},
                {append.getLengths(), "req.length"}};
    if (append.getValues())
      operands.push_back({append.getValues(), "io.new_v"});
    addStepInputs(StepKind::Append, append.getInputs());
  } else {
    plan = "prefill";
    operands = {{cast<PrefillOp>(op).getLengths(), "req.length"}};
  }
  auto existing = func->getAttrOfType<StringAttr>("hsa.entry");
  if (existing && existing.getValue() != plan)
    return op->emitOpError() << "shares its function with an hsa."
                             << existing.getValue()
                             << ": each function is one launch plan";
  Builder b(op->getContext());
  func->setAttr("hsa.entry", b.getStringAttr(plan));
  for (auto [value, name] : operands) {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      continue;
    auto bound = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                   "hsa.buffer");
    if (bound && bound.getValue() != name)
      return op->emitOpError()
             << "uses function argument #" << arg.getArgNumber() << " as '"
             << name << "', but it is already '" << bound.getValue() << "'";
    func.setArgAttr(arg.getArgNumber(), "hsa.buffer", b.getStringAttr(name));
  }
  return success();
}

void ExpandAlgorithmPass::runOnOperation() {
  SymbolTableCollection symbols;
  StateCache states;
  SmallVector<Operation *> highLevel;
  getOperation().walk([&](Operation *op) {
    if (isa<DecodeStepOp, PrefillOp, AppendOp>(op))
      highLevel.push_back(op);
  });

  for (Operation *op : highLevel) {
    auto ref = op->getAttrOfType<FlatSymbolRefAttr>("layer");
    auto layer = symbols.lookupNearestSymbolFrom<LayerOp>(op, ref);
    if (!layer) {
      op->emitOpError() << "'" << ref << "' does not reference an hsa.layer";
      return signalPassFailure();
    }
    SparseAlgorithmAttrInterface algorithm = layer.getAlgorithm();
    if (!algorithm.hasImplementation()) {
      InFlightDiagnostic diag = op->emitOpError()
                                << "cannot be expanded: algorithm '"
                                << algorithm.getAlgorithmName()
                                << "' has no implementation yet";
      diag.attachNote(layer.getLoc()) << "layer declared here";
      return signalPassFailure();
    }
    if (failed(annotateEntry(op, layer)))
      return signalPassFailure();
    OpBuilder builder(op);
    ValueRange stepInputs;
    if (auto step = dyn_cast<DecodeStepOp>(op))
      stepInputs = step.getInputs();
    else if (auto append = dyn_cast<AppendOp>(op))
      stepInputs = append.getInputs();
    ExpandStageBuilder stages(builder, op, layer, stepInputs, states);
    LogicalResult expanded =
        TypeSwitch<Operation *, LogicalResult>(op)
            .Case<DecodeStepOp>([&](auto step) {
              return expandDecodeStep(step, layer, stages);
            })
            .Case<AppendOp>([&](auto append) {
              return expandAppend(append, layer, stages);
            })
            .Case<PrefillOp>([&](auto prefill) {
              return expandPrefill(prefill, layer, stages);
            });
    if (failed(expanded))
      return signalPassFailure();
    op->erase();
  }
}
