//===- TopK.cpp - top-k kernel: radix select + ordered compaction ---------===//
//
// For every (request b, group g): k = min(K, n[b]) with n[b] =
// ceil(L[b]/P) (capped at N, dim 2 of the scores); writes the k units of
// highest `sel.scores[b][g][u]` (u < n[b]) to `sel.units[b][g][0..k)` in
// ascending unit order and -1 to [k, K). Ties go to the lower unit id.
//
// One block per (b, g) row: 1024 threads in the top-k kernel, the 256
// threads of the score kernel's last block of the row when score and top-k
// are fused (`emitTopKRow`, Score.cpp). Scores map to order-preserving u32
// keys (negative: all bits flipped; otherwise the sign bit set), so +inf and
// -inf are ordinary values.
//
//  * k == n (all units fit, including n == 0): units 0..n-1 are written
//    directly.
//  * Rows of up to `stagedKeys` units (8192 in the top-k kernel; what the
//    score kernel's shared memory leaves in the fused tail) are first copied
//    into shared memory as keys, so the passes below read the row once from
//    global memory instead of four times.
//  * Radix select, 3 passes of 11/11/10 bits from the top: every pass
//    builds a 2048-bin histogram in shared memory of the keys that match
//    the prefix found so far (atom.shared.add, one per distinct bin of a
//    warp: match.any.sync groups the lanes of equal digits, since scores of
//    a narrow range share their top bits), then a block-wide scan of the
//    bins (from the largest digit down) finds the bin holding the `need`-th
//    largest remaining key. A pass stops the search early when that bin
//    holds exactly the keys still needed.
//    Result: (prefix, mask, need): a key is above the threshold if
//    (key & mask) > prefix; among keys with (key & mask) == prefix the first
//    `need` in unit order are selected.
//  * Compaction: tiles of 16 consecutive units per thread;
//    one block-wide exclusive scan of packed counts (above | equal << 16)
//    gives each unit's output position, so the output is ascending by unit
//    id by construction and ties go to the lower unit ids.
//  * Group bound (`TopKRow::groupBound`, where the algorithm's scores bound
//    every head of the group: Quest max): the first pass's histogram bins
//    below the threshold bin, and its unselected units, each count P tokens
//    at the bin's top score; each thread's (max, sum) over its bins is merged
//    after the compaction into io.group_unselected_log_bound[b][g]
//    (telemetry_contract.h; -inf when every unit is selected).
//
// All bulk reads are 16-byte vector loads of 4 scores over the flattened
// scores buffer, aligned on the buffer (rows need not be 16-byte aligned:
// the elements of a vector outside the row are masked off).
//
// Multi-block top-k (lowerTopKMultiBlock). One block per row leaves a long
// row (DSA: 131072 token scores, 512 KiB) to one SM, which reads it three
// or four times. Where the rule says so (useMultiBlockTopK: a row holds at
// least `topk-multiblock-min-units` units at `max-context`, the top-k
// computes no group bound, K <= 4096), the stage is four launches:
//  1. hist (grid: chunks of 1024 vectors = 4096 scores x groups x
//     requests, 256 threads): the 2048-bin histogram of key bits 31..21 of
//     the chunk in shared memory, added to the row's
//     scratch.topk_hist[b][g][0] (one global atomic per non-empty bin).
//  2. refine (same grid): every block finds the level-0 bin holding the
//     k-th largest key (a block scan of the 2048 bins, as emitTopKRow's
//     passes), then histograms bits 20..10 of the chunk's keys in that bin
//     into scratch.topk_hist[b][g][1].
//  3. collect (same grid): both levels give the 22-bit prefix of the k-th
//     largest key; units whose key's prefix is larger (fewer than K) go to
//     scratch.topk_above, units of that prefix (the candidates, key and
//     unit) to scratch.topk_cand, at positions from a block scan and one
//     global atomic per list and block (scratch.topk_count). More than 2048
//     candidates (heavy ties: a row of equal scores) write nothing.
//  4. finish (one block of 1024 threads per row): the candidates sorted by
//     (key descending, unit ascending) in a bitonic network of 256 or 2048
//     i64 keys in shared memory; the first `need` of them and the above
//     units (K in all) sorted ascending; sel.units written. Rows with
//     k == n (n = 0 included), rows short enough to stage in shared memory
//     (the plan's directUnits: the chunk kernels skip them) and rows whose
//     candidates overflowed run emitTopKRow instead, today's kernel body,
//     so they behave exactly as before. The finish then puts the row's
//     histograms and counters back to 0 (the runtime zero-fills scratch at
//     allocation), so the next step starts clean without a memset.
// The selection is the same set by construction: every key above the k-th
// largest, then the lowest unit ids among the keys equal to it; the output
// is sorted by unit id.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"
#include "hsa/telemetry_contract.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kTopKBlock = 1024;
static constexpr int64_t kBins = 2048;
/// 16-byte vectors of 4 scores each thread reads per loop step.
static constexpr int64_t kVectorsPerThread = 4;
static constexpr int64_t kScoreLanes = 4;
/// Rows staged in shared memory as keys: at most 32 KiB of them (8192
/// units: a 128K context in pages of 16); staging fewer than 1024 saves
/// little.
static constexpr int64_t kMaxStagedKeys = 8192;
static constexpr int64_t kMinStagedKeys = 1024;

namespace {
/// Pieces of the top-k kernel body.
struct TopKBody {
  KernelBuilder &b;
  Value flat;    // memref<?xf32>: the whole scores buffer
  Value total;   // elements of `flat` (index)
  Value scan;    // memref<(warps + 1) x i32, workgroup>
  Value tid;
  int64_t warps; // warps of the block (at most 32)

  /// Block-wide exclusive scan of an i32; returns (exclusive, total).
  std::pair<Value, Value> blockScan(Value v) {
    return b.blockExclusiveScan(v, scan, warps);
  }

  /// The 4 scores at flat elements [4*group, 4*group + 4): one 16-byte load,
  /// or clamped scalar loads for a last vector that would run past the
  /// buffer.
  Value loadGroup(Value group) {
    Value first = b.mul(group, b.index(kScoreLanes));
    auto type = VectorType::get({kScoreLanes}, b.getF32Type());
    Value inside =
        b.cmp(Pred::ule, b.add(first, b.index(kScoreLanes)), total);
    return b.ifThenElse(
        inside, {type},
        [&]() -> SmallVector<Value> {
          return {b.loadVector(kScoreLanes, flat, {first})};
        },
        [&]() -> SmallVector<Value> {
          Value v = b.zeros(type);
          Value last = b.sub(total, b.index(1));
          for (int64_t e = 0; e < kScoreLanes; ++e)
            v = b.insert(
                b.load(flat, {b.minS(b.add(first, b.index(e)), last)}), v, e);
          return {v};
        })[0];
  }

  /// Order-preserving u32 key (as i32) of an f32 score.
  Value key(Value score) {
    Value bits = b.bitcast(b.getI32Type(), score);
    Value negative = b.cmp(Pred::slt, bits, b.i32(0));
    Value flipped = b.xorI(bits, b.i32(-1));
    Value signSet = b.orI(bits, b.i32(int32_t(0x80000000u)));
    return b.select(negative, flipped, signSet);
  }
};

/// The group bound's mass (telemetry_contract.h) from the first radix pass's
/// histogram: a unit in bin d (the top 11 bits of its key: sign, exponent and
/// two mantissa bits) scores at most the bin's top hi(d), so every unit of a
/// bin below the threshold's, and all but the selected ones of the
/// threshold's own, count as P tokens at hi(d). A pair (max, sum): the sum
/// of count * exp2(c (hi - max)) over the bins that hold unselected units,
/// relative to the largest such hi.
struct UnselectedMass {
  Value max, sum; // f32
};
} // namespace

/// The f32 score of an order-preserving key (the inverse of TopKBody::key).
static Value scoreOfKey(KernelBuilder &b, Value key) {
  Value wasPositive = b.cmp(Pred::slt, key, b.i32(0)); // sign bit set
  Value bits = b.select(wasPositive, b.xorI(key, b.i32(int32_t(0x80000000u))),
                        b.xorI(key, b.i32(-1)));
  return b.bitcast(b.getF32Type(), bits);
}

static Value rescale(KernelBuilder &b, Value from, Value to, Value log2Scale) {
  // exp2((from - to) c); a -inf `to` (no bin yet) keeps the zero sum.
  return b.exp2(b.mulF(b.subF(from, b.safeMax(to)), log2Scale));
}
static UnselectedMass mergeMass(KernelBuilder &b, UnselectedMass x,
                                UnselectedMass y, Value log2Scale) {
  Value max = b.maxF(x.max, y.max);
  return {max, b.addF(b.mulF(x.sum, rescale(b, x.max, max, log2Scale)),
                      b.mulF(y.sum, rescale(b, y.max, max, log2Scale)))};
}
static UnselectedMass warpMergeMass(KernelBuilder &b, UnselectedMass mine,
                                    Value log2Scale) {
  for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2)
    mine = mergeMass(
        b, mine,
        {b.shuffleXor(mine.max, offset), b.shuffleXor(mine.sum, offset)},
        log2Scale);
  return mine;
}
/// This thread's bins (`digits`, index values, with their `counts`) against
/// the threshold bin of the pass (`threshold`, i32) of which
/// `selectedInThreshold` units are selected. The bins' tops (key
/// (d << shift) | low bits) as scores; a NaN top (bins of negative NaNs)
/// counts as +inf, which makes the bound +inf.
static UnselectedMass binMass(KernelBuilder &b, ArrayRef<Value> digits,
                              ArrayRef<Value> counts, Value threshold,
                              Value selectedInThreshold, int64_t shift,
                              Value log2Scale) {
  SmallVector<Value> tops, unselected, some;
  Value max = b.negInf();
  for (auto [digit, count] : llvm::zip(digits, counts)) {
    Value d = b.toI32(digit);
    Value top = scoreOfKey(
        b, b.orI(b.shl(d, b.i32(shift)), b.i32(int32_t((1u << shift) - 1))));
    top =
        b.select(b.cmpF(arith::CmpFPredicate::UNO, top, top), b.posInf(), top);
    Value left =
        b.select(b.cmp(Pred::slt, d, threshold), count,
                 b.select(b.cmp(Pred::eq, d, threshold),
                          b.sub(count, selectedInThreshold), b.i32(0)));
    some.push_back(b.cmp(Pred::sgt, left, b.i32(0)));
    tops.push_back(top);
    unselected.push_back(b.sToF32(left));
    max = b.maxF(max, b.select(some.back(), top, b.negInf()));
  }
  // Empty bins add nothing, even where their top is infinite.
  Value sum = b.f32(0.0);
  for (auto [top, count, any] : llvm::zip(tops, unselected, some))
    sum = b.addF(sum,
                 b.select(any, b.mulF(count, rescale(b, top, max, log2Scale)),
                          b.f32(0.0)));
  return {max, sum};
}

void mlir::hsa::emitTopKRow(KernelBuilder &b, gpu::GPUFuncOp fn,
                            const TopKRow &row) {
  assert(row.blockSize % kWarpSize == 0 && row.blockSize <= 1024 &&
         kBins % row.blockSize == 0 && "a block size the scans support");
  const int64_t blockSize = row.blockSize;
  const int64_t warps = blockSize / kWarpSize;
  const int64_t pageSize = row.pageSize, groups = row.groups,
                budget = row.budget;
  Value scores = row.scores, lengths = row.lengths, units = row.units;
  Value batch = row.batch, group = row.group;
  Value hist = KernelContext::addSharedBuffer(fn, {kBins}, b.getI32Type());
  Value scan = KernelContext::addSharedBuffer(fn, {warps + 1}, b.getI32Type());
  Value state = KernelContext::addSharedBuffer(fn, {4}, b.getI32Type());
  Value stagedKeys;
  if (row.stagedKeys > 0)
    stagedKeys =
        KernelContext::addSharedBuffer(fn, {row.stagedKeys}, b.getI32Type());

  Value tid = b.threadId();
  Value block = b.index(blockSize);
  Value numUnits = b.dim(scores, 2);
  Value numBatch = b.dim(scores, 0);
  Value n =
      b.minS(b.ceilDivU(b.toIndex(b.load(lengths, {batch})), b.index(pageSize)),
             numUnits);
  Value k = b.minS(n, b.index(budget));
  Value isThread0 = b.cmp(Pred::eq, tid, b.index(0));
  const bool groupBound = bool(row.groupBound);
  // The group bound in base 2: log2 U = c * M + log2(sum), c = scale log2(e).
  Value log2Scale = b.f32(row.logitScale * 1.4426950408889634);

  // Padding: -1 in [k, K).
  b.forRange(b.add(k, tid), b.index(budget), block, [&](Value i) {
    b.store(b.i32(-1), units, {batch, group, i});
  });

  b.ifThenElse(
      b.cmp(Pred::eq, k, n), {},
      [&]() -> SmallVector<Value> {
        // Every valid unit is selected.
        b.forRange(tid, n, block, [&](Value u) {
          b.store(b.toI32(u), units, {batch, group, u});
        });
        if (groupBound) // nothing missed
          b.ifThen(isThread0, [&] {
            b.store(b.negInf(), row.groupBound, {batch, group});
          });
        return {};
      },
      [&]() -> SmallVector<Value> {
        // The scores as one flat array (identity layout).
        Value total = b.mul(b.mul(numBatch, b.index(groups)), numUnits);
        Value flat = b.flatten(scores, total);
        TopKBody body{b, flat, total, scan, tid, warps};

        Value rowStart =
            b.mul(b.add(b.mul(batch, b.index(groups)), group), numUnits);
        Value rowEnd = b.add(rowStart, n);
        Value g0 = b.divU(rowStart, b.index(kScoreLanes));
        Value g1 = b.ceilDivU(rowEnd, b.index(kScoreLanes));
        Value gLast = b.sub(g1, b.index(1));
        Value numGroups = b.sub(g1, g0);
        Value stride = b.index(blockSize * kVectorsPerThread);
        Value steps = b.ceilDivU(numGroups, stride);

        // The 4 keys of group j (a vector<4xi32>), read from the scores
        // (global memory) or from the keys staged in shared memory.
        using KeySource = function_ref<Value(Value)>;
        auto globalKeys = [&](Value j) {
          Value v = body.loadGroup(j);
          auto type = VectorType::get({kScoreLanes}, b.getI32Type());
          Value keys = b.zeros(type);
          for (int64_t e = 0; e < kScoreLanes; ++e)
            keys = b.insert(body.key(b.extract(v, e)), keys, e);
          return keys;
        };

        // The keys of groups j (q < kVectorsPerThread) with a validity
        // flag each: [q*4 + e] -> (key, valid, flat index).
        struct Elem {
          Value key, valid, lin;
        };
        auto readKeys = [&](KeySource source, ArrayRef<Value> groupIds) {
          SmallVector<Value> vecs;
          for (Value j : groupIds)
            vecs.push_back(source(b.minS(j, gLast)));
          SmallVector<Elem> elems;
          for (auto [q, j] : llvm::enumerate(groupIds))
            for (int64_t e = 0; e < kScoreLanes; ++e) {
              Value lin = b.add(b.mul(j, b.index(kScoreLanes)), b.index(e));
              Value valid = b.andI(b.cmp(Pred::uge, lin, rowStart),
                                   b.cmp(Pred::ult, lin, rowEnd));
              elems.push_back({b.extract(vecs[q], e), valid, lin});
            }
          return elems;
        };

        // The block's (max, sum) pairs merged over each warp, then over the
        // warps (through the histogram, free after the compaction) by warp
        // 0, whose lane 0 writes log U_g = scale M + log(P sum) with the
        // contract's margin. Terms flushed to zero (ftz) are each below
        // 2^-126 of the max's, so n 2^-126 more keeps the sum a bound.
        auto writeGroupBound = [&](UnselectedMass mine) {
          UnselectedMass warp = warpMergeMass(b, mine, log2Scale);
          b.ifThen(b.cmp(Pred::eq, b.laneId(), b.index(0)), [&] {
            Value slot = b.mul(b.warpId(), b.index(2));
            b.store(b.bitcast(b.getI32Type(), warp.max), hist, {slot});
            b.store(b.bitcast(b.getI32Type(), warp.sum), hist,
                    {b.add(slot, b.index(1))});
          });
          b.barrier();
          b.ifThen(b.cmp(Pred::ult, tid, b.index(kWarpSize)), [&] {
            Value lane = b.laneId();
            SmallVector<Value> own = b.ifThenElse(
                b.cmp(Pred::ult, lane, b.index(warps)),
                {b.getF32Type(), b.getF32Type()},
                [&]() -> SmallVector<Value> {
                  Value slot = b.mul(lane, b.index(2));
                  return {b.bitcast(b.getF32Type(), b.load(hist, {slot})),
                          b.bitcast(b.getF32Type(),
                                    b.load(hist, {b.add(slot, b.index(1))}))};
                },
                [&]() -> SmallVector<Value> {
                  return {b.negInf(), b.f32(0.0)};
                });
            UnselectedMass all = warpMergeMass(b, {own[0], own[1]}, log2Scale);
            b.ifThen(isThread0, [&] {
              Value units = b.sToF32(b.toI32(n));
              Value sum = b.addF(b.mulF(all.sum, b.f32(double(pageSize))),
                                 b.mulF(units, b.f32(std::ldexp(1.0, -126))));
              Value margin =
                  b.addF(b.f32(::hsa::telemetry_contract::kGroupBoundMarginLog),
                         b.mulF(units, b.f32(::hsa::telemetry_contract::
                                                 kGroupBoundMarginPerUnit)));
              Value logU =
                  b.addF(b.mulF(b.addF(b.mulF(all.max, log2Scale), b.log2(sum)),
                                b.f32(0.6931471805599453)),
                         margin);
              // A +inf (or NaN) bin bounds nothing; only -inf ones left:
              // nothing missed.
              Value unbounded =
                  b.cmpF(arith::CmpFPredicate::UEQ, all.max, b.posInf());
              Value empty =
                  b.cmpF(arith::CmpFPredicate::OEQ, all.max, b.negInf());
              b.store(b.select(unbounded, b.posInf(),
                               b.select(empty, b.negInf(), logU)),
                      row.groupBound, {batch, group});
            });
          });
        };

        auto select = [&](KeySource source) {
          // Radix select.
          Value prefix = b.i32(0), mask = b.i32(0), need = b.toI32(k),
                done = b.i32(0);
          const int64_t passBits[3] = {11, 11, 10};
          int64_t shift = 32;
          // The group bound's per-thread (max, sum) from the first pass.
          UnselectedMass mass{b.negInf(), b.f32(0.0)};
          for (int64_t bits : passBits) {
            shift -= bits;
            const int64_t digitMask = (int64_t(1) << bits) - 1;
            const bool boundPass = groupBound && shift == 32 - passBits[0];
            SmallVector<Type> types(4, b.getI32Type());
            if (boundPass)
              types.append({b.getF32Type(), b.getF32Type()});
            SmallVector<Value> next = b.ifThenElse(
                b.cmp(Pred::eq, done, b.i32(0)), types,
                [&]() -> SmallVector<Value> {
                  b.forRange(tid, b.index(kBins), block,
                             [&](Value i) { b.store(b.i32(0), hist, {i}); });
                  b.barrier();
                  b.forRange(b.index(0), steps, b.index(1), [&](Value it) {
                    SmallVector<Value> ids;
                    for (int64_t q = 0; q < kVectorsPerThread; ++q)
                      ids.push_back(b.add(b.add(g0, b.mul(it, stride)),
                                          b.add(b.index(q * blockSize), tid)));
                    for (Elem &el : readKeys(source, ids)) {
                      Value match =
                          b.cmp(Pred::eq, b.andI(el.key, mask), prefix);
                      Value digit = b.andI(
                          b.shrU(el.key, b.i32(shift)),
                          b.i32(digitMask));
                      b.warpAggregatedIncrement(hist, digit,
                                                b.andI(el.valid, match));
                    }
                  });
                  b.barrier();
                  // Thread t owns the digitsPerThread digits from
                  // 2047 - t * digitsPerThread down (largest first), so the
                  // scan counts the keys of larger digits.
                  const int64_t digitsPerThread = kBins / blockSize;
                  Value top = b.sub(b.index(kBins - 1),
                                    b.mul(tid, b.index(digitsPerThread)));
                  SmallVector<Value> digits, counts;
                  Value owned = b.i32(0);
                  for (int64_t j = 0; j < digitsPerThread; ++j) {
                    digits.push_back(b.sub(top, b.index(j)));
                    counts.push_back(b.load(hist, {digits.back()}));
                    owned = b.add(owned, counts.back());
                  }
                  auto [excl, sum] = body.blockScan(owned);
                  (void)sum;
                  Value above = excl; // keys of digits larger than digits[j]
                  for (int64_t j = 0; j < digitsPerThread; ++j) {
                    Value through = b.add(above, counts[j]);
                    Value holds = b.andI(b.cmp(Pred::slt, above, need),
                                         b.cmp(Pred::sle, need, through));
                    b.ifThen(holds, [&] {
                      Value digit = b.toI32(digits[j]);
                      Value left = b.sub(need, above);
                      b.store(b.orI(prefix, b.shl(digit, b.i32(shift))),
                              state, {b.index(0)});
                      b.store(b.orI(mask, b.i32(int32_t(
                                              uint32_t(digitMask << shift)))),
                              state, {b.index(1)});
                      b.store(left, state, {b.index(2)});
                      b.store(arith::ExtUIOp::create(
                                  b, b.getI32Type(),
                                  b.cmp(Pred::eq, counts[j], left)),
                              state, {b.index(3)});
                    });
                    above = through;
                  }
                  b.barrier();
                  SmallVector<Value> found = {
                      b.load(state, {b.index(0)}), b.load(state, {b.index(1)}),
                      b.load(state, {b.index(2)}), b.load(state, {b.index(3)})};
                  if (boundPass) {
                    UnselectedMass own = binMass(
                        b, digits, counts,
                        /*threshold=*/b.shrU(found[0], b.i32(shift)),
                        /*selectedInThreshold=*/found[2], shift, log2Scale);
                    found.append({own.max, own.sum});
                  }
                  return found;
                },
                [&]() -> SmallVector<Value> {
                  SmallVector<Value> same = {prefix, mask, need, done};
                  if (boundPass)
                    same.append({b.negInf(), b.f32(0.0)});
                  return same;
                });
            if (boundPass)
              mass = {next[4], next[5]};
            prefix = next[0];
            mask = next[1];
            need = next[2];
            done = next[3];
          }

          // Ordered compaction: keys above the threshold plus the first
          // `need` keys equal to it, in unit order.
          constexpr int64_t perThread = kVectorsPerThread * kScoreLanes;
          b.forRange(
              b.index(0), steps, b.index(1), {b.i32(0), b.i32(0)},
              [&](Value it, ValueRange bases) -> SmallVector<Value> {
                Value first = b.add(b.add(g0, b.mul(it, stride)),
                                    b.mul(tid, b.index(kVectorsPerThread)));
                SmallVector<Value> ids;
                for (int64_t q = 0; q < kVectorsPerThread; ++q)
                  ids.push_back(b.add(first, b.index(q)));
                SmallVector<Elem> elems = readKeys(source, ids);
                SmallVector<Value> above, equal;
                Value counts = b.i32(0);
                for (Elem &el : elems) {
                  Value masked = b.andI(el.key, mask);
                  above.push_back(
                      b.andI(el.valid, b.cmp(Pred::ugt, masked, prefix)));
                  equal.push_back(
                      b.andI(el.valid, b.cmp(Pred::eq, masked, prefix)));
                  Value inc = b.add(
                      b.extU32(above.back()),
                      b.select(equal.back(), b.i32(1 << 16), b.i32(0)));
                  counts = b.add(counts, inc);
                }
                auto [excl, sum] = body.blockScan(counts);
                Value low = b.i32(0xffff);
                Value gtBefore = b.add(bases[0], b.andI(excl, low));
                Value eqBefore =
                    b.add(bases[1], b.shrU(excl, b.i32(16)));
                for (int64_t e = 0; e < perThread; ++e) {
                  Value take =
                      b.orI(above[e],
                            b.andI(equal[e], b.cmp(Pred::slt, eqBefore, need)));
                  Value pos = b.add(gtBefore, b.minS(eqBefore, need));
                  Value lin = elems[e].lin;
                  b.ifThen(take, [&] {
                    b.store(b.toI32(b.sub(lin, rowStart)), units,
                            {batch, group, b.toIndex(pos)});
                  });
                  gtBefore = b.add(gtBefore, b.extU32(above[e]));
                  eqBefore = b.add(eqBefore, b.extU32(equal[e]));
                }
                return {b.add(bases[0], b.andI(sum, low)),
                        b.add(bases[1], b.shrU(sum, b.i32(16)))};
              });
          if (groupBound)
            writeGroupBound(mass);
        };

        if (row.stagedKeys <= 0) {
          select(globalKeys);
          return {};
        }
        // Rows that fit: one read of the scores into shared memory as keys;
        // the radix passes and the compaction then read shared memory
        // instead of L2 (4 reads of the row).
        Value fits = b.cmp(Pred::ule, b.mul(numGroups, b.index(kScoreLanes)),
                           b.index(row.stagedKeys));
        b.ifThenElse(
            fits, {},
            [&]() -> SmallVector<Value> {
              b.forRange(tid, numGroups, block, [&](Value i) {
                b.storeVector(globalKeys(b.add(g0, i)), stagedKeys,
                              {b.mul(i, b.index(kScoreLanes))});
              });
              b.barrier();
              select([&](Value j) {
                return b.loadVector(
                    kScoreLanes, stagedKeys,
                    {b.mul(b.sub(j, g0), b.index(kScoreLanes))});
              });
              return {};
            },
            [&]() -> SmallVector<Value> {
              select(globalKeys);
              return {};
            });
        return {};
      });
}

int64_t mlir::hsa::stagedKeysThatFit(gpu::GPUFuncOp fn, int64_t blockSize) {
  return stagedKeysThatFit(KernelContext::sharedBytes(fn), blockSize);
}

int64_t mlir::hsa::stagedKeysThatFit(int64_t usedSharedBytes,
                                     int64_t blockSize) {
  // emitTopKRow's own buffers: histogram, scan (warps + 1), state (4).
  int64_t own =
      kBins * 4 + llvm::alignTo((blockSize / kWarpSize + 1) * 4, 16) + 16;
  int64_t room = kStaticSharedBytes - usedSharedBytes - own;
  int64_t keys = std::min<int64_t>(kMaxStagedKeys, room / 4);
  if (keys < kMinStagedKeys)
    return 0;
  return int64_t(llvm::bit_floor(uint64_t(keys)));
}

LogicalResult mlir::hsa::checkTopK(TopKOp op) {
  LayerOp layer = getLayer(op);
  const int64_t budget = layer.getBudget();
  auto unitsType = cast<MemRefType>(op.getUnits().getType());
  if (unitsType.getRank() != 3 || unitsType.getDimSize(2) != budget)
    return op.emitOpError()
           << "expects sel.units of shape [B][S][" << budget << "]";
  return checkTopKLimits(layer, [&] { return op.emitOpError(); });
}

LogicalResult mlir::hsa::checkTopKLimits(LayerOp layer, EmitErrorFn emitError) {
  // Selected units are ranked with 16-bit counters.
  if (layer.getBudget() >= (1 << 16))
    return emitError() << "cannot be lowered: budget must be below 65536 "
                          "units, got "
                       << layer.getBudget();
  return success();
}

TopKRow mlir::hsa::topKRowOf(TopKOp op, Value scores, Value lengths,
                             Value units, Value batch, Value group,
                             int64_t blockSize) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  TopKRow row;
  row.scores = scores;
  row.lengths = lengths;
  row.units = units;
  row.batch = batch;
  row.group = group;
  row.blockSize = blockSize;
  row.pageSize = config.getPageSize();
  row.groups = config.getSelectionGroups();
  row.budget = layer.getBudget();
  row.logitScale = layer.getEffectiveSoftmaxScale();
  return row;
}

FailureOr<Value> mlir::hsa::groupBoundBuffer(const KernelContext &ctx,
                                             Operation *op, LayerOp layer) {
  auto kernels =
      dyn_cast<AlgorithmKernelsAttrInterface>(Attribute(layer.getAlgorithm()));
  if (!ctx.getOptions().groupBound || !kernels ||
      !kernels.scoresBoundGroupLogits(layer))
    return Value();
  return KernelContext::scratchBuffer(
      op, layer,
      {::hsa::telemetry_contract::kGroupBoundBuffer, Float32Type::get(op->getContext()),
       {kBatchDim, layer.getConfig().getSelectionGroups()},
       PlacementTier::device, 0});
}

void TopKRowPlan::print(raw_ostream &os) const {
  os << "block " << blockSize << "; radix passes 11/11/10 bits over "
     << kBins << " bins, staged keys " << stagedKeys << ", budget " << budget;
}

namespace {
/// The top-k kernel: one block of kTopKBlock threads per (request, group).
struct TopKPlan {
  TopKRowPlan row;
  int64_t groups;
  static TopKPlan get(LayerOp layer) {
    TopKPlan p;
    p.groups = layer.getConfig().getSelectionGroups();
    p.row.blockSize = kTopKBlock;
    p.row.budget = layer.getBudget();
    p.row.stagedKeys = stagedKeysThatFit(/*usedSharedBytes=*/0, kTopKBlock);
    return p;
  }
  void print(raw_ostream &os) const {
    os << "grid (" << groups << " groups, B) ";
    row.print(os);
  }
};
} // namespace

LogicalResult mlir::hsa::lowerTopK(KernelContext &ctx, TopKOp op) {
  if (failed(checkTopK(op)))
    return failure();
  const TopKPlan plan = TopKPlan::get(getLayer(op));
  FailureOr<Value> groupBound = groupBoundBuffer(ctx, op, getLayer(op));
  if (failed(groupBound))
    return failure();
  if (useMultiBlockTopK(ctx.getOptions(), getLayer(op), bool(*groupBound)))
    return useClusterTopK(ctx.getOptions(), getLayer(op))
               ? lowerTopKCluster(ctx, op)
               : lowerTopKMultiBlock(ctx, op);
  struct TopKArgs {
    Value scores, lengths, units, groupBound;
    SmallVector<Value *> fields() {
      return {&scores, &lengths, &units, &groupBound};
    }
  };
  const TopKArgs launchArgs{op.getScores(), op.getLengths(), op.getUnits(),
                            *groupBound};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(getLayer(op), "topk"), operands, {kTopKBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        TopKArgs args = kernelArguments(fn, launchArgs);
        TopKRow row = topKRowOf(
            op, args.scores, args.lengths, args.units,
            /*batch=*/b.blockId(gpu::Dimension::y),
            /*group=*/b.blockId(gpu::Dimension::x), kTopKBlock);
        row.stagedKeys = plan.row.stagedKeys;
        row.groupBound = args.groupBound;
        assert(row.stagedKeys == stagedKeysThatFit(fn, kTopKBlock));
        emitTopKRow(b, fn, row);
      });
  ctx.notePlan(kernel, plan);

  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getScores(), 1);
  shape.gridY = memref::DimOp::create(builder, loc, op.getScores(), 0);
  shape.blockX = kTopKBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// Multi-block top-k: histogram, refine, collect, finish
//===----------------------------------------------------------------------===//

/// Threads of the chunk kernels (histogram, refine, collect): each reads
/// kVectorsPerThread 16-byte vectors, so a block covers a chunk of
/// kChunkVectors vectors (4096 scores).
static constexpr int64_t kChunkBlock = 256;
static constexpr int64_t kChunkVectors = kChunkBlock * kVectorsPerThread;
/// Threads of the finishing kernel (one block per row).
static constexpr int64_t kFinishBlock = 1024;
/// Candidates (units whose key's top 22 bits are the threshold's) a row
/// keeps for the finish; more fall back to the single-block select.
static constexpr int64_t kCandidateCapacity = 2048;
/// Candidate counts up to this sort in a smaller bitonic network.
static constexpr int64_t kSmallCandidateSort = 256;
/// The finish sorts the budget's units in shared memory (i64 keys).
static constexpr int64_t kMultiBlockMaxBudget = 4096;
/// Bits of the two histogram levels, from the top of the key.
static constexpr int64_t kLevelBits = 11;
static constexpr int64_t kLevel0Shift = 32 - kLevelBits;         // 21
static constexpr int64_t kLevel1Shift = kLevel0Shift - kLevelBits; // 10

bool mlir::hsa::useMultiBlockTopK(const KernelOptions &options, LayerOp layer,
                                  bool groupBound) {
  const int64_t minUnits = options.topkMultiBlockMinUnits;
  const int64_t pageSize = layer.getConfig().getPageSize();
  const int64_t rowUnits =
      (std::max<int64_t>(options.maxContext, 1) + pageSize - 1) / pageSize;
  return minUnits > 0 && rowUnits >= minUnits && !groupBound &&
         layer.getBudget() <= kMultiBlockMaxBudget;
}

namespace {
/// The multi-block top-k of one layer: what every kernel is specialised on.
struct TopKMultiBlockPlan {
  int64_t groups = 1, budget = 1;
  /// Keys the finish sorts at once (a power of two >= 64): the candidates,
  /// then the selected units (the budget rounded up).
  int64_t sortKeys = 64, budgetSortKeys = 64;
  /// Rows of at most this many units are selected by the finish alone
  /// (emitTopKRow, keys staged in shared memory): the chunk kernels skip
  /// them.
  int64_t directUnits = 0;

  /// The finish's shared buffers before emitTopKRow adds its own: the sort
  /// keys (i64), the scan (warps + 1) and the state (8), 16-byte aligned
  /// each as addSharedBuffer places them.
  static int64_t finishOwnSharedBytes(int64_t sortKeys) {
    int64_t bytes = sortKeys * 8;
    bytes = llvm::alignTo(bytes, 16) + (kFinishBlock / kWarpSize + 1) * 4;
    bytes = llvm::alignTo(bytes, 16) + 8 * 4;
    return bytes;
  }

  static TopKMultiBlockPlan get(LayerOp layer) {
    TopKMultiBlockPlan p;
    p.groups = layer.getConfig().getSelectionGroups();
    p.budget = layer.getBudget();
    p.budgetSortKeys =
        std::max<int64_t>(64, int64_t(llvm::PowerOf2Ceil(p.budget)));
    p.sortKeys = std::max(kCandidateCapacity, p.budgetSortKeys);
    p.directUnits = stagedKeysThatFit(finishOwnSharedBytes(p.sortKeys),
                                      kFinishBlock);
    return p;
  }
  void print(raw_ostream &os) const {
    os << "multi-block: chunks of " << kChunkVectors * kScoreLanes
       << " scores x (" << groups << " groups, B) blocks of " << kChunkBlock
       << " threads; histogram " << kBins << " bins of key bits 31..21, "
       << "refine bits 20..10 in the threshold bin; collect: above < budget "
       << budget << ", candidates <= " << kCandidateCapacity
       << "; finish (" << groups << " groups, B) x " << kFinishBlock
       << ": sort " << kSmallCandidateSort << "/" << kCandidateCapacity
       << " candidates, sort " << budgetSortKeys << " units; rows <= "
       << directUnits << " units and overflow: single-block select";
  }
};

/// The scratch of the multi-block top-k (fill 0: the runtime zero-fills it
/// at allocation, the finish puts a row's back to 0 after using it).
struct TopKScratch {
  /// [B][S][2][2048] i32: level 0 (key bits 31..21) and level 1 (bits
  /// 20..10 of the keys in the level-0 threshold bin).
  Value hist;
  /// [B][S][K] i32: units above the threshold's 22-bit prefix (< K).
  Value above;
  /// [B][S][2][capacity] i32: the candidates' keys, then their units.
  Value cand;
  /// [B][S][2] i32: the appended above units and candidates.
  Value count;
};

/// One row of a chunk kernel (grid: chunk x, group y, request z).
struct ChunkRow {
  Value batch, group, n, k;
  Value rowStart, rowEnd;
  Value chunkFirst, chunkEnd; // the chunk's vector groups [first, end)
  Value active;               // the row needs the kernels, the chunk is in it
};
} // namespace

static FailureOr<TopKScratch> getTopKScratch(TopKOp op, LayerOp layer) {
  Type i32 = IntegerType::get(op.getContext(), 32);
  const int64_t groups = layer.getConfig().getSelectionGroups();
  auto device = PlacementTier::device;
  FailureOr<Value> hist = KernelContext::scratchBuffer(
      op, layer, {"scratch.topk_hist", i32, {kBatchDim, groups, 2, kBins},
                  device, 0});
  FailureOr<Value> above = KernelContext::scratchBuffer(
      op, layer, {"scratch.topk_above", i32,
                  {kBatchDim, groups, int64_t(layer.getBudget())}, device, 0});
  FailureOr<Value> cand = KernelContext::scratchBuffer(
      op, layer, {"scratch.topk_cand", i32,
                  {kBatchDim, groups, 2, kCandidateCapacity}, device, 0});
  FailureOr<Value> count = KernelContext::scratchBuffer(
      op, layer, {"scratch.topk_count", i32, {kBatchDim, groups, 2}, device,
                  0});
  if (failed(hist) || failed(above) || failed(cand) || failed(count))
    return failure();
  return TopKScratch{*hist, *above, *cand, *count};
}

/// n = min(ceil(L[b] / P), N) and k = min(n, K) of row (batch, group).
static std::pair<Value, Value> rowCounts(KernelBuilder &b, Value scores,
                                         Value lengths, Value batch,
                                         int64_t pageSize, int64_t budget) {
  Value n = b.minS(
      b.ceilDivU(b.toIndex(b.load(lengths, {batch})), b.index(pageSize)),
      b.dim(scores, 2));
  return {n, b.minS(n, b.index(budget))};
}

static ChunkRow chunkRowOf(KernelBuilder &b, Value scores, Value lengths,
                           const TopKMultiBlockPlan &p, int64_t pageSize) {
  ChunkRow r;
  r.batch = b.blockId(gpu::Dimension::z);
  r.group = b.blockId(gpu::Dimension::y);
  std::tie(r.n, r.k) =
      rowCounts(b, scores, lengths, r.batch, pageSize, p.budget);
  Value numUnits = b.dim(scores, 2);
  r.rowStart =
      b.mul(b.add(b.mul(r.batch, b.index(p.groups)), r.group), numUnits);
  r.rowEnd = b.add(r.rowStart, r.n);
  Value g0 = b.divU(r.rowStart, b.index(kScoreLanes));
  Value g1 = b.ceilDivU(r.rowEnd, b.index(kScoreLanes));
  r.chunkFirst = b.add(g0, b.mul(b.blockId(gpu::Dimension::x),
                                 b.index(kChunkVectors)));
  r.chunkEnd = b.minS(b.add(r.chunkFirst, b.index(kChunkVectors)), g1);
  // Rows whose units all fit (k == n) or that the finish selects alone
  // (n <= directUnits) need no chunk kernel.
  r.active = b.andI(b.andI(b.cmp(Pred::ult, r.k, r.n),
                           b.cmp(Pred::ugt, r.n, b.index(p.directUnits))),
                    b.cmp(Pred::ult, r.chunkFirst, r.chunkEnd));
  return r;
}

namespace {
/// One key of a chunk: its value, whether it is a unit of the row in the
/// chunk, and its unit id.
struct ChunkKey {
  Value key, valid, unit;
};
} // namespace

/// The chunk's keys this thread reads: vector j = first + q * T + t (q <
/// kVectorsPerThread, coalesced), 4 keys each.
static SmallVector<ChunkKey> readChunkKeys(KernelBuilder &b, TopKBody &body,
                                           const ChunkRow &r) {
  Value tid = b.threadId();
  Value last = b.sub(r.chunkEnd, b.index(1));
  SmallVector<Value> ids, vecs;
  for (int64_t q = 0; q < kVectorsPerThread; ++q) {
    ids.push_back(b.add(r.chunkFirst, b.add(b.index(q * kChunkBlock), tid)));
    vecs.push_back(body.loadGroup(b.minS(ids.back(), last)));
  }
  SmallVector<ChunkKey> keys;
  for (int64_t q = 0; q < kVectorsPerThread; ++q) {
    Value inChunk = b.cmp(Pred::ult, ids[q], r.chunkEnd);
    for (int64_t e = 0; e < kScoreLanes; ++e) {
      Value lin = b.add(b.mul(ids[q], b.index(kScoreLanes)), b.index(e));
      Value valid = b.andI(inChunk, b.andI(b.cmp(Pred::uge, lin, r.rowStart),
                                           b.cmp(Pred::ult, lin, r.rowEnd)));
      keys.push_back({body.key(b.extract(vecs[q], e)), valid,
                      b.toI32(b.sub(lin, r.rowStart))});
    }
  }
  return keys;
}

namespace {
/// A histogram bin found by findBin (i32 values, the same in every thread).
struct FoundBin {
  Value digit, above, count;
};
} // namespace

/// The bin of hist[batch][group][level][*] (global, kBins bins) that holds
/// the `need`-th largest key (need >= 1, at most the histogram's total):
/// its digit, the keys of larger digits and its own. Every thread of the
/// block must reach it; `state` is a shared buffer of >= 3 i32.
static FoundBin findBin(KernelBuilder &b, TopKBody &body, Value hist,
                        Value batch, Value group, int64_t level, Value need,
                        Value state, int64_t blockSize) {
  const int64_t digitsPerThread = kBins / blockSize;
  Value top = b.sub(b.index(kBins - 1),
                    b.mul(body.tid, b.index(digitsPerThread)));
  SmallVector<Value> digits, counts;
  Value owned = b.i32(0);
  for (int64_t j = 0; j < digitsPerThread; ++j) {
    digits.push_back(b.sub(top, b.index(j)));
    counts.push_back(
        b.load(hist, {batch, group, b.index(level), digits.back()}));
    owned = b.add(owned, counts.back());
  }
  Value above = body.blockScan(owned).first;
  for (int64_t j = 0; j < digitsPerThread; ++j) {
    Value through = b.add(above, counts[j]);
    Value holds = b.andI(b.cmp(Pred::slt, above, need),
                         b.cmp(Pred::sle, need, through));
    b.ifThen(holds, [&] {
      b.store(b.toI32(digits[j]), state, {b.index(0)});
      b.store(above, state, {b.index(1)});
      b.store(counts[j], state, {b.index(2)});
    });
    above = through;
  }
  b.barrier();
  return {b.load(state, {b.index(0)}), b.load(state, {b.index(1)}),
          b.load(state, {b.index(2)})};
}

/// The row's threshold over both levels: the 22-bit prefix (key >> 10) of
/// the k-th largest key, the units above it (k - need), the candidates
/// (units of that prefix) and how many of them are selected.
namespace {
struct Threshold {
  Value prefix, above, candidates, need;
};
} // namespace
static Threshold findThreshold(KernelBuilder &b, TopKBody &body, Value hist,
                               Value batch, Value group, Value k, Value state,
                               int64_t blockSize) {
  FoundBin bin0 = findBin(b, body, hist, batch, group, 0, b.toI32(k), state,
                          blockSize);
  Value need0 = b.sub(b.toI32(k), bin0.above);
  FoundBin bin1 =
      findBin(b, body, hist, batch, group, 1, need0, state, blockSize);
  Value need = b.sub(need0, bin1.above);
  Value prefix = b.orI(b.shl(bin0.digit, b.i32(kLevelBits)), bin1.digit);
  return {prefix, b.sub(b.toI32(k), need), bin1.count, need};
}

/// Zeroes the block's shared histogram; the caller's next barrier orders it.
static void zeroBins(KernelBuilder &b, Value bins) {
  b.forRange(b.threadId(), b.index(kBins), b.index(kChunkBlock),
             [&](Value i) { b.store(b.i32(0), bins, {i}); });
}

/// Adds the block's shared histogram to hist[batch][group][level] (one
/// global atomic per non-empty bin).
static void flushBins(KernelBuilder &b, Value bins, Value hist,
                      const ChunkRow &r, int64_t level) {
  b.barrier();
  b.forRange(b.threadId(), b.index(kBins), b.index(kChunkBlock), [&](Value i) {
    Value count = b.load(bins, {i});
    b.ifThen(b.cmp(Pred::ne, count, b.i32(0)), [&] {
      b.atomicAdd(count, hist, {r.batch, r.group, b.index(level), i});
    });
  });
}

/// The flat scores and the block's helpers for a kernel over `scores`.
static TopKBody chunkBody(KernelBuilder &b, gpu::GPUFuncOp fn, Value scores,
                          int64_t groups, int64_t blockSize, Value &scan) {
  const int64_t warps = blockSize / kWarpSize;
  scan = KernelContext::addSharedBuffer(fn, {warps + 1}, b.getI32Type());
  Value total =
      b.mul(b.mul(b.dim(scores, 0), b.index(groups)), b.dim(scores, 2));
  return TopKBody{b, b.flatten(scores, total), total, scan, b.threadId(),
                  warps};
}

/// The key's sort order among candidates: descending key, then ascending
/// unit, as an ascending signed i64 (the flipped key, its top bit toggled
/// so that signed order is the keys' unsigned order, over the unit).
static Value candidateOrder(KernelBuilder &b, Value key, Value unit) {
  Value flipped = b.xorI(key, b.i32(0x7fffffff));
  return b.orI(b.shl(b.extS64(flipped), b.i64(32)), b.extU64(unit));
}

LogicalResult mlir::hsa::lowerTopKMultiBlock(KernelContext &ctx, TopKOp op) {
  LayerOp layer = getLayer(op);
  const TopKMultiBlockPlan plan = TopKMultiBlockPlan::get(layer);
  const int64_t pageSize = layer.getConfig().getPageSize();
  FailureOr<TopKScratch> scratch = getTopKScratch(op, layer);
  if (failed(scratch))
    return failure();

  // Arguments.
  struct ChunkArgs {
    Value scores, lengths, hist;
    SmallVector<Value *> fields() { return {&scores, &lengths, &hist}; }
  };
  struct CollectArgs {
    Value scores, lengths, hist, above, cand, count;
    SmallVector<Value *> fields() {
      return {&scores, &lengths, &hist, &above, &cand, &count};
    }
  };
  struct FinishArgs {
    Value scores, lengths, units, hist, above, cand, count;
    SmallVector<Value *> fields() {
      return {&scores, &lengths, &units, &hist, &above, &cand, &count};
    }
  };
  const ChunkArgs chunkArgs{op.getScores(), op.getLengths(), scratch->hist};
  const CollectArgs collectArgs{op.getScores(), op.getLengths(),
                                scratch->hist,  scratch->above,
                                scratch->cand,  scratch->count};
  const FinishArgs finishArgs{op.getScores(), op.getLengths(), op.getUnits(),
                              scratch->hist,  scratch->above,
                              scratch->cand,  scratch->count};

  // Phase 1, histogram: level 0 of every key of the chunk.
  gpu::GPUFuncOp histKernel = ctx.getOrCreateKernel(
      kernelName(layer, "topk_hist"), kernelOperands(chunkArgs), {kChunkBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        ChunkArgs args = kernelArguments(fn, chunkArgs);
        Value bins = KernelContext::addSharedBuffer(fn, {kBins}, b.getI32Type());
        Value scan;
        TopKBody body = chunkBody(b, fn, args.scores, plan.groups,
                                  kChunkBlock, scan);
        ChunkRow r = chunkRowOf(b, args.scores, args.lengths, plan, pageSize);
        b.ifThen(r.active, [&] {
          zeroBins(b, bins);
          b.barrier();
          for (ChunkKey &key : readChunkKeys(b, body, r))
            b.warpAggregatedIncrement(
                bins, b.shrU(key.key, b.i32(kLevel0Shift)), key.valid);
          flushBins(b, bins, args.hist, r, 0);
        });
      });
  ctx.notePlan(histKernel, plan);

  // Phase 2, refine: level 1 of the keys in the level-0 threshold bin.
  gpu::GPUFuncOp refineKernel = ctx.getOrCreateKernel(
      kernelName(layer, "topk_refine"), kernelOperands(chunkArgs),
      {kChunkBlock}, [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        ChunkArgs args = kernelArguments(fn, chunkArgs);
        Value bins = KernelContext::addSharedBuffer(fn, {kBins}, b.getI32Type());
        Value scan;
        TopKBody body = chunkBody(b, fn, args.scores, plan.groups,
                                  kChunkBlock, scan);
        Value state = KernelContext::addSharedBuffer(fn, {4}, b.getI32Type());
        ChunkRow r = chunkRowOf(b, args.scores, args.lengths, plan, pageSize);
        b.ifThen(r.active, [&] {
          zeroBins(b, bins); // ordered by findBin's barriers
          FoundBin bin0 = findBin(b, body, args.hist, r.batch, r.group, 0,
                                  b.toI32(r.k), state, kChunkBlock);
          for (ChunkKey &key : readChunkKeys(b, body, r)) {
            Value inBin =
                b.cmp(Pred::eq, b.shrU(key.key, b.i32(kLevel0Shift)),
                      bin0.digit);
            Value digit = b.andI(b.shrU(key.key, b.i32(kLevel1Shift)),
                                 b.i32(kBins - 1));
            b.warpAggregatedIncrement(bins, digit, b.andI(key.valid, inBin));
          }
          flushBins(b, bins, args.hist, r, 1);
        });
      });
  ctx.notePlan(refineKernel, plan);

  // Phase 3, collect: units above the threshold's prefix to topk_above,
  // units of the prefix (key, unit) to topk_cand, at positions from one
  // global atomic per list and block.
  gpu::GPUFuncOp collectKernel = ctx.getOrCreateKernel(
      kernelName(layer, "topk_collect"), kernelOperands(collectArgs),
      {kChunkBlock}, [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        CollectArgs args = kernelArguments(fn, collectArgs);
        Value scan;
        TopKBody body = chunkBody(b, fn, args.scores, plan.groups,
                                  kChunkBlock, scan);
        Value state = KernelContext::addSharedBuffer(fn, {8}, b.getI32Type());
        ChunkRow r = chunkRowOf(b, args.scores, args.lengths, plan, pageSize);
        b.ifThen(r.active, [&] {
          Threshold t = findThreshold(b, body, args.hist, r.batch, r.group,
                                      r.k, state, kChunkBlock);
          // An overflowing row is selected by the finish from the scores.
          b.ifThen(b.cmp(Pred::sle, t.candidates, b.i32(kCandidateCapacity)),
                   [&] {
            SmallVector<ChunkKey> keys = readChunkKeys(b, body, r);
            SmallVector<Value> isAbove, isCand;
            Value counts = b.i32(0); // above | candidates << 16
            for (ChunkKey &key : keys) {
              Value high = b.shrU(key.key, b.i32(kLevel1Shift));
              isAbove.push_back(
                  b.andI(key.valid, b.cmp(Pred::ugt, high, t.prefix)));
              isCand.push_back(
                  b.andI(key.valid, b.cmp(Pred::eq, high, t.prefix)));
              counts = b.add(counts,
                             b.add(b.extU32(isAbove.back()),
                                   b.select(isCand.back(), b.i32(1 << 16),
                                            b.i32(0))));
            }
            auto [excl, sum] = body.blockScan(counts);
            Value low = b.i32(0xffff);
            b.ifThen(b.cmp(Pred::eq, body.tid, b.index(0)), [&] {
              b.store(b.atomicAdd(b.andI(sum, low), args.count,
                                  {r.batch, r.group, b.index(0)}),
                      state, {b.index(4)});
              b.store(b.atomicAdd(b.shrU(sum, b.i32(16)), args.count,
                                  {r.batch, r.group, b.index(1)}),
                      state, {b.index(5)});
            });
            b.barrier();
            Value abovePos =
                b.add(b.load(state, {b.index(4)}), b.andI(excl, low));
            Value candPos = b.add(b.load(state, {b.index(5)}),
                                  b.shrU(excl, b.i32(16)));
            for (auto [key, up, cand] : llvm::zip(keys, isAbove, isCand)) {
              b.ifThen(up, [&] {
                b.store(key.unit, args.above,
                        {r.batch, r.group, b.toIndex(abovePos)});
              });
              b.ifThen(cand, [&] {
                Value at = b.toIndex(candPos);
                b.store(key.key, args.cand,
                        {r.batch, r.group, b.index(0), at});
                b.store(key.unit, args.cand,
                        {r.batch, r.group, b.index(1), at});
              });
              abovePos = b.add(abovePos, b.extU32(up));
              candPos = b.add(candPos, b.extU32(cand));
            }
          });
        });
      });
  ctx.notePlan(collectKernel, plan);

  // Phase 4, finish: one block per row. Rows the chunk kernels skipped
  // (k == n, n <= directUnits) and rows whose candidates overflowed are
  // selected by emitTopKRow (today's single-block kernel body); the others
  // sort their candidates (descending key, then ascending unit), take the
  // first `need`, add the above units and sort the K units ascending.
  gpu::GPUFuncOp finishKernel = ctx.getOrCreateKernel(
      kernelName(layer, "topk_finish"), kernelOperands(finishArgs),
      {kFinishBlock}, [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        FinishArgs args = kernelArguments(fn, finishArgs);
        Value sortBuf = KernelContext::addSharedBuffer(fn, {plan.sortKeys},
                                                       b.getI64Type());
        Value scan = KernelContext::addSharedBuffer(
            fn, {kFinishBlock / kWarpSize + 1}, b.getI32Type());
        Value state = KernelContext::addSharedBuffer(fn, {8}, b.getI32Type());
        assert(KernelContext::sharedBytes(fn) ==
               TopKMultiBlockPlan::finishOwnSharedBytes(plan.sortKeys));
        Value tid = b.threadId();
        TopKBody body{b, Value(), Value(), scan, tid, kFinishBlock / kWarpSize};
        Value batch = b.blockId(gpu::Dimension::y);
        Value group = b.blockId(gpu::Dimension::x);
        auto [n, k] = rowCounts(b, args.scores, args.lengths, batch, pageSize,
                                plan.budget);
        Value direct =
            b.orI(b.cmp(Pred::eq, k, n),
                  b.cmp(Pred::ule, n, b.index(plan.directUnits)));
        Type i32 = b.getI32Type();
        SmallVector<Value> t = b.ifThenElse(
            b.notI(direct), {i32, i32, i32, i32},
            [&]() -> SmallVector<Value> {
              Threshold th = findThreshold(b, body, args.hist, batch, group, k,
                                           state, kFinishBlock);
              return {th.prefix, th.above, th.candidates, th.need};
            },
            [&]() -> SmallVector<Value> {
              return {b.i32(0), b.i32(0), b.i32(0), b.i32(0)};
            });
        Value above = t[1], candidates = t[2], need = t[3];
        Value fast = b.andI(
            b.notI(direct),
            b.cmp(Pred::sle, candidates, b.i32(kCandidateCapacity)));
        Value unsorted = b.i64(std::numeric_limits<int64_t>::max());
        const int64_t budget = plan.budget;
        b.ifThenElse(
            fast, {},
            [&]() -> SmallVector<Value> {
              // The candidates in selection order.
              auto sortCandidates = [&](int64_t size) {
                b.forRange(tid, b.index(size), b.index(kFinishBlock),
                           [&](Value i) {
                  Value order = b.ifThenElse(
                      b.cmp(Pred::ult, i, b.toIndex(candidates)),
                      {b.getI64Type()},
                      [&]() -> SmallVector<Value> {
                        return {candidateOrder(
                            b, b.load(args.cand, {batch, group, b.index(0), i}),
                            b.load(args.cand,
                                   {batch, group, b.index(1), i}))};
                      },
                      [&]() -> SmallVector<Value> { return {unsorted}; })[0];
                  b.store(order, sortBuf, {i});
                });
                b.barrier();
                b.blockBitonicSort(sortBuf, size, kFinishBlock);
              };
              b.ifThenElse(
                  b.cmp(Pred::sle, candidates, b.i32(kSmallCandidateSort)),
                  {},
                  [&]() -> SmallVector<Value> {
                    sortCandidates(kSmallCandidateSort);
                    return {};
                  },
                  [&]() -> SmallVector<Value> {
                    sortCandidates(kCandidateCapacity);
                    return {};
                  });
              // The first `need` candidates' units (registers), then the
              // K selected units in the sort buffer: the above list at
              // [0, above), the candidates at [above, K), padding after.
              const int64_t rounds = llvm::divideCeil(budget, kFinishBlock);
              SmallVector<Value> picked, pickedAt;
              for (int64_t q = 0; q < rounds; ++q) {
                Value i = b.add(tid, b.index(q * kFinishBlock));
                pickedAt.push_back(i);
                picked.push_back(b.ifThenElse(
                    b.cmp(Pred::ult, i, b.toIndex(need)), {b.getI64Type()},
                    [&]() -> SmallVector<Value> {
                      Value order = b.load(sortBuf, {i});
                      return {b.andI(order, b.i64(0xffffffff))};
                    },
                    [&]() -> SmallVector<Value> { return {b.i64(0)}; })[0]);
              }
              b.barrier();
              for (auto [i, unit] : llvm::zip(pickedAt, picked))
                b.ifThen(b.cmp(Pred::ult, i, b.toIndex(need)), [&] {
                  b.store(unit, sortBuf, {b.add(b.toIndex(above), i)});
                });
              b.forRange(tid, b.index(plan.budgetSortKeys),
                         b.index(kFinishBlock), [&](Value i) {
                b.ifThen(b.cmp(Pred::ult, i, b.toIndex(above)), [&] {
                  b.store(b.extU64(b.load(args.above, {batch, group, i})),
                          sortBuf, {i});
                });
                b.ifThen(b.cmp(Pred::uge, i, b.index(budget)),
                         [&] { b.store(unsorted, sortBuf, {i}); });
              });
              b.barrier();
              b.blockBitonicSort(sortBuf, plan.budgetSortKeys, kFinishBlock);
              b.forRange(tid, b.index(budget), b.index(kFinishBlock),
                         [&](Value i) {
                b.store(b.toI32(b.load(sortBuf, {i})), args.units,
                        {batch, group, i});
              });
              return {};
            },
            [&]() -> SmallVector<Value> {
              TopKRow row = topKRowOf(op, args.scores, args.lengths,
                                      args.units, batch, group, kFinishBlock);
              row.stagedKeys = plan.directUnits;
              assert(row.stagedKeys == stagedKeysThatFit(fn, kFinishBlock));
              emitTopKRow(b, fn, row);
              return {};
            });
        // The row's scratch back to 0 for the next step (every read of the
        // histograms was before findThreshold's barriers).
        b.ifThen(b.notI(direct), [&] {
          b.forRange(tid, b.index(2 * kBins), b.index(kFinishBlock),
                     [&](Value i) {
            b.store(b.i32(0), args.hist,
                    {batch, group, b.divU(i, b.index(kBins)),
                     b.remU(i, b.index(kBins))});
          });
          b.ifThen(b.cmp(Pred::ult, tid, b.index(2)), [&] {
            b.store(b.i32(0), args.count, {batch, group, tid});
          });
        });
      });
  ctx.notePlan(finishKernel, plan);

  // Launches, in order: three over (chunks, groups, requests), the finish
  // over (groups, requests).
  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  Value numUnits = memref::DimOp::create(builder, loc, op.getScores(), 2);
  Value numGroups = memref::DimOp::create(builder, loc, op.getScores(), 1);
  Value numBatch = memref::DimOp::create(builder, loc, op.getScores(), 0);
  // A row of n units spans at most ceil((n + 3) / 4) vectors (its start
  // need not be 16-byte aligned).
  LaunchShape chunks;
  chunks.gridX = arith::CeilDivUIOp::create(
      builder, loc,
      arith::AddIOp::create(builder, loc, numUnits, c(kScoreLanes - 1)),
      c(kChunkVectors * kScoreLanes));
  chunks.gridY = numGroups;
  chunks.gridZ = numBatch;
  chunks.blockX = kChunkBlock;
  ctx.launchBefore(op, histKernel, chunks, kernelOperands(chunkArgs));
  ctx.launchBefore(op, refineKernel, chunks, kernelOperands(chunkArgs));
  ctx.launchBefore(op, collectKernel, chunks, kernelOperands(collectArgs));
  LaunchShape rows;
  rows.gridX = numGroups;
  rows.gridY = numBatch;
  rows.blockX = kFinishBlock;
  ctx.launch(op, finishKernel, rows, kernelOperands(finishArgs));
  return success();
}

//===----------------------------------------------------------------------===//
// Cluster top-k: one launch, a cluster of blocks per row
//===----------------------------------------------------------------------===//
//
// Where thread-block clusters exist (sm_90+), the several-block top-k is one
// kernel: grid (R, groups, requests), clusters of R = 8 blocks (the portable
// size), one cluster per row. Block r of a row stages its chunk of the row
// (units [r * c, (r + 1) * c), c = ceil(n / R) rounded up to 4) as keys in
// dynamic shared memory: the row is read from global memory once. Then:
//  * radix select, 3 passes of 11/11/10 bits as emitTopKRow's: each block
//    histograms its own keys into one of two shared histograms (alternating,
//    so that the next pass's zeroing never races a slower block's reads);
//    after a cluster barrier every block sums the R histograms through
//    distributed shared memory (ld.shared::cluster) and scans them, so all
//    blocks find the same (prefix, mask, need) with no global scratch.
//  * compaction in unit order: each block counts its keys above the
//    threshold and equal to it (a block scan of packed counts); after a
//    cluster barrier it reads the counts of the lower-ranked blocks, which
//    give its output positions. The output is ascending by unit id by
//    construction and ties go to the lower unit ids: no sort.
// Rows with k == n (n = 0 included) are written directly; rows longer than
// R staged chunks (a request beyond the compiled max-context) fall back to
// emitTopKRow over global memory in the row's block 0.

/// Blocks per cluster: the portable maximum (16 needs an opt-in attribute).
static constexpr int64_t kClusterBlocks = 8;
static constexpr int64_t kClusterThreads = 1024;
/// Keys one block stages at most (128 KiB of dynamic shared memory): rows
/// of up to 256K units. The compaction packs a block's equal-key count in
/// 16 bits, so it must stay below 65536.
static constexpr int64_t kClusterMaxStagedKeys = 32768;

namespace {
struct TopKClusterPlan {
  int64_t groups = 1, budget = 1, pageSize = 1;
  /// Keys a block stages: ceil(units at max-context / R), rounded up to a
  /// whole number of 4-key vectors per thread.
  int64_t stagedKeys = 0;
  int64_t vectorsPerThread = 0;

  static int64_t stagedKeysFor(const KernelOptions &options, LayerOp layer) {
    const int64_t pageSize = layer.getConfig().getPageSize();
    const int64_t rowUnits =
        (std::max<int64_t>(options.maxContext, 1) + pageSize - 1) / pageSize;
    return llvm::alignTo(llvm::divideCeil(rowUnits, kClusterBlocks),
                         kScoreLanes * kClusterThreads);
  }
  static TopKClusterPlan get(const KernelOptions &options, LayerOp layer) {
    TopKClusterPlan p;
    p.groups = layer.getConfig().getSelectionGroups();
    p.budget = layer.getBudget();
    p.pageSize = layer.getConfig().getPageSize();
    p.stagedKeys = stagedKeysFor(options, layer);
    p.vectorsPerThread = p.stagedKeys / (kScoreLanes * kClusterThreads);
    return p;
  }
  int64_t dynamicSharedBytes() const { return stagedKeys * 4; }
  void print(raw_ostream &os) const {
    os << "cluster: grid (" << kClusterBlocks << ", " << groups
       << " groups, B) in clusters of " << kClusterBlocks << " blocks of "
       << kClusterThreads << " threads; staged keys " << stagedKeys
       << " per block (" << vectorsPerThread
       << " vectors/thread), radix passes 11/11/10 bits over " << kBins
       << " bins merged through distributed shared memory, compaction in "
          "unit order; budget "
       << budget << "; rows over " << kClusterBlocks * stagedKeys
       << " units: single-block select";
  }
};
} // namespace


namespace {
/// One row of the cluster top-k in one of its R blocks, phase by phase: stage
/// the block's chunk, radix select over the cluster, compact in unit order.
/// Every thread of every block of the cluster must run it.
class ClusterRow {
public:
  struct Buffers {
    Value staged; // [stagedKeys] i32, dynamic shared memory
    Value hist;   // [2 * kBins] i32: two histograms, alternating passes
    Value scan;   // [warps + 1] i32
    Value state;  // [4] i32: the found (prefix, mask, need, done)
    Value totals; // [2] i32: the block's above and equal counts
  };
  ClusterRow(KernelBuilder &b, const TopKClusterPlan &plan, Value scores,
             Value units, Value batch, Value group, Value n, Value k,
             Value rank, const Buffers &buf)
      : b(b), plan(plan), scores(scores), units(units), batch(batch),
        group(group), n(n), k(k), rank(rank), buf(buf) {}

  void emit() {
    stage();
    select();
    compact();
  }

private:
  static constexpr int64_t T = kClusterThreads, R = kClusterBlocks;

  /// The block's units [ub, ue) of the row, as keys in buf.staged[u - ub].
  void stage() {
    tid = b.threadId();
    Value chunk = b.mul(
        b.ceilDivU(b.ceilDivU(n, b.index(R)), b.index(kScoreLanes)),
        b.index(kScoreLanes));
    ub = b.minS(b.mul(b.toIndex(rank), chunk), n);
    Value ue = b.minS(b.add(ub, chunk), n);
    count = b.toI32(b.sub(ue, ub));
    Value numUnits = b.dim(scores, 2);
    Value total =
        b.mul(b.mul(b.dim(scores, 0), b.index(plan.groups)), numUnits);
    TopKBody body{b, b.flatten(scores, total), total, buf.scan, tid,
                  T / kWarpSize};
    scan = [this, body](Value v) mutable { return body.blockScan(v); };
    Value rowStart =
        b.mul(b.add(b.mul(batch, b.index(plan.groups)), group), numUnits);
    Value first = b.add(rowStart, ub), end = b.add(rowStart, ue);
    Value firstVec = b.divU(first, b.index(kScoreLanes));
    Value endVec = b.ceilDivU(end, b.index(kScoreLanes));
    // kVectorsPerThread 16-byte loads in flight per thread and round.
    const int64_t perRound = T * kVectorsPerThread;
    Value rounds = b.ceilDivU(b.sub(endVec, firstVec), b.index(perRound));
    b.forRange(b.index(0), rounds, b.index(1), [&](Value it) {
      Value base = b.add(firstVec, b.add(b.mul(it, b.index(perRound)), tid));
      SmallVector<Value> ids, vecs;
      for (int64_t q = 0; q < kVectorsPerThread; ++q) {
        ids.push_back(b.add(base, b.index(q * T)));
        vecs.push_back(body.loadGroup(
            b.minS(ids.back(), b.sub(endVec, b.index(1)))));
      }
      for (int64_t q = 0; q < kVectorsPerThread; ++q)
        for (int64_t e = 0; e < kScoreLanes; ++e) {
          Value lin = b.add(b.mul(ids[q], b.index(kScoreLanes)), b.index(e));
          Value valid = b.andI(b.cmp(Pred::uge, lin, first),
                               b.cmp(Pred::ult, lin, end));
          b.ifThen(valid, [&] {
            b.store(body.key(b.extract(vecs[q], e)), buf.staged,
                    {b.sub(lin, first)});
          });
        }
    });
    b.barrier();
  }

  /// Staged vector `v` (i32) as 4 keys with their validity (index < count).
  SmallVector<std::pair<Value, Value>> stagedKeys(Value v) {
    Value keys = b.loadVector(kScoreLanes, buf.staged,
                              {b.toIndex(b.mul(v, b.i32(kScoreLanes)))});
    SmallVector<std::pair<Value, Value>> out;
    for (int64_t e = 0; e < kScoreLanes; ++e) {
      Value idx = b.add(b.mul(v, b.i32(kScoreLanes)), b.i32(e));
      out.push_back({b.extract(keys, e), b.cmp(Pred::slt, idx, count)});
    }
    return out;
  }

  /// Radix select over the cluster's keys: (prefix, mask, need) such that
  /// the row's selection is every key with (key & mask) > prefix and the
  /// first `need` in unit order with (key & mask) == prefix.
  void select() {
    Value tid32 = b.toI32(tid);
    prefix = b.i32(0), mask = b.i32(0), need = b.toI32(k);
    Value done = b.i32(0);
    const int64_t passBits[3] = {11, 11, 10};
    int64_t shift = 32;
    for (int64_t pass = 0; pass < 3; ++pass) {
      const int64_t bits = passBits[pass];
      shift -= bits;
      const int64_t digitMask = (int64_t(1) << bits) - 1;
      const int64_t histBase = (pass % 2) * kBins;
      SmallVector<Value> next = b.ifThenElse(
          b.cmp(Pred::eq, done, b.i32(0)), SmallVector<Type>(4, b.getI32Type()),
          [&]() -> SmallVector<Value> {
            b.forRange(tid, b.index(kBins), b.index(T), [&](Value i) {
              b.store(b.i32(0), buf.hist, {b.add(i, b.index(histBase))});
            });
            b.barrier();
            // Coalesced, bank-conflict-free: vector q * T + t.
            for (int64_t q = 0; q < plan.vectorsPerThread; ++q)
              for (auto [key, valid] :
                   stagedKeys(b.add(tid32, b.i32(q * T)))) {
                Value match = b.cmp(Pred::eq, b.andI(key, mask), prefix);
                Value digit = b.andI(b.shrU(key, b.i32(shift)),
                                     b.i32(digitMask));
                // Plain shared atomics: on the H200 they beat one atomic
                // per distinct bin of a warp here (match.any.sync's cost
                // outweighs the collisions; docs/PERF.md "Cluster top-k").
                b.ifThen(b.andI(valid, match), [&] {
                  b.atomicAdd(b.i32(1), buf.hist,
                              {b.toIndex(b.add(digit, b.i32(histBase)))});
                });
              }
            // Every block's histogram is complete: sum the cluster's.
            b.clusterBarrier();
            const int64_t digitsPerThread = kBins / T;
            Value top = b.sub(b.index(kBins - 1),
                              b.mul(tid, b.index(digitsPerThread)));
            SmallVector<Value> digits, counts;
            Value owned = b.i32(0);
            for (int64_t j = 0; j < digitsPerThread; ++j) {
              digits.push_back(b.sub(top, b.index(j)));
              Value at = b.add(digits.back(), b.index(histBase));
              Value sum = b.i32(0);
              for (int64_t r = 0; r < R; ++r)
                sum = b.add(sum, b.loadClusterShared(buf.hist, at, b.i32(r)));
              counts.push_back(sum);
              owned = b.add(owned, sum);
            }
            Value above = scan(owned).first; // keys of larger digits
            for (int64_t j = 0; j < digitsPerThread; ++j) {
              Value through = b.add(above, counts[j]);
              Value holds = b.andI(b.cmp(Pred::slt, above, need),
                                   b.cmp(Pred::sle, need, through));
              b.ifThen(holds, [&] {
                Value left = b.sub(need, above);
                b.store(b.orI(prefix, b.shl(b.toI32(digits[j]), b.i32(shift))),
                        buf.state, {b.index(0)});
                b.store(b.orI(mask, b.i32(int32_t(uint32_t(digitMask << shift)))),
                        buf.state, {b.index(1)});
                b.store(left, buf.state, {b.index(2)});
                b.store(b.extU32(b.cmp(Pred::eq, counts[j], left)), buf.state,
                        {b.index(3)});
              });
              above = through;
            }
            b.barrier();
            return {b.load(buf.state, {b.index(0)}),
                    b.load(buf.state, {b.index(1)}),
                    b.load(buf.state, {b.index(2)}),
                    b.load(buf.state, {b.index(3)})};
          },
          [&]() -> SmallVector<Value> { return {prefix, mask, need, done}; });
      prefix = next[0], mask = next[1], need = next[2], done = next[3];
    }
  }

  /// Thread t's consecutive keys (vectors t * V .. t * V + V - 1) in unit
  /// order; positions from the block scan over the cluster's lower blocks.
  void compact() {
    const int64_t V = plan.vectorsPerThread;
    Value firstVec = b.mul(b.toI32(tid), b.i32(V));
    SmallVector<Value> above, equal, idx;
    Value counts = b.i32(0);
    for (int64_t q = 0; q < V; ++q) {
      Value v = b.add(firstVec, b.i32(q));
      for (auto [e, kv] : llvm::enumerate(stagedKeys(v))) {
        auto [key, valid] = kv;
        Value masked = b.andI(key, mask);
        above.push_back(b.andI(valid, b.cmp(Pred::ugt, masked, prefix)));
        equal.push_back(b.andI(valid, b.cmp(Pred::eq, masked, prefix)));
        idx.push_back(b.add(b.mul(v, b.i32(kScoreLanes)), b.i32(e)));
        counts = b.add(counts,
                       b.add(b.extU32(above.back()),
                             b.select(equal.back(), b.i32(1 << 16), b.i32(0))));
      }
    }
    auto [excl, sum] = scan(counts);
    Value low = b.i32(0xffff);
    b.ifThen(b.cmp(Pred::eq, tid, b.index(0)), [&] {
      b.store(b.andI(sum, low), buf.totals, {b.index(0)});
      b.store(b.shrU(sum, b.i32(16)), buf.totals, {b.index(1)});
    });
    b.clusterBarrier();
    Value aboveBase = b.i32(0), equalBase = b.i32(0);
    for (int64_t r = 0; r < R; ++r) {
      Value lower = b.cmp(Pred::slt, b.i32(r), rank);
      Value a = b.loadClusterShared(buf.totals, b.index(0), b.i32(r));
      Value e = b.loadClusterShared(buf.totals, b.index(1), b.i32(r));
      aboveBase = b.add(aboveBase, b.select(lower, a, b.i32(0)));
      equalBase = b.add(equalBase, b.select(lower, e, b.i32(0)));
    }
    // The last remote read is done: blocks may leave once all arrive.
    b.clusterArrive();
    Value gtBefore = b.add(aboveBase, b.andI(excl, low));
    Value eqBefore = b.add(equalBase, b.shrU(excl, b.i32(16)));
    Value ub32 = b.toI32(ub);
    for (size_t e = 0; e < idx.size(); ++e) {
      Value take = b.orI(above[e],
                         b.andI(equal[e], b.cmp(Pred::slt, eqBefore, need)));
      Value pos = b.add(gtBefore, b.minS(eqBefore, need));
      b.ifThen(take, [&] {
        b.store(b.add(ub32, idx[e]), units, {batch, group, b.toIndex(pos)});
      });
      gtBefore = b.add(gtBefore, b.extU32(above[e]));
      eqBefore = b.add(eqBefore, b.extU32(equal[e]));
    }
    b.clusterWait();
  }

  KernelBuilder &b;
  const TopKClusterPlan &plan;
  Value scores, units, batch, group, n, k, rank;
  Buffers buf;
  Value tid, ub, count, prefix, mask, need;
  std::function<std::pair<Value, Value>(Value)> scan;
};
} // namespace

bool mlir::hsa::useClusterTopK(const KernelOptions &options, LayerOp layer) {
  return options.topkCluster &&
         TopKClusterPlan::stagedKeysFor(options, layer) <=
             kClusterMaxStagedKeys;
}

LogicalResult mlir::hsa::lowerTopKCluster(KernelContext &ctx, TopKOp op) {
  LayerOp layer = getLayer(op);
  const TopKClusterPlan plan = TopKClusterPlan::get(ctx.getOptions(), layer);
  const int64_t T = kClusterThreads, R = kClusterBlocks;
  const int64_t warps = T / kWarpSize;
  const int64_t budget = plan.budget;
  struct ClusterArgs {
    Value scores, lengths, units;
    SmallVector<Value *> fields() { return {&scores, &lengths, &units}; }
  };
  const ClusterArgs launchArgs{op.getScores(), op.getLengths(), op.getUnits()};
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "topk_cluster"), kernelOperands(launchArgs), {T},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        KernelContext::setClusterBlocks(fn, R);
        ClusterArgs args = kernelArguments(fn, launchArgs);
        // Plan: shared buffers.
        Value staged = b.dynamicSharedBuffer({plan.stagedKeys}, b.getI32Type());
        Value hist =
            KernelContext::addSharedBuffer(fn, {2 * kBins}, b.getI32Type());
        Value scan =
            KernelContext::addSharedBuffer(fn, {warps + 1}, b.getI32Type());
        Value state = KernelContext::addSharedBuffer(fn, {4}, b.getI32Type());
        Value totals = KernelContext::addSharedBuffer(fn, {2}, b.getI32Type());

        // Arguments: the row and this block's place in it.
        Value tid = b.threadId();
        Value rank = b.clusterRank();
        Value batch = b.blockId(gpu::Dimension::z);
        Value group = b.blockId(gpu::Dimension::y);
        auto [n, k] = rowCounts(b, args.scores, args.lengths, batch,
                                plan.pageSize, budget);
        Value clusterThread = b.add(b.mul(b.toIndex(rank), b.index(T)), tid);
        Value clusterThreads = b.index(R * T);

        // Padding: -1 in [k, K), by the whole cluster.
        b.forRange(b.add(k, clusterThread), b.index(budget), clusterThreads,
                   [&](Value i) {
          b.store(b.i32(-1), args.units, {batch, group, i});
        });
        Value fits = b.cmp(Pred::ule, n, b.index(R * plan.stagedKeys));
        b.ifThenElse(
            b.cmp(Pred::eq, k, n), {},
            [&]() -> SmallVector<Value> {
              // Every valid unit is selected.
              b.forRange(clusterThread, n, clusterThreads, [&](Value u) {
                b.store(b.toI32(u), args.units, {batch, group, u});
              });
              return {};
            },
            [&]() -> SmallVector<Value> {
              b.ifThenElse(
                  fits, {},
                  [&]() -> SmallVector<Value> {
                    ClusterRow(b, plan, args.scores, args.units, batch, group,
                               n, k, rank, {staged, hist, scan, state, totals})
                        .emit();
                    return {};
                  },
                  [&]() -> SmallVector<Value> {
                    // Longer than the compiled chunks: the row's block 0
                    // alone, over global memory.
                    b.ifThen(b.cmp(Pred::eq, rank, b.i32(0)), [&] {
                      TopKRow row = topKRowOf(op, args.scores, args.lengths,
                                              args.units, batch, group, T);
                      emitTopKRow(b, fn, row);
                    });
                    return {};
                  });
              return {};
            });
      });
  ctx.notePlan(kernel, plan);

  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = arith::ConstantIndexOp::create(builder, loc, R);
  shape.gridY = memref::DimOp::create(builder, loc, op.getScores(), 1);
  shape.gridZ = memref::DimOp::create(builder, loc, op.getScores(), 0);
  shape.blockX = T;
  shape.dynamicSharedBytes = plan.dynamicSharedBytes();
  ctx.launch(op, kernel, shape, kernelOperands(launchArgs));
  return success();
}
