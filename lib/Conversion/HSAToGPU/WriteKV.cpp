//===- WriteKV.cpp - append/update kernels: store_kv, update_repr ---------===//
//
// store_kv: one block per (request, new token) writes the token's K/V rows to
// its host page (mapped pinned memory, written through its device address)
// and, when the unit is resident, to its slot in the device buffer.
//
// update_repr (Quest): one thread per 8 key dims of one KV head and unit
// folds the unit's new keys into its min/max bounds. A unit whose first token
// is new starts from that token, so stale bounds never leak in.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kWriteBlock = 128;

LogicalResult mlir::hsa::lowerStoreKV(KernelContext &ctx, StoreKVOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads(), hu = config.getHeadsPerUnit();
  const int64_t pageSize = config.getPageSize();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t keyVectors = config.getKeyDim() / lanes;
  const int64_t valueVectors = config.getValueDim() / lanes;
  const bool hasValues = !config.isLatent();

  SmallVector<Value> operands = {op.getKeys(), op.getCounts(), op.getLengths(),
                                 op.getPageOf(), op.getUnitSlot(),
                                 op.getHostKeys(), op.getDeviceKeys()};
  if (hasValues)
    llvm::append_values(operands, op.getValues(), op.getHostValues(),
                        op.getDeviceValues());

  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "store_kv"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        auto arg = [&](unsigned i) { return fn.getArgument(i); };
        Value newKeys = arg(0), counts = arg(1), lengths = arg(2),
              pageOf = arg(3), unitSlot = arg(4), hostKeys = arg(5),
              bufKeys = arg(6);
        Value batch = b.blockId(gpu::Dimension::x);
        Value token = b.blockId(gpu::Dimension::y);
        Value count = b.toIndex(b.load(counts, {batch}));
        b.ifThen(b.cmp(Pred::ult, token, count), [&] {
          Value pos = b.add(b.toIndex(b.load(lengths, {batch})), token);
          Value unit = b.divU(pos, b.index(pageSize));
          Value row = b.remU(pos, b.index(pageSize));
          Value page = b.load(pageOf, {batch, unit});
          // Pages are allocated by the runtime before the write; a missing
          // page means the request outgrew its allocation: write nothing.
          b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
            Value pageIdx = b.toIndex(page);
            auto copyRows = [&](Value src, Value host, Value dev,
                                int64_t vectors) {
              b.forRange(b.threadId(), b.index(hkv * vectors),
                         b.index(kWriteBlock), [&](Value item) {
                Value head = b.divU(item, b.index(vectors));
                Value col = b.mul(b.remU(item, b.index(vectors)),
                                  b.index(lanes));
                Value v = b.loadVector(lanes, src, {batch, token, head, col});
                b.storeVector(v, host, {pageIdx, head, row, col});
                Value group = b.divU(head, b.index(hu));
                Value slot = b.load(unitSlot, {batch, group, unit});
                b.ifThen(b.cmp(Pred::sge, slot, b.i32(0)), [&] {
                  b.storeVector(v, dev, {batch, group, b.toIndex(slot),
                                         b.remU(head, b.index(hu)), row, col});
                });
              });
            };
            copyRows(newKeys, hostKeys, bufKeys, keyVectors);
            if (hasValues)
              copyRows(arg(7), arg(8), arg(9), valueVectors);
          });
        });
      });

  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getKeys(), 0);
  shape.gridY = memref::DimOp::create(builder, loc, op.getKeys(), 1);
  shape.blockX = kWriteBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}

LogicalResult mlir::hsa::lowerUpdateRepr(KernelContext &ctx, UpdateReprOp op) {
  LayerOp layer = getLayer(op);
  if (!isa<QuestAttr>(layer.getAlgorithm()))
    return op.emitOpError() << "has no kernel for algorithm '"
                            << layer.getAlgorithm().getAlgorithmName() << "'";
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads();
  const int64_t pageSize = config.getPageSize();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t vectors = config.getKeyDim() / lanes;
  const int64_t items = hkv * vectors;

  SmallVector<Value> operands = {op.getKeys(), op.getCounts(), op.getLengths(),
                                 op.getReprs()[0], op.getReprs()[1]};
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "update_repr"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        Value newKeys = fn.getArgument(0), counts = fn.getArgument(1),
              lengths = fn.getArgument(2), kmin = fn.getArgument(3),
              kmax = fn.getArgument(4);
        Value batch = b.blockId(gpu::Dimension::x);
        Value item = b.add(b.mul(b.blockId(gpu::Dimension::y),
                                 b.index(kWriteBlock)),
                           b.threadId());
        Value count = b.toIndex(b.load(counts, {batch}));
        Value first = b.toIndex(b.load(lengths, {batch}));
        Value end = b.add(first, count);
        Value unit = b.add(b.divU(first, b.index(pageSize)),
                           b.blockId(gpu::Dimension::z));
        Value unitStart = b.mul(unit, b.index(pageSize));
        Value valid = b.andI(b.cmp(Pred::ult, item, b.index(items)),
                             b.cmp(Pred::ult, unitStart, end));
        b.ifThen(valid, [&] {
          Value head = b.divU(item, b.index(vectors));
          Value col = b.mul(b.remU(item, b.index(vectors)), b.index(lanes));
          Value lo = b.maxS(unitStart, first);
          Value hi = b.minS(b.add(unitStart, b.index(pageSize)), end);
          // Start from the stored bounds when the unit already holds tokens,
          // else from the first new key.
          Value seed = b.toF32(b.loadVector(
              lanes, newKeys, {batch, b.sub(lo, first), head, col}));
          Value hasOld = b.cmp(Pred::ult, unitStart, first);
          SmallVector<Value> init = b.ifThenElse(
              hasOld, {seed.getType(), seed.getType()},
              [&]() -> SmallVector<Value> {
                return {b.toF32(b.loadVector(lanes, kmin, {batch, head, unit, col})),
                        b.toF32(b.loadVector(lanes, kmax, {batch, head, unit, col}))};
              },
              [&]() -> SmallVector<Value> { return {seed, seed}; });
          SmallVector<Value> bounds = b.forRange(
              lo, hi, b.index(1), init,
              [&](Value pos, ValueRange acc) -> SmallVector<Value> {
                Value key = b.toF32(b.loadVector(
                    lanes, newKeys, {batch, b.sub(pos, first), head, col}));
                return {b.minF(acc[0], key), b.maxF(acc[1], key)};
              });
          Type storeType = VectorType::get({lanes}, config.getKvDtype());
          b.storeVector(b.truncTo(storeType, bounds[0]), kmin,
                        {batch, head, unit, col});
          b.storeVector(b.truncTo(storeType, bounds[1]), kmax,
                        {batch, head, unit, col});
        });
      });

  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  // Units touched by up to T new tokens starting anywhere in a unit.
  Value tokens = memref::DimOp::create(builder, loc, op.getKeys(), 1);
  Value touched = arith::AddIOp::create(
      builder, loc, arith::DivUIOp::create(builder, loc, tokens, c(pageSize)),
      c(2));
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getKeys(), 0);
  shape.gridY = c((items + kWriteBlock - 1) / kWriteBlock);
  shape.gridZ = touched;
  shape.blockX = kWriteBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}
