//===- KernelBuilder.cpp - shared pieces of hsa's kernel generators -------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::hsa;

//===----------------------------------------------------------------------===//
// KernelBuilder
//===----------------------------------------------------------------------===//

Value KernelBuilder::index(int64_t value) {
  return arith::ConstantIndexOp::create(*this, value);
}
Value KernelBuilder::i32(int64_t value) {
  return arith::ConstantOp::create(*this, getI32IntegerAttr(value));
}
Value KernelBuilder::i64(int64_t value) {
  return arith::ConstantOp::create(*this, getI64IntegerAttr(value));
}
Value KernelBuilder::f32(double value) {
  return arith::ConstantOp::create(*this, getF32FloatAttr(value));
}

Value KernelBuilder::threadId(gpu::Dimension dim) {
  return gpu::ThreadIdOp::create(*this, dim);
}
Value KernelBuilder::blockId(gpu::Dimension dim) {
  return gpu::BlockIdOp::create(*this, dim);
}
Value KernelBuilder::gridDim(gpu::Dimension dim) {
  return gpu::GridDimOp::create(*this, dim);
}

Value KernelBuilder::add(Value a, Value b) {
  return arith::AddIOp::create(*this, a, b);
}
Value KernelBuilder::sub(Value a, Value b) {
  return arith::SubIOp::create(*this, a, b);
}
Value KernelBuilder::mul(Value a, Value b) {
  return arith::MulIOp::create(*this, a, b);
}
Value KernelBuilder::divU(Value a, Value b) {
  return arith::DivUIOp::create(*this, a, b);
}
Value KernelBuilder::remU(Value a, Value b) {
  return arith::RemUIOp::create(*this, a, b);
}
Value KernelBuilder::minS(Value a, Value b) {
  return arith::MinSIOp::create(*this, a, b);
}
Value KernelBuilder::maxS(Value a, Value b) {
  return arith::MaxSIOp::create(*this, a, b);
}
Value KernelBuilder::ceilDivU(Value a, Value b) {
  return arith::CeilDivUIOp::create(*this, a, b);
}
Value KernelBuilder::cmp(arith::CmpIPredicate pred, Value a, Value b) {
  return arith::CmpIOp::create(*this, pred, a, b);
}
Value KernelBuilder::andI(Value a, Value b) {
  return arith::AndIOp::create(*this, a, b);
}
Value KernelBuilder::orI(Value a, Value b) {
  return arith::OrIOp::create(*this, a, b);
}
Value KernelBuilder::xorI(Value a, Value b) {
  return arith::XOrIOp::create(*this, a, b);
}
Value KernelBuilder::notI(Value a) {
  return arith::XOrIOp::create(
      *this, a, arith::ConstantOp::create(*this, getBoolAttr(true)));
}
Value KernelBuilder::shl(Value a, Value b) {
  return arith::ShLIOp::create(*this, a, b);
}
Value KernelBuilder::shrU(Value a, Value b) {
  return arith::ShRUIOp::create(*this, a, b);
}
Value KernelBuilder::select(Value cond, Value a, Value b) {
  return arith::SelectOp::create(*this, cond, a, b);
}
Value KernelBuilder::toIndex(Value value) {
  if (value.getType().isIndex())
    return value;
  return arith::IndexCastOp::create(*this, getIndexType(), value);
}
Value KernelBuilder::toI32(Value value) {
  if (value.getType().isInteger(32))
    return value;
  if (value.getType().isIndex())
    return arith::IndexCastOp::create(*this, getI32Type(), value);
  return arith::TruncIOp::create(*this, getI32Type(), value);
}
Value KernelBuilder::extU64(Value value) {
  return arith::ExtUIOp::create(*this, getI64Type(), value);
}
Value KernelBuilder::extS64(Value value) {
  return arith::ExtSIOp::create(*this, getI64Type(), value);
}
Value KernelBuilder::extU32(Value value) {
  return arith::ExtUIOp::create(*this, getI32Type(), value);
}
Value KernelBuilder::bitcast(Type type, Value value) {
  return arith::BitcastOp::create(*this, type, value);
}

Value KernelBuilder::sharedAddress(Value buffer) {
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(*this, buffer);
  return arith::IndexCastUIOp::create(*this, getI64Type(), index);
}

Value KernelBuilder::baseAddress(Value memref, int64_t elementBytes) {
  auto meta = memref::ExtractStridedMetadataOp::create(*this, memref);
  Value aligned = arith::IndexCastUIOp::create(
      *this, getI64Type(),
      memref::ExtractAlignedPointerAsIndexOp::create(*this, memref));
  Value offset =
      arith::IndexCastUIOp::create(*this, getI64Type(), meta.getOffset());
  return add(aligned, mul(offset, i64(elementBytes)));
}

void KernelBuilder::copyAsync16(Value dst, Value src, Value srcBytes) {
  auto shared = LLVM::LLVMPointerType::get(getContext(), 3);
  auto global = LLVM::LLVMPointerType::get(getContext(), 1);
  auto generic = LLVM::LLVMPointerType::get(getContext(), 0);
  Value d = LLVM::IntToPtrOp::create(*this, shared, dst);
  // Kernel arguments hold generic addresses: cvta.to.global.
  Value g = LLVM::AddrSpaceCastOp::create(
      *this, global, LLVM::IntToPtrOp::create(*this, generic, src));
  NVVM::CpAsyncOp::create(*this, d, g, kVectorBytes,
                          NVVM::LoadCacheModifierKind::CG, srcBytes);
}

Value KernelBuilder::swizzledDescriptor(Value address, int64_t leadingBytes) {
  Value start = shrU(andI(address, i64(0x3ffff)), i64(4));
  const int64_t fixed = (int64_t(leadingBytes >> 4) << 16) |
                        (int64_t(kSwizzleAlign >> 4) << 32) |
                        (int64_t(1) << 62); // 128-byte swizzle
  return orI(start, i64(fixed));
}

SmallVector<Value> KernelBuilder::decodeE4M3(Value codes) {
  KernelBuilder &b = *this;
  auto type = cast<VectorType>(codes.getType());
  const int64_t count = type.getNumElements();
  Type i16 = b.getI16Type(), i8x2 = VectorType::get({2}, b.getI8Type());
  Type f16x2 = VectorType::get({2}, b.getF16Type());
  Value pairs = vector::BitCastOp::create(
      b, VectorType::get({count / 2}, i16), codes);
  SmallVector<Value> out;
  for (int64_t p = 0; p < count / 2; ++p) {
    Value pair = LLVM::BitcastOp::create(b, i8x2, b.extract(pairs, p));
    Value halves = NVVM::ConvertF8x2ToF16x2Op::create(
        b, f16x2, pair, b.getBoolAttr(false),
        TypeAttr::get(b.getType<Float8E4M3FNType>()));
    Value wide = b.toF32(halves);
    out.push_back(b.extract(wide, 0));
    out.push_back(b.extract(wide, 1));
  }
  return out;
}

Value KernelBuilder::addF(Value a, Value b) {
  return arith::AddFOp::create(*this, a, b);
}
Value KernelBuilder::subF(Value a, Value b) {
  return arith::SubFOp::create(*this, a, b);
}
Value KernelBuilder::mulF(Value a, Value b) {
  return arith::MulFOp::create(*this, a, b);
}
Value KernelBuilder::divF(Value a, Value b) {
  return arith::DivFOp::create(*this, a, b);
}
Value KernelBuilder::maxF(Value a, Value b) {
  return arith::MaximumFOp::create(*this, a, b);
}
Value KernelBuilder::minF(Value a, Value b) {
  return arith::MinimumFOp::create(*this, a, b);
}
// exp and log go through the NVVM approximate exp2/log2 intrinsics (one MUFU
// op each): convert-gpu-to-nvvm rejects llvm.intr.exp2/log2 on f32 (it wants
// libdevice), so they are called by name.
static Value callNVVMIntrinsic(KernelBuilder &b, StringRef name, Value x) {
  return LLVM::CallIntrinsicOp::create(b, x.getType(), b.getStringAttr(name),
                                       ValueRange{x})
      .getResult(0);
}
Value KernelBuilder::exp2(Value a) {
  return callNVVMIntrinsic(*this, "llvm.nvvm.ex2.approx.ftz.f32", a);
}
Value KernelBuilder::log2(Value a) {
  return callNVVMIntrinsic(*this, "llvm.nvvm.lg2.approx.ftz.f", a);
}
Value KernelBuilder::exp(Value a) {
  return exp2(mulF(a, f32(1.4426950408889634))); // log2(e)
}
Value KernelBuilder::log(Value a) {
  return mulF(log2(a), f32(0.6931471805599453)); // ln(2)
}
Value KernelBuilder::sqrt(Value a) {
  return callNVVMIntrinsic(*this, "llvm.nvvm.sqrt.rn.f", a);
}
Value KernelBuilder::fma(Value x, Value y, Value acc) {
  return LLVM::FMAOp::create(
      *this, x, y, acc,
      LLVM::FastmathFlagsAttr::get(getContext(), LLVM::FastmathFlags::none));
}
Value KernelBuilder::mulAddContract(Value acc, Value x, Value y) {
  auto contract = arith::FastMathFlags::contract;
  Value product = arith::MulFOp::create(*this, x, y, contract);
  return arith::AddFOp::create(*this, acc, product, contract);
}
Value KernelBuilder::dot(Value x, Value y) {
  int64_t n = cast<VectorType>(x.getType()).getNumElements();
  Value acc = mulF(extract(x, 0), extract(y, 0));
  for (int64_t e = 1; e < n; ++e)
    acc = mulAddContract(acc, extract(x, e), extract(y, e));
  return acc;
}
Value KernelBuilder::safeMax(Value max) {
  Value empty = cmpF(arith::CmpFPredicate::OEQ, max, negInf());
  return select(empty, f32(0.0), max);
}
Value KernelBuilder::cmpF(arith::CmpFPredicate pred, Value a, Value b) {
  return arith::CmpFOp::create(*this, pred, a, b);
}
Value KernelBuilder::toF32(Value value) {
  if (value.getType().isF32())
    return value;
  Type f32Type = getF32Type();
  if (auto vector = dyn_cast<VectorType>(value.getType()))
    f32Type = VectorType::get(vector.getShape(), f32Type);
  return arith::ExtFOp::create(*this, f32Type, value);
}
Value KernelBuilder::sToF32(Value value) {
  return arith::SIToFPOp::create(*this, getF32Type(), value);
}
Value KernelBuilder::truncTo(Type type, Value value) {
  if (value.getType() == type)
    return value;
  return arith::TruncFOp::create(*this, type, value);
}

Value KernelBuilder::splat(VectorType type, Value scalar) {
  return vector::BroadcastOp::create(*this, type, scalar);
}
Value KernelBuilder::zeros(Type type) {
  return arith::ConstantOp::create(*this, getZeroAttr(type));
}
Value KernelBuilder::splatF32(int64_t n, double value) {
  auto type = VectorType::get({n}, getF32Type());
  return arith::ConstantOp::create(
      *this, type, DenseElementsAttr::get(type, float(value)));
}
Value KernelBuilder::concat(ArrayRef<Value> parts) {
  SmallVector<Value> pieces(parts);
  while (pieces.size() > 1) {
    SmallVector<Value> joined;
    for (size_t i = 0; i + 1 < pieces.size(); i += 2) {
      int64_t width = cast<VectorType>(pieces[i].getType()).getNumElements();
      auto mask = llvm::to_vector(llvm::seq<int64_t>(0, 2 * width));
      joined.push_back(
          vector::ShuffleOp::create(*this, pieces[i], pieces[i + 1], mask));
    }
    pieces = std::move(joined);
  }
  return pieces.front();
}
Value KernelBuilder::slice(Value vector, int64_t first, int64_t count) {
  auto mask = llvm::to_vector(llvm::seq<int64_t>(first, first + count));
  return vector::ShuffleOp::create(*this, vector, vector, mask);
}

void KernelBuilder::forRange(Value lb, Value ub, Value step,
                             function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(*this, lb, ub, step);
  OpBuilder::InsertionGuard guard(*this);
  setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

SmallVector<Value> KernelBuilder::forRange(
    Value lb, Value ub, Value step, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(*this, lb, ub, step, init);
  {
    OpBuilder::InsertionGuard guard(*this);
    Block *block = loop.getBody();
    // A loop with iter_args is created with an empty body.
    if (!block->empty())
      block->getTerminator()->erase();
    setInsertionPointToEnd(block);
    SmallVector<Value> next = body(loop.getInductionVar(), loop.getRegionIterArgs());
    scf::YieldOp::create(*this, next);
  }
  return SmallVector<Value>(loop.getResults());
}

void KernelBuilder::ifThen(Value cond, function_ref<void()> then) {
  auto ifOp = scf::IfOp::create(*this, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(*this);
  setInsertionPoint(ifOp.thenBlock()->getTerminator());
  then();
}

SmallVector<Value>
KernelBuilder::ifThenElse(Value cond, TypeRange types,
                          function_ref<SmallVector<Value>()> then,
                          function_ref<SmallVector<Value>()> otherwise) {
  auto ifOp = scf::IfOp::create(*this, types, cond, /*withElseRegion=*/true);
  auto fill = [&](Block *block, function_ref<SmallVector<Value>()> build) {
    OpBuilder::InsertionGuard guard(*this);
    if (!block->empty() && block->mightHaveTerminator())
      block->getTerminator()->erase();
    setInsertionPointToEnd(block);
    scf::YieldOp::create(*this, build());
  };
  fill(ifOp.thenBlock(), then);
  fill(ifOp.elseBlock(), otherwise);
  return SmallVector<Value>(ifOp.getResults());
}

Value KernelBuilder::dim(Value memref, int64_t dim) {
  return memref::DimOp::create(*this, memref, dim);
}
Value KernelBuilder::flatten(Value memref, Value elements) {
  auto type = cast<MemRefType>(memref.getType());
  auto flatType =
      MemRefType::get({ShapedType::kDynamic}, type.getElementType());
  return memref::ReinterpretCastOp::create(
      *this, flatType, memref, /*offset=*/getIndexAttr(0),
      /*sizes=*/ArrayRef<OpFoldResult>{elements},
      /*strides=*/ArrayRef<OpFoldResult>{getIndexAttr(1)});
}
Value KernelBuilder::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(*this, memref, indices);
}
void KernelBuilder::store(Value value, Value memref, ValueRange indices) {
  memref::StoreOp::create(*this, value, memref, indices);
}

Value KernelBuilder::loadVector(int64_t lanes, Value memref,
                                ValueRange indices, int64_t align) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  auto type = VectorType::get({lanes}, element);
  int64_t bytes = align ? align : lanes * element.getIntOrFloatBitWidth() / 8;
  return vector::LoadOp::create(*this, type, memref, indices,
                                /*nontemporal=*/false, llvm::MaybeAlign(bytes));
}

void KernelBuilder::storeVector(Value vector, Value memref, ValueRange indices,
                                int64_t align) {
  auto type = cast<VectorType>(vector.getType());
  int64_t bytes =
      align ? align
            : type.getNumElements() *
                  type.getElementType().getIntOrFloatBitWidth() / 8;
  vector::StoreOp::create(*this, vector, memref, indices,
                          /*nontemporal=*/false, llvm::MaybeAlign(bytes));
}

Value KernelBuilder::extract(Value vector, int64_t position) {
  return vector::ExtractOp::create(*this, vector, position);
}
Value KernelBuilder::insert(Value scalar, Value vector, int64_t position) {
  return vector::InsertOp::create(*this, scalar, vector, position);
}

Value KernelBuilder::atomicAdd(Value value, Value memref, ValueRange indices) {
  auto kind = value.getType().isIntOrIndex() ? arith::AtomicRMWKind::addi
                                             : arith::AtomicRMWKind::addf;
  return memref::AtomicRMWOp::create(*this, kind, value, memref, indices);
}

/// The symbol the kernels' dynamic shared memory lowers to.
static constexpr StringLiteral kDynamicSharedSymbol = "__hsa_dynamic_shared";

Value KernelBuilder::dynamicSharedBuffer(ArrayRef<int64_t> shape,
                                        Type elementType, int64_t byteOffset) {
  // convert-gpu-to-nvvm lowers gpu.dynamic_shared_memory to a 16-byte aligned
  // [0 x i8] global in address space 3 of the gpu.module, reusing one that
  // exists. Its own has internal linkage, which the NVPTX backend demotes to
  // a one-byte static `.shared` variable inside the kernel (ptxas then
  // counts it as 16 bytes of static shared memory, and the "dynamic" buffer
  // overlaps the kernel's static buffers). An external one is printed as
  // `.extern .shared .align 16 .b8 __hsa_dynamic_shared[]`: CUDA's dynamic
  // shared memory, placed after the static buffers.
  auto module =
      getInsertionBlock()->getParentOp()->getParentOfType<gpu::GPUModuleOp>();
  if (!module.lookupSymbol(kDynamicSharedSymbol)) {
    auto global = OpBuilder::atBlockBegin(module.getBody());
    LLVM::GlobalOp::create(global, module.getLoc(),
                           LLVM::LLVMArrayType::get(getI8Type(), 0),
                           /*isConstant=*/false, LLVM::Linkage::External,
                           kDynamicSharedSymbol, /*value=*/Attribute(),
                           /*alignment=*/16, /*addrSpace=*/3);
  }
  auto space =
      gpu::AddressSpaceAttr::get(getContext(), gpu::AddressSpace::Workgroup);
  auto bytesType = MemRefType::get({ShapedType::kDynamic}, getI8Type(),
                                   MemRefLayoutAttrInterface(), space);
  Value base = gpu::DynamicSharedMemoryOp::create(*this, bytesType);
  auto viewType =
      MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(), space);
  return memref::ViewOp::create(*this, viewType, base, index(byteOffset),
                                ValueRange{});
}

void KernelBuilder::barrier() { gpu::BarrierOp::create(*this); }

Value KernelBuilder::clusterRank() {
  return NVVM::ClusterId::create(*this, getI32Type());
}

void KernelBuilder::clusterArrive() {
  // .aligned: every thread of the block runs it, in convergence.
  NVVM::ClusterArriveOp::create(*this, /*aligned=*/getUnitAttr());
}

void KernelBuilder::clusterWait() {
  NVVM::ClusterWaitOp::create(*this, /*aligned=*/getUnitAttr());
}

Value KernelBuilder::loadClusterShared(Value buffer, Value index, Value rank) {
  auto shared = LLVM::LLVMPointerType::get(getContext(), 3);
  auto cluster = LLVM::LLVMPointerType::get(getContext(), 7);
  Value base = arith::IndexCastUIOp::create(
      *this, getI64Type(),
      memref::ExtractAlignedPointerAsIndexOp::create(*this, buffer));
  Value address = add(base, mul(arith::IndexCastUIOp::create(
                                    *this, getI64Type(), index),
                                i64(4)));
  Value local = LLVM::IntToPtrOp::create(*this, shared, address);
  Value remote = NVVM::MapaOp::create(*this, cluster, local, rank);
  return LLVM::LoadOp::create(*this, getI32Type(), remote, /*alignment=*/4);
}

void KernelBuilder::warpAggregatedIncrement(Value counts, Value bin,
                                            Value pred) {
  Type i32 = getI32Type();
  // Idle lanes match each other on -1 (no bin) and never write.
  Value tag = select(pred, bin, this->i32(-1));
  Value peers = NVVM::MatchSyncOp::create(*this, i32, this->i32(-1), tag,
                                          NVVM::MatchSyncKind::any);
  Value lower = NVVM::LaneMaskLtOp::create(*this, i32);
  Value leader =
      cmp(arith::CmpIPredicate::eq, andI(peers, lower), this->i32(0));
  ifThen(andI(pred, leader), [&] {
    atomicAdd(LLVM::CtPopOp::create(*this, i32, peers), counts, {toIndex(bin)});
  });
}

void KernelBuilder::fenceDevice() {
  // syncscope "device" is PTX's .gpu scope: the blocks of one kernel only
  // share device memory, so the system scope would wait for nothing more.
  LLVM::FenceOp::create(*this, LLVM::AtomicOrdering::acq_rel, "device");
}

Value KernelBuilder::shuffleXor(Value value, int64_t offset) {
  if (value.getType().isInteger(64)) {
    // Two i32 halves.
    Value lo = toI32(value);
    Value hi = toI32(shrU(value, i64(32)));
    return orI(shl(extU64(shuffleXor(hi, offset)), i64(32)),
               extU64(shuffleXor(lo, offset)));
  }
  return gpu::ShuffleOp::create(*this, value, offset, kWarpSize,
                                gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

Value KernelBuilder::shuffleIdx(Value value, Value src) {
  return gpu::ShuffleOp::create(*this, value, src, i32(kWarpSize),
                                gpu::ShuffleMode::IDX)
      .getShuffleResult();
}

Value KernelBuilder::warpReduce(Value value, WarpReduceKind kind,
                                int64_t width) {
  for (int64_t offset = width / 2; offset > 0; offset /= 2) {
    Value other = shuffleXor(value, offset);
    bool isFloat = isa<FloatType>(value.getType());
    switch (kind) {
    case WarpReduceKind::Sum:
      value = isFloat ? addF(value, other) : add(value, other);
      break;
    case WarpReduceKind::Max:
      value = isFloat ? maxF(value, other) : maxS(value, other);
      break;
    case WarpReduceKind::Min:
      value = isFloat ? minF(value, other) : minS(value, other);
      break;
    }
  }
  return value;
}

Value KernelBuilder::warpInclusiveScan(Value value) {
  Value lane = toI32(laneId());
  for (int64_t offset = 1; offset < kWarpSize; offset *= 2) {
    Value other = gpu::ShuffleOp::create(*this, value, offset, kWarpSize,
                                         gpu::ShuffleMode::UP)
                      .getShuffleResult();
    Value inRange = cmp(arith::CmpIPredicate::sge, lane, i32(offset));
    value = select(inRange, add(value, other), value);
  }
  return value;
}

std::pair<Value, Value> KernelBuilder::argMax(Value v, Value i, Value ov,
                                              Value oi) {
  Value take = orI(cmpF(arith::CmpFPredicate::OGT, ov, v),
                   andI(cmpF(arith::CmpFPredicate::OEQ, ov, v),
                        cmp(arith::CmpIPredicate::slt, oi, i)));
  return {select(take, ov, v), select(take, oi, i)};
}

std::pair<Value, Value> KernelBuilder::warpArgMax(Value v, Value i,
                                                  ArrayRef<int64_t> offsets) {
  for (int64_t offset : offsets)
    std::tie(v, i) =
        argMax(v, i, shuffleXor(v, offset), shuffleXor(i, offset));
  return {v, i};
}

std::pair<Value, Value> KernelBuilder::blockExclusiveScan(Value v,
                                                          Value scratch,
                                                          int64_t warps) {
  using Pred = arith::CmpIPredicate;
  Value lane = laneId(), warp = warpId();
  Value incl = warpInclusiveScan(v);
  ifThen(cmp(Pred::eq, lane, index(kWarpSize - 1)),
         [&] { store(incl, scratch, {warp}); });
  barrier();
  ifThen(cmp(Pred::eq, warp, index(0)), [&] {
    // Lanes past the block's warps scan zeros, and do not read: a clamped
    // read of the last warp's total would race (intra-warp, ordered only
    // by the shuffles) with that lane's store below; racecheck flags it
    // in blocks of fewer than 32 warps (the fused score + top-k tail).
    Value inBlock = cmp(Pred::ult, lane, index(warps));
    Value t = ifThenElse(
        inBlock, {getI32Type()},
        [&]() -> SmallVector<Value> { return {load(scratch, {lane})}; },
        [&]() -> SmallVector<Value> { return {i32(0)}; })[0];
    Value ti = warpInclusiveScan(t);
    ifThen(inBlock, [&] { store(sub(ti, t), scratch, {lane}); });
    ifThen(cmp(Pred::eq, lane, index(kWarpSize - 1)),
           [&] { store(ti, scratch, {index(warps)}); });
  });
  barrier();
  Value excl = add(load(scratch, {warp}), sub(incl, v));
  Value sum = load(scratch, {index(warps)});
  barrier(); // `scratch` is reused by the next call
  return {excl, sum};
}

std::pair<SmallVector<Value>, Value> KernelBuilder::blockExclusiveScanRounds(
    ArrayRef<Value> values, ArrayRef<Value> inclusive, Value warpTotals,
    int64_t warps) {
  using Pred = arith::CmpIPredicate;
  Value lane = laneId(), warp = warpId();
  Value zero = i32(0);
  Value base = zero;
  SmallVector<Value> exclusive;
  for (auto [r, value] : llvm::enumerate(values)) {
    // Lane l holds warp l's total of round r.
    Value total = ifThenElse(
        cmp(Pred::ult, lane, index(warps)), {getI32Type()},
        [&]() -> SmallVector<Value> {
          return {load(warpTotals, {index(r), lane})};
        },
        [&]() -> SmallVector<Value> { return {zero}; })[0];
    Value scanned = warpInclusiveScan(total);
    Value warpI32 = toI32(warp);
    Value before = shuffleIdx(scanned, maxS(sub(warpI32, i32(1)), zero));
    before = select(cmp(Pred::eq, warpI32, zero), zero, before);
    Value roundTotal = shuffleIdx(scanned, i32(kWarpSize - 1));
    exclusive.push_back(add(add(base, before), sub(inclusive[r], value)));
    base = add(base, roundTotal);
  }
  return {exclusive, base};
}

void KernelBuilder::lastArrival(Value counter, ValueRange indices,
                                Value arrival,
                                function_ref<Value()> expectedMinusOne,
                                function_ref<void()> last) {
  using Pred = arith::CmpIPredicate;
  Value tid = threadId();
  // Every thread fences its stores before the barrier, so when thread 0's
  // count is the last, every block's stores are visible.
  fenceDevice();
  barrier();
  ifThen(cmp(Pred::eq, tid, index(0)), [&] {
    store(atomicAdd(i32(1), counter, indices), arrival, {index(0)});
  });
  barrier();
  Value isLast =
      cmp(Pred::eq, load(arrival, {index(0)}), expectedMinusOne());
  ifThen(isLast, [&] {
    fenceDevice();
    last();
    // Ready for the next launch (kernel boundaries order it).
    ifThen(cmp(Pred::eq, tid, index(0)),
           [&] { store(i32(0), counter, indices); });
  });
}

void KernelBuilder::forStrided(Value first, int64_t count, int64_t stride,
                               function_ref<void(int64_t, Value)> body) {
  int64_t rounds = llvm::divideCeil(count, stride);
  for (int64_t k = 0; k < rounds; ++k) {
    Value item = add(first, index(k * stride));
    if ((k + 1) * stride <= count)
      body(k, item);
    else
      ifThen(cmp(arith::CmpIPredicate::ult, item, index(count)),
             [&] { body(k, item); });
  }
}

//===----------------------------------------------------------------------===//
// Bitonic sort
//===----------------------------------------------------------------------===//

/// Keys a warp sorts in registers (two per lane).
static constexpr int64_t kWarpChunk = 2 * kWarpSize;

/// Compare-exchange result for the element at the lower (`isLower`) or upper
/// position of a pair sorted ascending (`ascending`) or descending.
static Value bitonicPick(KernelBuilder &b, Value mine, Value other,
                         Value isLower, Value ascending) {
  Value lo = b.minS(mine, other), hi = b.maxS(mine, other);
  Value keepMin = b.cmp(arith::CmpIPredicate::eq, isLower, ascending);
  return b.select(keepMin, lo, hi);
}

/// Keys the network spans: the compile-time `numKeys`, or `runtimeKeys`
/// (index, block-uniform) where it is given.
struct SortSpan {
  int64_t numKeys;
  Value runtimeKeys;
  /// `numKeys / divisor` as an index value.
  Value over(KernelBuilder &b, int64_t divisor) const {
    return runtimeKeys ? b.divU(runtimeKeys, b.index(divisor))
                       : b.index(numKeys / divisor);
  }
};

/// Bitonic stages (merge size, partner distance <= 32) run in registers: each
/// warp takes 64-key chunks of `keys`, two keys per lane (lane, lane + 32).
static void emitRegisterStages(KernelBuilder &b, Value keys, SortSpan span,
                               int64_t numWarps,
                               ArrayRef<std::pair<int64_t, int64_t>> stages) {
  using Pred = arith::CmpIPredicate;
  Value lane = b.laneId(), warp = b.warpId();
  Value laneI32 = b.toI32(lane);
  Value zeroIdx = b.index(0);
  b.forRange(warp, span.over(b, kWarpChunk), b.index(numWarps),
             [&](Value chunk) {
    Value i0 = b.add(b.mul(chunk, b.index(kWarpChunk)), lane);
    Value i1 = b.add(i0, b.index(kWarpSize));
    Value e0 = b.load(keys, {i0}), e1 = b.load(keys, {i1});
    for (auto [size, dist] : stages) {
      Value asc0 = b.cmp(Pred::eq, b.andI(i0, b.index(size)), zeroIdx);
      if (dist == kWarpSize) {
        // Partners are the lane's own two keys.
        Value lo = b.minS(e0, e1), hi = b.maxS(e0, e1);
        e0 = b.select(asc0, lo, hi);
        e1 = b.select(asc0, hi, lo);
        continue;
      }
      Value asc1 = b.cmp(Pred::eq, b.andI(i1, b.index(size)), zeroIdx);
      Value isLower =
          b.cmp(Pred::eq, b.andI(laneI32, b.i32(dist)), b.i32(0));
      Value o0 = b.shuffleXor(e0, dist), o1 = b.shuffleXor(e1, dist);
      e0 = bitonicPick(b, e0, o0, isLower, asc0);
      e1 = bitonicPick(b, e1, o1, isLower, asc1);
    }
    b.store(e0, keys, {i0});
    b.store(e1, keys, {i1});
  });
  b.barrier();
}

/// One bitonic stage with partner distance `dist` >= 64 through shared
/// memory: thread t handles pairs t, t + T, ...
static void emitSharedStage(KernelBuilder &b, Value keys, SortSpan span,
                            int64_t threads, int64_t size, int64_t dist) {
  b.forRange(b.threadId(), span.over(b, 2), b.index(threads),
             [&](Value pair) {
    Value i = b.add(b.mul(b.divU(pair, b.index(dist)), b.index(2 * dist)),
                    b.remU(pair, b.index(dist)));
    Value j = b.add(i, b.index(dist));
    Value asc = b.cmp(arith::CmpIPredicate::eq, b.andI(i, b.index(size)),
                      b.index(0));
    Value x = b.load(keys, {i}), y = b.load(keys, {j});
    Value lo = b.minS(x, y), hi = b.maxS(x, y);
    b.store(b.select(asc, lo, hi), keys, {i});
    b.store(b.select(asc, hi, lo), keys, {j});
  });
  b.barrier();
}

/// The bitonic network over `span`'s keys: merge sizes up to `maxKeys`, each
/// size above 64 guarded by `size <= runtimeKeys` where the span is a
/// runtime one.
static void emitBitonicNetwork(KernelBuilder &b, Value keys, SortSpan span,
                               int64_t maxKeys, int64_t threads) {
  int64_t numWarps = threads / kWarpSize;
  // Merge sizes up to 64 entirely within each warp's chunks.
  SmallVector<std::pair<int64_t, int64_t>> stages;
  for (int64_t size = 2; size <= kWarpChunk; size *= 2)
    for (int64_t dist = size / 2; dist >= 1; dist /= 2)
      stages.push_back({size, dist});
  emitRegisterStages(b, keys, span, numWarps, stages);
  for (int64_t size = 2 * kWarpChunk; size <= maxKeys; size *= 2) {
    auto merge = [&, size] {
      for (int64_t dist = size / 2; dist >= kWarpChunk; dist /= 2)
        emitSharedStage(b, keys, span, threads, size, dist);
      SmallVector<std::pair<int64_t, int64_t>> registerStages;
      for (int64_t dist = kWarpSize; dist >= 1; dist /= 2)
        registerStages.push_back({size, dist});
      emitRegisterStages(b, keys, span, numWarps, registerStages);
    };
    if (span.runtimeKeys)
      b.ifThen(b.cmp(arith::CmpIPredicate::ule, b.index(size),
                     span.runtimeKeys),
               merge);
    else
      merge();
  }
}

void KernelBuilder::blockBitonicSort(Value keys, int64_t numKeys,
                                     int64_t threads) {
  emitBitonicNetwork(*this, keys, SortSpan{numKeys, Value()}, numKeys,
                     threads);
}

void KernelBuilder::blockBitonicSortPrefix(Value keys, Value numKeys,
                                           int64_t maxKeys, int64_t threads) {
  assert(llvm::isPowerOf2_64(maxKeys) && maxKeys >= kWarpChunk);
  emitBitonicNetwork(*this, keys, SortSpan{maxKeys, numKeys}, maxKeys,
                     threads);
}

//===----------------------------------------------------------------------===//
// KernelContext
//===----------------------------------------------------------------------===//

MemRefType mlir::hsa::stripTier(MemRefType type) {
  return MemRefType::get(type.getShape(), type.getElementType(),
                         type.getLayout());
}

static constexpr StringLiteral kKernelModuleName = "hsa_kernels";

KernelContext::KernelContext(ModuleOp module, KernelOptions options)
    : options(options) {
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName);
  if (!kernels) {
    auto builder = OpBuilder::atBlockEnd(module.getBody());
    kernels = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                       kKernelModuleName);
  }
}

gpu::GPUFuncOp KernelContext::getOrCreateKernel(
    StringRef name, ValueRange operands, ArrayRef<int64_t> blockSize,
    function_ref<void(KernelBuilder &, gpu::GPUFuncOp)> build) {
  SmallVector<Type> argTypes;
  for (Value operand : operands) {
    Type type = operand.getType();
    if (auto memref = dyn_cast<MemRefType>(type))
      type = stripTier(memref);
    argTypes.push_back(type);
  }
  MLIRContext *ctx = kernels.getContext();
  // One kernel per (name, argument types): two uses of a stage whose operand
  // types differ (e.g. static vs dynamic dims) get separate kernels.
  std::string unique = name.str();
  for (int variant = 1;; ++variant) {
    auto existing = kernels.lookupSymbol<gpu::GPUFuncOp>(unique);
    if (!existing)
      break;
    if (existing.getArgumentTypes() == ArrayRef<Type>(argTypes))
      return existing;
    unique = (name + "_" + Twine(variant)).str();
  }
  name = unique;
  auto builder = OpBuilder::atBlockEnd(kernels.getBody());
  auto kernel = gpu::GPUFuncOp::create(builder, kernels.getLoc(), name,
                                       FunctionType::get(ctx, argTypes, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  SmallVector<int32_t> block(blockSize.begin(), blockSize.end());
  block.resize(3, 1);
  kernel.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(ctx, block));
  // Every buffer argument is 16-byte aligned (the runtime allocates them so),
  // which the vector loads rely on.
  Block &entry = kernel.getBody().front();
  KernelBuilder body(kernel.getLoc(), OpBuilder::atBlockEnd(&entry));
  build(body, kernel);
  gpu::ReturnOp::create(body);
  return kernel;
}

void KernelContext::launch(Operation *op, gpu::GPUFuncOp kernel,
                           const LaunchShape &shape, ValueRange operands) {
  launchBefore(op, kernel, shape, operands);
  op->erase();
}

void KernelContext::launchBefore(Operation *op, gpu::GPUFuncOp kernel,
                                 const LaunchShape &shape,
                                 ValueRange operands) {
  OpBuilder builder(op);
  Location loc = op->getLoc();
  SmallVector<Value> args;
  for (Value operand : operands) {
    if (auto type = dyn_cast<MemRefType>(operand.getType());
        type && type.getMemorySpace())
      operand = memref::MemorySpaceCastOp::create(builder, loc,
                                                  stripTier(type), operand);
    args.push_back(operand);
  }
  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  gpu::KernelDim3 grid{shape.gridX, shape.gridY ? shape.gridY : c(1),
                       shape.gridZ ? shape.gridZ : c(1)};
  gpu::KernelDim3 block{c(shape.blockX), c(shape.blockY), c(shape.blockZ)};
  Value dynamicShared;
  if (shape.dynamicSharedBytes > 0)
    dynamicShared = arith::ConstantOp::create(
        builder, loc, builder.getI32IntegerAttr(shape.dynamicSharedBytes));
  gpu::LaunchFuncOp::create(builder, loc, kernel, grid, block, dynamicShared,
                            args);
}

llvm::raw_ostream &KernelContext::planStream() { return llvm::outs(); }

FailureOr<Value> KernelContext::scratchBuffer(Operation *op, LayerOp layer,
                                              const BufferSpec &spec) {
  if (failed(layer.declareKernelBuffer(spec)))
    return op->emitOpError()
           << "cannot declare the kernel buffer '" << spec.name << "' on layer '"
           << layer.getSymName() << "': it has a buffer of that name with "
           << "another shape";
  OpBuilder builder(op);
  return StateOp::create(builder, op->getLoc(), Type(getBufferType(spec)),
                         layer.getSymName(), spec.name)
      .getResult();
}

FailureOr<Value> KernelContext::layerBuffer(Operation *op, LayerOp layer,
                                            StringRef name) {
  FailureOr<BufferSpec> spec = layer.getStateBuffer(name);
  if (failed(spec))
    return op->emitOpError() << "cannot be lowered: layer '"
                             << layer.getSymName() << "' has no buffer '"
                             << name << "'";
  OpBuilder builder(op);
  return StateOp::create(builder, op->getLoc(), Type(getBufferType(*spec)),
                         layer.getSymName(), spec->name)
      .getResult();
}

int64_t KernelContext::sharedBytes(gpu::GPUFuncOp kernel) {
  int64_t bytes = 0;
  for (auto [i, buffer] : llvm::enumerate(kernel.getWorkgroupAttributions())) {
    auto type = cast<MemRefType>(buffer.getType());
    int64_t alignment = 16;
    if (auto attr = kernel.getWorkgroupAttributionAttr(
            i, LLVM::LLVMDialect::getAlignAttrName()))
      alignment = cast<IntegerAttr>(attr).getInt();
    bytes = llvm::alignTo(bytes, alignment) +
            type.getNumElements() * type.getElementTypeBitWidth() / 8;
  }
  return bytes;
}

Value KernelContext::addSharedBuffer(gpu::GPUFuncOp kernel,
                                     ArrayRef<int64_t> shape,
                                     Type elementType, int64_t alignment) {
  assert(alignment >= 16 && llvm::isPowerOf2_64(alignment));
  auto space = gpu::AddressSpaceAttr::get(kernel.getContext(),
                                          gpu::AddressSpace::Workgroup);
  auto type = MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(),
                              space);
  BlockArgument buffer = kernel.addWorkgroupAttribution(type, kernel.getLoc());
  // At least 16-byte alignment, so shared-memory vector accesses are legal.
  kernel.setWorkgroupAttributionAttr(
      buffer.getArgNumber() - kernel.getNumArguments(),
      LLVM::LLVMDialect::getAlignAttrName(),
      IntegerAttr::get(IntegerType::get(kernel.getContext(), 64), alignment));
  return buffer;
}

LayerOp mlir::hsa::getLayer(Operation *op) {
  auto ref = op->getAttrOfType<FlatSymbolRefAttr>("layer");
  return SymbolTable::lookupNearestSymbolFrom<LayerOp>(op, ref);
}

std::string mlir::hsa::kernelName(LayerOp layer, StringRef stage) {
  return (layer.getSymName() + "_" + stage).str();
}

void KernelContext::setClusterBlocks(gpu::GPUFuncOp kernel, int64_t blocks) {
  kernel->setAttr(NVVM::NVVMDialect::getClusterDimAttrName(),
                  DenseI32ArrayAttr::get(kernel.getContext(),
                                         {int32_t(blocks), 1, 1}));
}

void KernelContext::setMinBlocksPerSM(gpu::GPUFuncOp kernel, int64_t blocks) {
  kernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                  IntegerAttr::get(IntegerType::get(kernel.getContext(), 32),
                                   blocks));
}
