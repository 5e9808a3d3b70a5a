//===- PageTable.cpp - page_table kernel: tables for external attention ---===//
//
// The exported page tables of a layer's format (HSAFormats.cpp), written from
// the step's selection so that an external attention kernel (FlashAttention,
// FlashInfer, FlashMLA) can read hsa's resident buffer. The buffer is viewed
// as blocks of one unit: block (b * S + g) * C + slot of buf.k [B][S][C]...
// Row (b, g) selected k = min(K, ceil(L[b] / P)) units (top-k's count), in
// ascending unit order, the last of which may be partial.
//
// page_table, grid (S, B), 256 threads: threads stride over the row's K (or
// K * P) entries.
//  * flash_attn_block_table (S = 1): fa.block_table[b][i] = b * C +
//    sel.slots[b][0][i] for i < k, else -1; thread 0 writes fa.seqlens[b] =
//    (k - 1) * P + tokens of the last selected unit (0 when k = 0).
//  * flashinfer_csr (S = 1): fi.indptr[b] is the sum of the earlier rows'
//    k (each block sums them itself: a block-wide sum over b' < b), the
//    blocks go to fi.indices[indptr[b] + i] (packed, as CSR takes them),
//    fi.last_page_len[b] the last selected unit's tokens (0 when k = 0); the
//    last row's block also writes fi.indptr[B].
//  * token_indices: tok.indices[b][g][i * P + p] = block * P + p for token p
//    of the i-th selected unit when i < k and the token lies in the context,
//    else -1.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

static constexpr int64_t kPageTableBlock = 256;

namespace {
enum class TableFormat { FlashAttention, FlashInfer, TokenIndices };

/// The kernel's arguments, in order: the selection, then the format's
/// tables in the order it lists them.
struct PageTableArgs {
  Value units, slots, lengths, table0, table1, table2;
  SmallVector<Value *> fields() {
    return {&units, &slots, &lengths, &table0, &table1, &table2};
  }
};

struct PageTablePlan {
  StringRef format;
  int64_t groups, budget, capacity, pageSize;
  void print(raw_ostream &os) const {
    os << "grid (" << groups << " groups, B) block " << kPageTableBlock
       << "; format " << format << ", K " << budget << ", C " << capacity
       << ", P " << pageSize;
  }
};
} // namespace

LogicalResult mlir::hsa::lowerPageTable(KernelContext &ctx, PageTableOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  Attribute formatAttr = layer.getFormat();
  std::optional<TableFormat> format =
      TypeSwitch<Attribute, std::optional<TableFormat>>(formatAttr)
          .Case([](FlashAttnBlockTableAttr) {
            return TableFormat::FlashAttention;
          })
          .Case([](FlashInferCSRAttr) { return TableFormat::FlashInfer; })
          .Case([](TokenIndicesAttr) { return TableFormat::TokenIndices; })
          .Default([](Attribute) { return std::nullopt; });
  if (!format)
    return op.emitOpError() << "has no page-table kernel for format '"
                            << layer.getFormat().getFormatName() << "'";
  // The verifier bound the tables to the format's (page_table_contract.h).
  const ValueRange tables = op.getTables();
  const PageTablePlan plan{layer.getFormat().getFormatName(),
                           int64_t(config.getSelectionGroups()),
                           int64_t(layer.getBudget()),
                           int64_t(layer.getBuffer().getCapacity()),
                           int64_t(config.getPageSize())};
  const int64_t groups = plan.groups, budget = plan.budget,
                capacity = plan.capacity, pageSize = plan.pageSize;

  PageTableArgs launchArgs{op.getUnits(), op.getSlots(), op.getLengths(),
                           tables[0], Value(), Value()};
  if (tables.size() > 1)
    launchArgs.table1 = tables[1];
  if (tables.size() > 2)
    launchArgs.table2 = tables[2];
  SmallVector<Value> operands = kernelOperands(launchArgs);
  const int64_t warps = kPageTableBlock / kWarpSize;

  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "page_table"), operands, {kPageTableBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        PageTableArgs args = kernelArguments(fn, launchArgs);
        Value group = b.blockId(gpu::Dimension::x);
        Value batch = b.blockId(gpu::Dimension::y);
        Value tid = b.threadId();
        Value block = b.index(kPageTableBlock);
        Value isThread0 = b.cmp(Pred::eq, tid, b.index(0));
        // Units the top-k selected for a row of `length` tokens.
        auto selectedOf = [&](Value length) {
          return b.minS(b.ceilDivU(b.toIndex(b.maxS(length, b.i32(0))),
                                   b.index(pageSize)),
                        b.index(budget));
        };
        Value length = b.load(args.lengths, {batch});
        Value k = selectedOf(length);
        // The resident block of entry i of this row.
        auto blockOf = [&](Value i) {
          Value slot = b.toIndex(b.load(args.slots, {batch, group, i}));
          return b.add(b.mul(b.add(b.mul(batch, b.index(groups)), group),
                             b.index(capacity)),
                       slot);
        };
        // Tokens of the row's last selected unit (k > 0).
        auto lastTokens = [&]() {
          Value last = b.toIndex(b.load(
              args.units, {batch, group, b.sub(b.maxS(k, b.index(1)),
                                               b.index(1))}));
          Value start = b.mul(last, b.index(pageSize));
          return b.minS(b.index(pageSize),
                        b.sub(b.toIndex(length), b.minS(start,
                                                        b.toIndex(length))));
        };
        Value hasAny = b.cmp(Pred::ugt, k, b.index(0));
        Value lastLen =
            b.select(hasAny, lastTokens(), b.index(0)); // index

        switch (*format) {
        case TableFormat::FlashAttention: {
          b.forRange(tid, b.index(budget), block, [&](Value i) {
            Value entry = b.ifThenElse(
                b.cmp(Pred::ult, i, k), {b.getI32Type()},
                [&]() -> SmallVector<Value> { return {b.toI32(blockOf(i))}; },
                [&]() -> SmallVector<Value> { return {b.i32(-1)}; })[0];
            b.store(entry, args.table0, {batch, i});
          });
          b.ifThen(isThread0, [&] {
            Value seqlen = b.select(
                hasAny,
                b.add(b.mul(b.sub(b.maxS(k, b.index(1)), b.index(1)),
                            b.index(pageSize)),
                      lastLen),
                b.index(0));
            b.store(b.toI32(seqlen), args.table1, {batch});
          });
          break;
        }
        case TableFormat::FlashInfer: {
          // indptr[b]: the earlier rows' counts, summed by this block.
          Value scan =
              KernelContext::addSharedBuffer(fn, {warps + 1}, b.getI32Type());
          Value mine = b.forRange(
              tid, batch, block, {b.i32(0)},
              [&](Value r, ValueRange acc) -> SmallVector<Value> {
                return {b.add(acc[0],
                              b.toI32(selectedOf(b.load(args.lengths, {r}))))};
              })[0];
          Value offset = b.toIndex(b.blockExclusiveScan(mine, scan, warps).second);
          Value total = b.mul(b.dim(args.table1, 0), b.index(budget));
          Value indices = b.flatten(args.table1, total);
          b.forRange(tid, k, block, [&](Value i) {
            b.store(b.toI32(blockOf(i)), indices, {b.add(offset, i)});
          });
          b.ifThen(isThread0, [&] {
            b.store(b.toI32(offset), args.table0, {batch});
            b.store(b.toI32(lastLen), args.table2, {batch});
            Value lastRow =
                b.cmp(Pred::eq, b.add(batch, b.index(1)), b.dim(args.lengths, 0));
            b.ifThen(lastRow, [&] {
              b.store(b.toI32(b.add(offset, k)), args.table0,
                      {b.add(batch, b.index(1))});
            });
          });
          break;
        }
        case TableFormat::TokenIndices: {
          b.forRange(tid, b.index(budget * pageSize), block, [&](Value j) {
            Value i = b.divU(j, b.index(pageSize));
            Value p = b.remU(j, b.index(pageSize));
            Value entry = b.ifThenElse(
                b.cmp(Pred::ult, i, k), {b.getI32Type()},
                [&]() -> SmallVector<Value> {
                  Value unit =
                      b.toIndex(b.load(args.units, {batch, group, i}));
                  Value inContext =
                      b.cmp(Pred::ult, b.add(b.mul(unit, b.index(pageSize)), p),
                            b.toIndex(length));
                  Value position =
                      b.add(b.mul(blockOf(i), b.index(pageSize)), p);
                  return {b.select(inContext, b.toI32(position), b.i32(-1))};
                },
                [&]() -> SmallVector<Value> { return {b.i32(-1)}; })[0];
            b.store(entry, args.table0, {batch, group, j});
          });
          break;
        }
        }
      });

  OpBuilder builder(op);
  LaunchShape shape;
  shape.gridX = arith::ConstantIndexOp::create(builder, op.getLoc(), groups);
  shape.gridY = memref::DimOp::create(builder, op.getLoc(), op.getLengths(), 0);
  shape.blockX = kPageTableBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}
