//===- Quest.cpp - the Quest package's kernels ----------------------------===//
//
// Quest (Tang et al., 2024): per unit and KV head the element-wise min and
// max of its keys (repr.kmin, repr.kmax); a unit's score is the upper bound
// sum_d max(q_d*kmin_d, q_d*kmax_d) of q . k over its tokens.
//
// score: one block of 256 threads handles one (request, group, chunk of
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
// Quest's bound is computed as written, max(q*kmin, q*kmax) per element
// (fp32 mul, max, add; no contraction), so it does not rely on kmin <= kmax.
//
// Telemetry (convert-hsa-to-gpu{telemetry}; docs/ACCURACY.md "Telemetry"):
// each unit's per-head bound times the softmax scale, b_u,h, bounds the
// logits of its tokens, so U_h = sum over unselected valid units of
// n_u * exp(b_u,h) bounds the mass the selection missed. The score kernel
// already holds b_u,h for `max` (the reduce-scatter's kept values); `sum`
// reduces each head's partials apart from the sum and `mean_query` adds the
// heads' own partials (G more per unit). A block writes, per head, the max
// M_c over its units and S_c = sum of ceil(n_u * exp(b_u,h - M_c) * 2^40)
// (i64). Before the selection nothing says which units are unselected, so
// the tail after the top-k (its own kernel, or the selecting block of the
// fused score_topk) recomputes the K selected units' bounds, bit for bit as
// the score did (same lanes, columns, partials and reduction tree), and
// subtracts their terms: integer sums make the difference exact, where a
// float sum would cancel catastrophically when the selection holds nearly
// all of U. It then merges the chunks into io.unselected_log_bound = log U
// per (request, head) (-inf when nothing is left). A few exp per unit and
// head in a kernel that reads the representations anyway, and a pass over
// K units instead of a second pass over N.
//
// update_repr, grid (B, ceil(Hkv * D/8 / 128)), 128 threads: one thread per
// 8 key dims of one KV head folds the appended key into the min/max bounds
// of unit t / P; a unit whose first token this is (t % P == 0) starts at the
// key, so stale bounds never leak in.
//
// rebuild_repr, grid (ceil(N * Hkv * D/8 / 128), B), 128 threads: one
// thread per (unit, KV head, 8 key dims) recomputes the unit's min/max from
// its host page, read zero-copy through the mapped pool's device address.
// Consecutive threads cover consecutive dims, then heads, of one unit, so a
// warp's load at token row p touches two 256-byte runs. A thread issues its
// P 16-byte row loads in batches of up to 8 before folding them; rows past
// the last token of a partial unit re-read the last token (no guard, no
// effect on min/max). Units past the length or without a page (page_of ==
// -1) are skipped and keep their old bounds.
//
//===----------------------------------------------------------------------===//

#include "Algorithms.h"
#include "../ScoreFrame.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

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
/// Largest f32 query staging buffer (static shared memory is 48 KiB).
static constexpr int64_t kMaxStagedQueryBytes = 32 * 1024;
/// Most query heads whose partial bounds a lane keeps at once (max combine).
static constexpr int64_t kMaxChunkHeads = 16;
static constexpr int64_t kWriteBlock = 128;
/// 16-byte host loads a rebuild thread issues before folding them.
static constexpr int64_t kRebuildInFlight = 8;

/// mean_query stages the mean query of each KV head of a unit (f32).
static LogicalResult checkQuestLimits(LayerOp layer, EmitErrorFn emitError) {
  auto quest = cast<QuestAttr>(layer.getAlgorithm());
  if (quest.getCombine() != ScoreCombine::mean_query)
    return success();
  LayerConfigAttr config = layer.getConfig();
  int64_t bytes = config.getHeadsPerUnit() * config.getKeyDim() * 4;
  if (bytes > kMaxStagedQueryBytes)
    return emitError() << "cannot be lowered: mean_query needs " << bytes
                       << " bytes of staged queries (limit "
                       << kMaxStagedQueryBytes << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// score
//===----------------------------------------------------------------------===//

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

/// Sums `vals` (a power-of-two count) over the `width` lanes of a row.
static Scattered reduceScatter(KernelBuilder &b, SmallVector<Value> vals,
                               int64_t width, Value lane) {
  Scattered out;
  for (int64_t offset = width / 2; offset >= 1; offset /= 2) {
    if (vals.size() == 1) {
      vals[0] = b.addF(vals[0], b.shuffleXor(vals[0], offset));
      out.steps.push_back({offset, 0});
      continue;
    }
    int64_t half = vals.size() / 2;
    Value upper = b.cmp(Pred::ne, b.andI(lane, b.i32(offset)), b.i32(0));
    SmallVector<Value> next;
    for (int64_t j = 0; j < half; ++j) {
      Value keep = b.select(upper, vals[j + half], vals[j]);
      Value send = b.select(upper, vals[j], vals[j + half]);
      next.push_back(b.addF(keep, b.shuffleXor(send, offset)));
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
                                      Value lane,
                                      Scattered *scattered = nullptr) {
  Scattered s = reduceScatter(b, std::move(vals), width, lane);
  if (scattered)
    *scattered = s;
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
      v = b.maxF(v, b.shuffleXor(v, offset));
  out.push_back(v);
  return out;
}

/// Partial bound of one unit for one query row on this lane:
/// sum over its columns of max(q*kmin, q*kmax), in column order (fp32 mul,
/// max, add). The score and the telemetry's tail both use it, so that the
/// tail recomputes a unit's bound bit for bit.
static Value unitPartial(KernelBuilder &b, ArrayRef<SmallVector<Value>> q,
                         ArrayRef<Value> lo, ArrayRef<Value> hi,
                         int64_t lanes) {
  Value acc;
  for (auto [j, qj] : llvm::enumerate(q))
    for (int64_t e = 0; e < lanes; ++e) {
      Value qe = qj[e];
      Value c = b.maxF(b.mulF(qe, lo[j * lanes + e]),
                       b.mulF(qe, hi[j * lanes + e]));
      acc = acc ? b.addF(acc, c) : c;
    }
  return acc;
}

/// The telemetry's sums are fixed point with this many fraction bits (i64):
/// integer sums are exact in any order, so the tail's subtraction of the
/// selected units' terms leaves exactly the unselected units' sum (a float
/// sum would cancel catastrophically when the selection holds almost all
/// of the mass).
static constexpr int64_t kBoundFractionBits = 40;

/// One unit's term of a chunk's bound sum: n_u * exp(bound - chunk max) in
/// fixed point, rounded up (+1 after truncation, so that the sum stays a
/// bound). `tokens` is n_u as f32; every term is at most P * 2^40.
static Value boundTerm(KernelBuilder &b, Value bound, Value chunkMax,
                       Value tokens) {
  Value t = b.mulF(tokens, b.exp(b.subF(bound, chunkMax)));
  Value fixed = arith::FPToSIOp::create(
      b, b.getI64Type(),
      b.mulF(t, b.f32(double(int64_t(1) << kBoundFractionBits))));
  return b.add(fixed, b.i64(1));
}

/// Tokens of valid unit `u` of a request of `length` tokens, as f32.
static Value unitTokens(KernelBuilder &b, Value u, Value length,
                        int64_t pageSize) {
  Value rest = b.sub(length, b.mul(u, b.index(pageSize)));
  return b.sToF32(b.toI32(b.minS(rest, b.index(pageSize))));
}

namespace {
/// Compile-time geometry of Quest's score kernel for one layer.
struct QuestScorePlan {
  int64_t groupSize, hu, dim, pageSize, sinks, window;
  int64_t lanes;        ///< elements per 16-byte vector
  int64_t vectors;      ///< vectors per key row
  int64_t width;        ///< lanes per unit row (R)
  int64_t perLane;      ///< vectors per lane
  int64_t rowGroups;    ///< RG = block / R
  int64_t unitsPerLane; ///< U
  ScoreCombine combine;
  bool isMax, isMean;
  int64_t rowsPerKvh, stagedRows;
  bool staged;          ///< queries staged in shared memory as f32
  int64_t chunkHeads, chunks;
  int64_t minBlocksPerSM;
  /// Telemetry (KernelOptions::telemetry): each block also leaves, per
  /// query head of its group (Hu x G of them), the max and the fixed-point
  /// sum of n_u * exp(bound - max) over its units (the bound of a unit for
  /// one head is its per-head score times the softmax scale); the tail after
  /// the selection subtracts the selected units and merges the chunks.
  bool telemetry = false;
  int64_t boundHeads = 0; ///< query heads of the group
  int64_t budget = 0;     ///< K: the units the tail subtracts
  double scale = 1.0;     ///< softmax scale
  ScoreFramePlan frame;

  static QuestScorePlan get(LayerOp layer, QuestAttr quest,
                            const ScoreFrame &fused, bool telemetry) {
    LayerConfigAttr config = layer.getConfig();
    QuestScorePlan p;
    p.groupSize = config.getGroupSize(); // query heads per KV head
    p.hu = config.getHeadsPerUnit();     // KV heads per group
    p.dim = config.getKeyDim();
    p.pageSize = config.getPageSize();
    p.sinks = layer.getForced().getSinks();
    p.window = layer.getForced().getWindow();
    p.lanes = kVectorBytes / config.getElementBytes();
    p.vectors = p.dim / p.lanes;
    p.width = std::min<int64_t>(kWarpSize, llvm::PowerOf2Ceil(p.vectors));
    p.perLane = (p.vectors + p.width - 1) / p.width;
    p.rowGroups = kScoreBlock / p.width;
    p.unitsPerLane = std::max<int64_t>(
        1, int64_t(llvm::bit_floor(uint64_t(4 / p.perLane))));
    if (p.hu > 1)
      p.unitsPerLane = std::max<int64_t>(1, p.unitsPerLane / 2);
    p.combine = quest.getCombine();
    p.isMax = p.combine == ScoreCombine::max;
    p.isMean = p.combine == ScoreCombine::mean_query;
    p.rowsPerKvh = p.isMean ? 1 : p.groupSize;
    p.stagedRows = p.hu * p.rowsPerKvh;
    p.staged = p.stagedRows * p.dim * 4 <= kMaxStagedQueryBytes;
    // Heads reduced together per chunk (max only): U * chunk values <= 2R.
    const int64_t headsPadded = llvm::PowerOf2Ceil(p.groupSize);
    p.chunkHeads =
        p.isMax ? std::min<int64_t>({headsPadded, kMaxChunkHeads,
                                     std::max<int64_t>(
                                         1, 2 * p.width / p.unitsPerLane)})
                : 1;
    p.chunks =
        p.isMax ? (p.groupSize + p.chunkHeads - 1) / p.chunkHeads : 1;
    // Memory-bound: 3 resident blocks per SM (<= 85 registers) instead of 2
    // measured 12% faster on the H200 at B=64 (docs/PERF.md). Larger GQA
    // groups keep more per-head state and would spill under the cap.
    p.minBlocksPerSM = p.groupSize <= 4 ? 3 : 0;
    p.telemetry = telemetry;
    p.boundHeads = p.hu * p.groupSize;
    p.budget = layer.getBudget();
    p.scale = layer.getEffectiveSoftmaxScale();
    int64_t shared = p.staged ? p.stagedRows * p.dim * 4 : 0;
    if (telemetry)
      shared = int64_t(llvm::alignTo(shared, 16)) + p.boundTableBytes();
    p.frame = fused.plan(layer, p.unitsPerBlock(), kScoreBlock, shared);
    return p;
  }
  int64_t unitsPerBlock() const { return unitsPerLane * rowGroups; }
  /// Shared f32 [units per block][Hu x G]: the block's per-head bounds.
  int64_t boundTableBytes() const {
    return telemetry ? unitsPerBlock() * boundHeads * 4 : 0;
  }
  void print(raw_ostream &os) const {
    frame.print(os);
    os << "; combine " << stringifyScoreCombine(combine) << ", row lanes "
       << width << " x " << perLane << " vectors, units/lane " << unitsPerLane
       << ", staged query rows " << (staged ? stagedRows : 0)
       << ", head chunks " << chunks << " x " << chunkHeads
       << ", min blocks/SM " << minBlocksPerSM;
    if (telemetry)
      os << "; telemetry: bound table " << unitsPerBlock() << " x "
         << boundHeads << " heads, fixed point 2^-" << kBoundFractionBits
         << ", tail " << (frame.fused ? "fused" : "kernel");
  }
};

/// The telemetry's tail kernel of an unfused score (`<layer>_score_bound`,
/// after the top-k): one block per (group, request).
struct QuestBoundTailPlan {
  int64_t groups, budget, hu, boundHeads, width, rowGroups, perRow,
      unitsPerBlock;
  void print(raw_ostream &os) const {
    os << "grid (" << groups << " groups, B) block " << kScoreBlock
       << "; selected units " << budget << " x " << hu << " KV heads over "
       << rowGroups << " rows of " << width << " lanes, " << perRow
       << " per row and round, heads " << boundHeads << ", chunks of "
       << unitsPerBlock << " units";
  }
};
} // namespace

namespace {
/// The score kernel's arguments, in order.
struct QuestScoreArgs {
  Value queries, lengths, kmin, kmax, scores;
  ScoreFrame::TailArgs tail;
  /// Telemetry only: the chunks' bound max and sum (scratch), and with a
  /// fused tail its output io.unselected_log_bound.
  Value boundMax, boundSum, logBound;
  SmallVector<Value *> fields() {
    return {&queries,   &lengths,   &kmin,      &kmax,
            &scores,    &tail.units, &tail.done, &tail.groupBound,
            &boundMax,  &boundSum,  &logBound};
  }
};
/// The telemetry tail kernel's arguments, in order.
struct QuestBoundTailArgs {
  Value queries, lengths, kmin, kmax, units, boundMax, boundSum, logBound;
  SmallVector<Value *> fields() {
    return {&queries, &lengths,  &kmin,     &kmax,
            &units,   &boundMax, &boundSum, &logBound};
  }
};
/// The append kernel's arguments, in order.
struct QuestUpdateArgs {
  Value newKeys, lengths, kmin, kmax;
  SmallVector<Value *> fields() { return {&newKeys, &lengths, &kmin, &kmax}; }
};
/// The prefill kernel's arguments, in order.
struct QuestRebuildArgs {
  Value lengths, pageOf, hostKeys, kmin, kmax;
  SmallVector<Value *> fields() {
    return {&lengths, &pageOf, &hostKeys, &kmin, &kmax};
  }
};
} // namespace

namespace {
/// The telemetry's tail for one (request, group) row, after its selection
/// (every thread of a 256-thread block must reach it):
///   1. every selected unit's bound for every head of the group is
///      recomputed as the score kernel computed it (same lanes per row,
///      columns, partials and reduction tree: bit for bit) and its
///      fixed-point term is subtracted from its chunk's sum (i64 atomics);
///   2. per head, the chunks' sums left (clamped at >= 0) are merged:
///      io.unselected_log_bound[b][h] = log sum over chunks of
///      exp(max_c) * sum_c * 2^-40 (-inf when nothing is left).
class QuestBoundTail {
public:
  /// `perRow`: items a row of lanes loads before computing them (the tail
  /// kernel: the score's units per lane; fused into score_topk, whose
  /// registers the score kernel's occupancy caps: 1).
  QuestBoundTail(KernelBuilder &b, const QuestScorePlan &p,
                 const QuestBoundTailArgs &a, Value batch, Value group,
                 int64_t perRow)
      : b(b), p(p), a(a), batch(batch), group(group), perRow(perRow) {}

  void build() {
    tid = b.threadId();
    row = b.divU(tid, b.index(p.width));
    lane = b.remU(tid, b.index(p.width));
    length = b.toIndex(b.load(a.lengths, {batch}));
    n = b.minS(b.ceilDivU(length, b.index(p.pageSize)), b.dim(a.kmin, 2));
    firstKvh = b.mul(group, b.index(p.hu));
    subtractSelected();
    // The atomics of every thread before any thread reads the sums.
    b.fenceDevice();
    b.barrier();
    b.fenceDevice();
    mergeChunks();
  }

private:
  void subtractSelected() {
    SmallVector<Value> cols, colValid;
    for (int64_t j = 0; j < p.perLane; ++j) {
      Value vc = b.add(lane, b.index(j * p.width));
      if ((j + 1) * p.width <= p.vectors) {
        cols.push_back(b.mul(vc, b.index(p.lanes)));
        colValid.push_back(nullptr);
      } else {
        Value ok = b.cmp(Pred::ult, vc, b.index(p.vectors));
        colValid.push_back(ok);
        cols.push_back(b.mul(b.select(ok, vc, b.index(0)), b.index(p.lanes)));
      }
    }
    // Items (selection entry, KV head of the group), U per row of lanes and
    // round with their loads issued first (as the score kernel's units);
    // every row runs the same trip count (the reduction shuffles need the
    // whole warp), items past the end are masked.
    const int64_t items = p.budget * p.hu;
    const int64_t perRound = p.rowGroups * perRow;
    const int64_t rounds = llvm::divideCeil(items, perRound);
    Value lastUnit = b.toI32(b.maxS(b.sub(n, b.index(1)), b.index(0)));
    b.forRange(b.index(0), b.index(rounds), b.index(1), [&](Value round) {
      struct Item {
        Value kvh, chunk, tokens, writer;
        SmallVector<Value> lo, hi;
      };
      SmallVector<Item> work(perRow);
      for (auto [i, w] : llvm::enumerate(work)) {
        Value item = b.add(b.mul(round, b.index(perRound)),
                           b.add(b.index(int64_t(i) * p.rowGroups), row));
        Value inItems = b.cmp(Pred::ult, item, b.index(items));
        Value it = b.minS(item, b.index(items - 1));
        Value entry = b.divU(it, b.index(p.hu));
        w.kvh = b.add(firstKvh, b.remU(it, b.index(p.hu)));
        Value u = b.load(a.units, {batch, group, entry});
        Value valid = b.andI(
            inItems, b.andI(b.cmp(Pred::sge, u, b.i32(0)),
                            b.cmp(Pred::slt, b.toIndex(u), n)));
        Value unit = b.toIndex(b.minS(b.maxS(u, b.i32(0)), lastUnit));
        SmallVector<Value> vmin, vmax;
        for (int64_t j = 0; j < p.perLane; ++j) {
          vmin.push_back(
              b.loadVector(p.lanes, a.kmin, {batch, w.kvh, unit, cols[j]}));
          vmax.push_back(
              b.loadVector(p.lanes, a.kmax, {batch, w.kvh, unit, cols[j]}));
        }
        for (int64_t j = 0; j < p.perLane; ++j) {
          Value fmin = b.toF32(vmin[j]), fmax = b.toF32(vmax[j]);
          for (int64_t e = 0; e < p.lanes; ++e) {
            w.lo.push_back(b.extract(fmin, e));
            w.hi.push_back(b.extract(fmax, e));
          }
        }
        w.chunk = b.divU(unit, b.index(p.unitsPerBlock()));
        w.tokens = unitTokens(b, unit, length, p.pageSize);
        w.writer = b.andI(valid, b.cmp(Pred::eq, lane, b.index(0)));
      }
      b.forRange(b.index(0), b.index(p.groupSize), b.index(1), [&](Value t) {
        for (Item &w : work) {
          Value head = b.add(b.mul(w.kvh, b.index(p.groupSize)), t);
          SmallVector<SmallVector<Value>> q;
          for (int64_t j = 0; j < p.perLane; ++j) {
            Value qRow = b.toF32(
                b.loadVector(p.lanes, a.queries, {batch, head, cols[j]}));
            SmallVector<Value> s;
            for (int64_t e = 0; e < p.lanes; ++e) {
              Value x = b.extract(qRow, e);
              s.push_back(colValid[j] ? b.select(colValid[j], x, b.f32(0.0))
                                      : x);
            }
            q.push_back(std::move(s));
          }
          Value bound = b.warpReduce(unitPartial(b, q, w.lo, w.hi, p.lanes),
                                     WarpReduceKind::Sum, p.width);
          bound = b.mulF(bound, b.f32(p.scale));
          Value chunkMax = b.load(a.boundMax, {batch, head, w.chunk});
          Value term = boundTerm(b, bound, chunkMax, w.tokens);
          b.ifThen(w.writer, [&] {
            b.atomicAdd(b.sub(b.i64(0), term), a.boundSum,
                        {batch, head, w.chunk});
          });
        }
      });
    });
  }

  void mergeChunks() {
    const int64_t warps = kScoreBlock / kWarpSize;
    Value warp = b.warpId(), laneW = b.laneId();
    Value chunks = b.ceilDivU(n, b.index(p.unitsPerBlock()));
    Value ninf = b.negInf();
    b.forRange(warp, b.index(p.boundHeads), b.index(warps), [&](Value hh) {
      Value head = b.add(b.mul(firstKvh, b.index(p.groupSize)), hh);
      auto chunkAt = [&](Value c) {
        Value sum = b.load(a.boundSum, {batch, head, c});
        return std::make_pair(b.load(a.boundMax, {batch, head, c}),
                              b.cmp(Pred::sgt, sum, b.i64(0)));
      };
      SmallVector<Value> local = b.forRange(
          laneW, chunks, b.index(kWarpSize), {ninf},
          [&](Value c, ValueRange acc) -> SmallVector<Value> {
            auto [max, left] = chunkAt(c);
            return {b.select(left, b.maxF(acc[0], max), acc[0])};
          });
      Value ref = b.safeMax(b.warpReduce(local[0], WarpReduceKind::Max));
      SmallVector<Value> parts = b.forRange(
          laneW, chunks, b.index(kWarpSize), {b.f32(0.0)},
          [&](Value c, ValueRange acc) -> SmallVector<Value> {
            Value sum = b.load(a.boundSum, {batch, head, c});
            auto [max, left] = chunkAt(c);
            Value mass = b.mulF(
                b.mulF(b.exp(b.subF(max, ref)), b.sToF32(sum)),
                b.f32(1.0 / double(int64_t(1) << kBoundFractionBits)));
            return {b.select(left, b.addF(acc[0], mass), acc[0])};
          });
      Value total = b.warpReduce(parts[0], WarpReduceKind::Sum);
      Value some = b.cmpF(FPred::OGT, total, b.f32(0.0));
      Value logBound = b.addF(ref, b.log(b.select(some, total, b.f32(1.0))));
      b.ifThen(b.cmp(Pred::eq, laneW, b.index(0)), [&] {
        b.store(b.select(some, logBound, ninf), a.logBound, {batch, head});
      });
    });
  }

  KernelBuilder &b;
  const QuestScorePlan &p;
  const QuestBoundTailArgs &a;
  Value batch, group;
  const int64_t perRow;
  Value tid, row, lane, length, n, firstKvh;
};
} // namespace

namespace {
/// The score kernel's body: the frame's chunk of units, the staged
/// queries, the lanes' partial bounds per (unit, query row) reduced over
/// the rows and combined over the group, then the scores.
class QuestScoreKernel {
public:
  using Bounds = SmallVector<SmallVector<Value>>; // [i][e] over j
  QuestScoreKernel(KernelBuilder &b, gpu::GPUFuncOp fn,
                   const QuestScorePlan &plan, const QuestScoreArgs &launchArgs,
                   ScoreFrame &fused)
      : b(b), fn(fn), plan(plan), launchArgs(launchArgs), fused(fused) {}

  void build() {
    prologue();
    ScoreFrame::forChunk(b, chunkStart, n, units, tid, ninf, scores, batch,
                         group, unitsPerBlock, kScoreBlock, [&] {
      stageQueries();
      laneUnitsAndColumns();
      SmallVector<Value> results;
      Value unitBase;
      int64_t nonUnitMask = 0;
      if (isMax)
        maxBounds(results, unitBase, nonUnitMask);
      else
        sumBounds(results, unitBase, nonUnitMask);
      writeScores(results, unitBase, nonUnitMask);
      if (plan.telemetry)
        chunkBounds();
    });
    if (!fused)
      return;
    auto boundTail = [&] {
      QuestBoundTailArgs tailArgs{queries,       lengths,       kmin,
                                  kmax,          args.tail.units,
                                  args.boundMax, args.boundSum, args.logBound};
      QuestBoundTail(b, plan, tailArgs, batch, group, /*perRow=*/1).build();
    };
    fused.emitTail(b, fn, plan.frame, scores, lengths, args.tail, batch,
                   group,
                   plan.telemetry ? function_ref<void()>(boundTail)
                                  : function_ref<void()>());
  }

private:
  void prologue() {
    args = kernelArguments(fn, launchArgs);
    queries = args.queries, lengths = args.lengths, kmin = args.kmin,
    kmax = args.kmax, scores = args.scores;
    if (staged)
      qStage = KernelContext::addSharedBuffer(fn, {stagedRows, dim},
                                              b.getF32Type());
    if (plan.telemetry)
      boundTable = KernelContext::addSharedBuffer(
          fn, {unitsPerBlock, plan.boundHeads}, b.getF32Type());
    batch = b.blockId(gpu::Dimension::z);
    group = b.blockId(gpu::Dimension::y);
    chunkStart = b.mul(b.blockId(gpu::Dimension::x), b.index(unitsPerBlock));
    tid = b.threadId();
    row = b.divU(tid, b.index(width));      // row group r
    lane = b.remU(tid, b.index(width));     // lane in the row
    lane32 = b.toI32(lane);
    units = b.dim(scores, 2);
    n = b.minS(b.ceilDivU(b.toIndex(b.load(lengths, {batch})),
                          b.index(pageSize)),
               units);
    ninf = b.negInf();
    zero = b.f32(0.0);
    firstKvh = b.mul(group, b.index(hu));
  }

  /// The group's query rows as f32 in shared memory.
  void stageQueries() {
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
            Value div = b.splat(cast<VectorType>(q.getType()),
                                b.f32(double(groupSize)));
            q = b.divF(q, div);
          }
        } else {
          Value head = b.add(b.mul(firstKvh, b.index(groupSize)), srow);
          q = b.toF32(b.loadVector(lanes, queries, {batch, head, col}));
        }
        b.storeVector(q, qStage, {srow, col}, /*align=*/16);
      });
      b.barrier();
    }
  }

  void laneUnitsAndColumns() {
    // This lane's units and vector columns.
    Value nLast = b.sub(n, b.index(1));

    for (int64_t i = 0; i < U; ++i) {
      Value u = b.add(chunkStart,
                      b.add(b.index(i * rowGroups), row));
      unitIds.push_back(u);
      loadIds.push_back(b.minS(u, nLast));
    }

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

  }

  // Query row `qrow` (index into the staged rows, or a global
  // head) for vector j of this lane: lanes x f32 scalars, zero in
  // columns past the row.
  SmallVector<Value> queryScalars(Value kvhLocal, Value t, int64_t j,
                                  bool ownQuery = false) {
    Value q;
    if (staged && !ownQuery) {
      Value srow = b.add(b.mul(kvhLocal, b.index(rowsPerKvh)), t);
      q = b.loadVector(lanes, qStage, {srow, cols[j]}, /*align=*/16);
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
  }


  // One KV head of the group: loads the lanes' slices of the U
  // unit rows, then the partial bounds per (unit, query row).
  std::pair<Bounds, Bounds> loadUnits(Value kvh) {
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
  }

  // Partial bound of query row t for every unit: [i].
  // `ownQuery`: query head t of the KV head, read from io.q (mean_query's
  // staged rows are the means).
  SmallVector<Value> partials(const std::pair<Bounds, Bounds> &rows,
                              Value kvhLocal, Value t, bool ownQuery = false) {
    SmallVector<SmallVector<Value>> q;
    for (int64_t j = 0; j < perLane; ++j)
      q.push_back(queryScalars(kvhLocal, t, j, ownQuery));
    SmallVector<Value> out;
    for (int64_t i = 0; i < U; ++i)
      out.push_back(
          unitPartial(b, q, rows.first[i], rows.second[i], lanes));
    return out;
  }


  /// Loop over the group's KV heads (one for kv_head scope).
  SmallVector<Value>
  overKvHeads(SmallVector<Value> init,
              function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    if (hu == 1)
      return body(b.index(0), init);
    return b.forRange(b.index(0), b.index(hu), b.index(1), init, body);
  }

  /// `max`: per chunk of heads, the reduced bounds, max over the group.
  void maxBounds(SmallVector<Value> &results, Value &unitBase,
                 int64_t &nonUnitMask) {
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
        Scattered scattered;
        SmallVector<Value> unitVals =
            reduceUnits(b, vals, chunkHeads, width, lane32, &scattered);
        if (plan.telemetry)
          recordBounds(scattered, chunkHeads,
                       b.mul(c, b.index(chunkHeads)), kvhLocal);
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
  }

  void sumBounds(SmallVector<Value> &results, Value &unitBase,
                 int64_t &nonUnitMask) {
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
            // sum: the head's own bounds, reduced apart from the sum.
            if (plan.telemetry && !isMean)
              recordBounds(reduceScatter(b, p, width, lane32), 1, t,
                           kvhLocal);
            return next;
          };
          SmallVector<Value> result =
              rowsPerKvh == 1
                  ? rowBody(b.index(0), acc0)
                  : b.forRange(b.index(0), b.index(rowsPerKvh), b.index(1),
                               acc0, rowBody);
          // mean_query scores with the mean query: the heads' own bounds
          // need their own queries (G more partials per unit).
          if (plan.telemetry && isMean)
            b.forRange(b.index(0), b.index(groupSize), b.index(1),
                       [&](Value t) {
              SmallVector<Value> p =
                  partials(rows, kvhLocal, t, /*ownQuery=*/true);
              recordBounds(reduceScatter(b, p, width, lane32), 1, t,
                           kvhLocal);
            });
          return result;
        });
    results = reduceUnits(b, sums, /*heads=*/1, width, lane32);
    unitBase = unitLayout(b, U, 1, width, lane32, nonUnitMask);
  }

  void writeScores(ArrayRef<Value> results, Value unitBase,
                   int64_t nonUnitMask) {
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
        b.store(ScoreFrame::finalScore(b, u, n, v, sinks, window), scores,
                {batch, group, u});
      });
    }
  }

  /// Telemetry: the per-head bounds this lane holds after a reduce-scatter
  /// of (unit, head) values (index unit * heads + head; `heads` 1 when the
  /// head is `headBase` itself), scaled to logits, into the block's table.
  /// Lanes holding duplicates write the same value.
  void recordBounds(const Scattered &s, int64_t heads, Value headBase,
                    Value kvhLocal) {
    Value offset = b.i32(0);
    for (auto [laneOffset, weight] : s.steps)
      if (weight > 0)
        offset = b.add(offset, b.select(b.cmp(Pred::ne,
                                              b.andI(lane32, b.i32(laneOffset)),
                                              b.i32(0)),
                                        b.i32(weight), b.i32(0)));
    Value base = b.toIndex(offset);
    const bool padded = heads > 1 && chunks * chunkHeads != groupSize;
    for (auto [j, v] : llvm::enumerate(s.vals)) {
      Value idx = b.add(base, b.index(j));
      Value i = heads > 1 ? b.divU(idx, b.index(heads)) : idx;
      Value head = heads > 1 ? b.add(headBase, b.remU(idx, b.index(heads)))
                             : headBase;
      Value local = b.add(b.mul(i, b.index(rowGroups)), row);
      Value column = b.add(b.mul(kvhLocal, b.index(groupSize)),
                           b.minS(head, b.index(groupSize - 1)));
      auto write = [&] {
        b.store(b.mulF(v, b.f32(plan.scale)), boundTable, {local, column});
      };
      if (padded)
        b.ifThen(b.cmp(Pred::ult, head, b.index(groupSize)), write);
      else
        write();
    }
  }

  /// Telemetry: per head of the group, the max over the block's valid units
  /// of their bounds and the fixed-point sum of their terms relative to it,
  /// to scratch (one warp per head).
  void chunkBounds() {
    b.barrier();
    const int64_t warps = kScoreBlock / kWarpSize;
    Value warp = b.warpId(), laneW = b.laneId();
    Value chunk = b.blockId(gpu::Dimension::x);
    Value length = b.toIndex(b.load(lengths, {batch}));
    b.forRange(warp, b.index(plan.boundHeads), b.index(warps), [&](Value hh) {
      SmallVector<Value> local = b.forRange(
          laneW, b.index(unitsPerBlock), b.index(kWarpSize), {ninf},
          [&](Value l, ValueRange acc) -> SmallVector<Value> {
            Value ok = b.cmp(Pred::ult, b.add(chunkStart, l), n);
            Value v = b.load(boundTable, {l, hh});
            return {b.select(ok, b.maxF(acc[0], v), acc[0])};
          });
      Value max = b.warpReduce(local[0], WarpReduceKind::Max);
      SmallVector<Value> sums = b.forRange(
          laneW, b.index(unitsPerBlock), b.index(kWarpSize), {b.i64(0)},
          [&](Value l, ValueRange acc) -> SmallVector<Value> {
            Value u = b.add(chunkStart, l);
            Value ok = b.cmp(Pred::ult, u, n);
            Value term =
                boundTerm(b, b.load(boundTable, {l, hh}), max,
                          unitTokens(b, u, length, pageSize));
            return {b.select(ok, b.add(acc[0], term), acc[0])};
          });
      Value sum = b.warpReduce(sums[0], WarpReduceKind::Sum);
      Value head = b.add(b.mul(firstKvh, b.index(groupSize)), hh);
      b.ifThen(b.cmp(Pred::eq, laneW, b.index(0)), [&] {
        b.store(max, args.boundMax, {batch, head, chunk});
        b.store(sum, args.boundSum, {batch, head, chunk});
      });
    });
  }

  KernelBuilder &b;
  gpu::GPUFuncOp fn;
  const QuestScorePlan &plan;
  const QuestScoreArgs &launchArgs;
  ScoreFrame &fused;
  const int64_t groupSize = plan.groupSize, hu = plan.hu, dim = plan.dim;
  const int64_t pageSize = plan.pageSize, sinks = plan.sinks,
  window = plan.window;
  const int64_t lanes = plan.lanes, vectors = plan.vectors;
  const int64_t width = plan.width, perLane = plan.perLane;
  const int64_t rowGroups = plan.rowGroups, U = plan.unitsPerLane;
  const int64_t unitsPerBlock = plan.unitsPerBlock();
  const bool isMax = plan.isMax, isMean = plan.isMean;
  const int64_t rowsPerKvh = plan.rowsPerKvh, stagedRows = plan.stagedRows;
  const bool staged = plan.staged;
  const int64_t chunkHeads = plan.chunkHeads, chunks = plan.chunks;
  QuestScoreArgs args;
  Value queries, lengths, kmin, kmax, scores, qStage, boundTable;
  Value batch, group, chunkStart, tid, row, lane, lane32, units, n, ninf,
      zero, firstKvh;
  SmallVector<Value> unitIds, loadIds, cols, colValid;
};
} // namespace

/// The telemetry's buffers: the chunks' bound max (f32) and fixed-point sum
/// (i64), [B][Hq][N] of which the first ceil(N / units per block) entries
/// of a row are used (the buffer shapes have no ceil-division of N), and
/// the output io.unselected_log_bound [B][Hq] (f32; its presence in the
/// artifact says the artifact carries the bound).
namespace {
struct QuestBoundBuffers {
  Value max, sum, logBound;
};
} // namespace

static FailureOr<QuestBoundBuffers> getBoundBuffers(ScoreOp op, LayerOp layer,
                                                    const QuestScorePlan &p) {
  MLIRContext *context = op.getContext();
  Type f32 = Float32Type::get(context), i64 = IntegerType::get(context, 64);
  const int64_t hq = layer.getConfig().getQHeads();
  auto device = PlacementTier::device;
  FailureOr<Value> max = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.quest_bound_max", f32, {kBatchDim, hq, kUnitsDim}, device, 0});
  FailureOr<Value> sum = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.quest_bound_sum", i64, {kBatchDim, hq, kUnitsDim}, device, 0});
  FailureOr<Value> logBound = KernelContext::scratchBuffer(
      op, layer,
      {"io.unselected_log_bound", f32, {kBatchDim, hq}, device, 0});
  if (failed(max) || failed(sum) || failed(logBound))
    return failure();
  return QuestBoundBuffers{*max, *sum, *logBound};
}

/// The telemetry tail of an unfused score: its own kernel, launched after
/// the top-k of `topk`.
static LogicalResult lowerQuestBoundTail(KernelContext &ctx, ScoreOp op,
                                         TopKOp topk, const QuestScorePlan &p,
                                         const QuestBoundBuffers &buffers) {
  LayerOp layer = getLayer(op);
  const QuestBoundTailArgs launchArgs{
      op.getQueries(), op.getLengths(), op.getReprs()[0], op.getReprs()[1],
      topk.getUnits(), buffers.max,     buffers.sum,      buffers.logBound};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "score_bound"), operands, {kScoreBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        QuestBoundTailArgs args = kernelArguments(fn, launchArgs);
        QuestBoundTail(b, p, args, b.blockId(gpu::Dimension::y),
                       b.blockId(gpu::Dimension::x), p.unitsPerLane)
            .build();
      });
  QuestBoundTailPlan plan{p.frame.groups, p.budget,    p.hu,
                          p.boundHeads,   p.width,     p.rowGroups,
                          p.unitsPerLane, p.unitsPerBlock()};
  ctx.notePlan(kernel, plan);
  Operation *after = topk->getNextNode();
  OpBuilder builder(after);
  LaunchShape shape;
  shape.gridX = arith::ConstantIndexOp::create(builder, op.getLoc(),
                                               p.frame.groups);
  shape.gridY = memref::DimOp::create(builder, op.getLoc(), op.getScores(), 0);
  shape.blockX = kScoreBlock;
  ctx.launchBefore(after, kernel, shape, operands);
  return success();
}

/// The top-k of `op`'s scores that follows it (the tail runs after it).
static TopKOp findTopK(ScoreOp op) {
  for (Operation *user : op.getScores().getUsers())
    if (auto topk = dyn_cast<TopKOp>(user))
      if (topk->getBlock() == op->getBlock() && op->isBeforeInBlock(topk) &&
          topk.getScores() == op.getScores())
        return topk;
  return nullptr;
}

static LogicalResult lowerQuestScore(KernelContext &ctx, ScoreOp op,
                                     QuestAttr quest, ScoreFrame &fused) {
  LayerOp layer = getLayer(op);
  const bool telemetry = ctx.getOptions().telemetry;
  const QuestScorePlan plan =
      QuestScorePlan::get(layer, quest, fused, telemetry);
  if (plan.isMean && !plan.staged)
    return checkQuestLimits(layer, [&] { return op.emitOpError(); });
  QuestBoundBuffers bounds;
  TopKOp topk = fused.getTopK();
  if (telemetry) {
    if (plan.frame.sharedBytes() > kStaticSharedBytes)
      return op.emitOpError()
             << "cannot be lowered with telemetry: the score kernel needs "
             << plan.frame.sharedBytes()
             << " bytes of shared memory with its per-head bound table "
             << "(limit " << kStaticSharedBytes << ")";
    if (!topk)
      topk = findTopK(op);
    if (!topk)
      return op.emitOpError()
             << "cannot be lowered with telemetry: no hsa.topk of these "
                "scores follows it (the bound's tail runs after the "
                "selection)";
    FailureOr<QuestBoundBuffers> buffers = getBoundBuffers(op, layer, plan);
    if (failed(buffers))
      return failure();
    bounds = *buffers;
  }
  const QuestScoreArgs launchArgs{op.getQueries(),
                                  op.getLengths(),
                                  op.getReprs()[0],
                                  op.getReprs()[1],
                                  op.getScores(),
                                  fused.tailArgs(),
                                  bounds.max,
                                  bounds.sum,
                                  fused ? bounds.logBound : Value()};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), operands, {kScoreBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        QuestScoreKernel(b, fn, plan, launchArgs, fused).build();
      });
  if (plan.minBlocksPerSM)
    KernelContext::setMinBlocksPerSM(kernel, plan.minBlocksPerSM);
  ctx.notePlan(kernel, plan);
  // The unfused tail is launched after the top-k, which is still an op here
  // (the stages lower in order).
  if (telemetry && !fused &&
      failed(lowerQuestBoundTail(ctx, op, topk, plan, bounds)))
    return failure();
  fused.launch(ctx, op, kernel, plan.frame, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// update_repr, rebuild_repr
//===----------------------------------------------------------------------===//

namespace {
/// Quest's append and prefill kernels: one thread per (KV head, 16-byte key
/// vector), of the appended token or of every unit.
struct QuestReprPlan {
  int64_t hkv, pageSize, lanes, vectors;
  bool rebuild;
  static QuestReprPlan get(LayerOp layer, bool rebuild) {
    LayerConfigAttr config = layer.getConfig();
    QuestReprPlan p;
    p.hkv = config.getKvHeads();
    p.pageSize = config.getPageSize();
    p.lanes = kVectorBytes / config.getElementBytes();
    p.vectors = config.getKeyDim() / p.lanes;
    p.rebuild = rebuild;
    return p;
  }
  /// Threads per token (append) or unit (prefill).
  int64_t items() const { return hkv * vectors; }
  /// Prefill: 16-byte host loads issued before they are folded.
  int64_t inFlight() const { return std::min(pageSize, kRebuildInFlight); }
  int64_t batches() const { return llvm::divideCeil(pageSize, inFlight()); }
  void print(raw_ostream &os) const {
    if (!rebuild) {
      os << "grid (B, " << llvm::divideCeil(items(), kWriteBlock)
         << ") block " << kWriteBlock << "; threads/token " << items();
      return;
    }
    os << "grid (ceil(N * " << items() << " / " << kWriteBlock << "), B) block "
       << kWriteBlock << "; threads/unit " << items() << ", rows "
       << inFlight() << " in flight x " << batches();
  }
};
} // namespace

static LogicalResult lowerQuestUpdateRepr(KernelContext &ctx,
                                          UpdateReprOp op) {
  LayerOp layer = getLayer(op);
  const QuestReprPlan plan = QuestReprPlan::get(layer, /*rebuild=*/false);
  const int64_t pageSize = plan.pageSize;
  const int64_t lanes = plan.lanes;
  const int64_t vectors = plan.vectors;
  const int64_t items = plan.items();

  const QuestUpdateArgs launchArgs{op.getKeys(), op.getLengths(),
                                   op.getReprs()[0], op.getReprs()[1]};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "update_repr"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        QuestUpdateArgs args = kernelArguments(fn, launchArgs);
        Value newKeys = args.newKeys, lengths = args.lengths,
              kmin = args.kmin, kmax = args.kmax;
        Value batch = b.blockId(gpu::Dimension::x);
        Value item = b.add(b.mul(b.blockId(gpu::Dimension::y),
                                 b.index(kWriteBlock)),
                           b.threadId());
        Value length = b.load(lengths, {batch});
        Value pos = b.toIndex(length);
        Value unit = b.divU(pos, b.index(pageSize));
        Value units = b.dim(kmin, 2);
        Value valid = b.andI(b.andI(b.cmp(Pred::ult, item, b.index(items)),
                                    b.cmp(Pred::sgt, length, b.i32(0))),
                             b.cmp(Pred::ult, unit, units));
        b.ifThen(valid, [&] {
          Value head = b.divU(item, b.index(vectors));
          Value col = b.mul(b.remU(item, b.index(vectors)), b.index(lanes));
          Value key = b.loadVector(lanes, newKeys, {batch, head, col});
          SmallVector<Value> bounds = {key, key};
          // With one token per unit every token starts its unit.
          if (pageSize > 1) {
            Value fresh =
                b.cmp(Pred::eq, b.remU(pos, b.index(pageSize)), b.index(0));
            Type vecType = key.getType();
            bounds = b.ifThenElse(
                fresh, {vecType, vecType},
                [&]() -> SmallVector<Value> { return {key, key}; },
                [&]() -> SmallVector<Value> {
                  // min/max of values of the KV dtype are exact in it.
                  Value k = b.toF32(key);
                  Value lo = b.toF32(
                      b.loadVector(lanes, kmin, {batch, head, unit, col}));
                  Value hi = b.toF32(
                      b.loadVector(lanes, kmax, {batch, head, unit, col}));
                  return {b.truncTo(vecType, b.minF(lo, k)),
                          b.truncTo(vecType, b.maxF(hi, k))};
                });
          }
          b.storeVector(bounds[0], kmin, {batch, head, unit, col});
          b.storeVector(bounds[1], kmax, {batch, head, unit, col});
        });
      });

  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getKeys(), 0);
  shape.gridY = arith::ConstantIndexOp::create(
      builder, loc, llvm::divideCeil(items, kWriteBlock));
  shape.blockX = kWriteBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}

static LogicalResult lowerQuestRebuildRepr(KernelContext &ctx,
                                           RebuildReprOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  const QuestReprPlan plan = QuestReprPlan::get(layer, /*rebuild=*/true);
  const int64_t pageSize = plan.pageSize;
  const int64_t lanes = plan.lanes;
  const int64_t vectors = plan.vectors;
  const int64_t perUnit = plan.items();
  const int64_t inFlight = plan.inFlight();
  const int64_t batches = plan.batches();

  const QuestRebuildArgs launchArgs{op.getLengths(), op.getPageOf(),
                                    op.getHostKeys(), op.getReprs()[0],
                                    op.getReprs()[1]};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "rebuild_repr"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        QuestRebuildArgs args = kernelArguments(fn, launchArgs);
        Value lengths = args.lengths, pageOf = args.pageOf,
              hostKeys = args.hostKeys, kmin = args.kmin, kmax = args.kmax;
        Value batch = b.blockId(gpu::Dimension::y);
        Value item = b.add(b.mul(b.blockId(gpu::Dimension::x),
                                 b.index(kWriteBlock)),
                           b.threadId());
        Value unit = b.divU(item, b.index(perUnit));
        Value units = b.dim(kmin, 2);
        Value length = b.toIndex(b.load(lengths, {batch}));
        Value unitStart = b.mul(unit, b.index(pageSize));
        // A valid unit holds at least one token (so the slot is not free).
        Value valid = b.andI(b.cmp(Pred::ult, unit, units),
                             b.cmp(Pred::ult, unitStart, length));
        b.ifThen(valid, [&] {
          Value page = b.load(pageOf, {batch, unit});
          b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
            Value pageIdx = b.toIndex(page);
            Value rem = b.remU(item, b.index(perUnit));
            Value head = b.divU(rem, b.index(vectors));
            Value col = b.mul(b.remU(rem, b.index(vectors)), b.index(lanes));
            Value last = b.sub(b.minS(b.sub(length, unitStart),
                                      b.index(pageSize)),
                               b.index(1));
            SmallVector<Value> init = {
                b.splatF32(lanes, std::numeric_limits<float>::infinity()),
                b.splatF32(lanes, -std::numeric_limits<float>::infinity())};
            // Rows first..first+inFlight-1, clamped to the last token: all
            // loads issue before the first min/max needs one.
            auto foldBatch = [&](Value first,
                                 ValueRange acc) -> SmallVector<Value> {
              SmallVector<Value> rows;
              for (int64_t k = 0; k < inFlight; ++k) {
                Value row = b.minS(b.add(first, b.index(k)), last);
                rows.push_back(
                    b.loadVector(lanes, hostKeys, {pageIdx, head, row, col}));
              }
              // Widened one row at a time, so only the raw rows stay live.
              Value lo = acc[0], hi = acc[1];
              for (Value row : rows) {
                Value key = b.toF32(row);
                lo = b.minF(lo, key);
                hi = b.maxF(hi, key);
              }
              return {lo, hi};
            };
            SmallVector<Value> bounds =
                batches == 1
                    ? foldBatch(b.index(0), init)
                    : b.forRange(b.index(0), b.index(batches * inFlight),
                                 b.index(inFlight), init, foldBatch);
            Type storeType = VectorType::get({lanes}, config.getKvDtype());
            b.storeVector(b.truncTo(storeType, bounds[0]), kmin,
                          {batch, head, unit, col});
            b.storeVector(b.truncTo(storeType, bounds[1]), kmax,
                          {batch, head, unit, col});
          });
        });
      });

  OpBuilder builder(op);
  Location loc = op.getLoc();
  Value kmin = op.getReprs()[0];
  // Every (unit, KV head, vector) of the N units a request may have.
  Value units = memref::DimOp::create(builder, loc, kmin, 2);
  Value items = arith::MulIOp::create(
      builder, loc, units,
      arith::ConstantIndexOp::create(builder, loc, perUnit));
  LaunchShape shape;
  shape.gridX = arith::CeilDivUIOp::create(
      builder, loc, items,
      arith::ConstantIndexOp::create(builder, loc, kWriteBlock));
  shape.gridY = memref::DimOp::create(builder, loc, kmin, 0);
  shape.blockX = kWriteBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// The package's model
//===----------------------------------------------------------------------===//

namespace {
struct QuestKernels
    : public AlgorithmKernelsAttrInterface::ExternalModel<QuestKernels,
                                                          QuestAttr> {
  LogicalResult verifyKernelLimits(Attribute, LayerOp layer,
                                   EmitErrorFn emitError) const {
    return checkQuestLimits(layer, emitError);
  }
  LogicalResult lowerScore(Attribute algorithm, KernelContext &ctx, ScoreOp op,
                           ScoreFrame &frame) const {
    if (op.getReprs().size() != 2)
      return op.emitOpError() << "expects Quest's kmin and kmax";
    return lowerQuestScore(ctx, op, cast<QuestAttr>(algorithm), frame);
  }
  LogicalResult lowerUpdateRepresentations(Attribute, KernelContext &ctx,
                                           UpdateReprOp op) const {
    return lowerQuestUpdateRepr(ctx, op);
  }
  LogicalResult lowerRebuildRepresentations(Attribute, KernelContext &ctx,
                                            RebuildReprOp op) const {
    return lowerQuestRebuildRepr(ctx, op);
  }
  // `max` keeps the largest head bound: a bound of every head's logits.
  // `sum` and `mean_query` bound no single head.
  bool scoresBoundGroupLogits(Attribute algorithm, LayerOp layer) const {
    return cast<QuestAttr>(algorithm).getCombine() == ScoreCombine::max &&
           layer.getEffectiveSoftmaxScale() > 0;
  }
};
} // namespace

void mlir::hsa::registerQuestKernels(MLIRContext &context) {
  QuestAttr::attachInterface<QuestKernels>(context);
}
