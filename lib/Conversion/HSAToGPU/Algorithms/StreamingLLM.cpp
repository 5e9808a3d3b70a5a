//===- StreamingLLM.cpp - the StreamingLLM package's kernels -------------===//
//
// StreamingLLM (Xiao et al., 2024) keeps the attention sinks and a window of
// recent units and has no representations: one thread per unit writes +inf
// for forced units and -inf for every other unit (docs/RUNTIME.md: top-k
// never selects -inf), so top-k picks exactly the sinks and the window.
//
//===----------------------------------------------------------------------===//

#include "Algorithms.h"
#include "../ScoreFrame.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kMarkBlock = 256;

namespace {
/// The score kernel's arguments, in order.
struct StreamingScoreArgs {
  Value lengths, scores;
  ScoreFrame::TailArgs tail;
  SmallVector<Value *> fields() {
    return {&lengths, &scores, &tail.units, &tail.done, &tail.groupBound};
  }
};

/// One thread per unit; no shared memory of its own.
struct StreamingScorePlan {
  ScoreFramePlan frame;
  int64_t sinks, window;
  void print(raw_ostream &os) const {
    frame.print(os);
    os << "; marks sinks " << sinks << " and window " << window;
  }
};
} // namespace

static LogicalResult lowerStreamingScore(KernelContext &ctx, ScoreOp op,
                                         ScoreFrame &fused) {
  LayerOp layer = getLayer(op);
  const StreamingScorePlan plan{
      fused.plan(layer, kMarkBlock, kMarkBlock, /*scoreSharedBytes=*/0),
      layer.getForced().getSinks(), layer.getForced().getWindow()};
  const int64_t pageSize = layer.getConfig().getPageSize();
  const int64_t sinks = layer.getForced().getSinks();
  const int64_t window = layer.getForced().getWindow();
  const StreamingScoreArgs launchArgs{op.getLengths(), op.getScores(),
                                      fused.tailArgs()};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), operands, {kMarkBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        StreamingScoreArgs args = kernelArguments(fn, launchArgs);
        Value lengths = args.lengths, scores = args.scores;
        Value batch = b.blockId(gpu::Dimension::z);
        Value group = b.blockId(gpu::Dimension::y);
        Value u = b.add(b.mul(b.blockId(gpu::Dimension::x), b.index(kMarkBlock)),
                        b.threadId());
        Value units = b.dim(scores, 2);
        b.ifThen(b.cmp(Pred::ult, u, units), [&] {
          Value n = b.ceilDivU(b.toIndex(b.load(lengths, {batch})),
                               b.index(pageSize));
          // Non-forced valid units are never selected, like invalid ones.
          Value never = b.f32(-std::numeric_limits<double>::infinity());
          b.store(ScoreFrame::finalScore(b, u, n, never, sinks, window), scores,
                  {batch, group, u});
        });
        if (fused)
          fused.emitTail(b, fn, plan.frame, scores, lengths, args.tail, batch,
                         group);
      });
  ctx.notePlan(kernel, plan);
  fused.launch(ctx, op, kernel, plan.frame, operands);
  return success();
}

namespace {
struct StreamingLLMKernels
    : public AlgorithmKernelsAttrInterface::ExternalModel<StreamingLLMKernels,
                                                          StreamingLLMAttr> {
  LogicalResult verifyKernelLimits(Attribute, LayerOp, EmitErrorFn) const {
    return success();
  }
  LogicalResult lowerScore(Attribute, KernelContext &ctx, ScoreOp op,
                           ScoreFrame &frame) const {
    return lowerStreamingScore(ctx, op, frame);
  }
  // No representations: hsa-expand-algorithm builds no representation ops.
  LogicalResult lowerUpdateRepresentations(Attribute, KernelContext &,
                                           UpdateReprOp op) const {
    return op.emitOpError() << "streaming_llm has no representations";
  }
  LogicalResult lowerRebuildRepresentations(Attribute, KernelContext &,
                                            RebuildReprOp op) const {
    return op.emitOpError() << "streaming_llm has no representations";
  }
};
} // namespace

void mlir::hsa::registerStreamingLLMKernels(MLIRContext &context) {
  StreamingLLMAttr::attachInterface<StreamingLLMKernels>(context);
}
