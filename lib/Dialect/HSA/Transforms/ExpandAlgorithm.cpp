//===- ExpandAlgorithm.cpp - high-level ops to stage ops ------------------===//
//
// decode_step becomes score -> topk -> diff -> gather -> attend; prefill and
// append become store_kv plus the algorithm's representation update. The
// algorithm-specific parts come from SparseAlgorithmAttrInterface, so adding
// an algorithm never touches this pass.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/Transforms/Passes.h"

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
                     StateCache &states)
      : StageBuilder(builder, user->getLoc(), layer), user(user),
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
                   buf("req.page_of"), buf("host.k"),
                   latent ? Value() : buf("host.v"), keys, values);
  AttendOp::create(b, loc, ref, op.getQueries(), op.getLengths(), units, slots,
                   keys, values, op.getOutput());
  return success();
}

template <typename WriteOp>
static LogicalResult expandWrite(WriteOp op, LayerOp layer,
                                 StageBuilder &stages) {
  OpBuilder &b = stages.getBuilder();
  auto buf = [&](StringRef name) { return stages.getBuffer(name); };
  bool latent = layer.getConfig().isLatent();
  Value lengths = buf("req.length");
  StoreKVOp::create(b, op.getLoc(), op.getLayerAttr(), op.getKeys(),
                    op.getValues(), op.getCounts(), lengths,
                    buf("req.page_of"), buf("buf.unit_slot"), buf("host.k"),
                    latent ? Value() : buf("host.v"), buf("buf.k"),
                    latent ? Value() : buf("buf.v"));
  return layer.getAlgorithm().buildUpdateRepresentations(
      stages, op.getKeys(), op.getCounts(), lengths);
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
    OpBuilder builder(op);
    ExpandStageBuilder stages(builder, op, layer, states);
    LogicalResult expanded =
        TypeSwitch<Operation *, LogicalResult>(op)
            .Case<DecodeStepOp>([&](auto step) {
              return expandDecodeStep(step, layer, stages);
            })
            .Case<PrefillOp, AppendOp>(
                [&](auto write) { return expandWrite(write, layer, stages); });
    if (failed(expanded))
      return signalPassFailure();
    op->erase();
  }
}
