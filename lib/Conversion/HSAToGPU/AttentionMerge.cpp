//===- AttentionMerge.cpp - merge of split-K attention partials -----------===//

#include "AttentionMerge.h"

using namespace mlir;
using namespace mlir::hsa;

using FPred = arith::CmpFPredicate;

void mlir::hsa::emitSplitMerge(KernelBuilder &b, Value splits, int64_t width,
                               const SplitPartials &partials, Type outType,
                               Value output, ValueRange outIndices,
                               function_ref<Value()> writeLse, Value lse,
                               ValueRange lseIndices) {
  Type f32 = b.getF32Type();
  auto vec4F32 = VectorType::get({4}, f32);
  // Pass 1: the largest split LSE, the reference the weights are taken
  // against (safeMax keeps exp finite when every split is empty).
  SmallVector<Value> maxLse = b.forRange(
      b.index(0), splits, b.index(1), {b.negInf()},
      [&](Value s, ValueRange carried) -> SmallVector<Value> {
        return {b.maxF(carried[0], partials.lse(s))};
      });
  Value ref = b.safeMax(maxLse[0]);
  // Pass 2: the weighted sum of the partial vectors and of the weights.
  const int64_t quads = width / 4;
  SmallVector<Value> init(quads, b.zeros(vec4F32));
  init.push_back(b.f32(0.0));
  SmallVector<Value> sums = b.forRange(
      b.index(0), splits, b.index(1), init,
      [&](Value s, ValueRange carried) -> SmallVector<Value> {
        Value weight = b.exp(b.subF(partials.lse(s), ref));
        Value weightV = b.splat(vec4F32, weight);
        SmallVector<Value> next;
        for (int64_t part = 0; part < quads; ++part)
          next.push_back(
              b.fma(weightV, partials.quad(s, part * 4), carried[part]));
        next.push_back(b.addF(carried[quads], weight));
        return next;
      });
  Value total = sums[quads];
  Value seen = b.cmpF(FPred::OGT, total, b.f32(0.0));
  Value invV = b.splat(vec4F32,
                       b.select(seen, b.divF(b.f32(1.0), total), b.f32(0.0)));
  SmallVector<Value> pieces;
  for (int64_t part = 0; part < quads; ++part)
    pieces.push_back(b.mulF(sums[part], invV));
  b.storeVector(b.truncTo(VectorType::get({width}, outType), b.concat(pieces)),
                output, outIndices);
  b.ifThen(writeLse(), [&] {
    Value merged = b.addF(ref, b.log(b.select(seen, total, b.f32(1.0))));
    b.store(b.select(seen, merged, b.negInf()), lse, lseIndices);
  });
}
