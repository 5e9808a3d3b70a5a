//===- HSAToGPU.cpp - convert-hsa-to-gpu driver ---------------------------===//
//
// Checks that each layer is one the kernel generators support, then hands
// every stage op to its kernel family (one file per family).
//
//===----------------------------------------------------------------------===//

#include "hsa/Conversion/Passes.h"
#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "KernelBuilder.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace hsa {
#define GEN_PASS_DEF_CONVERTHSATOGPU
#include "hsa/Conversion/Passes.h.inc"
} // namespace hsa
} // namespace mlir

using namespace mlir;
using namespace mlir::hsa;

/// Configurations the kernel generators do not cover get a located error
/// instead of a wrong kernel.
LogicalResult mlir::hsa::checkVectorDims(LayerOp layer, EmitErrorFn emitError) {
  LayerConfigAttr config = layer.getConfig();
  int64_t lanes = kVectorBytes / config.getElementBytes();
  for (auto [what, dim] : {std::pair<StringRef, int64_t>{"key", config.getKeyRowElements()},
                           {"value", config.getValueDim()}})
    if (dim % lanes != 0)
      return emitError() << "cannot be lowered: the " << what << " dim ("
                         << dim << ") must be a multiple of " << lanes
                         << " (kernels move 16-byte vectors)";
  return success();
}

static LogicalResult checkSupported(Operation *op, LayerOp layer) {
  if (failed(checkVectorDims(layer, [&] {
        InFlightDiagnostic diag = op->emitOpError();
        diag.attachNote(layer.getLoc()) << "layer declared here";
        return diag;
      })))
    return failure();
  if (!layer.getAlgorithm().hasImplementation()) {
    InFlightDiagnostic diag = op->emitOpError()
                              << "cannot be lowered: algorithm '"
                              << layer.getAlgorithm().getAlgorithmName()
                              << "' has no kernels yet";
    diag.attachNote(layer.getLoc()) << "layer declared here";
    return diag;
  }
  return success();
}

namespace {
struct ConvertHSAToGPUPass
    : public hsa::impl::ConvertHSAToGPUBase<ConvertHSAToGPUPass> {
  using ConvertHSAToGPUBase::ConvertHSAToGPUBase;

  // The algorithm packages' kernels are models of their attributes: attach
  // them wherever the pass runs.
  void getDependentDialects(DialectRegistry &registry) const override {
    ConvertHSAToGPUBase::getDependentDialects(registry);
    registerAlgorithmKernels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The kernels go into this module's gpu.module and it becomes the
    // gpu.container_module: stage ops of a nested module would launch from
    // outside it (found by hsa-fuzz-passes).
    WalkResult nested = module.walk([&](Operation *op) {
      if (isa<ScoreOp, TopKOp, DiffOp, GatherOp, AttendOp, UpdateReprOp,
              RebuildReprOp, StoreKVOp, FusedOp>(op) &&
          op->getParentOfType<ModuleOp>() != module) {
        op->emitOpError() << "is in a nested module: convert-hsa-to-gpu "
                             "lowers stage ops of the module it runs on only "
                             "(run it on the nested module)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (nested.wasInterrupted())
      return signalPassFailure();
    // Fused groups: move their ops out, in order, and lower them together.
    SmallVector<std::pair<DiffOp, GatherOp>> diffGathers;
    SmallVector<std::pair<ScoreOp, TopKOp>> scoreTopKs;
    llvm::SmallPtrSet<Operation *, 8> fusedOps;
    SmallVector<FusedOp> fused;
    module.walk([&](FusedOp op) { fused.push_back(op); });
    for (FusedOp op : fused) {
      Block &body = op.getBody().front();
      Operation *first = &body.front(), *second = &body.back();
      first->moveBefore(op);
      second->moveBefore(op);
      fusedOps.insert({first, second});
      // The verifier admits these two kinds only.
      if (op.getKind() == "diff_gather")
        diffGathers.push_back({cast<DiffOp>(first), cast<GatherOp>(second)});
      else
        scoreTopKs.push_back({cast<ScoreOp>(first), cast<TopKOp>(second)});
      op->erase();
    }
    SmallVector<Operation *> stages;
    module.walk([&](Operation *op) {
      if (isa<ScoreOp, TopKOp, DiffOp, GatherOp, PageTableOp, AttendOp,
              UpdateReprOp, RebuildReprOp, StoreKVOp>(op) &&
          !fusedOps.contains(op))
        stages.push_back(op);
    });
    if (stages.empty() && fusedOps.empty())
      return;

    KernelOptions options;
    options.printPlans = printPlans;
    if (attentionSplitTokens < 1) {
      module.emitError() << "convert-hsa-to-gpu: attention-split-tokens must "
                            "be at least 1 (got "
                         << attentionSplitTokens.getValue() << ")";
      return signalPassFailure();
    }
    options.attentionSplitTokens = attentionSplitTokens;
    options.telemetry = telemetry;
    options.groupBound = groupBound;
    if (maxContext < 1) {
      module.emitError() << "convert-hsa-to-gpu: max-context must be at "
                            "least 1 token (got "
                         << maxContext.getValue() << ")";
      return signalPassFailure();
    }
    if (topkMultiBlockMinUnits < 0) {
      module.emitError() << "convert-hsa-to-gpu: topk-multiblock-min-units "
                            "must be at least 0 (got "
                         << topkMultiBlockMinUnits.getValue() << ")";
      return signalPassFailure();
    }
    options.maxContext = maxContext;
    options.topkMultiBlockMinUnits = topkMultiBlockMinUnits;
    options.fp8MMA = fp8MMA;
    options.wgmma = wgmma;
    options.mlaTensorCores = mlaTensorCores;
    options.topkCluster = topkCluster;
    KernelContext ctx(module, options);
    for (auto [diff, gather] : diffGathers) {
      if (failed(checkSupported(diff, getLayer(diff))) ||
          failed(lowerDiffGather(ctx, diff, gather)))
        return signalPassFailure();
    }
    for (auto [score, topk] : scoreTopKs) {
      if (failed(checkSupported(score, getLayer(score))) ||
          failed(lowerScore(ctx, score, topk)))
        return signalPassFailure();
    }
    for (Operation *op : stages) {
      LayerOp layer = getLayer(op);
      if (failed(checkSupported(op, layer)))
        return signalPassFailure();
      LogicalResult lowered =
          TypeSwitch<Operation *, LogicalResult>(op)
              .Case([&](ScoreOp s) { return lowerScore(ctx, s); })
              .Case([&](TopKOp s) { return lowerTopK(ctx, s); })
              .Case([&](DiffOp s) { return lowerDiff(ctx, s); })
              .Case([&](GatherOp s) { return lowerGather(ctx, s); })
              .Case([&](PageTableOp s) { return lowerPageTable(ctx, s); })
              .Case([&](AttendOp s) { return lowerAttend(ctx, s); })
              .Case([&](UpdateReprOp s) { return lowerUpdateRepr(ctx, s); })
              .Case([&](RebuildReprOp s) { return lowerRebuildRepr(ctx, s); })
              .Case([&](StoreKVOp s) { return lowerStoreKV(ctx, s); });
      if (failed(lowered))
        return signalPassFailure();
    }
  }
};
} // namespace
