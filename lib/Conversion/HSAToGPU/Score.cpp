//===- Score.cpp - score kernels: Quest bounds, StreamingLLM marks --------===//
//
// Writes `sel.scores[b][g][u]` (f32) for every u < N (dim 2 of the scores
// buffer): units past the context (u >= n[b] = ceil(L[b]/P)) score -inf,
// forced units (u < sinks or u >= n[b] - window) +inf, the others their
// algorithm's score.
//
// Quest: one block of 256 threads handles one (request, group, chunk of
// units). R lanes (R = 16 for a 128-dim bf16 row) share one unit row: each
// lane reads 16-byte vectors of kmin/kmax (8 elements) and keeps its partial
// bound sum_d max(q_d*kmin_d, q_d*kmax_d) per (unit, query row) in fp32.
// A lane handles U units (rows u = chunkStart + i*RG + r, i < U, RG = 256/R
// row groups) so that 2*U 16-byte loads are in flight per thread. The
// group's queries are staged once per block into shared memory as f32 (for
// `mean_query`, the mean of every KV head's query heads).
//
// The partial sums of all (unit, head) pairs are reduced over the R lanes of
// a row with a butterfly *reduce-scatter*: at every xor step a lane keeps
// half of its values and sends the other half, so U*H values need
// U*H/2 + U*H/4 + ... shuffles instead of U*H*log2(R); afterwards every lane
// holds the full sum of one (unit, head) pair, and `max` combines heads with
// a few more xor-max shuffles. `sum` and `mean_query` are linear, so their
// lanes add all heads first and reduce only U values.
//
// Combine rules (docs/BUFFERS.md, BRIEF.md): the group's KV heads are
// [g*Hu, (g+1)*Hu); `max`: max over all their query heads of the per-head
// bound; `sum`: the sum of those bounds; `mean_query`: per KV head the bound
// of the mean of its G query heads, summed over the group's KV heads (one KV
// head for kv_head scope, all of them for request scope, as SGLang does).
//
// StreamingLLM has no representations: one thread per unit writes +inf for
// forced units and -inf for every other unit (docs/RUNTIME.md: top-k never
// selects -inf), so top-k picks exactly the sinks and the window.
//
// Quest's bound is computed as written, max(q*kmin, q*kmax) per element
// (fp32 mul, max, add; no contraction), so it does not rely on kmin <= kmax.
//
// Fused with top-k (`hsa.fused "score_topk"`, kernel `<layer>_score_topk`):
// after writing its scores every block fences them and thread 0 counts the
// block in scratch.topk_done[b][g]; the block that counts last (the
// threadFenceReduction pattern, as the attention merge) selects the row's
// top-k with its 256 threads (emitTopKRow, TopK.cpp) from the scores the
// other blocks left in L2, and puts the count back to 0. One launch and no
// kernel boundary between scoring and selection.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

static constexpr int64_t kScoreBlock = 256;
static constexpr int64_t kMarkBlock = 256;
/// Largest f32 query staging buffer (static shared memory is 48 KiB).
static constexpr int64_t kMaxStagedQueryBytes = 32 * 1024;
/// Most query heads whose partial bounds a lane keeps at once (max combine).
static constexpr int64_t kMaxChunkHeads = 16;

namespace {
/// Result of a butterfly reduce-scatter over the R lanes of a row: `vals`
/// are what this lane keeps; the original index of `vals[j]` is
/// `j + sum over steps of (lane & offset ? weight : 0)`; a step of weight 0
/// was a plain all-reduce step.
struct Scattered {
  SmallVector<Value> vals;
  SmallVector<std::pair<int64_t, int64_t>> steps; // (lane offset, weight)
};
} // namespace

static Value shuffleXor(KernelBuilder &b, Value v, int64_t offset) {
  return gpu::ShuffleOp::create(b, v, offset, kWarpSize, gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

/// Sums `vals` (a power-of-two count) over the `width` lanes of a row.
static Scattered reduceScatter(KernelBuilder &b, SmallVector<Value> vals,
                               int64_t width, Value lane) {
  Scattered out;
  for (int64_t offset = width / 2; offset >= 1; offset /= 2) {
    if (vals.size() == 1) {
      vals[0] = b.addF(vals[0], shuffleXor(b, vals[0], offset));
      out.steps.push_back({offset, 0});
      continue;
    }
    int64_t half = vals.size() / 2;
    Value upper = b.cmp(Pred::ne, b.andI(lane, b.i32(offset)), b.i32(0));
    SmallVector<Value> next;
    for (int64_t j = 0; j < half; ++j) {
      Value keep = b.select(upper, vals[j + half], vals[j]);
      Value send = b.select(upper, vals[j], vals[j + half]);
      next.push_back(b.addF(keep, shuffleXor(b, send, offset)));
    }
    out.steps.push_back({offset, half});
    vals = std::move(next);
  }
  out.vals = std::move(vals);
  return out;
}

/// Which unit the values a lane keeps after `reduceUnits` belong to: value
/// `jj` is unit `jj + unitBase`; lanes with any bit of `nonUnitMask` set hold
/// duplicates. Mirrors `reduceUnits` (integer work on the lane id only).
static Value unitLayout(KernelBuilder &b, int64_t count, int64_t heads,
                        int64_t width, Value lane, int64_t &nonUnitMask) {
  Value unitBase = b.i32(0);
  nonUnitMask = 0;
  int64_t kept = count;
  for (int64_t offset = width / 2; offset >= 1; offset /= 2) {
    if (kept == 1) {
      nonUnitMask |= offset;
      continue;
    }
    int64_t weight = kept / 2;
    if (weight >= heads) {
      Value bit = b.cmp(Pred::ne, b.andI(lane, b.i32(offset)), b.i32(0));
      unitBase =
          b.add(unitBase, b.select(bit, b.i32(weight / heads), b.i32(0)));
    } else {
      nonUnitMask |= offset;
    }
    kept = weight;
  }
  return unitBase;
}

/// Reduces `vals` (index `unit * heads + head`, a power-of-two count) over
/// the lanes of a row and, for `heads > 1`, takes the max over the heads.
/// Returns the values this lane keeps (see `unitLayout`).
static SmallVector<Value> reduceUnits(KernelBuilder &b, SmallVector<Value> vals,
                                      int64_t heads, int64_t width,
                                      Value lane) {
  Scattered s = reduceScatter(b, std::move(vals), width, lane);
  int64_t kept = s.vals.size();
  SmallVector<Value> out;
  if (kept >= heads) {
    for (int64_t jj = 0; jj < kept / heads; ++jj) {
      Value v = s.vals[jj * heads];
      for (int64_t t = 1; t < heads; ++t)
        v = b.maxF(v, s.vals[jj * heads + t]);
      out.push_back(v);
    }
    return out;
  }
  // Fewer kept values than heads: the kept values are heads of one unit;
  // the other heads sit in the lanes of the low-weight scatter steps.
  Value v = s.vals[0];
  for (int64_t j = 1; j < kept; ++j)
    v = b.maxF(v, s.vals[j]);
  for (auto [offset, weight] : s.steps)
    if (weight > 0 && weight < heads)
      v = b.maxF(v, shuffleXor(b, v, offset));
  out.push_back(v);
  return out;
}

/// Score of unit `u` from its bound: -inf past the context, +inf if forced.
static Value finalScore(KernelBuilder &b, Value u, Value n, Value bound,
                        int64_t sinks, int64_t window) {
  Value valid = b.cmp(Pred::ult, u, n);
  Value forced = b.orI(b.cmp(Pred::ult, u, b.index(sinks)),
                       b.cmp(Pred::uge, b.add(u, b.index(window)), n));
  Value inf = b.f32(std::numeric_limits<double>::infinity());
  Value ninf = b.f32(-std::numeric_limits<double>::infinity());
  return b.select(valid, b.select(forced, inf, bound), ninf);
}

static Value loadF32Vector(KernelBuilder &b, Value memref, ValueRange indices,
                           int64_t lanes) {
  auto type = VectorType::get({lanes}, b.getF32Type());
  return vector::LoadOp::create(b, type, memref, indices,
                                /*nontemporal=*/false, llvm::MaybeAlign(16));
}

static void storeF32Vector(KernelBuilder &b, Value vector, Value memref,
                           ValueRange indices) {
  vector::StoreOp::create(b, vector, memref, indices, /*nontemporal=*/false,
                          llvm::MaybeAlign(16));
}

//===----------------------------------------------------------------------===//
// fused top-k
//===----------------------------------------------------------------------===//

namespace {
/// The top-k fused into a score kernel: the kernel arguments it adds
/// (sel.units, scratch.topk_done) follow the score kernel's own.
struct FusedSelect {
  TopKOp topk;
  Value done; ///< scratch.topk_done at the launch site

  explicit operator bool() const { return bool(topk); }
  StringRef stage() const { return topk ? "score_topk" : "score"; }
  void appendOperands(SmallVectorImpl<Value> &operands) {
    if (topk)
      llvm::append_values(operands, topk.getUnits(), done);
  }
};
} // namespace

static FailureOr<FusedSelect> getFusedSelect(ScoreOp op, LayerOp layer,
                                             TopKOp topk) {
  FusedSelect fused{topk, Value()};
  if (!topk)
    return fused;
  if (failed(checkTopK(topk)))
    return failure();
  FailureOr<BufferSpec> spec = layer.getStateBuffer("scratch.topk_done");
  if (failed(spec))
    return op.emitOpError() << "layer '" << layer.getSymName()
                            << "' has no scratch.topk_done buffer";
  OpBuilder builder(op);
  fused.done = StateOp::create(builder, op.getLoc(), Type(getBufferType(*spec)),
                               layer.getSymName(), "scratch.topk_done");
  return fused;
}

/// The tail of a fused score kernel: every block counts itself done for its
/// (b, g) row once its scores are visible; the last one selects the row.
/// `units` and `done` are the kernel arguments `FusedSelect` added.
static void emitSelectByLastBlock(KernelBuilder &b, gpu::GPUFuncOp fn,
                                  FusedSelect fused, Value scores,
                                  Value lengths, Value units, Value done,
                                  Value batch, Value group, int64_t blockSize) {
  Value arrival = KernelContext::addSharedBuffer(fn, {1}, b.getI32Type());
  Value tid = b.threadId();
  // Every thread fences its score stores before the barrier, so when thread
  // 0's count is the last, every block's scores are visible.
  b.fenceDevice();
  b.barrier();
  b.ifThen(b.cmp(Pred::eq, tid, b.index(0)), [&] {
    b.store(b.atomicAdd(b.i32(1), done, {batch, group}), arrival, {b.index(0)});
  });
  b.barrier();
  Value blocks = b.toI32(gpu::GridDimOp::create(b, gpu::Dimension::x));
  Value last =
      b.cmp(Pred::eq, b.load(arrival, {b.index(0)}), b.sub(blocks, b.i32(1)));
  b.ifThen(last, [&] {
    b.fenceDevice();
    TopKRow row =
        topKRowOf(fused.topk, scores, lengths, units, batch, group, blockSize);
    row.stagedKeys = stagedKeysThatFit(fn, blockSize);
    emitTopKRow(b, fn, row);
    // Ready for the next step (kernel boundaries order it).
    b.ifThen(b.cmp(Pred::eq, tid, b.index(0)), [&] {
      b.store(b.i32(0), done, {batch, group});
    });
  });
}

/// Launches a score kernel (grid x over unit chunks, y groups, z batch) in
/// place of `op`, and of the fused top-k op when there is one.
static void launchScore(KernelContext &ctx, ScoreOp op, FusedSelect fused,
                        gpu::GPUFuncOp kernel, int64_t unitsPerBlock,
                        int64_t blockSize, ValueRange operands) {
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
  if (fused)
    fused.topk->erase();
}

//===----------------------------------------------------------------------===//
// score kernels
//===----------------------------------------------------------------------===//

static LogicalResult lowerStreamingScore(KernelContext &ctx, ScoreOp op,
                                         LayerOp layer, FusedSelect fused) {
  const int64_t pageSize = layer.getConfig().getPageSize();
  const int64_t sinks = layer.getForced().getSinks();
  const int64_t window = layer.getForced().getWindow();
  SmallVector<Value> operands = {op.getLengths(), op.getScores()};
  fused.appendOperands(operands);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), operands, {kMarkBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        Value lengths = fn.getArgument(0), scores = fn.getArgument(1);
        Value batch = b.blockId(gpu::Dimension::z);
        Value group = b.blockId(gpu::Dimension::y);
        Value u = b.add(b.mul(b.blockId(gpu::Dimension::x), b.index(kMarkBlock)),
                        b.threadId());
        Value units = memref::DimOp::create(b, scores, 2);
        b.ifThen(b.cmp(Pred::ult, u, units), [&] {
          Value n = b.ceilDivU(b.toIndex(b.load(lengths, {batch})),
                               b.index(pageSize));
          // Non-forced valid units are never selected, like invalid ones.
          Value never = b.f32(-std::numeric_limits<double>::infinity());
          b.store(finalScore(b, u, n, never, sinks, window), scores,
                  {batch, group, u});
        });
        if (fused)
          emitSelectByLastBlock(b, fn, fused, scores, lengths,
                                fn.getArgument(2), fn.getArgument(3), batch,
                                group, kMarkBlock);
      });
  launchScore(ctx, op, fused, kernel, kMarkBlock, kMarkBlock, operands);
  return success();
}

static LogicalResult lowerQuestScore(KernelContext &ctx, ScoreOp op,
                                     LayerOp layer, QuestAttr quest,
                                     FusedSelect fused) {
  LayerConfigAttr config = layer.getConfig();
  const int64_t groupSize = config.getGroupSize(); // query heads per KV head
  const int64_t hu = config.getHeadsPerUnit();     // KV heads per group
  const int64_t dim = config.getKeyDim();
  const int64_t pageSize = config.getPageSize();
  const int64_t sinks = layer.getForced().getSinks();
  const int64_t window = layer.getForced().getWindow();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t vectors = dim / lanes;                 // vectors per row
  const int64_t width = std::min<int64_t>(
      kWarpSize, llvm::PowerOf2Ceil(vectors));          // lanes per row (R)
  const int64_t perLane = (vectors + width - 1) / width; // vectors per lane
  const int64_t rowGroups = kScoreBlock / width;         // RG
  int64_t unitsPerLane = std::max<int64_t>(1, int64_t(llvm::bit_floor(uint64_t(4 / perLane))));
  if (hu > 1)
    unitsPerLane = std::max<int64_t>(1, unitsPerLane / 2);
  const int64_t U = unitsPerLane;
  const int64_t unitsPerBlock = U * rowGroups;

  const ScoreCombine combine = quest.getCombine();
  const bool isMax = combine == ScoreCombine::max;
  const bool isMean = combine == ScoreCombine::mean_query;
  const int64_t rowsPerKvh = isMean ? 1 : groupSize;
  const int64_t stagedRows = hu * rowsPerKvh;
  const bool staged = stagedRows * dim * 4 <= kMaxStagedQueryBytes;
  if (isMean && !staged)
    return checkScoreLimits(layer, [&] { return op.emitOpError(); });
  // Heads reduced together per chunk (max only): U * chunk values <= 2R.
  const int64_t headsPadded = llvm::PowerOf2Ceil(groupSize);
  const int64_t chunkHeads =
      isMax ? std::min<int64_t>({headsPadded, kMaxChunkHeads,
                                 std::max<int64_t>(1, 2 * width / U)})
            : 1;
  const int64_t chunks = isMax ? (groupSize + chunkHeads - 1) / chunkHeads : 1;

  Value kminArg = op.getReprs()[0], kmaxArg = op.getReprs()[1];
  SmallVector<Value> operands = {op.getQueries(), op.getLengths(), kminArg,
                                 kmaxArg, op.getScores()};
  fused.appendOperands(operands);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), operands, {kScoreBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        Value queries = fn.getArgument(0), lengths = fn.getArgument(1),
              kmin = fn.getArgument(2), kmax = fn.getArgument(3),
              scores = fn.getArgument(4);
        Value qStage;
        if (staged)
          qStage = KernelContext::addSharedBuffer(fn, {stagedRows, dim},
                                                  b.getF32Type());
        Value batch = b.blockId(gpu::Dimension::z);
        Value group = b.blockId(gpu::Dimension::y);
        Value chunkStart =
            b.mul(b.blockId(gpu::Dimension::x), b.index(unitsPerBlock));
        Value tid = b.threadId();
        Value row = b.divU(tid, b.index(width));      // row group r
        Value lane = b.remU(tid, b.index(width));     // lane in the row
        Value lane32 = b.toI32(lane);
        Value units = memref::DimOp::create(b, scores, 2);
        Value n = b.minS(b.ceilDivU(b.toIndex(b.load(lengths, {batch})),
                                    b.index(pageSize)),
                         units);
        Value ninf = b.f32(-std::numeric_limits<double>::infinity());
        Value zero = b.f32(0.0);
        Value firstKvh = b.mul(group, b.index(hu));

        b.ifThenElse(
            b.cmp(Pred::ult, chunkStart, n), {},
            [&]() -> SmallVector<Value> {
              // Stage the group's query rows as f32.
              if (staged) {
                b.forRange(tid, b.index(stagedRows * vectors),
                           b.index(kScoreBlock), [&](Value item) {
                  Value srow = b.divU(item, b.index(vectors));
                  Value col = b.mul(b.remU(item, b.index(vectors)),
                                    b.index(lanes));
                  Value q;
                  if (isMean) {
                    Value head0 = b.mul(b.add(firstKvh, srow),
                                        b.index(groupSize));
                    q = b.toF32(b.loadVector(lanes, queries, {batch, head0, col}));
                    for (int64_t t = 1; t < groupSize; ++t)
                      q = b.addF(q, b.toF32(b.loadVector(
                                        lanes, queries,
                                        {batch, b.add(head0, b.index(t)), col})));
                    if (groupSize > 1) {
                      Value div = vector::BroadcastOp::create(
                          b, q.getType(), b.f32(double(groupSize)));
                      q = arith::DivFOp::create(b, q, div);
                    }
                  } else {
                    Value head = b.add(b.mul(firstKvh, b.index(groupSize)), srow);
                    q = b.toF32(b.loadVector(lanes, queries, {batch, head, col}));
                  }
                  storeF32Vector(b, q, qStage, {srow, col});
                });
                b.barrier();
              }

              // This lane's units and vector columns.
              Value nLast = b.sub(n, b.index(1));
              SmallVector<Value> unitIds, loadIds;
              for (int64_t i = 0; i < U; ++i) {
                Value u = b.add(chunkStart,
                                b.add(b.index(i * rowGroups), row));
                unitIds.push_back(u);
                loadIds.push_back(b.minS(u, nLast));
              }
              SmallVector<Value> cols, colValid;
              for (int64_t j = 0; j < perLane; ++j) {
                Value vc = b.add(lane, b.index(j * width));
                if ((j + 1) * width <= vectors) {
                  cols.push_back(b.mul(vc, b.index(lanes)));
                  colValid.push_back(nullptr);
                } else {
                  Value ok = b.cmp(Pred::ult, vc, b.index(vectors));
                  colValid.push_back(ok);
                  cols.push_back(
                      b.mul(b.select(ok, vc, b.index(0)), b.index(lanes)));
                }
              }

              // Query row `qrow` (index into the staged rows, or a global
              // head) for vector j of this lane: lanes x f32 scalars, zero in
              // columns past the row.
              auto queryScalars = [&](Value kvhLocal, Value t, int64_t j) {
                Value q;
                if (staged) {
                  Value srow = b.add(b.mul(kvhLocal, b.index(rowsPerKvh)), t);
                  q = loadF32Vector(b, qStage, {srow, cols[j]}, lanes);
                } else {
                  Value head = b.add(
                      b.mul(b.add(firstKvh, kvhLocal), b.index(groupSize)), t);
                  q = b.toF32(b.loadVector(lanes, queries, {batch, head, cols[j]}));
                }
                SmallVector<Value> s;
                for (int64_t e = 0; e < lanes; ++e) {
                  Value x = b.extract(q, e);
                  if (colValid[j])
                    x = b.select(colValid[j], x, zero);
                  s.push_back(x);
                }
                return s;
              };

              // One KV head of the group: loads the lanes' slices of the U
              // unit rows, then the partial bounds per (unit, query row).
              using Bounds = SmallVector<SmallVector<Value>>; // [i][e] over j
              auto loadUnits = [&](Value kvh) {
                std::pair<Bounds, Bounds> rows; // kmin, kmax scalars [i][j*lanes+e]
                SmallVector<Value> vmin, vmax;
                for (int64_t i = 0; i < U; ++i)
                  for (int64_t j = 0; j < perLane; ++j) {
                    vmin.push_back(
                        b.loadVector(lanes, kmin, {batch, kvh, loadIds[i], cols[j]}));
                    vmax.push_back(
                        b.loadVector(lanes, kmax, {batch, kvh, loadIds[i], cols[j]}));
                  }
                for (int64_t i = 0; i < U; ++i) {
                  SmallVector<Value> lo, hi;
                  for (int64_t j = 0; j < perLane; ++j) {
                    Value fmin = b.toF32(vmin[i * perLane + j]);
                    Value fmax = b.toF32(vmax[i * perLane + j]);
                    for (int64_t e = 0; e < lanes; ++e) {
                      lo.push_back(b.extract(fmin, e));
                      hi.push_back(b.extract(fmax, e));
                    }
                  }
                  rows.first.push_back(lo);
                  rows.second.push_back(hi);
                }
                return rows;
              };
              // Partial bound of query row t for every unit: [i].
              auto partials = [&](const std::pair<Bounds, Bounds> &rows,
                                  Value kvhLocal, Value t) {
                SmallVector<SmallVector<Value>> q;
                for (int64_t j = 0; j < perLane; ++j)
                  q.push_back(queryScalars(kvhLocal, t, j));
                SmallVector<Value> out;
                for (int64_t i = 0; i < U; ++i) {
                  Value acc;
                  for (int64_t j = 0; j < perLane; ++j)
                    for (int64_t e = 0; e < lanes; ++e) {
                      Value qe = q[j][e];
                      Value c = b.maxF(b.mulF(qe, rows.first[i][j * lanes + e]),
                                       b.mulF(qe, rows.second[i][j * lanes + e]));
                      acc = acc ? b.addF(acc, c) : c;
                    }
                  out.push_back(acc);
                }
                return out;
              };

              // Loop over the group's KV heads (one for kv_head scope).
              auto overKvHeads =
                  [&](SmallVector<Value> init,
                      function_ref<SmallVector<Value>(Value, ValueRange)> body) {
                    if (hu == 1)
                      return body(b.index(0), init);
                    return b.forRange(b.index(0), b.index(hu), b.index(1), init,
                                      body);
                  };

              SmallVector<Value> results;
              Value unitBase;
              int64_t nonUnitMask = 0;
              if (isMax) {
                // Per-lane maxima of whole units; which unit a lane holds is
                // the same for every chunk and KV head.
                int64_t count = U * chunkHeads;
                int64_t kept = std::max<int64_t>(1, count / width);
                int64_t perLaneUnits =
                    kept >= chunkHeads ? kept / chunkHeads : 1;
                SmallVector<Value> init(perLaneUnits, ninf);
                results = overKvHeads(init, [&](Value kvhLocal, ValueRange acc0) {
                  auto rows = loadUnits(b.add(firstKvh, kvhLocal));
                  auto chunkBody = [&](Value c, ValueRange acc)
                      -> SmallVector<Value> {
                    SmallVector<Value> vals(count);
                    for (int64_t t = 0; t < chunkHeads; ++t) {
                      if (chunks == 1 && t >= groupSize) {
                        for (int64_t i = 0; i < U; ++i)
                          vals[i * chunkHeads + t] = ninf;
                        continue;
                      }
                      Value head = b.add(b.mul(c, b.index(chunkHeads)),
                                         b.index(t));
                      Value headOk;
                      if (chunks > 1 && chunks * chunkHeads != groupSize) {
                        headOk = b.cmp(Pred::ult, head, b.index(groupSize));
                        head = b.minS(head, b.index(groupSize - 1));
                      }
                      SmallVector<Value> p = partials(rows, kvhLocal, head);
                      for (int64_t i = 0; i < U; ++i)
                        vals[i * chunkHeads + t] =
                            headOk ? b.select(headOk, p[i], ninf) : p[i];
                    }
                    SmallVector<Value> unitVals =
                        reduceUnits(b, vals, chunkHeads, width, lane32);
                    SmallVector<Value> next;
                    for (auto [a, v] : llvm::zip(acc, unitVals))
                      next.push_back(b.maxF(a, v));
                    return next;
                  };
                  if (chunks == 1)
                    return chunkBody(b.index(0), acc0);
                  return b.forRange(b.index(0), b.index(chunks), b.index(1),
                                    acc0, chunkBody);
                });
                unitBase = unitLayout(b, count, chunkHeads, width, lane32,
                                      nonUnitMask);
              } else {
                // sum / mean_query: linear, so every lane adds its partials
                // over all rows and KV heads first.
                SmallVector<Value> init(U, zero);
                SmallVector<Value> sums =
                    overKvHeads(init, [&](Value kvhLocal, ValueRange acc0) {
                      auto rows = loadUnits(b.add(firstKvh, kvhLocal));
                      auto rowBody = [&](Value t, ValueRange acc)
                          -> SmallVector<Value> {
                        SmallVector<Value> p = partials(rows, kvhLocal, t);
                        SmallVector<Value> next;
                        for (auto [a, v] : llvm::zip(acc, p))
                          next.push_back(b.addF(a, v));
                        return next;
                      };
                      if (rowsPerKvh == 1)
                        return rowBody(b.index(0), acc0);
                      return b.forRange(b.index(0), b.index(rowsPerKvh),
                                        b.index(1), acc0, rowBody);
                    });
                results = reduceUnits(b, sums, /*heads=*/1, width, lane32);
                unitBase = unitLayout(b, U, 1, width, lane32, nonUnitMask);
              }

              // Lanes holding a unit's final value write it.
              Value writer = b.cmp(Pred::eq,
                                   b.andI(lane32, b.i32(nonUnitMask)),
                                   b.i32(0));
              Value base = b.toIndex(unitBase);
              for (auto [jj, v] : llvm::enumerate(results)) {
                Value i = b.add(base, b.index(jj));
                Value u = b.add(chunkStart,
                                b.add(b.mul(i, b.index(rowGroups)), row));
                Value ok = b.andI(writer, b.cmp(Pred::ult, u, units));
                b.ifThen(ok, [&] {
                  b.store(finalScore(b, u, n, v, sinks, window), scores,
                          {batch, group, u});
                });
              }
              return {};
            },
            [&]() -> SmallVector<Value> {
              // The whole chunk lies past the context.
              b.forRange(tid, b.index(unitsPerBlock), b.index(kScoreBlock),
                         [&](Value item) {
                Value u = b.add(chunkStart, item);
                b.ifThen(b.cmp(Pred::ult, u, units),
                         [&] { b.store(ninf, scores, {batch, group, u}); });
              });
              return {};
            });
        if (fused)
          emitSelectByLastBlock(b, fn, fused, scores, lengths,
                                fn.getArgument(5), fn.getArgument(6), batch,
                                group, kScoreBlock);
      });
  // Memory-bound: 3 resident blocks per SM (<= 85 registers) instead of 2
  // measured 12% faster on the H200 at B=64 (docs/PERF.md). Larger GQA
  // groups keep more per-head state and would spill under the cap.
  if (config.getGroupSize() <= 4)
    KernelContext::setMinBlocksPerSM(kernel, 3);

  launchScore(ctx, op, fused, kernel, unitsPerBlock, kScoreBlock, operands);
  return success();
}

LogicalResult mlir::hsa::checkScoreLimits(LayerOp layer,
                                          EmitErrorFn emitError) {
  auto quest = dyn_cast<QuestAttr>(layer.getAlgorithm());
  if (!quest || quest.getCombine() != ScoreCombine::mean_query)
    return success();
  // mean_query stages the mean query of each KV head of a unit (f32).
  LayerConfigAttr config = layer.getConfig();
  int64_t bytes = config.getHeadsPerUnit() * config.getKeyDim() * 4;
  if (bytes > kMaxStagedQueryBytes)
    return emitError() << "cannot be lowered: mean_query needs " << bytes
                       << " bytes of staged queries (limit "
                       << kMaxStagedQueryBytes << ")";
  return success();
}

LogicalResult mlir::hsa::lowerScore(KernelContext &ctx, ScoreOp op,
                                    TopKOp fusedTopK) {
  LayerOp layer = getLayer(op);
  Attribute algorithm = layer.getAlgorithm();
  FailureOr<FusedSelect> fused = getFusedSelect(op, layer, fusedTopK);
  if (failed(fused))
    return failure();
  if (auto quest = dyn_cast<QuestAttr>(algorithm)) {
    if (op.getReprs().size() != 2)
      return op.emitOpError() << "expects Quest's kmin and kmax";
    return lowerQuestScore(ctx, op, layer, quest, *fused);
  }
  if (isa<StreamingLLMAttr>(algorithm))
    return lowerStreamingScore(ctx, op, layer, *fused);
  return op.emitOpError() << "has no score kernel for algorithm '"
                          << layer.getAlgorithm().getAlgorithmName() << "'";
}
