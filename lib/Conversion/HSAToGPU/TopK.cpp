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
