//===- Attention.cpp - sparse attention: split-K decode + LSE merge -------===//
//
// hsa.attend becomes one kernel (flash-decoding, merge by the last split):
//
// attend, grid (B, Hkv * head chunks, splits), 4 warps: one block attends
//   one chunk of the query heads of one KV head (all G heads of the group
//   when they fit in registers) to the tokens of `units per split`
//   consecutive selection entries (about 128 tokens), so each K/V row is read
//   once per chunk, never once per query head. A row is read by `rowThreads`
//   lanes with 16-byte vector loads (D = 128, bf16: 16 lanes of 8 elements,
//   two rows per warp); each lane group keeps its own online-softmax state
//   (running max, sum, accumulator) per head in registers, in the base-2
//   domain (queries are pre-scaled by scale * log2(e)). Groups then merge
//   through shuffles, warps through shared memory; the block writes
//   scratch.attn_o[b][h][split] (normalised) and scratch.attn_lse (natural
//   log; -inf for a split without tokens, whose output row is zero).
//   Then every thread fences its stores and thread 0 counts the split in
//   scratch.attn_done[b][first head of the chunk]; the block that counts
//   last (the threadFenceReduction pattern) combines all splits of its
//   heads with weights exp(lse - max lse), writes io.o in the KV dtype
//   (zeros when no split saw a token), each head's merged natural-log LSE
//   to io.lse [B][Hq] (what engines and the telemetry read) and resets the
//   count to 0. One launch instead of a split and a merge kernel.
//
// Semantics (docs/BUFFERS.md): query head h reads KV head h / G, selection
// group (h / G) / Hu, head Hu-index (h / G) % Hu; tokens are u * P + r of
// each selected unit u >= 0 (slot from sel.slots), masked at positions >=
// req.length. Latent (MLA) layers read V as the first Dv elements of the key
// row, from the registers the key was loaded into. FlashMLA's fp8 latent rows
// (kv_dtype f8E4M3FN) are dequantised as they are loaded: a lane's vector of
// 8 latent elements is 8 e4m3 bytes (cvt.rn.f16x2.e4m3x2, exact) times its
// 128-element tile's f32 scale, a vector of 8 rope elements 16 bf16 bytes;
// queries and outputs are bf16.
//
//===----------------------------------------------------------------------===//

#include "AttentionMerge.h"
#include "KernelBuilder.h"
#include "hsa/artifact_format.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

static constexpr int64_t kAttendWarps = 4;
static constexpr int64_t kAttendBlock = kAttendWarps * kWarpSize;
/// f32 registers per lane for the queries and accumulators of one block's
/// heads; more heads per KV head than fit become more blocks (grid y).
static constexpr int64_t kStateRegisters = 160;
/// Static shared memory the split kernel may use.
static constexpr int64_t kSharedBytes = kStaticSharedBytes;
static constexpr double kLog2E = 1.4426950408889634;
static constexpr double kLn2 = 0.6931471805599453;

namespace {
/// Compile-time geometry of the split kernel for one layer.
struct AttendPlan {
  int64_t hq, hkv, group, dk, dv, pageSize, hu, budget;
  int64_t splits, unitsPerSplit;
  bool latent;
  bool fp8Latent;       ///< keys are FlashMLA's fp8 latent rows (bytes)
  int64_t lanes;        ///< elements per 16-byte vector of queries/outputs
  int64_t keyVectors;   ///< 16-byte vectors per key row
  int64_t valueVectors; ///< 16-byte vectors per value row
  int64_t rowThreads;   ///< lanes reading one row (power of two <= 32)
  int64_t rowsPerWarp;  ///< rows a warp reads at once
  int64_t keySlots;     ///< key vectors per lane
  int64_t valueSlots;   ///< value vectors per lane
  int64_t headsPerBlock, headChunks;
  int64_t unroll; ///< tokens per lane group per loop iteration
  double scale;   ///< softmax scale
  /// PTX .minnctapersm (0: ptxas' own choice).
  int64_t minBlocksPerSM;
  int64_t tokensPerIteration() const {
    return unroll * kAttendWarps * rowsPerWarp;
  }
  int64_t sharedBytes() const {
    return kAttendWarps * headsPerBlock * (dv + 2) * 4 +
           unitsPerSplit * 2 * 4 + kAttendWarps * 4;
  }
  void print(raw_ostream &os) const {
    os << "grid (B, " << hkv * headChunks << " = Hkv x head chunks, " << splits
       << " splits) block " << kAttendBlock << " shared " << sharedBytes()
       << "; heads/block " << headsPerBlock << ", units/split "
       << unitsPerSplit << ", row threads " << rowThreads << " (rows/warp "
       << rowsPerWarp << "), key/value vectors/lane " << keySlots << "/"
       << valueSlots << ", unroll " << unroll << ", min blocks/SM "
       << minBlocksPerSM;
    if (fp8Latent)
      os << "; fp8 latent rows dequantised in registers";
  }
};
} // namespace

static AttendPlan makePlan(LayerOp layer, const KernelOptions &options) {
  LayerConfigAttr config = layer.getConfig();
  AttendPlan p;
  p.hq = config.getQHeads();
  p.hkv = config.getKvHeads();
  p.group = config.getGroupSize();
  p.dk = config.getKeyDim();
  p.dv = config.getValueDim();
  p.pageSize = config.getPageSize();
  p.hu = config.getHeadsPerUnit();
  p.budget = layer.getBudget();
  p.unitsPerSplit =
      std::max<int64_t>(1, options.attentionSplitTokens / p.pageSize);
  p.splits = llvm::divideCeil(p.budget, p.unitsPerSplit);
  p.latent = config.isLatent();
  p.scale = layer.getEffectiveSoftmaxScale();
  p.fp8Latent = config.isFp8Latent();
  // Columns count elements of the (bf16 / f16) queries; an fp8 key vector of
  // the same columns is half as many bytes (docs/BUFFERS.md "KeyRow").
  p.lanes = kVectorBytes /
            (config.getActivationType().getIntOrFloatBitWidth() / 8);
  p.keyVectors = p.dk / p.lanes;
  p.valueVectors = p.dv / p.lanes;
  p.rowThreads = std::min<int64_t>(
      kWarpSize, llvm::PowerOf2Ceil(std::max(p.keyVectors, p.valueVectors)));
  p.rowsPerWarp = kWarpSize / p.rowThreads;
  p.keySlots = llvm::divideCeil(p.keyVectors, p.rowThreads);
  p.valueSlots = llvm::divideCeil(p.valueVectors, p.rowThreads);
  // Queries and accumulators of one head, in f32 registers per lane.
  int64_t perHead = (p.keySlots + p.valueSlots) * p.lanes;
  p.headsPerBlock = 1;
  for (int64_t heads = 1; heads <= p.group; ++heads)
    if (p.group % heads == 0 && heads * perHead <= kStateRegisters)
      p.headsPerBlock = heads;
  // Keep the warps' partial states within static shared memory.
  while (p.headsPerBlock > 1 && p.sharedBytes() > kSharedBytes) {
    int64_t heads = p.headsPerBlock - 1;
    while (p.group % heads != 0)
      --heads;
    p.headsPerBlock = heads;
  }
  p.headChunks = p.group / p.headsPerBlock;
  // Enough 16-byte loads in flight per lane (about 8) to cover latency.
  int64_t loadsPerToken = p.keySlots + (p.latent ? 0 : p.valueSlots);
  p.unroll = std::clamp<int64_t>(8 / loadsPerToken, 1, 4);
  // Memory-bound: 4 resident blocks per SM (<= 128 registers) instead of 3
  // measured 12% faster on the H200 at B=64 (docs/PERF.md). Only where the
  // per-lane query + accumulator state is small (4 heads of one 16-byte
  // vector each, as for D = 128): larger states (GQA 8, MLA's 576-wide
  // rows) spill under the cap.
  int64_t stateRegisters = p.headsPerBlock * perHead;
  p.minBlocksPerSM = stateRegisters <= 64 ? 4 : 0;
  return p;
}

/// The attention kernel's scratch buffers: the splits' partial outputs and
/// log-sum-exps (merged by the last split), and the splits finished per
/// (request, first head of a block's head chunk), put back to 0 by the
/// merging block. They are not operands of hsa.attend: the kernel family
/// declares them on the layer and the launch fetches them by name.
namespace {
struct AttendScratch {
  Value partialOut, partialLse, done;
};
} // namespace

static FailureOr<AttendScratch>
getAttendScratch(AttendOp op, LayerOp layer, const AttendPlan &p) {
  Type f32 = Float32Type::get(op.getContext());
  Type i32 = IntegerType::get(op.getContext(), 32);
  auto device = PlacementTier::device;
  FailureOr<Value> partialOut = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.attn_o", f32, {kBatchDim, p.hq, p.splits, p.dv}, device, 0});
  FailureOr<Value> partialLse = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.attn_lse", f32, {kBatchDim, p.hq, p.splits}, device, 0});
  FailureOr<Value> done = KernelContext::scratchBuffer(
      op, layer, {"scratch.attn_done", i32, {kBatchDim, p.hq}, device, 0});
  if (failed(partialOut) || failed(partialLse) || failed(done))
    return failure();
  return AttendScratch{*partialOut, *partialLse, *done};
}

//===----------------------------------------------------------------------===//
// merge of the splits
//===----------------------------------------------------------------------===//

/// Output vector `col` (p.lanes elements) of query head `head`, merged over
/// the p.splits partials of scratch.attn_o / attn_lse into io.o; the item of
/// column 0 also writes the head's merged LSE to io.lse (one store per head
/// and step, so it is written unconditionally).
static void emitMergeItem(KernelBuilder &b, const AttendPlan &p, Type kvType,
                          Value partialOut, Value partialLse, Value output,
                          Value lse, Value batch, Value head, Value col) {
  auto lseAt = [&](Value s) { return b.load(partialLse, {batch, head, s}); };
  auto quadAt = [&](Value s, int64_t offset) {
    return b.loadVector(4, partialOut,
                        {batch, head, s, b.add(col, b.index(offset))});
  };
  emitSplitMerge(b, b.index(p.splits), p.lanes, {lseAt, quadAt}, kvType,
                 output, {batch, head, col},
                 [&] { return b.cmp(Pred::eq, col, b.index(0)); }, lse,
                 {batch, head});
}

//===----------------------------------------------------------------------===//
// attend (split + merge by the last split)
//===----------------------------------------------------------------------===//

/// Online-softmax state of one lane: per head the running max (base 2), the
/// running sum and the accumulator vectors (valueSlots x vector<lanes x f32>).
namespace {
struct SoftmaxState {
  SmallVector<Value> max, sum;
  SmallVector<SmallVector<Value>> acc;

  SmallVector<Value> flatten() const {
    SmallVector<Value> values(max);
    llvm::append_range(values, sum);
    for (const auto &head : acc)
      llvm::append_range(values, head);
    return values;
  }
  static SoftmaxState unflatten(ValueRange values, int64_t heads,
                                int64_t slots) {
    SoftmaxState s;
    s.max.assign(values.begin(), values.begin() + heads);
    s.sum.assign(values.begin() + heads, values.begin() + 2 * heads);
    for (int64_t h = 0; h < heads; ++h) {
      auto first = values.begin() + 2 * heads + h * slots;
      s.acc.emplace_back(first, first + slots);
    }
    return s;
  }
};
} // namespace

namespace {
/// The attention kernel's arguments, in order (no values for latent layers).
struct AttendArgs {
  Value queries, lengths, units, slots, keys, values, partialOut, partialLse,
      done, output, lse;
  SmallVector<Value *> fields() {
    return {&queries,    &lengths,    &units, &slots,  &keys, &values,
            &partialOut, &partialLse, &done,  &output, &lse};
  }
};
} // namespace

namespace {
/// The attention kernel's body, phase by phase: the page-table entries of
/// this split, the queries, the token loop (online softmax), the merge of
/// the lane groups and warps, the split's partial output, and the merge of
/// the splits by the last one. Every phase must be reached by all threads.
class SplitKernel {
public:
  SplitKernel(KernelBuilder &b, gpu::GPUFuncOp fn, const AttendPlan &p,
              Type kvType, const AttendArgs &a)
      : b(b), fn(fn), p(p), kvType(kvType), a(a) {}

  void build() {
    prologue();
    stagePageTable();
    loadQueries();
    SoftmaxState state = tokenLoop();
    mergeLaneGroups(state);
    writeSplit();
    mergeSplits();
  }

private:
  /// Geometry, shared buffers and this block's (request, heads, split).
  void prologue() {
    warps = kAttendWarps, hb = p.headsPerBlock;
    tpr = p.rowThreads, rpw = p.rowsPerWarp;
    ups = p.unitsPerSplit, pageSize = p.pageSize;
    queries = a.queries, lengths = a.lengths, units = a.units,
          slots = a.slots, keys = a.keys, values = a.values;
    partialOut = a.partialOut, partialLse = a.partialLse;
    done = a.done, output = a.output;

    f32 = b.getF32Type(), i32 = b.getI32Type();
    vecF32 = VectorType::get({p.lanes}, f32);
    vecKV = VectorType::get({p.lanes}, kvType);
    vec4F32 = VectorType::get({4}, f32);

    shSlot = KernelContext::addSharedBuffer(fn, {ups}, i32);
    shRows = KernelContext::addSharedBuffer(fn, {ups}, i32);
    shBound = KernelContext::addSharedBuffer(fn, {warps}, i32);
    shMax = KernelContext::addSharedBuffer(fn, {warps, hb}, f32);
    shSum = KernelContext::addSharedBuffer(fn, {warps, hb}, f32);
    shAcc = KernelContext::addSharedBuffer(fn, {warps, hb, p.dv}, f32);
    shLast = KernelContext::addSharedBuffer(fn, {1}, i32);

    batch = b.blockId(gpu::Dimension::x);
    yBlock = b.blockId(gpu::Dimension::y);
    split = b.blockId(gpu::Dimension::z);
    kvHead = b.divU(yBlock, b.index(p.headChunks));
    chunk = b.remU(yBlock, b.index(p.headChunks));
    group = b.divU(kvHead, b.index(p.hu));
    unitHead = b.remU(kvHead, b.index(p.hu));
    firstHead = b.add(b.mul(kvHead, b.index(p.group)),
                            b.mul(chunk, b.index(hb)));
    tid = b.threadId(), lane = b.laneId(), warp = b.warpId();
    sub = b.remU(lane, b.index(tpr));
    rowGroup = b.add(b.mul(warp, b.index(rpw)), b.divU(lane, b.index(tpr)));
  }

  /// Phase 1: sets `tokens` and `fallbackSlot`.
  void stagePageTable() {
    // Phase 1: this split's entries of the page table: slot and valid rows
    // (clamp(L - u * P, 0, P); 0 for padding), and one past the last entry
    // holding a token, so the token loop stops there.
    Value length = b.load(lengths, {batch});
    Value firstEntry = b.mul(split, b.index(ups));
    SmallVector<Value> localBound = b.forRange(
        tid, b.index(ups), b.index(kAttendBlock), {b.i32(0)},
        [&](Value e, ValueRange carried) -> SmallVector<Value> {
          Value entry = b.add(firstEntry, e);
          Value inBudget = b.cmp(Pred::ult, entry, b.index(p.budget));
          Value safeEntry = b.minS(entry, b.index(p.budget - 1));
          Value unit = b.load(units, {batch, group, safeEntry});
          Value slot = b.load(slots, {batch, group, safeEntry});
          Value rows = b.minS(
              b.maxS(b.sub(length, b.mul(unit, b.i32(pageSize))), b.i32(0)),
              b.i32(pageSize));
          Value valid = b.andI(inBudget,
                               b.andI(b.cmp(Pred::sge, unit, b.i32(0)),
                                      b.cmp(Pred::sge, slot, b.i32(0))));
          rows = b.select(valid, rows, b.i32(0));
          b.store(b.select(valid, slot, b.i32(-1)), shSlot, {e});
          b.store(rows, shRows, {e});
          Value end = b.toI32(b.add(e, b.index(1)));
          Value has = b.cmp(Pred::sgt, rows, b.i32(0));
          return {b.select(has, b.maxS(carried[0], end), carried[0])};
        });
    Value warpBound = b.warpReduce(localBound[0], WarpReduceKind::Max);
    b.ifThen(b.cmp(Pred::eq, lane, b.index(0)),
             [&] { b.store(warpBound, shBound, {warp}); });
    b.barrier();
    Value bound = b.load(shBound, {b.index(0)});
    for (int64_t w = 1; w < warps; ++w)
      bound = b.maxS(bound, b.load(shBound, {b.index(w)}));
    tokens = b.mul(b.toIndex(bound), b.index(pageSize));
    // Masked tokens load row 0 of a selected slot (finite, cached) instead of
    // branching around their loads.
    fallbackSlot =
        b.toIndex(b.maxS(b.load(shSlot, {b.index(0)}), b.i32(0)));
  }

  // This lane's columns: vector j of a row is j * rowThreads + sub; lanes
  // past the row's end (e.g. the rope part of an MLA key) read the last
  // vector again and use zero queries.
  Value column(int64_t j, int64_t rowVectors) {
    Value v = b.add(b.index(j * tpr), sub);
    return b.mul(b.minS(v, b.index(rowVectors - 1)), b.index(p.lanes));
  }
  Value inRow(int64_t j, int64_t rowVectors) {
    if ((j + 1) * tpr <= rowVectors)
      return Value(); // always inside
    return b.cmp(Pred::ult, b.add(b.index(j * tpr), sub),
                 b.index(rowVectors));
  }

  /// This lane's key and value columns and the block's scaled queries.
  void loadQueries() {
    for (int64_t j = 0; j < p.keySlots; ++j)
      keyCols.push_back(column(j, p.keyVectors));
    for (int64_t j = 0; j < p.valueSlots; ++j)
      valueCols.push_back(column(j, p.valueVectors));

    // Queries of the block's heads, f32, pre-scaled to base-2 logits.
    Value qScale = b.splat(vecF32, b.f32(p.scale * kLog2E));
    q.assign(hb, {});
    for (int64_t h = 0; h < hb; ++h)
      for (int64_t j = 0; j < p.keySlots; ++j) {
        Value head = b.add(firstHead, b.index(h));
        Value v = b.mulF(b.toF32(b.loadVector(p.lanes, queries,
                                              {batch, head, keyCols[j]})),
                         qScale);
        if (Value inside = inRow(j, p.keyVectors))
          v = b.select(inside, v, b.zeros(vecF32));
        q[h].push_back(v);
      }
  }

  SoftmaxState tokenLoop() {
    // Phase 2: the token loop. Each lane group (rowThreads lanes) takes
    // `unroll` tokens per iteration; token t of the split is entry t / P,
    // row t % P.
    SoftmaxState init;
    for (int64_t h = 0; h < hb; ++h) {
      init.max.push_back(b.negInf());
      init.sum.push_back(b.f32(0.0));
      init.acc.emplace_back(p.valueSlots, b.zeros(vecF32));
    }
    const int64_t stride = kAttendWarps * rpw;
    SmallVector<Value> loopState = b.forRange(
        b.index(0), tokens, b.index(p.tokensPerIteration()), init.flatten(),
        [&](Value base, ValueRange carried) {
          return tokenStep(base, carried, stride);
        });
    return SoftmaxState::unflatten(loopState, hb, p.valueSlots);
  }

  /// One iteration of the token loop: `unroll` tokens per lane group.
  SmallVector<Value> tokenStep(Value base, ValueRange carried,
                               int64_t stride) {
    SoftmaxState s = SoftmaxState::unflatten(carried, hb, p.valueSlots);
    // Issue every load of the iteration first.
    SmallVector<Value> valid;
    SmallVector<SmallVector<Value>> keyRows, valueRows;
    SmallVector<SmallVector<Fp8KeyLoad>> fp8Rows;
    for (int64_t u = 0; u < p.unroll; ++u) {
      Value t = b.add(base, b.add(b.index(u * stride), rowGroup));
      Value entry =
          b.minS(b.divU(t, b.index(pageSize)), b.index(ups - 1));
      Value row = b.remU(t, b.index(pageSize));
      Value rows = b.toIndex(b.load(shRows, {entry}));
      Value ok = b.andI(b.cmp(Pred::ult, t, tokens),
                        b.cmp(Pred::ult, row, rows));
      Value slot = b.select(ok, b.toIndex(b.load(shSlot, {entry})),
                            fallbackSlot);
      row = b.select(ok, row, b.index(0));
      valid.push_back(ok);
      if (p.fp8Latent) {
        SmallVector<Fp8KeyLoad> loads;
        for (int64_t j = 0; j < p.keySlots; ++j)
          loads.push_back(loadFp8Key(slot, row, j));
        fp8Rows.push_back(std::move(loads));
        continue;
      }
      SmallVector<Value> k;
      for (int64_t j = 0; j < p.keySlots; ++j)
        k.push_back(b.loadVector(
            p.lanes, keys, {batch, group, slot, unitHead, row, keyCols[j]}));
      SmallVector<Value> v;
      for (int64_t j = 0; j < p.valueSlots; ++j) {
        Value raw = p.latent
                        ? k[j]
                        : b.loadVector(p.lanes, values,
                                       {batch, group, slot, unitHead, row,
                                        valueCols[j]});
        // Masked rows contribute p = 0; zero them so that 0 * NaN of
        // an unwritten slot cannot leak in.
        v.push_back(b.select(ok, raw, b.zeros(vecKV)));
      }
      keyRows.push_back(std::move(k));
      valueRows.push_back(std::move(v));
    }
    // Base-2 logits: dot over the lane's columns, then over the group.
    SmallVector<SmallVector<Value>> keyF(p.unroll), valueF(p.unroll);
    for (int64_t u = 0; u < p.unroll; ++u) {
      if (p.fp8Latent) {
        for (int64_t j = 0; j < p.keySlots; ++j)
          keyF[u].push_back(dequantiseFp8Key(fp8Rows[u][j], j));
        // V = the latent part of the same registers; masked rows zeroed
        // (0 * NaN of an unwritten slot must not leak in).
        for (int64_t j = 0; j < p.valueSlots; ++j)
          valueF[u].push_back(
              b.select(valid[u], keyF[u][j], b.zeros(vecF32)));
        continue;
      }
      for (Value k : keyRows[u])
        keyF[u].push_back(b.toF32(k));
      for (Value v : valueRows[u])
        valueF[u].push_back(b.toF32(v));
    }
    SoftmaxState out;
    for (int64_t h = 0; h < hb; ++h) {
      SmallVector<Value> logits;
      Value max = s.max[h];
      for (int64_t u = 0; u < p.unroll; ++u) {
        Value dot;
        for (int64_t j = 0; j < p.keySlots; ++j)
          for (int64_t e = 0; e < p.lanes; ++e) {
            Value x = b.extract(q[h][j], e), y = b.extract(keyF[u][j], e);
            dot = dot ? b.fma(x, y, dot) : b.mulF(x, y);
          }
        dot = b.warpReduce(dot, WarpReduceKind::Sum, tpr);
        Value logit = b.select(valid[u], dot, b.negInf());
        logits.push_back(logit);
        max = b.maxF(max, logit);
      }
      Value ref = b.safeMax(max);
      Value alpha = b.exp2(b.subF(s.max[h], ref));
      Value sum = b.mulF(s.sum[h], alpha);
      SmallVector<Value> acc;
      Value alphaV = b.splat(vecF32, alpha);
      for (int64_t j = 0; j < p.valueSlots; ++j)
        acc.push_back(b.mulF(s.acc[h][j], alphaV));
      for (int64_t u = 0; u < p.unroll; ++u) {
        Value weight = b.exp2(b.subF(logits[u], ref));
        sum = b.addF(sum, weight);
        Value weightV = b.splat(vecF32, weight);
        for (int64_t j = 0; j < p.valueSlots; ++j)
          acc[j] = b.fma(weightV, valueF[u][j], acc[j]);
      }
      out.max.push_back(max);
      out.sum.push_back(sum);
      out.acc.push_back(std::move(acc));
    }
    return out.flatten();
  }

  /// The raw loads of one lane's key vector j of an fp8 latent row: the
  /// 8 e4m3 codes and their tile's scale, and / or the 8 bf16 rope values
  /// (a slot whose columns straddle the latent / rope boundary loads both).
  struct Fp8KeyLoad {
    Value codes, scale, rope;
  };
  enum class Fp8Part { Latent, Rope, Both };
  Fp8Part fp8Part(int64_t j) const {
    const int64_t latentVectors = p.dv / p.lanes;
    if (std::min((j + 1) * tpr, p.keyVectors) <= latentVectors)
      return Fp8Part::Latent;
    if (std::min(j * tpr, p.keyVectors - 1) >= latentVectors)
      return Fp8Part::Rope;
    return Fp8Part::Both;
  }
  Fp8KeyLoad loadFp8Key(Value slot, Value row, int64_t j) {
    // Byte offsets in the row: codes at the column, the scales after the
    // latent part, the rope (bf16) after the scales.
    const int64_t scalesAt = p.dv;
    const int64_t ropeAt = p.dv + p.dv / ::hsa::artifact::kFp8LatentTile * 4;
    auto at = [&](Value byte) -> SmallVector<Value> {
      return {batch, group, slot, unitHead, row, byte};
    };
    Fp8KeyLoad load;
    Value col = keyCols[j];
    Fp8Part part = fp8Part(j);
    if (part != Fp8Part::Rope) {
      Value latentCol = part == Fp8Part::Both
                            ? b.minS(col, b.index(p.dv - p.lanes))
                            : col;
      load.codes = b.loadVector(p.lanes, keys, at(latentCol));
      Value tile = b.divU(latentCol, b.index(::hsa::artifact::kFp8LatentTile));
      Value bytes = b.loadVector(
          4, keys, at(b.add(b.index(scalesAt), b.mul(tile, b.index(4)))));
      load.scale = b.extract(
          vector::BitCastOp::create(b, VectorType::get({1}, f32), bytes), 0);
    }
    if (part != Fp8Part::Latent) {
      // A Both slot's latent lanes load rope vector 0 (discarded).
      Value ropeCol = part == Fp8Part::Rope
                          ? b.sub(col, b.index(p.dv))
                          : b.sub(b.maxS(col, b.index(p.dv)), b.index(p.dv));
      Value bytes = b.loadVector(
          2 * p.lanes, keys, at(b.add(b.index(ropeAt), b.mul(ropeCol, b.index(2)))));
      load.rope = vector::BitCastOp::create(
          b, VectorType::get({p.lanes}, b.getBF16Type()), bytes);
    }
    return load;
  }
  Value dequantiseFp8Key(const Fp8KeyLoad &load, int64_t j) {
    Value latent, rope;
    if (load.codes) {
      SmallVector<Value> values = b.decodeE4M3(load.codes);
      latent = b.mulF(vector::FromElementsOp::create(b, vecF32, values),
                      b.splat(vecF32, load.scale));
    }
    if (load.rope)
      rope = b.toF32(load.rope);
    if (latent && rope)
      return b.select(b.cmp(Pred::ult, keyCols[j], b.index(p.dv)), latent,
                      rope);
    return latent ? latent : rope;
  }

  void mergeLaneGroups(SoftmaxState &state) {
    // Phase 3: merge the lane groups of each warp (shuffles), then the warps
    // (shared memory).
    for (int64_t offset = tpr; offset < kWarpSize; offset *= 2)
      for (int64_t h = 0; h < hb; ++h) {
        Value otherMax = b.shuffleXor(state.max[h], offset);
        Value otherSum = b.shuffleXor(state.sum[h], offset);
        Value max = b.maxF(state.max[h], otherMax);
        Value ref = b.safeMax(max);
        Value mine = b.exp2(b.subF(state.max[h], ref));
        Value theirs = b.exp2(b.subF(otherMax, ref));
        state.sum[h] = b.fma(otherSum, theirs, b.mulF(state.sum[h], mine));
        state.max[h] = max;
        for (int64_t j = 0; j < p.valueSlots; ++j) {
          Value acc = state.acc[h][j];
          Value merged = acc;
          for (int64_t e = 0; e < p.lanes; ++e) {
            Value x = b.extract(acc, e);
            Value y = b.shuffleXor(x, offset);
            merged = b.insert(b.fma(y, theirs, b.mulF(x, mine)), merged, e);
          }
          state.acc[h][j] = merged;
        }
      }
    b.ifThen(b.cmp(Pred::ult, lane, b.index(tpr)), [&] {
      for (int64_t h = 0; h < hb; ++h) {
        Value head = b.index(h);
        b.ifThen(b.cmp(Pred::eq, lane, b.index(0)), [&] {
          b.store(state.max[h], shMax, {warp, head});
          b.store(state.sum[h], shSum, {warp, head});
        });
        for (int64_t j = 0; j < p.valueSlots; ++j) {
          auto write = [&] {
            // Two 16-byte shared stores per vector of 8.
            for (int64_t part = 0; part < p.lanes; part += 4) {
              Value piece = b.slice(state.acc[h][j], part, 4);
              Value col = b.add(b.mul(b.add(b.index(j * tpr), sub),
                                      b.index(p.lanes)),
                                b.index(part));
              b.storeVector(piece, shAcc, {warp, head, col});
            }
          };
          if (Value inside = inRow(j, p.valueVectors))
            b.ifThen(inside, write);
          else
            write();
        }
      }
    });
    b.barrier();
  }

  void writeSplit() {
    // One thread per 4 output elements of one head: combine the warps,
    // normalise, write the split's partial output and log-sum-exp.
    const int64_t quads = p.dv / 4;
    b.forRange(tid, b.index(hb * quads), b.index(kAttendBlock), [&](Value item) {
      Value h = b.divU(item, b.index(quads));
      Value col = b.mul(b.remU(item, b.index(quads)), b.index(4));
      SmallVector<Value> maxes, sums;
      Value max = b.negInf();
      for (int64_t w = 0; w < warps; ++w) {
        maxes.push_back(b.load(shMax, {b.index(w), h}));
        sums.push_back(b.load(shSum, {b.index(w), h}));
        max = b.maxF(max, maxes.back());
      }
      Value ref = b.safeMax(max);
      Value sum = b.f32(0.0);
      Value acc = b.zeros(vec4F32);
      for (int64_t w = 0; w < warps; ++w) {
        Value weight = b.exp2(b.subF(maxes[w], ref));
        sum = b.fma(weight, sums[w], sum);
        Value part = b.loadVector(4, shAcc, {b.index(w), h, col});
        acc = b.fma(b.splat(vec4F32, weight), part, acc);
      }
      Value seen = b.cmpF(FPred::OGT, sum, b.f32(0.0));
      Value inv = b.select(seen, b.divF(b.f32(1.0), sum),
                           b.f32(0.0));
      Value head = b.add(firstHead, h);
      b.storeVector(b.mulF(acc, b.splat(vec4F32, inv)), partialOut,
                    {batch, head, split, col});
      b.ifThen(b.cmp(Pred::eq, col, b.index(0)), [&] {
        // Natural-log LSE of the split: (max + log2(sum)) * ln 2.
        Value lse = b.mulF(b.addF(max, b.log2(b.select(seen, sum, b.f32(1.0)))),
                           b.f32(kLn2));
        b.store(b.select(seen, lse, b.negInf()), partialLse, {batch, head, split});
      });
    });
  }

  void mergeSplits() {
    // Phase 4: count this split; the last split of the chunk merges.
    b.lastArrival(
        done, {batch, firstHead}, shLast, [&] { return b.i32(p.splits - 1); },
        [&] {
          const int64_t vectors = p.valueVectors;
          b.forRange(tid, b.index(hb * vectors), b.index(kAttendBlock),
                     [&](Value item) {
            Value head = b.add(firstHead, b.divU(item, b.index(vectors)));
            Value col = b.mul(b.remU(item, b.index(vectors)), b.index(p.lanes));
            emitMergeItem(b, p, kvType, partialOut, partialLse, output,
                          a.lse, batch, head, col);
          });
        });
  }

  KernelBuilder &b;
  gpu::GPUFuncOp fn;
  const AttendPlan &p;
  Type kvType;
  const AttendArgs &a;
  int64_t warps, hb, tpr, rpw, ups, pageSize;
  Value queries, lengths, units, slots, keys, values, partialOut, partialLse,
      done, output;
  Type f32, i32;
  VectorType vecF32, vecKV, vec4F32;
  Value shSlot, shRows, shBound, shMax, shSum, shAcc, shLast;
  Value batch, yBlock, split, kvHead, chunk, group, unitHead, firstHead;
  Value tid, lane, warp, sub, rowGroup;
  Value tokens, fallbackSlot;
  SmallVector<Value> keyCols, valueCols;
  SmallVector<SmallVector<Value>> q;
};
} // namespace

static void buildSplitKernel(KernelBuilder &b, gpu::GPUFuncOp fn,
                             const AttendPlan &p, Type kvType,
                             const AttendArgs &a) {
  SplitKernel(b, fn, p, kvType, a).build();
}

//===----------------------------------------------------------------------===//
// lowerAttend
//===----------------------------------------------------------------------===//

LogicalResult mlir::hsa::checkAttendLimits(LayerOp layer,
                                           EmitErrorFn emitError) {
  AttendPlan plan = makePlan(layer, KernelOptions());
  if (plan.lanes % 4 != 0)
    return emitError() << "cannot be lowered: attention kernels need at "
                          "least 4 elements per 16-byte vector";
  if (plan.sharedBytes() > kSharedBytes)
    return emitError() << "cannot be lowered: the attention split kernel "
                          "needs "
                       << plan.sharedBytes()
                       << " bytes of shared memory (limit " << kSharedBytes
                       << ")";
  return success();
}

LogicalResult mlir::hsa::lowerAttend(KernelContext &ctx, AttendOp op) {
  LayerOp layer = getLayer(op);
  if (useMLATensorCores(ctx.getOptions(), layer))
    return lowerAttendMLA(ctx, op);
  if (failed(checkAttendLimits(layer, [&] { return op.emitOpError(); })))
    return failure();
  AttendPlan plan = makePlan(layer, ctx.getOptions());
  if (plan.sharedBytes() > kSharedBytes)
    return op.emitOpError()
           << "cannot be lowered: the attention split kernel needs "
           << plan.sharedBytes() << " bytes of shared memory at "
           << ctx.getOptions().attentionSplitTokens
           << " attention-split-tokens (limit " << kSharedBytes << ")";
  // Queries and outputs (bf16 for fp8 latent rows).
  Type kvType = layer.getConfig().getActivationType();

  OpBuilder builder(op);
  Location loc = op.getLoc();
  FailureOr<AttendScratch> scratch = getAttendScratch(op, layer, plan);
  if (failed(scratch))
    return failure();
  // io.lse is a contract buffer, not an operand of hsa.attend: fetched by
  // name as the scratch is.
  FailureOr<Value> lse = KernelContext::layerBuffer(op, layer, "io.lse");
  if (failed(lse))
    return failure();

  const AttendArgs launchArgs{
      op.getQueries(),     op.getLengths(),
      op.getUnits(),       op.getSlots(),
      op.getKeys(),        plan.latent ? Value() : op.getValues(),
      scratch->partialOut, scratch->partialLse,
      scratch->done,       op.getOutput(),
      *lse};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "attend"), operands, {kAttendBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        buildSplitKernel(b, fn, plan, kvType, kernelArguments(fn, launchArgs));
      });
  if (plan.minBlocksPerSM)
    KernelContext::setMinBlocksPerSM(kernel, plan.minBlocksPerSM);
  ctx.notePlan(kernel, plan);

  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getQueries(), 0);
  shape.gridY = c(plan.hkv * plan.headChunks);
  shape.gridZ = c(plan.splits);
  shape.blockX = kAttendBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}
