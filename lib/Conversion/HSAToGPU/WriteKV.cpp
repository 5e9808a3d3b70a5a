//===- WriteKV.cpp - append/prefill kernels: store_kv, update/rebuild_repr ===//
//
// The runtime writes appended and prompt tokens to the host pool itself
// (docs/RUNTIME.md); these kernels keep the device side in step. `lengths`
// is req.length: for append, the index of the token being appended; for
// prefill, the new length. Slots of length 0 are free and skipped.
//
// store_kv, grid (B), 128 threads: thread item i of request b covers 8 dims
// (one 16-byte vector) of one KV head of the appended token (keys, then
// values). When the token's unit t / P is resident in a slot of the head's
// group (buf.unit_slot), the vector goes to row t % P of that slot.
//
// update_repr (Quest), grid (B, ceil(Hkv * D/8 / 128)), 128 threads: one
// thread per 8 key dims of one KV head folds the appended key into the
// min/max bounds of unit t / P; a unit whose first token this is (t % P ==
// 0) starts at the key, so stale bounds never leak in.
//
// rebuild_repr (Quest), grid (ceil(N * Hkv * D/8 / 128), B), 128 threads:
// one thread per (unit, KV head, 8 key dims) recomputes the unit's min/max
// from its host page, read zero-copy through the mapped pool's device
// address. Consecutive threads cover consecutive dims, then heads, of one
// unit, so a warp's load at token row p touches two 256-byte runs. A thread
// issues its P 16-byte row loads in batches of up to 8 before folding
// them; rows past the last token of a partial unit re-read the last token
// (no guard, no effect on min/max). Units past the length or without a page
// (page_of == -1) are skipped and keep their old bounds.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kWriteBlock = 128;
/// 16-byte host loads a rebuild thread issues before folding them.
static constexpr int64_t kRebuildInFlight = 8;

static LogicalResult requireQuest(Operation *op, LayerOp layer) {
  if (!isa<QuestAttr>(layer.getAlgorithm()))
    return op->emitOpError() << "has no kernel for algorithm '"
                             << layer.getAlgorithm().getAlgorithmName() << "'";
  return success();
}

LogicalResult mlir::hsa::lowerStoreKV(KernelContext &ctx, StoreKVOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads(), hu = config.getHeadsPerUnit();
  const int64_t pageSize = config.getPageSize();
  const int64_t capacity = layer.getBuffer().getCapacity();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t keyVectors = config.getKeyDim() / lanes;
  const int64_t valueVectors = config.getValueDim() / lanes;
  // The verifier guarantees values exactly for non-latent layers.
  const bool hasValues = static_cast<bool>(op.getValues());

  SmallVector<Value> operands = {op.getKeys(), op.getLengths(),
                                 op.getUnitSlot(), op.getDeviceKeys()};
  if (hasValues)
    llvm::append_values(operands, op.getValues(), op.getDeviceValues());

  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "store_kv"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        auto arg = [&](unsigned i) { return fn.getArgument(i); };
        Value newKeys = arg(0), lengths = arg(1), unitSlot = arg(2),
              bufKeys = arg(3);
        Value batch = b.blockId(gpu::Dimension::x);
        Value length = b.load(lengths, {batch});
        Value unit = b.divU(b.toIndex(length), b.index(pageSize));
        Value units = memref::DimOp::create(b, unitSlot, 2);
        // Length 0: a free slot. A unit past N cannot be resident.
        Value active = b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                              b.cmp(Pred::ult, unit, units));
        b.ifThen(active, [&] {
          Value row = b.remU(b.toIndex(length), b.index(pageSize));
          auto copyRows = [&](Value src, Value dev, int64_t vectors) {
            b.forRange(b.threadId(), b.index(hkv * vectors),
                       b.index(kWriteBlock), [&](Value item) {
              Value head = b.divU(item, b.index(vectors));
              Value col = b.mul(b.remU(item, b.index(vectors)), b.index(lanes));
              Value group = b.divU(head, b.index(hu));
              Value slot = b.load(unitSlot, {batch, group, unit});
              Value resident = b.andI(b.cmp(Pred::sge, slot, b.i32(0)),
                                      b.cmp(Pred::slt, slot, b.i32(capacity)));
              b.ifThen(resident, [&] {
                Value v = b.loadVector(lanes, src, {batch, head, col});
                b.storeVector(v, dev, {batch, group, b.toIndex(slot),
                                       b.remU(head, b.index(hu)), row, col});
              });
            });
          };
          copyRows(newKeys, bufKeys, keyVectors);
          if (hasValues)
            copyRows(arg(4), arg(5), valueVectors);
        });
      });

  OpBuilder builder(op);
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, op.getLoc(), op.getKeys(), 0);
  shape.blockX = kWriteBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}

LogicalResult mlir::hsa::lowerUpdateRepr(KernelContext &ctx, UpdateReprOp op) {
  LayerOp layer = getLayer(op);
  if (failed(requireQuest(op, layer)))
    return failure();
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads();
  const int64_t pageSize = config.getPageSize();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t vectors = config.getKeyDim() / lanes;
  const int64_t items = hkv * vectors;

  SmallVector<Value> operands = {op.getKeys(), op.getLengths(),
                                 op.getReprs()[0], op.getReprs()[1]};
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "update_repr"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        Value newKeys = fn.getArgument(0), lengths = fn.getArgument(1),
              kmin = fn.getArgument(2), kmax = fn.getArgument(3);
        Value batch = b.blockId(gpu::Dimension::x);
        Value item = b.add(b.mul(b.blockId(gpu::Dimension::y),
                                 b.index(kWriteBlock)),
                           b.threadId());
        Value length = b.load(lengths, {batch});
        Value pos = b.toIndex(length);
        Value unit = b.divU(pos, b.index(pageSize));
        Value units = memref::DimOp::create(b, kmin, 2);
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
  ctx.launch(op, kernel, shape, operands);
  return success();
}

LogicalResult mlir::hsa::lowerRebuildRepr(KernelContext &ctx,
                                          RebuildReprOp op) {
  LayerOp layer = getLayer(op);
  if (failed(requireQuest(op, layer)))
    return failure();
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads();
  const int64_t pageSize = config.getPageSize();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  const int64_t vectors = config.getKeyDim() / lanes;
  const int64_t perUnit = hkv * vectors;
  const int64_t inFlight = std::min(pageSize, kRebuildInFlight);
  const int64_t batches = llvm::divideCeil(pageSize, inFlight);

  SmallVector<Value> operands = {op.getLengths(), op.getPageOf(),
                                 op.getHostKeys(), op.getReprs()[0],
                                 op.getReprs()[1]};
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "rebuild_repr"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        Value lengths = fn.getArgument(0), pageOf = fn.getArgument(1),
              hostKeys = fn.getArgument(2), kmin = fn.getArgument(3),
              kmax = fn.getArgument(4);
        Value batch = b.blockId(gpu::Dimension::y);
        Value item = b.add(b.mul(b.blockId(gpu::Dimension::x),
                                 b.index(kWriteBlock)),
                           b.threadId());
        Value unit = b.divU(item, b.index(perUnit));
        Value units = memref::DimOp::create(b, kmin, 2);
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
            auto f32Type = VectorType::get({lanes}, b.getF32Type());
            auto splat = [&](float value) -> Value {
              return arith::ConstantOp::create(
                  b, f32Type, DenseElementsAttr::get(f32Type, value));
            };
            SmallVector<Value> init = {
                splat(std::numeric_limits<float>::infinity()),
                splat(-std::numeric_limits<float>::infinity())};
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
  ctx.launch(op, kernel, shape, operands);
  return success();
}
