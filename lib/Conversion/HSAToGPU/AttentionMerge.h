//===- AttentionMerge.h - merge of split-K attention partials -*- C++ -*-===//
//
// Private to lib/Conversion/HSAToGPU. Both attention families (Attention.cpp
// for GQA and CUDA-core MLA, AttentionMLA.cpp for tensor-core MLA) split a
// row's tokens across blocks and merge the normalised partial outputs by
// their natural-log LSE; they differ only in where the partials live and in
// whether the split count is a constant or an expression of the batch.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_LIB_CONVERSION_HSATOGPU_ATTENTIONMERGE_H
#define HSA_LIB_CONVERSION_HSATOGPU_ATTENTIONMERGE_H

#include "KernelBuilder.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir {
namespace hsa {

/// Where one output vector's partials are: split `s`'s natural-log LSE
/// (-inf when the split saw no token) and its 4 output elements at
/// `offset` past the vector's first column.
struct SplitPartials {
  llvm::function_ref<Value(Value split)> lse;
  llvm::function_ref<Value(Value split, int64_t offset)> quad;
};

/// Emits the merge of one output vector of `width` elements (a multiple of
/// 4) over `splits` partials (at least 1; a constant or a value), in one
/// online pass over groups of splits whose loads are in flight together:
/// weights exp(lse - max lse), normalised, stored
/// as `outType` elements at `outIndices` of `output` (zeros when no split
/// saw a token). Where `writeLse()` (built after the output store) holds, also stores the merged LSE, max lse
/// + log(sum of the weights) (-inf when no split saw a token), at
/// `lseIndices` of `lse`: the caller makes that one item per head.
void emitSplitMerge(KernelBuilder &b, Value splits, int64_t width,
                    const SplitPartials &partials, Type outType, Value output,
                    ValueRange outIndices,
                    llvm::function_ref<Value()> writeLse, Value lse,
                    ValueRange lseIndices);

} // namespace hsa
} // namespace mlir

#endif // HSA_LIB_CONVERSION_HSATOGPU_ATTENTIONMERGE_H
