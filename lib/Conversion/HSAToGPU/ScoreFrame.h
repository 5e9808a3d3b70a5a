//===- ScoreFrame.h - what every score kernel shares -------------*- C++ -*-===//
//
// Private to lib/Conversion/HSAToGPU. An algorithm's score kernel
// (Algorithms/<Name>.cpp) computes its units' scores inside this frame:
// finalScore marks forced and invalid units, emitTail is the fused top-k of
// the row (when score and top-k are one kernel), launch replaces the score
// op (and the fused top-k op) by the kernel's launch.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_LIB_CONVERSION_HSATOGPU_SCOREFRAME_H
#define HSA_LIB_CONVERSION_HSATOGPU_SCOREFRAME_H

#include "KernelBuilder.h"

namespace mlir {
namespace hsa {

/// The frame's part of a score kernel's plan: the grid (x over chunks of
/// `unitsPerBlock` units, y groups, z batch), the block and, fused, the
/// top-k row of the tail.
struct ScoreFramePlan {
  int64_t groups = 1, unitsPerBlock = 1, blockSize = 1;
  /// Static shared memory of the algorithm's score part.
  int64_t scoreSharedBytes = 0;
  bool fused = false;
  TopKRowPlan tail;
  /// Static shared memory of the whole kernel.
  int64_t sharedBytes() const;
  void print(raw_ostream &os) const;
};

class ScoreFrame {
public:
  /// The frame of `op`; with `topk`, a score + top-k kernel (its arguments
  /// sel.units and scratch.topk_done follow the score kernel's own).
  static FailureOr<ScoreFrame> get(const KernelContext &ctx, ScoreOp op,
                                   LayerOp layer, TopKOp topk);

  /// Score of unit `u` from its algorithm's `bound`: -inf past the context
  /// (u >= n), +inf if forced (u < sinks or u >= n - window).
  static Value finalScore(KernelBuilder &b, Value u, Value n, Value bound,
                          int64_t sinks, int64_t window);

  /// One block's chunk of units [chunkStart, chunkStart + unitsPerBlock) of
  /// row (batch, group): `scoreChunk` when the chunk starts inside the
  /// context (chunkStart < n); otherwise every unit of the chunk below the
  /// row's `units` gets `ninf` without the algorithm's work.
  static void forChunk(KernelBuilder &b, Value chunkStart, Value n,
                       Value units, Value tid, Value ninf, Value scores,
                       Value batch, Value group, int64_t unitsPerBlock,
                       int64_t blockSize, function_ref<void()> scoreChunk);

  /// The frame's plan for an algorithm's kernel of `blockSize` threads
  /// covering `unitsPerBlock` units per block with `scoreSharedBytes` of
  /// static shared memory of its own (the fused tail stages the row in what
  /// is left).
  ScoreFramePlan plan(LayerOp layer, int64_t unitsPerBlock, int64_t blockSize,
                      int64_t scoreSharedBytes) const;

  /// Whether top-k is fused into the kernel.
  explicit operator bool() const { return bool(topk); }
  /// The kernel's stage name: "score" or "score_topk".
  StringRef stage() const { return topk ? "score_topk" : "score"; }
  /// The fused top-k's kernel arguments (sel.units, scratch.topk_done and,
  /// where the algorithm's scores bound its group's logits,
  /// io.group_unselected_log_bound), the last of every score kernel's
  /// arguments; null when not fused.
  struct TailArgs {
    Value units, done, groupBound;
  };
  TailArgs tailArgs() const;
  /// The tail of a fused kernel: every block counts itself done for its
  /// (b, g) row once its scores are visible; the last one selects the row.
  /// `tail` holds the kernel's TailArgs. `afterSelection`, when
  /// given, runs in the selecting block after a barrier that makes the
  /// row's sel.units visible to all its threads (the algorithm's telemetry
  /// over what was not selected).
  void emitTail(KernelBuilder &b, gpu::GPUFuncOp fn,
                const ScoreFramePlan &plan, Value scores, Value lengths,
                const TailArgs &tail, Value batch, Value group,
                function_ref<void()> afterSelection = {});
  /// The top-k op of these scores (fused or not).
  TopKOp getTopK() const { return topk; }
  /// Launches `kernel` (grid x over chunks of `unitsPerBlock` units, y
  /// groups, z batch) in place of the score op and the fused top-k op.
  void launch(KernelContext &ctx, ScoreOp op, gpu::GPUFuncOp kernel,
              const ScoreFramePlan &plan, ValueRange operands);

private:
  TopKOp topk;
  Value done;       ///< scratch.topk_done at the launch site
  Value groupBound; ///< io.group_unselected_log_bound, or null
};

} // namespace hsa
} // namespace mlir

#endif // HSA_LIB_CONVERSION_HSATOGPU_SCOREFRAME_H
