//===- DiffGather.cpp - LRU diff and host -> device gather kernels --------===//
//
// diff, grid (B, S), T threads (T = pow2 >= max(K, Cp/2), clamped to [64,
// 1024]): one block runs the LRU diff of one (request, group) exactly as
// docs/BUFFERS.md and the CPU reference (`reference::lru_diff`) define it.
// The victims of the m misses are the m smallest slot keys in ascending
// order; the kernel selects them instead of sorting all Cp keys (the sort of
// 8192 keys was most of the diff's ~72 us on the H200).
//   0. every slot c gets the 64-bit key (primary << 32 | c), primary 0 for
//      an empty slot and last_used + 2 for a resident one, so ascending
//      (signed) keys are: empty slots by id, then resident slots by
//      (last_used, id). Keys live in shared memory (Cp = pow2 >= max(C, 64)
//      entries, 8 bytes each; padding slots key INT64_MAX): static shared
//      memory up to 32 KiB (C <= 4096), above that dynamic shared memory
//      (gpu.dynamic_shared_memory viewed as memref<Cp x i64>, the launch's
//      dynamic_shared_memory_size = Cp * 8) up to 128 KiB, so C <= 16384.
//      64 and 128 KiB exceed the 48 KiB a block gets by default: the
//      artifact records the kernel's maximum and the runtime raises the
//      kernel's limit; the GPU must have that much per block, beside the
//      ~9.5 KiB of static selection buffers (sm_80: 163 KiB, sm_90: 227 KiB;
//      sm_86/sm_89: 99 KiB, so C > 8192 fails to load there with the
//      driver's error).
//   1. thread t handles entries i = r*T + t of sel.units (r < ceil(K/T), in
//      registers for the whole kernel): a unit u whose reverse map entry
//      s = unit_slot[u] is a slot that really holds u (slot_unit[s] == u, so
//      a stale reverse map never produces a false hit) is a hit: slots[i] =
//      s, last_used[s] = step, key[s] = INT64_MAX (never a victim). Padding
//      (-1) writes slots[i] = -1. Misses are ranked in i order (= ascending
//      unit order) by a block-wide exclusive scan: warpInclusiveScan inside
//      each warp, warp totals through shared memory, scanned again by one
//      shuffle scan in every warp; m = number of misses.
//   2. if m > 0, victim order: keys[0, m) become the m smallest keys,
//      ascending. The candidates are the keys below INT64_MAX (neither hit
//      nor padding): a slot key's low half is its id (< C), so m <= K - hits
//      <= C - hit slots (the verifier's K <= C) are all candidates and the m
//      smallest keys are the first m of today's full sort. Let p(c) be the
//      key's signed high half (its primary as i32): keys order by p, then
//      by slot id.
//      a. Primary statistics: the candidates' lowest primary, how many have
//         it and their highest primary (per-thread over slots t, t + T, ...,
//         merged by xor shuffles in each warp, warp results through shared
//         memory merged again by every warp: one barrier).
//      b. Threshold p* = the m-th smallest key's primary, and below = the
//         candidates with p < p*. If m <= the count at the lowest primary
//         (the first step: all slots empty; the warm-up while empty slots
//         last; or when the oldest last_used alone holds enough slots), p* is
//         the lowest primary and below = 0, with no histogram. Otherwise a
//         radix select of d = p - lowest (an unsigned offset < 2^32): up to
//         three passes of 11-bit digits from the top bit of the primaries'
//         span (one pass when the span is below 2048, the usual case:
//         primaries are recent steps), each a 2048-bin shared histogram of
//         the candidates matching the digits found so far (one atomic per
//         distinct bin of a warp, match.any), then a block scan over the bins
//         (ascending) finds the bin of the `need`-th smallest remaining key.
//      c. In-place compaction in slot order: the candidates with p < p* and
//         the first m - below candidates with p == p* go to keys[pos], pos =
//         (selected keys of lower slots). Slots are read in groups of R*T
//         (R = min(Cp/T, 4) rounds, slot g*R*T + r*T + t in round r of
//         thread t), each group's counts (below | tie << 16) block-scanned
//         through one barrier of warp totals; pos <= the key's slot, and the
//         group's reads precede the barrier, so no unread key is overwritten.
//      d. When below > 0 (the radix path), keys[0, m) hold the two classes
//         interleaved in slot order: they are padded with INT64_MAX to n =
//         pow2 >= max(m, 64) and sorted by blockBitonicSortPrefix (the full
//         network up to pow2(K), merge levels above n skipped at run time).
//         When below = 0 they all share p* and are already ascending.
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

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;


/// Largest diff block.
static constexpr int64_t kMaxDiffThreads = 1024;
/// Slot keys up to this size live in static shared memory (whose limit is 48
/// KiB, beside the selection's buffers); the kernels of C <= 4096 keep them
/// there.
static constexpr int64_t kMaxStaticSlotKeyBytes = 32 * 1024;
/// Slot keys up to this size live in dynamic shared memory: 16384 slots. The
/// launch needs that much shared memory per block (beside the static
/// buffers): sm_80 allows 163 KiB, sm_90 227 KiB; sm_86/sm_89 allow 99 KiB,
/// where a layer above 8192 slots fails to load (the runtime reports the
/// driver's error).
static constexpr int64_t kMaxSlotKeyBytes = 128 * 1024;
/// The victim sort's smallest key count (a warp chunk, two keys per lane).
static constexpr int64_t kMinSortKeys = 2 * kWarpSize;
/// The victim threshold's radix select: 11-bit digits, three passes cover a
/// 32-bit primary offset.
static constexpr int64_t kSelectDigitBits = 11;
static constexpr int64_t kSelectBins = int64_t(1) << kSelectDigitBits;
static constexpr int64_t kSelectPasses = 3;
/// Rounds of T slots one compaction group scans through one barrier (each
/// round's key stays in registers until its position is known).
static constexpr int64_t kCompactRounds = 4;
/// Gather kernel: warps per block and copy entries per warp.
static constexpr int64_t kGatherWarps = 8;
static constexpr int64_t kGatherBlock = kGatherWarps * kWarpSize;
static constexpr int64_t kGatherUnitsPerWarp = 2;
/// 16-byte loads a lane issues before it stores them.
static constexpr int64_t kGatherInFlight = 8;

//===----------------------------------------------------------------------===//
// diff
//===----------------------------------------------------------------------===//

/// Slot keys of the diff: C padded to a power of two, at least a warp chunk.
static int64_t slotKeysOf(int64_t capacity) {
  return std::max<int64_t>(llvm::PowerOf2Ceil(capacity), kMinSortKeys);
}

LogicalResult mlir::hsa::checkDiffLimits(LayerOp layer, EmitErrorFn emitError) {
  int64_t capacity = layer.getBuffer().getCapacity();
  if (slotKeysOf(capacity) * 8 > kMaxSlotKeyBytes)
    return emitError()
           << "cannot be lowered: buffer capacity " << capacity
           << " exceeds the LRU diff kernel's limit of "
           << kMaxSlotKeyBytes / 8
           << " slots (it keeps one 8-byte key per slot, padded to a power of "
              "two, in at most "
           << kMaxSlotKeyBytes / 1024
           << " KiB of shared memory per block: dynamic shared memory above "
           << kMaxStaticSlotKeyBytes / 8
           << " slots, which the GPU must provide: sm_80 allows 163 KiB, "
              "sm_90 227 KiB, sm_86/sm_89 99 KiB)";
  return success();
}

namespace {
/// Compile-time geometry of the diff for one layer.
struct DiffPlan {
  int64_t budget, capacity, groups;
  int64_t slotKeys;  ///< Cp: pow2 >= max(C, 64)
  int64_t threads;   ///< T
  int64_t rounds;    ///< ceil(K / T)
  /// Rounds of T slots per compaction group (min(Cp / T, kCompactRounds))
  /// and the groups (Cp / (R * T)).
  int64_t compactRounds, compactGroups;
  /// The largest victim sort: pow2 >= max(K, 64) keys (m <= K).
  int64_t victimSortKeys;
  /// Bytes of dynamic shared memory for the keys (Cp * 8), 0 when they are
  /// static shared memory.
  int64_t dynamicKeyBytes;

  static FailureOr<DiffPlan> get(Operation *op, LayerOp layer) {
    DiffPlan p;
    p.budget = layer.getBudget();
    p.capacity = layer.getBuffer().getCapacity();
    p.groups = layer.getConfig().getSelectionGroups();
    p.slotKeys = slotKeysOf(p.capacity);
    if (failed(checkDiffLimits(layer, [&] { return op->emitOpError(); })))
      return failure();
    // Cp / 2 threads (up to 1024) so that the passes over the slot keys
    // take few rounds each.
    p.threads = std::clamp<int64_t>(
        llvm::PowerOf2Ceil(std::max(p.budget, p.slotKeys / 2)), 64,
        kMaxDiffThreads);
    p.rounds = llvm::divideCeil(p.budget, p.threads);
    p.compactRounds = std::min(p.slotKeys / p.threads, kCompactRounds);
    p.compactGroups = p.slotKeys / (p.compactRounds * p.threads);
    p.victimSortKeys =
        std::max<int64_t>(llvm::PowerOf2Ceil(p.budget), kMinSortKeys);
    p.dynamicKeyBytes =
        p.slotKeys * 8 > kMaxStaticSlotKeyBytes ? p.slotKeys * 8 : 0;
    return p;
  }
  int64_t warps() const { return threads / kWarpSize; }
  /// Bytes of each static shared buffer, in the order DiffBody adds them:
  /// the keys unless dynamic, the miss scan's warp totals, the select's
  /// histogram, the primary statistics' warp results (low, count, high), the
  /// bin scan's scratch, the threshold (offset, need), the compaction's warp
  /// totals.
  SmallVector<int64_t> staticBufferBytes() const {
    return {dynamicKeyBytes ? 0 : slotKeys * 8,
            rounds * kWarpSize * 4,
            kSelectBins * 4,
            3 * kWarpSize * 4,
            (warps() + 1) * 4,
            2 * 4,
            compactRounds * kWarpSize * 4};
  }
  /// Static shared memory, each buffer 16-byte aligned (addSharedBuffer).
  int64_t staticSharedBytes() const {
    int64_t bytes = 0;
    for (int64_t size : staticBufferBytes())
      if (size)
        bytes = llvm::alignTo(bytes, 16) + size;
    return bytes;
  }
  void print(raw_ostream &os) const {
    os << "grid (B, " << groups << " groups) block " << threads << " shared "
       << staticSharedBytes() << " dynamic " << dynamicKeyBytes
       << "; slot keys " << slotKeys << ", select " << kSelectBins
       << " bins, compaction " << compactGroups << " x " << compactRounds
       << " rounds, victim sort <= " << victimSortKeys
       << " keys, entries/thread " << rounds;
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
    p.keyDim = config.getKeyRowElements(); // as stored: bytes of fp8 rows
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
    slotKeys();
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
  /// Phase 2a's statistics of the candidates' primaries (i32, the same in
  /// every thread once merged): the lowest, how many candidates have it, the
  /// highest.
  struct PrimaryStats {
    Value low, lowCount, high;
  };
  /// Phase 2b's threshold (i32, block-uniform): p*, the m-th smallest key's
  /// primary, and `below`, the candidates of lower primary (all victims).
  struct Threshold {
    Value primary, below;
  };

  void prologue() {
    T = plan.threads, K = plan.budget, C = plan.capacity;
    Cp = plan.slotKeys, numWarps = plan.warps();
    keys = plan.dynamicKeyBytes
               ? b.dynamicSharedBuffer({Cp}, b.getI64Type())
               : KernelContext::addSharedBuffer(fn, {Cp}, b.getI64Type());
    warpTotals = KernelContext::addSharedBuffer(
        fn, {plan.rounds, kWarpSize}, b.getI32Type());
    // The selection's buffers (DiffPlan::staticBufferBytes lists them).
    histogram =
        KernelContext::addSharedBuffer(fn, {kSelectBins}, b.getI32Type());
    warpStats =
        KernelContext::addSharedBuffer(fn, {3, kWarpSize}, b.getI32Type());
    binScan =
        KernelContext::addSharedBuffer(fn, {numWarps + 1}, b.getI32Type());
    found = KernelContext::addSharedBuffer(fn, {2}, b.getI32Type());
    compactTotals = KernelContext::addSharedBuffer(
        fn, {plan.compactRounds, kWarpSize}, b.getI32Type());
    tid = b.threadId(), lane = b.laneId(), warp = b.warpId();
    step = b.load(a.steps, {batch});
    minusOne = b.i32(-1), zero = b.i32(0);
    maxKey = b.i64(std::numeric_limits<int64_t>::max());
  }

  void slotKeys() {
    // 0. Keys of all slots (reads slot_unit/last_used before any write).
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
    // 2. Victim order: keys[0, m) = the m smallest keys, ascending (hits and
    // padding are INT64_MAX, never among them), when anything misses.
    b.ifThen(b.cmp(Pred::sgt, base, zero), [&] {
      PrimaryStats stats = primaryStats();
      Threshold threshold = findThreshold(stats);
      compactVictims(threshold);
      sortVictims(threshold);
    });
  }

  /// A key that can be a victim: neither a hit nor padding (INT64_MAX).
  Value isCandidate(Value key) { return b.cmp(Pred::ne, key, maxKey); }
  /// The key's signed high half: 0 for an empty slot, last_used + 2 for a
  /// resident one. Keys order by it, then by slot id (the low half).
  Value primaryOf(Value key) { return b.toI32(b.shrU(key, b.i64(32))); }

  PrimaryStats mergeStats(const PrimaryStats &x, const PrimaryStats &y) {
    Value low = b.minS(x.low, y.low);
    Value count =
        b.add(b.select(b.cmp(Pred::eq, x.low, low), x.lowCount, zero),
              b.select(b.cmp(Pred::eq, y.low, low), y.lowCount, zero));
    return {low, count, b.maxS(x.high, y.high)};
  }
  /// The statistics of no candidate (merging it changes nothing).
  PrimaryStats noStats() {
    return {b.i32(std::numeric_limits<int32_t>::max()), zero,
            b.i32(std::numeric_limits<int32_t>::min())};
  }
  PrimaryStats warpMergeStats(PrimaryStats s) {
    for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2)
      s = mergeStats(s, {b.shuffleXor(s.low, offset),
                         b.shuffleXor(s.lowCount, offset),
                         b.shuffleXor(s.high, offset)});
    return s;
  }

  PrimaryStats primaryStats() {
    // 2a. Per thread over slots t, t + T, ...; then per warp; then the warps'
    // results merged again by every warp (no second barrier).
    PrimaryStats none = noStats();
    SmallVector<Value> mine = b.forRange(
        tid, b.index(Cp), b.index(T), {none.low, none.lowCount, none.high},
        [&](Value c, ValueRange carried) -> SmallVector<Value> {
          Value key = b.load(keys, {c});
          Value candidate = isCandidate(key);
          Value p = primaryOf(key);
          PrimaryStats one = {b.select(candidate, p, none.low),
                              b.select(candidate, b.i32(1), zero),
                              b.select(candidate, p, none.high)};
          PrimaryStats merged =
              mergeStats({carried[0], carried[1], carried[2]}, one);
          return {merged.low, merged.lowCount, merged.high};
        });
    PrimaryStats warpResult = warpMergeStats({mine[0], mine[1], mine[2]});
    b.ifThen(b.cmp(Pred::eq, lane, b.index(0)), [&] {
      b.store(warpResult.low, warpStats, {b.index(0), warp});
      b.store(warpResult.lowCount, warpStats, {b.index(1), warp});
      b.store(warpResult.high, warpStats, {b.index(2), warp});
    });
    b.barrier();
    SmallVector<Value> laneStats = b.ifThenElse(
        b.cmp(Pred::ult, lane, b.index(numWarps)),
        {b.getI32Type(), b.getI32Type(), b.getI32Type()},
        [&]() -> SmallVector<Value> {
          return {b.load(warpStats, {b.index(0), lane}),
                  b.load(warpStats, {b.index(1), lane}),
                  b.load(warpStats, {b.index(2), lane})};
        },
        [&]() -> SmallVector<Value> {
          return {none.low, none.lowCount, none.high};
        });
    return warpMergeStats({laneStats[0], laneStats[1], laneStats[2]});
  }

  Threshold findThreshold(const PrimaryStats &stats) {
    // 2b. m <= the candidates at the lowest primary: they alone are the
    // victims (the first m of them in slot order), no histogram needed.
    SmallVector<Value> threshold = b.ifThenElse(
        b.cmp(Pred::sle, base, stats.lowCount),
        {b.getI32Type(), b.getI32Type()},
        [&]() -> SmallVector<Value> { return {stats.low, zero}; },
        [&]() -> SmallVector<Value> { return radixSelect(stats); });
    return {threshold[0], threshold[1]};
  }

  /// The m-th smallest candidate key's primary and the candidates below it,
  /// by radix select over the offsets d = p - stats.low (unsigned, at most
  /// high - low): passes of 11-bit digits from the top bit of that span,
  /// until the digit at bit 0 is known. Returns {p*, below}.
  SmallVector<Value> radixSelect(const PrimaryStats &stats) {
    Type i32 = b.getI32Type();
    // span >= 1 here: a single primary would hold all >= m candidates.
    Value span = b.sub(stats.high, stats.low);
    Value width = b.sub(
        b.i32(32), LLVM::CountLeadingZerosOp::create(b, i32, span, false));
    // Digit shifts, the top digit first; a pass runs while the previous
    // one left lower bits unknown (shift > 0).
    SmallVector<Value> shifts;
    Value shift = b.maxS(b.sub(width, b.i32(kSelectDigitBits)), zero);
    for (int64_t pass = 0; pass < kSelectPasses; ++pass) {
      shifts.push_back(shift);
      shift = b.maxS(b.sub(shift, b.i32(kSelectDigitBits)), zero);
    }
    // offset: the threshold's d with the digits found so far (lower bits 0);
    // need: how many candidates of that prefix are still victims.
    Value offset = zero, need = base;
    for (int64_t pass = 0; pass < kSelectPasses; ++pass) {
      auto run = [&]() -> SmallVector<Value> {
        return selectPass(stats, offset, need, shifts[pass],
                          pass == 0 ? Value() : shifts[pass - 1]);
      };
      SmallVector<Value> next =
          pass == 0 ? run()
                    : b.ifThenElse(b.cmp(Pred::sgt, shifts[pass - 1], zero),
                                   {i32, i32}, run,
                                   [&]() -> SmallVector<Value> {
                                     return {offset, need};
                                   });
      offset = next[0];
      need = next[1];
    }
    // need = the victims among the candidates at d == offset exactly.
    return {b.add(stats.low, offset), b.sub(base, need)};
  }

  /// One radix pass: the histogram of digit (d >> shift) & 2047 over the
  /// candidates whose d matches `offset` above `prevShift` (all of them in
  /// the first pass, `prevShift` null), then the bin holding the `need`-th
  /// smallest. Returns {offset with that digit, need within that bin}.
  SmallVector<Value> selectPass(const PrimaryStats &stats, Value offset,
                                Value need, Value shift, Value prevShift) {
    b.forRange(tid, b.index(kSelectBins), b.index(T),
               [&](Value bin) { b.store(zero, histogram, {bin}); });
    b.barrier();
    b.forRange(tid, b.index(Cp), b.index(T), [&](Value c) {
      Value key = b.load(keys, {c});
      Value d = b.sub(primaryOf(key), stats.low);
      Value match = isCandidate(key);
      if (prevShift)
        match = b.andI(match, b.cmp(Pred::eq,
                                    b.shrU(b.xorI(d, offset), prevShift),
                                    zero));
      Value digit = b.andI(b.shrU(d, shift), b.i32(kSelectBins - 1));
      b.warpAggregatedIncrement(histogram, digit, match);
    });
    b.barrier();
    // Thread t owns bins [t * B/T, (t + 1) * B/T), ascending, so the scan
    // counts the candidates of smaller digits.
    const int64_t binsPerThread = kSelectBins / T;
    Value firstBin = b.mul(tid, b.index(binsPerThread));
    SmallVector<Value> counts;
    Value owned = zero;
    for (int64_t j = 0; j < binsPerThread; ++j) {
      counts.push_back(
          b.load(histogram, {b.add(firstBin, b.index(j))}));
      owned = b.add(owned, counts.back());
    }
    Value smaller = b.blockExclusiveScan(owned, binScan, numWarps).first;
    for (int64_t j = 0; j < binsPerThread; ++j) {
      Value through = b.add(smaller, counts[j]);
      Value holds = b.andI(b.cmp(Pred::slt, smaller, need),
                           b.cmp(Pred::sle, need, through));
      b.ifThen(holds, [&] {
        Value digit = b.toI32(b.add(firstBin, b.index(j)));
        b.store(b.orI(offset, b.shl(digit, shift)), found, {b.index(0)});
        b.store(b.sub(need, smaller), found, {b.index(1)});
      });
      smaller = through;
    }
    b.barrier();
    return {b.load(found, {b.index(0)}), b.load(found, {b.index(1)})};
  }

  void compactVictims(const Threshold &threshold) {
    // 2c. keys[0, m): the candidates below p* and the first m - below at p*,
    // in slot order, written in place (a key's position <= its slot).
    const int64_t rounds = plan.compactRounds, groupSlots = rounds * T;
    Value ties = b.sub(base, threshold.below);
    Value low16 = b.i32(0xffff);
    b.forRange(
        b.index(0), b.index(plan.compactGroups), b.index(1), {zero, zero},
        [&](Value group, ValueRange before) -> SmallVector<Value> {
          Value first = b.add(b.mul(group, b.index(groupSlots)), tid);
          SmallVector<Value> slotKey, below, tie, counts, inclusive;
          for (int64_t r = 0; r < rounds; ++r) {
            slotKey.push_back(
                b.load(keys, {b.add(first, b.index(r * T))}));
            Value candidate = isCandidate(slotKey.back());
            Value p = primaryOf(slotKey.back());
            below.push_back(
                b.andI(candidate, b.cmp(Pred::slt, p, threshold.primary)));
            tie.push_back(
                b.andI(candidate, b.cmp(Pred::eq, p, threshold.primary)));
            // Both counts are at most Cp <= 16384: 16 bits each.
            counts.push_back(b.add(b.extU32(below.back()),
                                   b.select(tie.back(), b.i32(1 << 16), zero)));
            inclusive.push_back(b.warpInclusiveScan(counts.back()));
            b.ifThen(b.cmp(Pred::eq, lane, b.index(kWarpSize - 1)), [&] {
              b.store(inclusive.back(), compactTotals, {b.index(r), warp});
            });
          }
          b.barrier();
          auto [exclusive, total] = b.blockExclusiveScanRounds(
              counts, inclusive, compactTotals, numWarps);
          for (int64_t r = 0; r < rounds; ++r) {
            Value belowBefore =
                b.add(before[0], b.andI(exclusive[r], low16));
            Value tiesBefore =
                b.add(before[1], b.shrU(exclusive[r], b.i32(16)));
            Value take = b.orI(below[r],
                               b.andI(tie[r], b.cmp(Pred::slt, tiesBefore,
                                                    ties)));
            Value pos = b.add(belowBefore, b.minS(tiesBefore, ties));
            b.ifThen(take,
                     [&] { b.store(slotKey[r], keys, {b.toIndex(pos)}); });
          }
          // The writes are done and compactTotals can be reused.
          b.barrier();
          return {b.add(before[0], b.andI(total, low16)),
                  b.add(before[1], b.shrU(total, b.i32(16)))};
        });
  }

  void sortVictims(const Threshold &threshold) {
    // 2d. Two primaries interleaved in slot order: sort keys[0, n).
    b.ifThen(b.cmp(Pred::sgt, threshold.below, zero), [&] {
      Value n = b.index(kMinSortKeys);
      for (int64_t size = 2 * kMinSortKeys; size <= plan.victimSortKeys;
           size *= 2)
        n = b.select(b.cmp(Pred::ugt, misses, b.index(size / 2)),
                     b.index(size), n);
      b.forRange(b.add(misses, tid), n, b.index(T),
                 [&](Value j) { b.store(maxKey, keys, {j}); });
      b.barrier();
      b.blockBitonicSortPrefix(keys, n, plan.victimSortKeys, T);
    });
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
  Value histogram, warpStats, binScan, found, compactTotals;
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
