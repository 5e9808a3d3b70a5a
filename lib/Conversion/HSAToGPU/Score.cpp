//===- Score.cpp - the score frame and the dispatch to algorithms --------===//
//
// Writes `sel.scores[b][g][u]` (f32) for every u < N (dim 2 of the scores
// buffer): units past the context (u >= n[b] = ceil(L[b]/P)) score -inf,
// forced units (u < sinks or u >= n[b] - window) +inf, the others their
// algorithm's score. The algorithm's kernel (Algorithms/<Name>.cpp, an
// AlgorithmKernelsAttrInterface model of its attribute) computes that score
// inside the frame defined here: `ScoreFrame::finalScore` for forced and
// invalid units, the fused top-k tail and the launch (grid x over unit
// chunks, y groups, z batch).
//
// Fused with top-k (`hsa.fused "score_topk"`, kernel `<layer>_score_topk`):
// after writing its scores every block fences them and thread 0 counts the
// block in scratch.topk_done[b][g]; the block that counts last (the
// threadFenceReduction pattern, as the attention merge) selects the row's
// top-k with its threads (emitTopKRow, TopK.cpp) from the scores the other
// blocks left in L2, and puts the count back to 0. One launch and no kernel
// boundary between scoring and selection.
//
//===----------------------------------------------------------------------===//

#include "ScoreFrame.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

Value ScoreFrame::finalScore(KernelBuilder &b, Value u, Value n, Value bound,
                             int64_t sinks, int64_t window) {
  Value valid = b.cmp(Pred::ult, u, n);
  Value forced = b.orI(b.cmp(Pred::ult, u, b.index(sinks)),
                       b.cmp(Pred::uge, b.add(u, b.index(window)), n));
  Value inf = b.f32(std::numeric_limits<double>::infinity());
  Value ninf = b.f32(-std::numeric_limits<double>::infinity());
  return b.select(valid, b.select(forced, inf, bound), ninf);
}

void ScoreFrame::forChunk(KernelBuilder &b, Value chunkStart, Value n,
                          Value units, Value tid, Value ninf, Value scores,
                          Value batch, Value group, int64_t unitsPerBlock,
                          int64_t blockSize, function_ref<void()> scoreChunk) {
  b.ifThenElse(
      b.cmp(Pred::ult, chunkStart, n), {},
      [&]() -> SmallVector<Value> {
        scoreChunk();
        return {};
      },
      [&]() -> SmallVector<Value> {
        // The whole chunk lies past the context.
        b.forRange(tid, b.index(unitsPerBlock), b.index(blockSize),
                   [&](Value item) {
          Value u = b.add(chunkStart, item);
          b.ifThen(b.cmp(Pred::ult, u, units),
                   [&] { b.store(ninf, scores, {batch, group, u}); });
        });
        return {};
      });
}

FailureOr<ScoreFrame> ScoreFrame::get(const KernelContext &ctx, ScoreOp op,
                                      LayerOp layer, TopKOp topk) {
  ScoreFrame frame;
  frame.topk = topk;
  if (!topk)
    return frame;
  if (failed(checkTopK(topk)))
    return failure();
  // Score blocks finished per (request, group): the last one selects, then
  // puts the count back to 0.
  FailureOr<Value> done = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.topk_done", IntegerType::get(op.getContext(), 32),
       {kBatchDim, layer.getConfig().getSelectionGroups()},
       PlacementTier::device, 0});
  if (failed(done))
    return failure();
  frame.done = *done;
  FailureOr<Value> groupBound = groupBoundBuffer(ctx, op, layer);
  if (failed(groupBound))
    return failure();
  frame.groupBound = *groupBound;
  return frame;
}

ScoreFrame::TailArgs ScoreFrame::tailArgs() const {
  if (!topk)
    return {};
  return {TopKOp(topk).getUnits(), done, groupBound};
}

ScoreFramePlan ScoreFrame::plan(LayerOp layer, int64_t unitsPerBlock,
                                int64_t blockSize,
                                int64_t scoreSharedBytes) const {
  ScoreFramePlan p;
  p.groups = layer.getConfig().getSelectionGroups();
  p.unitsPerBlock = unitsPerBlock;
  p.blockSize = blockSize;
  p.scoreSharedBytes = scoreSharedBytes;
  p.fused = bool(topk);
  if (p.fused) {
    p.tail.blockSize = blockSize;
    p.tail.budget = layer.getBudget();
    // The tail's arrival count (one i32) follows the score's buffers.
    p.tail.stagedKeys = stagedKeysThatFit(
        int64_t(llvm::alignTo(scoreSharedBytes, 16)) + 4, blockSize);
  }
  return p;
}

int64_t ScoreFramePlan::sharedBytes() const {
  if (!fused)
    return scoreSharedBytes;
  // + arrival, then emitTopKRow's histogram, scan, state and staged keys.
  int64_t bytes = llvm::alignTo(scoreSharedBytes, 16) + 4;
  for (int64_t buffer : {int64_t(2048 * 4),
                         (tail.blockSize / kWarpSize + 1) * 4, int64_t(16),
                         tail.stagedKeys * 4})
    if (buffer > 0)
      bytes = llvm::alignTo(bytes, 16) + buffer;
  return bytes;
}

void ScoreFramePlan::print(raw_ostream &os) const {
  os << "grid (ceil(N / " << unitsPerBlock << "), " << groups
     << " groups, B) block " << blockSize << " shared " << sharedBytes();
  if (fused) {
    os << "; fused top-k tail: ";
    tail.print(os);
  }
}

void ScoreFrame::emitTail(KernelBuilder &b, gpu::GPUFuncOp fn,
                          const ScoreFramePlan &plan, Value scores,
                          Value lengths, const TailArgs &tail, Value batch,
                          Value group, function_ref<void()> afterSelection) {
  const int64_t blockSize = plan.blockSize;
  Value arrival = KernelContext::addSharedBuffer(fn, {1}, b.getI32Type());
  b.lastArrival(
      tail.done, {batch, group}, arrival,
      [&] { return b.sub(b.toI32(b.gridDim()), b.i32(1)); },
      [&] {
        TopKRow row = topKRowOf(topk, scores, lengths, tail.units, batch,
                                group, blockSize);
        row.groupBound = tail.groupBound;
        row.stagedKeys = plan.tail.stagedKeys;
        assert(row.stagedKeys == stagedKeysThatFit(fn, blockSize) &&
               "the plan's shared memory is the kernel's");
        emitTopKRow(b, fn, row);
        if (afterSelection) {
          b.barrier();
          afterSelection();
        }
      });
}

void ScoreFrame::launch(KernelContext &ctx, ScoreOp op, gpu::GPUFuncOp kernel,
                        const ScoreFramePlan &plan, ValueRange operands) {
  const int64_t unitsPerBlock = plan.unitsPerBlock;
  const int64_t blockSize = plan.blockSize;
  OpBuilder builder(op);
  Location loc = op.getLoc();
  Value units = memref::DimOp::create(builder, loc, op.getScores(), 2);
  LaunchShape shape;
  shape.gridX = arith::CeilDivUIOp::create(
      builder, loc, units,
      arith::ConstantIndexOp::create(builder, loc, unitsPerBlock));
  shape.gridY = memref::DimOp::create(builder, loc, op.getScores(), 1);
  shape.gridZ = memref::DimOp::create(builder, loc, op.getScores(), 0);
  shape.blockX = blockSize;
  ctx.launch(op, kernel, shape, operands);
  if (topk)
    topk->erase();
}

/// The algorithm's kernels, or a located error at `op`.
static FailureOr<AlgorithmKernelsAttrInterface> getKernels(Operation *op,
                                                           LayerOp layer) {
  auto kernels = dyn_cast<AlgorithmKernelsAttrInterface>(
      Attribute(layer.getAlgorithm()));
  if (!kernels)
    return op->emitOpError() << "has no kernels for algorithm '"
                             << layer.getAlgorithm().getAlgorithmName()
                             << "' (no AlgorithmKernelsAttrInterface model "
                                "is registered for it)";
  return kernels;
}

LogicalResult mlir::hsa::checkScoreLimits(LayerOp layer,
                                          EmitErrorFn emitError) {
  auto kernels = dyn_cast<AlgorithmKernelsAttrInterface>(
      Attribute(layer.getAlgorithm()));
  return kernels ? kernels.verifyKernelLimits(layer, emitError) : success();
}

LogicalResult mlir::hsa::lowerScore(KernelContext &ctx, ScoreOp op,
                                    TopKOp fusedTopK) {
  LayerOp layer = getLayer(op);
  FailureOr<AlgorithmKernelsAttrInterface> kernels = getKernels(op, layer);
  if (failed(kernels))
    return failure();
  FailureOr<ScoreFrame> frame = ScoreFrame::get(ctx, op, layer, fusedTopK);
  if (failed(frame))
    return failure();
  return kernels->lowerScore(ctx, op, *frame);
}

LogicalResult mlir::hsa::lowerUpdateRepr(KernelContext &ctx, UpdateReprOp op) {
  FailureOr<AlgorithmKernelsAttrInterface> kernels =
      getKernels(op, getLayer(op));
  if (failed(kernels))
    return failure();
  return kernels->lowerUpdateRepresentations(ctx, op);
}

LogicalResult mlir::hsa::lowerRebuildRepr(KernelContext &ctx,
                                          RebuildReprOp op) {
  FailureOr<AlgorithmKernelsAttrInterface> kernels =
      getKernels(op, getLayer(op));
  if (failed(kernels))
    return failure();
  return kernels->lowerRebuildRepresentations(ctx, op);
}
