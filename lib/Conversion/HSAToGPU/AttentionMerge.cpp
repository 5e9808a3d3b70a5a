//===- AttentionMerge.cpp - merge of split-K attention partials -----------===//

#include "AttentionMerge.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <optional>

using namespace mlir;
using namespace mlir::hsa;

using FPred = arith::CmpFPredicate;

/// Splits whose partials one merge iteration loads together: the loads of a
/// group are independent, so a merge over S splits waits for about S / 8
/// memory latencies instead of 2 S (two dependent passes, one split at a
/// time).
static constexpr int64_t kMergeGroup = 8;

void mlir::hsa::emitSplitMerge(KernelBuilder &b, Value splits, int64_t width,
                               const SplitPartials &partials, Type outType,
                               Value output, ValueRange outIndices,
                               function_ref<Value()> writeLse, Value lse,
                               ValueRange lseIndices) {
  Type f32 = b.getF32Type();
  auto vec4F32 = VectorType::get({4}, f32);
  const int64_t quads = width / 4;
  std::optional<int64_t> known = getConstantIntValue(splits);
  const int64_t group = known ? std::min(*known, kMergeGroup) : kMergeGroup;
  Value last = b.sub(splits, b.index(1));
  // One pass, online: carried are the running reference (the largest LSE so
  // far, -inf before any), the weight total and the weighted sums, all
  // relative to the reference. Past the last split, a group's slots read
  // the last split's partials with weight 0 (lse -inf).
  SmallVector<Value> init{b.negInf(), b.f32(0.0)};
  init.append(quads, b.zeros(vec4F32));
  SmallVector<Value> merged = b.forRange(
      b.index(0), b.ceilDivU(splits, b.index(group)), b.index(1), init,
      [&](Value g, ValueRange carried) -> SmallVector<Value> {
        SmallVector<Value> lses;
        SmallVector<SmallVector<Value>> parts;
        Value groupMax = b.negInf();
        for (int64_t i = 0; i < group; ++i) {
          Value s = b.add(b.mul(g, b.index(group)), b.index(i));
          Value inside = b.cmp(arith::CmpIPredicate::ult, s, splits);
          Value safe = b.minS(s, last);
          lses.push_back(b.select(inside, partials.lse(safe), b.negInf()));
          groupMax = b.maxF(groupMax, lses.back());
          parts.emplace_back();
          for (int64_t part = 0; part < quads; ++part)
            parts.back().push_back(partials.quad(safe, part * 4));
        }
        Value max = b.maxF(carried[0], groupMax);
        Value ref = b.safeMax(max);
        Value keep = b.exp(b.subF(carried[0], ref));
        Value total = b.mulF(carried[1], keep);
        SmallVector<Value> sums;
        for (int64_t part = 0; part < quads; ++part)
          sums.push_back(b.mulF(carried[2 + part], b.splat(vec4F32, keep)));
        for (int64_t i = 0; i < group; ++i) {
          Value weight = b.exp(b.subF(lses[i], ref));
          total = b.addF(total, weight);
          for (int64_t part = 0; part < quads; ++part)
            sums[part] = b.fma(b.splat(vec4F32, weight), parts[i][part],
                               sums[part]);
        }
        SmallVector<Value> next{max, total};
        next.append(sums);
        return next;
      });
  Value ref = b.safeMax(merged[0]);
  Value total = merged[1];
  Value seen = b.cmpF(FPred::OGT, total, b.f32(0.0));
  Value invV = b.splat(vec4F32,
                       b.select(seen, b.divF(b.f32(1.0), total), b.f32(0.0)));
  SmallVector<Value> pieces;
  for (int64_t part = 0; part < quads; ++part)
    pieces.push_back(b.mulF(merged[2 + part], invV));
  b.storeVector(b.truncTo(VectorType::get({width}, outType), b.concat(pieces)),
                output, outIndices);
  b.ifThen(writeLse(), [&] {
    Value lseValue = b.addF(ref, b.log(b.select(seen, total, b.f32(1.0))));
    b.store(b.select(seen, lseValue, b.negInf()), lse, lseIndices);
  });
}
