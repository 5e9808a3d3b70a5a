//===- DiffGather.cpp - LRU diff and host -> device gather kernels --------===//
//
// diff, grid (B, S), T threads (T = pow2 >= max(K, Cp/2), clamped to [64,
// 1024]): one block runs the LRU diff of one (request, group) exactly as
// docs/BUFFERS.md and the CPU reference (`reference::lru_diff`) define it:
//   0. every slot c gets the 64-bit sort key (primary << 32 | c), primary 0
//      for an empty slot and last_used + 2 for a resident one, so ascending
//      keys are: empty slots by id, then resident slots by (last_used, id).
//      Keys live in shared memory (Cp = pow2 >= max(C, 64) entries, 8 bytes
//      each; padding slots key INT64_MAX): static shared memory up to 32 KiB
//      (C <= 4096), above that dynamic shared memory (gpu.dynamic_shared_
//      memory viewed as memref<Cp x i64>, the launch's dynamic_shared_memory_
//      size = Cp * 8) up to 128 KiB, so C <= 16384. 64 and 128 KiB exceed the
//      48 KiB a block gets by default: the artifact records the kernel's
//      maximum and the runtime raises the kernel's limit; the GPU must have
//      that much per block (sm_80: 163 KiB, sm_90: 227 KiB; sm_86/sm_89: 99
//      KiB, so C > 8192 fails to load there with the driver's error).
//   1. thread t handles entries i = r*T + t of sel.units (r < ceil(K/T), in
//      registers for the whole kernel): a unit u whose reverse map entry
//      s = unit_slot[u] is a slot that really holds u (slot_unit[s] == u, so
//      a stale reverse map never produces a false hit) is a hit: slots[i] =
//      s, last_used[s] = step, key[s] = INT64_MAX (never a victim). Padding
//      (-1) writes slots[i] = -1. Misses are ranked in i order (= ascending
//      unit order) by a block-wide exclusive scan: warpInclusiveScan inside
//      each warp, warp totals through shared memory, scanned again by one
//      shuffle scan in every warp; m = number of misses.
//   2. if m > 0: a block-wide bitonic sort of the Cp keys. Partner distances
//      >= 64 go through shared memory: thread t handles compare-exchange
//      pairs t, t + T, ... (Cp / 2T of them: 8 at Cp = 16384), then a
//      barrier; distances <= 32 run in registers: a warp loads a 64-key
//      chunk (2 keys per lane) and runs those stages with shfl.xor (the
//      first six merge levels entirely), looping over chunks w, w + T/32,
//      ... (Cp / 2T per warp), so a 4096-key sort needs 28 barriers instead
//      of 78 (16384 keys: 45).
//   3. miss number j takes victim v = low32(key[j]): old = slot_unit[v]
//      loses its reverse entry (unit_slot[old] = -1), barrier, then
//      unit_slot[u] = v, slot_unit[v] = u, last_used[v] = step, slots[i] =
//      v, copy_units[j] = u, copy_slots[j] = v; copy entries >= m become -1
//      (as the reference writes them); copy_count = m.
//
// gather, grid (ceil(K / (W*U)), S, B), W = 8 warps of 32 lanes, U = 2 units
// per warp: warp w of block x copies copy entries j = x*W + w, stepping by
// the whole grid's warps. A warp moves one unit at a time from the mapped,
// pinned host pool (zero-copy: the SMs load host memory through its device
// address) into its slot: up to 8 16-byte vector loads per lane are issued
// before the matching stores, so many PCIe reads are in flight per thread.
// A unit is Hu consecutive heads of one page, contiguous in both layouts: a
// lane's vector q*32 + lane maps to (head, token, column) of the unit by
// divisions by compile-time constants on both sides.
//
// diff_gather (lowerDiffGather, for the fusion pass): the diff kernel's body
// followed, after a barrier, by the gather body run by the T/32 warps of the
// same block over this (request, group)'s copy list. One launch instead of
// two; fewer SMs copy (one block per (request, group)).
//
// Both bodies are emitted by one static function each (emitDiffBody,
// emitGatherBody) used by the separate and the fused kernels.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;


/// Largest diff block.
static constexpr int64_t kMaxDiffThreads = 1024;
/// Sort keys up to this size live in static shared memory (whose limit is 48
/// KiB); the kernels of C <= 4096 are unchanged by the dynamic path.
static constexpr int64_t kMaxStaticSortKeyBytes = 32 * 1024;
/// Sort keys up to this size live in dynamic shared memory: 16384 slots. The
/// launch needs that much shared memory per block (beside the scan's few
/// static bytes): sm_80 allows 163 KiB, sm_90 227 KiB; sm_86/sm_89 allow 99
/// KiB, where a layer above 8192 slots fails to load (the runtime reports the
/// driver's error).
static constexpr int64_t kMaxSortKeyBytes = 128 * 1024;
/// The bitonic sort's smallest key count (a warp chunk, two keys per lane).
static constexpr int64_t kMinSortKeys = 2 * kWarpSize;
/// Gather kernel: warps per block and copy entries per warp.
static constexpr int64_t kGatherWarps = 8;
static constexpr int64_t kGatherBlock = kGatherWarps * kWarpSize;
static constexpr int64_t kGatherUnitsPerWarp = 2;
/// 16-byte loads a lane issues before it stores them.
static constexpr int64_t kGatherInFlight = 8;

//===----------------------------------------------------------------------===//
// diff
//===----------------------------------------------------------------------===//

/// Sort keys of the diff: C padded to a power of two, at least a warp chunk.
static int64_t sortKeysOf(int64_t capacity) {
  return std::max<int64_t>(llvm::PowerOf2Ceil(capacity), kMinSortKeys);
}

LogicalResult mlir::hsa::checkDiffLimits(LayerOp layer, EmitErrorFn emitError) {
  int64_t capacity = layer.getBuffer().getCapacity();
  if (sortKeysOf(capacity) * 8 > kMaxSortKeyBytes)
    return emitError()
           << "cannot be lowered: buffer capacity " << capacity
           << " exceeds the LRU diff kernel's limit of "
           << kMaxSortKeyBytes / 8
           << " slots (it sorts one 8-byte key per slot, padded to a power of "
              "two, in at most "
           << kMaxSortKeyBytes / 1024
           << " KiB of shared memory per block: dynamic shared memory above "
           << kMaxStaticSortKeyBytes / 8
           << " slots, which the GPU must provide: sm_80 allows 163 KiB, "
              "sm_90 227 KiB, sm_86/sm_89 99 KiB)";
  return success();
}

namespace {
/// Compile-time geometry of the diff for one layer.
struct DiffPlan {
  int64_t budget, capacity, groups;
  int64_t sortKeys;  ///< Cp: pow2 >= max(C, 64)
  int64_t threads;   ///< T
  int64_t rounds;    ///< ceil(K / T)
  /// Bytes of dynamic shared memory for the keys (Cp * 8), 0 when they are
  /// static shared memory.
  int64_t dynamicKeyBytes;

  static FailureOr<DiffPlan> get(Operation *op, LayerOp layer) {
    DiffPlan p;
    p.budget = layer.getBudget();
    p.capacity = layer.getBuffer().getCapacity();
    p.groups = layer.getConfig().getSelectionGroups();
    p.sortKeys = sortKeysOf(p.capacity);
    if (failed(checkDiffLimits(layer, [&] { return op->emitOpError(); })))
      return failure();
    p.threads = std::clamp<int64_t>(
        llvm::PowerOf2Ceil(std::max(p.budget, p.sortKeys / 2)), 64,
        kMaxDiffThreads);
    p.rounds = llvm::divideCeil(p.budget, p.threads);
    p.dynamicKeyBytes =
        p.sortKeys * 8 > kMaxStaticSortKeyBytes ? p.sortKeys * 8 : 0;
    return p;
  }
  /// Static shared memory: the keys unless dynamic, the scan's warp totals.
  int64_t staticSharedBytes() const {
    int64_t keys = dynamicKeyBytes ? 0 : sortKeys * 8;
    return llvm::alignTo(keys, 16) + rounds * kWarpSize * 4;
  }
  void print(raw_ostream &os) const {
    os << "grid (B, " << groups << " groups) block " << threads << " shared "
       << staticSharedBytes() << " dynamic " << dynamicKeyBytes
       << "; sort keys " << sortKeys << ", entries/thread " << rounds;
  }
};

/// Compile-time geometry of the gather for one layer: the warps copying a
/// (request, group)'s copy list, one unit per warp at a time.
struct GatherPlan {
  int64_t groups, heads, pageSize, lanes, keyDim, valueDim;
  bool latent;
  /// Separate gather kernel: blocks per (request, group) of kGatherWarps.
  int64_t chunks;

  static GatherPlan get(LayerOp layer) {
    LayerConfigAttr config = layer.getConfig();
    GatherPlan p;
    p.groups = config.getSelectionGroups();
    p.heads = config.getHeadsPerUnit();
    p.pageSize = config.getPageSize();
    p.lanes = kVectorBytes / config.getElementBytes();
    p.keyDim = config.getKeyDim();
    p.valueDim = config.getValueDim();
    p.latent = config.isLatent();
    p.chunks =
        llvm::divideCeil(layer.getBudget(), kGatherWarps * kGatherUnitsPerWarp);
    return p;
  }
  /// 16-byte vectors per lane of one tensor's unit copy, issued `inFlight`
  /// at a time in `batches`.
  struct Copy {
    int64_t vectors, perLane, inFlight, batches;
  };
  Copy copyOf(int64_t dim) const {
    Copy c;
    c.vectors = heads * pageSize * dim / lanes;
    c.perLane = llvm::divideCeil(c.vectors, kWarpSize);
    c.inFlight = std::min(c.perLane, kGatherInFlight);
    c.batches = llvm::divideCeil(c.perLane, c.inFlight);
    return c;
  }
  void printCopies(raw_ostream &os) const {
    Copy k = copyOf(keyDim);
    os << "key copy " << k.vectors << " vectors (" << k.inFlight
       << " in flight x " << k.batches << ")";
    if (!latent) {
      Copy v = copyOf(valueDim);
      os << ", value copy " << v.vectors << " vectors (" << v.inFlight
         << " in flight x " << v.batches << ")";
    }
  }
  void print(raw_ostream &os) const {
    os << "grid (" << chunks << " chunks, " << groups << " groups, B) block "
       << kGatherBlock << "; units/warp " << kGatherUnitsPerWarp << ", ";
    printCopies(os);
  }
};

/// The fused diff + gather: the diff's block, then its warps copy.
struct DiffGatherPlan {
  DiffPlan diff;
  GatherPlan gather;
  void print(raw_ostream &os) const {
    diff.print(os);
    os << "; then " << diff.threads / kWarpSize << " copying warps, ";
    gather.printCopies(os);
  }
};

/// Kernel arguments of the diff (the diff kernel's, in order; the first of
/// the fused kernel's).
struct DiffArgs {
  Value units, steps, slotUnit, lastUsed, unitSlot, slots, copyUnits,
      copySlots, copyCount;
  SmallVector<Value *> fields() {
    return {&units,    &steps, &slotUnit,  &lastUsed, &unitSlot,
            &slots, &copyUnits, &copySlots, &copyCount};
  }
  static DiffArgs of(DiffOp op) {
    return {op.getUnits(),     op.getSteps(),     op.getSlotUnit(),
            op.getLastUsed(),  op.getUnitSlot(),  op.getSlots(),
            op.getCopyUnits(), op.getCopySlots(), op.getCopyCount()};
  }
};

/// What the gather copies with, after the copy list: page_of, host K,
/// buffer K and, with values (null for latent layers), host V, buffer V.
struct GatherData {
  Value pageOf, hostKeys, keys, hostValues, values;
  SmallVector<Value *> fields() {
    return {&pageOf, &hostKeys, &keys, &hostValues, &values};
  }
  static GatherData of(GatherOp op) {
    return {op.getPageOf(), op.getHostKeys(), op.getKeys(),
            op.getHostValues(), op.getValues()};
  }
};

/// Kernel arguments of the gather body.
struct GatherArgs {
  Value copyUnits, copySlots, copyCount;
  GatherData data;
  SmallVector<Value *> fields() {
    SmallVector<Value *> all = {&copyUnits, &copySlots, &copyCount};
    llvm::append_range(all, data.fields());
    return all;
  }
};

/// Kernel arguments of the fused diff + gather.
struct DiffGatherArgs {
  DiffArgs diff;
  GatherData data;
  SmallVector<Value *> fields() {
    SmallVector<Value *> all = diff.fields();
    llvm::append_range(all, data.fields());
    return all;
  }
};
} // namespace

namespace {
/// The LRU diff of (batch, group) by the whole block, phase by phase (see
/// the file comment). Every phase must be reached by all threads.
class DiffBody {
public:
  DiffBody(KernelBuilder &b, gpu::GPUFuncOp fn, const DiffPlan &plan,
           const DiffArgs &a, Value batch, Value group)
      : b(b), fn(fn), plan(plan), a(a), batch(batch), group(group) {}

  /// Returns the miss count (index, block-uniform).
  Value build() {
    prologue();
    sortKeys();
    scanEntries();
    rankMisses();
    victimOrder();
    evictVictims();
    installMisses();
    return misses;
  }

private:
  struct Entry {
    Value index, valid, unit, isMiss, flag, inclusive;
  };

  void prologue() {
    T = plan.threads, K = plan.budget, C = plan.capacity;
    Cp = plan.sortKeys, numWarps = T / kWarpSize;
    keys = plan.dynamicKeyBytes
               ? b.dynamicSharedBuffer({Cp}, b.getI64Type())
               : KernelContext::addSharedBuffer(fn, {Cp}, b.getI64Type());
    warpTotals = KernelContext::addSharedBuffer(
        fn, {plan.rounds, kWarpSize}, b.getI32Type());
    tid = b.threadId(), lane = b.laneId(), warp = b.warpId();
    step = b.load(a.steps, {batch});
    minusOne = b.i32(-1), zero = b.i32(0);
    maxKey = b.i64(std::numeric_limits<int64_t>::max());
  }

  void sortKeys() {
    // 0. Sort keys of all slots (reads slot_unit/last_used before any write).
    b.forRange(tid, b.index(Cp), b.index(T), [&](Value c) {
      SmallVector<Value> key = b.ifThenElse(
          b.cmp(Pred::ult, c, b.index(C)), {b.getI64Type()},
          [&]() -> SmallVector<Value> {
            Value resident = b.load(a.slotUnit, {batch, group, c});
            Value used = b.load(a.lastUsed, {batch, group, c});
            Value primary = b.select(b.cmp(Pred::slt, resident, zero), b.i64(0),
                                     b.add(b.extS64(used), b.i64(2)));
            return {b.orI(b.shl(primary, b.i64(32)),
                          b.extU64(b.toI32(c)))};
          },
          [&]() -> SmallVector<Value> { return {maxKey}; });
      b.store(key[0], keys, {c});
    });
    b.barrier();

  }

  void scanEntries() {
    // 1. Hits, padding, miss flags; per-warp inclusive miss scans.
    for (int64_t r = 0; r < plan.rounds; ++r) {
      Entry e;
      e.index = b.add(tid, b.index(r * T));
      e.valid = b.cmp(Pred::ult, e.index, b.index(K));
      Value safeIndex = b.minS(e.index, b.index(K - 1));
      Value unit = b.load(a.units, {batch, group, safeIndex});
      e.unit = b.select(e.valid, unit, minusOne);
      Value selected = b.cmp(Pred::sge, e.unit, zero);
      SmallVector<Value> hitSlot = b.ifThenElse(
          selected, {b.getI32Type()},
          [&]() -> SmallVector<Value> {
            Value s = b.load(a.unitSlot, {batch, group, b.toIndex(e.unit)});
            Value inRange = b.andI(b.cmp(Pred::sge, s, zero),
                                   b.cmp(Pred::slt, s, b.i32(C)));
            return b.ifThenElse(
                inRange, {b.getI32Type()},
                [&]() -> SmallVector<Value> {
                  Value holder = b.load(a.slotUnit, {batch, group, b.toIndex(s)});
                  return {b.select(b.cmp(Pred::eq, holder, e.unit), s,
                                   minusOne)};
                },
                [&]() -> SmallVector<Value> { return {minusOne}; });
          },
          [&]() -> SmallVector<Value> { return {minusOne}; });
      Value hit = b.cmp(Pred::sge, hitSlot[0], zero);
      e.isMiss = b.andI(selected, b.cmp(Pred::slt, hitSlot[0], zero));
      b.ifThen(hit, [&] {
        Value s = b.toIndex(hitSlot[0]);
        b.store(maxKey, keys, {s});
        b.store(step, a.lastUsed, {batch, group, s});
      });
      // Hits and padding are final now; misses are written in phase 3.
      b.ifThen(b.andI(e.valid, b.notI(e.isMiss)), [&] {
        b.store(hitSlot[0], a.slots, {batch, group, e.index});
      });
      e.flag = b.select(e.isMiss, b.i32(1), zero);
      e.inclusive = b.warpInclusiveScan(e.flag);
      b.ifThen(b.cmp(Pred::eq, lane, b.index(kWarpSize - 1)), [&] {
        b.store(e.inclusive, warpTotals, {b.index(r), warp});
      });
      entries.push_back(e);
    }
    b.barrier();

  }

  void rankMisses() {
    // Exclusive miss ranks across the block.
    SmallVector<Value> flags, inclusive;
    for (const Entry &e : entries) {
      flags.push_back(e.flag);
      inclusive.push_back(e.inclusive);
    }
    auto scanned =
        b.blockExclusiveScanRounds(flags, inclusive, warpTotals, numWarps);
    ranks = scanned.first;
    base = scanned.second; // the miss count
    misses = b.toIndex(base);

  }

  void victimOrder() {
    // 2. Victim order: sort the keys (hits are INT64_MAX) when anything misses.
    b.ifThen(b.cmp(Pred::sgt, base, zero),
             [&] { b.blockBitonicSort(keys, Cp, T); });

  }

  void evictVictims() {
    // 3. Miss j takes victim j: evict the old units first ...
    for (int64_t r = 0; r < plan.rounds; ++r) {
      const Entry &e = entries[r];
      Value rank = b.toIndex(b.maxS(ranks[r], zero));
      Value victim = b.ifThenElse(
          e.isMiss, {b.getI32Type()},
          [&]() -> SmallVector<Value> {
            Value v = b.toI32(b.load(keys, {rank}));
            Value old = b.load(a.slotUnit, {batch, group, b.toIndex(v)});
            b.ifThen(b.cmp(Pred::sge, old, zero), [&] {
              b.store(minusOne, a.unitSlot, {batch, group, b.toIndex(old)});
            });
            return {v};
          },
          [&]() -> SmallVector<Value> { return {minusOne}; })[0];
      victims.push_back(victim);
    }
    b.barrier();
  }

  void installMisses() {
    // ... then install the misses.
    for (int64_t r = 0; r < plan.rounds; ++r) {
      const Entry &e = entries[r];
      b.ifThen(e.isMiss, [&] {
        Value v = victims[r], vIdx = b.toIndex(victims[r]);
        Value j = b.toIndex(ranks[r]);
        b.store(v, a.unitSlot, {batch, group, b.toIndex(e.unit)});
        b.store(e.unit, a.slotUnit, {batch, group, vIdx});
        b.store(step, a.lastUsed, {batch, group, vIdx});
        b.store(v, a.slots, {batch, group, e.index});
        b.store(e.unit, a.copyUnits, {batch, group, j});
        b.store(v, a.copySlots, {batch, group, j});
      });
    }
    // Unused copy entries are -1 (as the reference writes them).
    b.forRange(b.add(misses, tid), b.index(K), b.index(T), [&](Value j) {
      b.store(minusOne, a.copyUnits, {batch, group, j});
      b.store(minusOne, a.copySlots, {batch, group, j});
    });
    b.ifThen(b.cmp(Pred::eq, tid, b.index(0)),
             [&] { b.store(base, a.copyCount, {batch, group}); });
    b.barrier();
  }

  KernelBuilder &b;
  gpu::GPUFuncOp fn;
  const DiffPlan &plan;
  const DiffArgs &a;
  Value batch, group;
  int64_t T, K, C, Cp, numWarps;
  Value keys, warpTotals, tid, lane, warp, step, minusOne, zero, maxKey;
  SmallVector<Entry> entries;
  SmallVector<Value> ranks, victims;
  Value base, misses;
};
} // namespace

/// The LRU diff of (batch, group) by the whole block (see the file comment).
/// Ends with a barrier: the copy list and residency are complete and visible
/// to the block. Returns the miss count (index, block-uniform).
static Value emitDiffBody(KernelBuilder &b, gpu::GPUFuncOp fn,
                          const DiffPlan &plan, const DiffArgs &a, Value batch,
                          Value group) {
  return DiffBody(b, fn, plan, a, batch, group).build();
}

//===----------------------------------------------------------------------===//
// gather
//===----------------------------------------------------------------------===//

/// Copies one tensor ([...][heads][P][dim] on both sides) of one unit with
/// the lanes of a warp: vector q*32 + lane of the unit's Hu*P*dim/lanes
/// vectors for q < ceil(vectors/32), `kGatherInFlight` 16-byte loads issued
/// before their stores. `src`/`dst` are indexed as `srcPrefix` ++ [head0 +
/// h, p, d] and `dstPrefix` ++ [h, p, d].
static void emitUnitCopy(KernelBuilder &b, const GatherPlan &plan, Value src,
                         ValueRange srcPrefix, Value srcHead0, Value dst,
                         ValueRange dstPrefix, int64_t dim) {
  Value lane = b.laneId();
  const GatherPlan::Copy copy = plan.copyOf(dim);
  const int64_t pageSize = plan.pageSize;
  const int64_t lanes = plan.lanes, vectors = copy.vectors;
  const int64_t inFlight = copy.inFlight, batches = copy.batches;
  // Guards only where the vector count does not tile the warp's batches.
  const bool guarded = batches * inFlight * kWarpSize != vectors;
  auto vecType =
      VectorType::get({lanes}, cast<MemRefType>(src.getType()).getElementType());
  auto copyBatch = [&](Value first) {
    SmallVector<Value> valid, data;
    SmallVector<SmallVector<Value, 3>> coords;
    for (int64_t k = 0; k < inFlight; ++k) {
      Value item = b.add(b.mul(b.add(first, b.index(k)), b.index(kWarpSize)),
                         lane);
      // Element offset in the unit -> (head, token row, column).
      Value elem = b.mul(item, b.index(lanes));
      Value row = b.divU(elem, b.index(dim));
      coords.push_back({b.divU(row, b.index(pageSize)),
                        b.remU(row, b.index(pageSize)),
                        b.remU(elem, b.index(dim))});
      auto load = [&]() -> SmallVector<Value> {
        SmallVector<Value> idx(srcPrefix);
        idx.push_back(b.add(srcHead0, coords[k][0]));
        idx.push_back(coords[k][1]);
        idx.push_back(coords[k][2]);
        return {b.loadVector(lanes, src, idx)};
      };
      if (!guarded) {
        data.push_back(load()[0]);
        continue;
      }
      valid.push_back(b.cmp(Pred::ult, item, b.index(vectors)));
      data.push_back(b.ifThenElse(valid.back(), {vecType}, load,
                                  [&]() -> SmallVector<Value> {
                                    return {b.zeros(vecType)};
                                  })[0]);
    }
    for (int64_t k = 0; k < inFlight; ++k) {
      auto store = [&] {
        SmallVector<Value> idx(dstPrefix);
        llvm::append_range(idx, coords[k]);
        b.storeVector(data[k], dst, idx);
      };
      if (guarded)
        b.ifThen(valid[k], store);
      else
        store();
    }
  };
  if (batches == 1)
    copyBatch(b.index(0));
  else
    b.forRange(b.index(0), b.index(batches * inFlight), b.index(inFlight),
               copyBatch);
}

/// Copies the copy entries j = firstWarp, firstWarp + warpStride, ... <
/// count of (batch, group) with one warp each (`firstWarp` is this warp's
/// global warp index). `count` (index) is the copy count when the caller
/// has it (fused kernel), else null: it is read from copy_count.
static void emitGatherBody(KernelBuilder &b, const GatherPlan &plan,
                           const GatherArgs &a, Value batch, Value group,
                           Value firstWarp, int64_t warpStride, Value count) {
  if (!count)
    count = b.toIndex(b.load(a.copyCount, {batch, group}));
  b.forRange(firstWarp, count, b.index(warpStride), [&](Value j) {
    Value unit = b.load(a.copyUnits, {batch, group, j});
    Value slot = b.toIndex(b.load(a.copySlots, {batch, group, j}));
    Value page = b.load(a.data.pageOf, {batch, b.toIndex(unit)});
    // A unit without a host page has nothing to copy (the runtime allocates
    // pages before the step).
    b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
      Value pageIdx = b.toIndex(page);
      Value head0 = b.mul(group, b.index(plan.heads));
      emitUnitCopy(b, plan, a.data.hostKeys, {pageIdx}, head0, a.data.keys,
                   {batch, group, slot}, plan.keyDim);
      if (a.data.values)
        emitUnitCopy(b, plan, a.data.hostValues, {pageIdx}, head0, a.data.values,
                     {batch, group, slot}, plan.valueDim);
    });
  });
}

//===----------------------------------------------------------------------===//
// Lowerings
//===----------------------------------------------------------------------===//

/// Grid (B, S) of a diff block per (request, group).
static LaunchShape diffLaunchShape(DiffOp op, const DiffPlan &plan) {
  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = memref::DimOp::create(builder, loc, op.getUnits(), 0);
  shape.gridY = arith::ConstantIndexOp::create(builder, loc, plan.groups);
  shape.blockX = plan.threads;
  shape.dynamicSharedBytes = plan.dynamicKeyBytes;
  return shape;
}

static LogicalResult checkGather(GatherOp op, LayerConfigAttr config) {
  if (static_cast<bool>(op.getValues()) != !config.isLatent() ||
      static_cast<bool>(op.getHostValues()) != !config.isLatent())
    return op.emitOpError()
           << "cannot be lowered: values must be given exactly when the "
              "layer has separate values (not latent)";
  return success();
}

LogicalResult mlir::hsa::lowerDiff(KernelContext &ctx, DiffOp op) {
  LayerOp layer = getLayer(op);
  FailureOr<DiffPlan> plan = DiffPlan::get(op, layer);
  if (failed(plan))
    return failure();
  const DiffArgs launchArgs = DiffArgs::of(op);
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "diff"), operands, {plan->threads},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        emitDiffBody(b, fn, *plan, kernelArguments(fn, launchArgs),
                     b.blockId(gpu::Dimension::x),
                     b.blockId(gpu::Dimension::y));
      });
  ctx.notePlan(kernel, *plan);
  ctx.launch(op, kernel, diffLaunchShape(op, *plan), operands);
  return success();
}

LogicalResult mlir::hsa::lowerGather(KernelContext &ctx, GatherOp op) {
  LayerOp layer = getLayer(op);
  LayerConfigAttr config = layer.getConfig();
  if (failed(checkGather(op, config)))
    return failure();
  const GatherPlan plan = GatherPlan::get(layer);
  const int64_t chunks = plan.chunks;
  const GatherArgs launchArgs{op.getCopyUnits(), op.getCopySlots(),
                              op.getCopyCount(), GatherData::of(op)};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "gather"), operands, {kGatherBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        GatherArgs a = kernelArguments(fn, launchArgs);
        Value firstWarp =
            b.add(b.mul(b.blockId(gpu::Dimension::x), b.index(kGatherWarps)),
                  b.warpId());
        emitGatherBody(b, plan, a, b.blockId(gpu::Dimension::z),
                       b.blockId(gpu::Dimension::y), firstWarp,
                       chunks * kGatherWarps, /*count=*/Value());
      });
  ctx.notePlan(kernel, plan);

  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = arith::ConstantIndexOp::create(builder, loc, chunks);
  shape.gridY = arith::ConstantIndexOp::create(
      builder, loc, config.getSelectionGroups());
  shape.gridZ = memref::DimOp::create(builder, loc, op.getCopyCount(), 0);
  shape.blockX = kGatherBlock;
  ctx.launch(op, kernel, shape, operands);
  return success();
}

/// The fused kernel and its launch at `diff` (erased); `gather` is left.
static LogicalResult emitDiffGather(KernelContext &ctx, DiffOp diff,
                                    GatherOp gather) {
  LayerOp layer = getLayer(diff);
  LayerConfigAttr config = layer.getConfig();
  if (getLayer(gather) != layer || gather.getCopyUnits() != diff.getCopyUnits() ||
      gather.getCopySlots() != diff.getCopySlots() ||
      gather.getCopyCount() != diff.getCopyCount())
    return gather.emitOpError()
           << "cannot be fused with the diff: it must copy that diff's copy "
              "list for the same layer";
  if (failed(checkGather(gather, config)))
    return failure();
  FailureOr<DiffPlan> plan = DiffPlan::get(diff, layer);
  if (failed(plan))
    return failure();
  const GatherPlan gatherPlan = GatherPlan::get(layer);
  const DiffGatherArgs launchArgs{DiffArgs::of(diff), GatherData::of(gather)};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "diff_gather"), operands, {plan->threads},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        DiffGatherArgs args = kernelArguments(fn, launchArgs);
        const DiffArgs &d = args.diff;
        Value batch = b.blockId(gpu::Dimension::x);
        Value group = b.blockId(gpu::Dimension::y);
        Value misses = emitDiffBody(b, fn, *plan, d, batch, group);
        // The diff ends with a barrier: its copy list is visible here.
        GatherArgs a{d.copyUnits, d.copySlots, d.copyCount, args.data};
        emitGatherBody(b, gatherPlan, a, batch, group, b.warpId(),
                       plan->threads / kWarpSize, misses);
      });
  ctx.notePlan(kernel, DiffGatherPlan{*plan, gatherPlan});
  LaunchShape shape = diffLaunchShape(diff, *plan);
  ctx.launch(diff, kernel, shape, operands);
  return success();
}

LogicalResult mlir::hsa::lowerDiffGather(KernelContext &ctx, DiffOp diff,
                                         GatherOp gather) {
  if (failed(emitDiffGather(ctx, diff, gather)))
    return failure();
  gather.erase();
  return success();
}
