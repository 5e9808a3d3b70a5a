//===- WriteKV.cpp - append kernel: store_kv ----------------------------===//
//
// The runtime writes prompt tokens to the host pool itself (docs/RUNTIME.md);
// an appended token is written there by store_kv, so an append can take its
// K/V from device memory. `lengths` is req.length: for append, the index of
// the token being appended; for prefill, the new length. Slots of length 0
// are free and skipped.
//
// store_kv, grid (B), 128 threads: thread item i of request b covers 8 dims
// (one 16-byte vector) of one KV head of the appended token (keys, then
// values). The vector goes to row t % P of the token's host page
// (host.page_of, through the pool's mapped address) and, when the token's
// unit t / P is resident in a slot of the head's group (buf.unit_slot), to
// row t % P of that slot.
//
// The representation kernels of append (update_repr) and prefill
// (rebuild_repr) belong to each algorithm's package (Algorithms/<Name>.cpp),
// reached through its AlgorithmKernelsAttrInterface model (Score.cpp).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kWriteBlock = 128;

namespace {
/// The kernel's arguments, in order (values absent for latent layers).
struct StoreKVArgs {
  Value newKeys, lengths, unitSlot, bufKeys, newValues, bufValues;
  Value pageOf, hostKeys, hostValues; // absent: the host pool is not written
  SmallVector<Value *> fields() {
    return {&newKeys,   &lengths, &unitSlot, &bufKeys,   &newValues,
            &bufValues, &pageOf,  &hostKeys, &hostValues};
  }
};

/// One block per request; a thread per 16-byte vector of one KV head of the
/// appended token's key (then value) row.
struct StoreKVPlan {
  int64_t keyItems, valueItems;
  bool writesHost;
  void print(raw_ostream &os) const {
    os << "grid (B) block " << kWriteBlock << "; key vectors " << keyItems
       << ", value vectors " << valueItems
       << (writesHost ? "; host pool and resident slot"
                      : "; resident slot only");
  }
};
} // namespace

LogicalResult mlir::hsa::lowerStoreKV(KernelContext &ctx, StoreKVOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  const int64_t hkv = config.getKvHeads(), hu = config.getHeadsPerUnit();
  const int64_t pageSize = config.getPageSize();
  const int64_t capacity = layer.getBuffer().getCapacity();
  const int64_t lanes = kVectorBytes / config.getElementBytes();
  // A key row as stored (fp8 latent rows: their bytes, copied as they are).
  const int64_t keyVectors = config.getKeyRowElements() / lanes;
  const int64_t valueVectors = config.getValueDim() / lanes;
  // The verifier guarantees values exactly for non-latent layers.
  const bool hasValues = static_cast<bool>(op.getValues());
  const bool writesHost = static_cast<bool>(op.getPageOf());
  const StoreKVPlan plan{hkv * keyVectors, hasValues ? hkv * valueVectors : 0,
                         writesHost};

  const StoreKVArgs launchArgs{
      op.getKeys(),         op.getLengths(), op.getUnitSlot(),
      op.getDeviceKeys(),   op.getValues(),  op.getDeviceValues(),
      op.getPageOf(),       op.getHostKeys(), op.getHostValues()};
  SmallVector<Value> operands = kernelOperands(launchArgs);

  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "store_kv"), operands, {kWriteBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        StoreKVArgs args = kernelArguments(fn, launchArgs);
        Value newKeys = args.newKeys, lengths = args.lengths,
              unitSlot = args.unitSlot, bufKeys = args.bufKeys;
        Value batch = b.blockId(gpu::Dimension::x);
        Value length = b.load(lengths, {batch});
        Value unit = b.divU(b.toIndex(length), b.index(pageSize));
        Value units = b.dim(unitSlot, 2);
        // Length 0: a free slot. A unit past N cannot be resident.
        Value active = b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                              b.cmp(Pred::ult, unit, units));
        b.ifThen(active, [&] {
          Value row = b.remU(b.toIndex(length), b.index(pageSize));
          // The host page of the token's unit (-1: none allocated).
          Value page = writesHost ? b.load(args.pageOf, {batch, unit}) : Value();
          auto copyRows = [&](Value src, Value dev, Value host,
                              int64_t vectors) {
            b.forRange(b.threadId(), b.index(hkv * vectors),
                       b.index(kWriteBlock), [&](Value item) {
              Value head = b.divU(item, b.index(vectors));
              Value col = b.mul(b.remU(item, b.index(vectors)), b.index(lanes));
              Value group = b.divU(head, b.index(hu));
              Value v = b.loadVector(lanes, src, {batch, head, col});
              if (host)
                b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
                  b.storeVector(v, host, {b.toIndex(page), head, row, col});
                });
              Value slot = b.load(unitSlot, {batch, group, unit});
              Value resident = b.andI(b.cmp(Pred::sge, slot, b.i32(0)),
                                      b.cmp(Pred::slt, slot, b.i32(capacity)));
              b.ifThen(resident, [&] {
                b.storeVector(v, dev, {batch, group, b.toIndex(slot),
                                       b.remU(head, b.index(hu)), row, col});
              });
            });
          };
          copyRows(newKeys, bufKeys, args.hostKeys, keyVectors);
          if (hasValues)
            copyRows(args.newValues, args.bufValues, args.hostValues,
                     valueVectors);
        });
      });

  OpBuilder builder(op);
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, op.getLoc(), op.getKeys(), 0);
  shape.blockX = kWriteBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}
