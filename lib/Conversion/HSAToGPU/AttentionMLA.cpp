//===- AttentionMLA.cpp - latent (MLA) sparse attention on warpgroup MMA --===//
//
// hsa.attend of a latent layer (DeepSeek's absorbed MLA: every query head
// reads one latent row of Dk = latent + rope elements, V = its first Dv) on
// sm_90a tensor cores, where 2 x Hq x (Dk + Dv) FLOP per selected token make
// the step compute-bound. docs/ARCHITECTURE.md "MLA decode attention on
// tensor cores" has the design; this is it without the producer warpgroup.
//
// attend_mla, grid (ceil(Hq / 64), splits, B), 256 threads = 2 warpgroups,
//   dynamic shared memory ~226 KiB (one block per SM). A block attends 64
//   query heads of one request (rows past Hq are zero and not written) to the
//   tiles of 64 consecutive entries of the flat selected-token list of its
//   split (token t of the list is row t % P of selection entry t / P).
//   - Q [64][Dk] and two K tile stages [64][Dk] live in shared memory as
//     128-byte-swizzled runs of 64 elements ([run][row][128 B], chunk c of
//     row r at c ^ (r % 8)); P [64 heads][64 tokens] bf16 likewise.
//   - Tile i + 1's rows are copied (cp.async.cg, 16 B per thread and chunk;
//     rows of invalid tokens are zero-filled, so 0 x NaN of an unwritten
//     slot cannot reach the output) while tile i is computed; the rows of
//     tile i + 2 (buf.k row or -1 per token) are staged during tile i, so a
//     tile costs three block barriers: landed, row maxima, P.
//   - S = Q K^T: warpgroup w computes the 32 tokens [32 w, 32 w + 32) of
//     the tile, Dk / 16 wgmma.mma_async m64n32k16 (A = Q, B = K, both
//     K-major descriptors). Logits in the base-2 domain (x scale x log2 e),
//     -inf for invalid tokens; the row maxima of the two halves meet in
//     shared memory, so both warpgroups rescale with the same running max.
//   - P = exp2(S - max) goes to shared memory as bf16; each thread keeps its
//     rows' partial sums (the two warpgroups' sums add up at the end).
//   - O += P V: warpgroup w owns value columns [w Dv / 2, (w + 1) Dv / 2):
//     4 wgmma m64n{Dv/2}k16 over the tile's 64 tokens (A = P, K-major; B =
//     the same K tile read N-major: V is the first Dv columns of the key
//     rows, 64-column blocks 64 x 128 B apart), Dv / 4 f32 accumulators
//     per thread in registers. O is rescaled only when a row's max passes
//     its reference by more than 2^8 somewhere in the warp (a vote).
//   - fp8 latent rows (FlashMLA's 656 B): codes + scales land raw in two
//     stages; each tile is dequantised into the one bf16 K stage while the
//     next tile's raw rows are in flight, the rope copied straight into it.
//   - The split count is chosen at launch from the batch: min(tiles,
//     max(1, floor(132 / (B x head blocks)))), so a small batch still fills
//     the H200's SMs in one wave and B x head blocks > 66 runs one split
//     with no partial results. One split writes io.o (normalised,
//     activation dtype) and io.lse (natural log; -inf and o = 0 for a row
//     without a valid token) directly; otherwise every split writes its entry (b x head blocks +
//     head block) x splits + split of scratch.mla_o / mla_lse (a fixed
//     kPartials entries: see there).
//
// attend_mla_merge, grid (64 Dv / 4 / 256, head blocks, B) when the launch
//   has several splits, else (1, head blocks, 1) blocks that return at once:
//   one thread per head and 4 output columns combines the splits by LSE
//   (weights exp(lse - max lse)), writes io.o and, for column 0, io.lse.
//   The merge is spread over the GPU: a last-arriving split merging its
//   head block alone read 32 x 128 KiB of partials through one SM.
//
//===----------------------------------------------------------------------===//

#include "AttentionMerge.h"
#include "KernelBuilder.h"
#include "hsa/artifact_format.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

static constexpr int64_t kHeadsPerBlock = 64; ///< wgmma's M
static constexpr int64_t kTileTokens = 64;
static constexpr int64_t kWarpgroupThreads = 128;
static constexpr int64_t kWarpgroups = 2;
static constexpr int64_t kMLABlock = kWarpgroups * kWarpgroupThreads;
static constexpr int64_t kMMAK = 16; ///< wgmma k for 16-bit operands
static constexpr int64_t kElementsPerRun = kSwizzleBytes / 2;
/// Blocks the split count aims at: the H200's SMs (one block per SM).
static constexpr int64_t kTargetBlocks = 132;
/// Partial results of a launch with several splits: B x head blocks x
/// floor(132 / (B x head blocks)) <= 132, whatever B (one split, B x head
/// blocks > 66, writes none), so the scratch is a fixed 132 x 64 x Dv floats
/// per layer instead of one per request and split.
static constexpr int64_t kPartials = kTargetBlocks;
/// Shared memory a block may use (sm_90's opt-in maximum).
static constexpr int64_t kMaxSharedBytes = 232448;
static constexpr double kLog2E = 1.4426950408889634;
static constexpr double kLn2 = 0.6931471805599453;
/// How far (base 2) a row's max may pass the reference its weights are taken
/// against before O is rescaled: weights stay <= 256, exact in f32 and
/// within bf16's range for P.
static constexpr double kRescaleLog2 = 8.0;

namespace {
/// Compile-time geometry of attend_mla for one layer.
struct MLAPlan {
  int64_t hq, headBlocks, dk, dv, pageSize, budget, tiles;
  double scale;
  bool f16; ///< activations f16 (else bf16)
  /// Keys are FlashMLA's fp8 latent rows: dv e4m3 codes, one f32 scale per
  /// kFp8LatentTile of them, then dk - dv bf16 rope values. They land raw
  /// (codes and scales, two stages) and are dequantised into one bf16 K
  /// stage; the rope goes straight to that stage.
  bool fp8;
  int64_t keyRuns() const { return dk / kElementsPerRun; }
  int64_t valueColumns() const { return dv / kWarpgroups; } ///< per warpgroup
  int64_t tileBytes() const { return kTileTokens * dk * 2; }
  int64_t kStages() const { return fp8 ? 1 : 2; }
  /// Bytes of a stored key row, and (fp8) of its codes + scales part.
  int64_t rowBytes() const {
    return fp8 ? ::hsa::artifact::fp8_latent_row_bytes(dv, dk - dv) : dk * 2;
  }
  int64_t rawRowBytes() const {
    return dv + dv / ::hsa::artifact::kFp8LatentTile * 4;
  }
  int64_t rawStageBytes() const {
    return fp8 ? kTileTokens * rawRowBytes() : 0;
  }
  // The block's dynamic shared memory: the small tables first, then (at the
  // next 1024-byte boundary) Q, the K stages, P and (fp8) two raw stages.
  static constexpr int64_t kRowTable = 0;    ///< i32 [2][64]: row or -1
  static constexpr int64_t kRowMax = 512;    ///< f32 [2][64]
  static constexpr int64_t kRowSum = 1024;   ///< f32 [2][64]
  static constexpr int64_t kTableBytes = 1536;
  int64_t swizzledBytes() const {
    return (1 + kStages()) * tileBytes() + kHeadsPerBlock * kSwizzleBytes +
           2 * rawStageBytes();
  }
  int64_t sharedBytes() const {
    return kTableBytes + kSwizzleAlign + swizzledBytes();
  }
  void print(raw_ostream &os) const {
    os << "grid (" << headBlocks << " head blocks, min(" << tiles
       << ", max(1, floor(" << kTargetBlocks << " / (B x " << headBlocks
       << ")))) splits, B) block " << kMLABlock << " dynamic shared "
       << sharedBytes() << "; warpgroup MMA: S m64n32k16 x " << dk / kMMAK
       << ", O m64n" << valueColumns() << "k16 x " << kTileTokens / kMMAK
       << " per " << kTileTokens << "-token tile, "
       << (fp8 ? "fp8 rows dequantised into 1 bf16 stage (2 raw stages)"
               : f16 ? "2 stages, f16" : "2 stages, bf16");
  }
};

/// attend_mla's arguments, in order.
struct MLAArgs {
  Value queries, lengths, units, slots, keys, partialOut, partialLse, output,
      lse;
  SmallVector<Value *> fields() {
    return {&queries,    &lengths,    &units,  &slots, &keys,
            &partialOut, &partialLse, &output, &lse};
  }
};

/// attend_mla_merge's arguments, in order.
struct MLAMergeArgs {
  Value partialOut, partialLse, output, lse;
  SmallVector<Value *> fields() {
    return {&partialOut, &partialLse, &output, &lse};
  }
};
} // namespace

static MLAPlan makeMLAPlan(LayerOp layer) {
  LayerConfigAttr config = layer.getConfig();
  MLAPlan p;
  p.hq = config.getQHeads();
  p.headBlocks = llvm::divideCeil(p.hq, kHeadsPerBlock);
  p.dk = config.getKeyDim();
  p.dv = config.getValueDim();
  p.pageSize = config.getPageSize();
  p.budget = layer.getBudget();
  p.tiles = llvm::divideCeil(p.budget * p.pageSize, kTileTokens);
  p.scale = layer.getEffectiveSoftmaxScale();
  p.f16 = config.getActivationType().isF16();
  p.fp8 = config.isFp8Latent();
  return p;
}

bool mlir::hsa::useMLATensorCores(const KernelOptions &options,
                                  LayerOp layer) {
  LayerConfigAttr config = layer.getConfig();
  if (!options.wgmma || !options.mlaTensorCores || !config.isLatent())
    return false;
  Type act = config.getActivationType();
  if (!act.isBF16() && !act.isF16())
    return false;
  MLAPlan p = makeMLAPlan(layer);
  // fp8 rows: 16-byte copies of the codes + scales part and of the rope.
  if (p.fp8 && (p.rawRowBytes() % kVectorBytes != 0 ||
                p.rowBytes() % kVectorBytes != 0))
    return false;
  // Whole swizzle runs of keys; each warpgroup's value columns whole runs
  // and one wgmma N (<= 256).
  return p.dk % kElementsPerRun == 0 && p.dv <= p.dk &&
         p.dv % (kWarpgroups * kElementsPerRun) == 0 &&
         p.valueColumns() <= 256 && p.sharedBytes() <= kMaxSharedBytes;
}

namespace {
/// attend_mla's body, phase by phase (see the file comment). Every phase is
/// reached by all 256 threads.
class MLAKernel {
public:
  MLAKernel(KernelBuilder &b, const MLAPlan &p, const MLAArgs &a)
      : b(b), p(p), a(a) {}

  void build() {
    prologue();
    stageQueries();
    // The row tables of tiles 0 and 1, then tile 0's copies.
    stageRowTable(b.index(0), b.index(0));
    stageRowTable(b.index(1), b.index(1));
    b.barrier();
    b.ifThen(b.cmp(Pred::sgt, tileCount, b.index(0)), [&] {
      issueTile(b.index(0));
      if (p.fp8)
        issueRope(b.index(0));
    });
    NVVM::CpAsyncCommitGroupOp::create(b);
    SmallVector<Value> state = tileLoop();
    // No copy may land after the block ends (a split without tiles still
    // staged Q).
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    epilogue(state);
  }

private:
  void prologue() {
    f32 = b.getF32Type(), i32 = b.getI32Type(), i64 = b.getI64Type();
    actType = p.f16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
    headBlock = b.blockId(gpu::Dimension::x);
    split = b.blockId(gpu::Dimension::y);
    splits = b.gridDim(gpu::Dimension::y);
    batch = b.blockId(gpu::Dimension::z);
    tid = b.threadId();
    warpgroup = b.divU(tid, b.index(kWarpgroupThreads));
    Value wgThread = b.remU(tid, b.index(kWarpgroupThreads));
    Value lane = b.laneId();
    group = b.divU(lane, b.index(4)), quad = b.remU(lane, b.index(4));
    // Accumulator rows of this thread: 16 x (warp in its warpgroup) + g, + 8.
    row0 = b.add(b.mul(b.divU(wgThread, b.index(kWarpSize)), b.index(16)),
                 group);
    row1 = b.add(row0, b.index(8));
    firstHead = b.mul(headBlock, b.index(kHeadsPerBlock));
    firstPartial = b.mul(
        b.add(b.mul(batch, b.index(p.headBlocks)), headBlock), splits);
    length = b.load(a.lengths, {batch});
    Value perSplit = b.ceilDivU(b.index(p.tiles), splits);
    firstTile = b.mul(split, perSplit);
    tileCount = b.maxS(
        b.minS(b.sub(b.index(p.tiles), firstTile), perSplit), b.index(0));

    rowTable = b.dynamicSharedBuffer({2, kTileTokens}, i32, MLAPlan::kRowTable);
    rowMax = b.dynamicSharedBuffer({kWarpgroups, kHeadsPerBlock}, f32,
                                   MLAPlan::kRowMax);
    rowSum = b.dynamicSharedBuffer({kWarpgroups, kHeadsPerBlock}, f32,
                                   MLAPlan::kRowSum);
    // The swizzled operands at the first 1024-byte boundary past the tables.
    Value tables = b.sharedAddress(rowTable);
    Value start = b.add(tables, b.i64(MLAPlan::kTableBytes + kSwizzleAlign - 1));
    qShared = b.andI(start, b.i64(~(kSwizzleAlign - 1)));
    kShared = b.add(qShared, b.i64(p.tileBytes()));
    pShared = b.add(kShared, b.i64(p.kStages() * p.tileBytes()));
    rawShared = b.add(pShared, b.i64(kHeadsPerBlock * kSwizzleBytes));

    keyBase = b.baseAddress(a.keys, p.fp8 ? 1 : 2);
    // Rows of buf.k per request (a latent layer has one group and one head
    // per unit: the row of slot s, unit row r is s * P + r).
    rowsPerRequest = b.i64(1);
    for (int64_t d = 1; d + 1 < 6; ++d)
      rowsPerRequest = b.mul(rowsPerRequest, toI64(b.dim(a.keys, d)));
  }

  Value toI64(Value v) { return arith::IndexCastUIOp::create(b, i64, v); }

  /// Byte offset of 16-byte chunk `col` of row `row` in a swizzled operand
  /// of `rows` rows per run.
  Value swizzled(Value row, Value col, int64_t rows) {
    const int64_t chunks = kSwizzleBytes / kVectorBytes;
    Value run = b.divU(col, b.index(chunks));
    Value physical = b.xorI(b.remU(col, b.index(chunks)),
                            b.remU(row, b.index(8)));
    return toI64(b.add(
        b.mul(b.add(b.mul(run, b.index(rows)), row), b.index(kSwizzleBytes)),
        b.mul(physical, b.index(kVectorBytes))));
  }

  /// Phase 1: the block's 64 query rows (zeros past Hq), one commit group
  /// with tile 0.
  void stageQueries() {
    const int64_t rowChunks = p.dk * 2 / kVectorBytes;
    Value qBase = b.baseAddress(a.queries, 2);
    b.forStrided(tid, kHeadsPerBlock * rowChunks, kMLABlock,
                 [&](int64_t, Value item) {
      Value row = b.divU(item, b.index(rowChunks));
      Value col = b.remU(item, b.index(rowChunks));
      Value head = b.add(firstHead, row);
      Value inside = b.cmp(Pred::ult, head, b.index(p.hq));
      Value safeHead = b.minS(head, b.index(p.hq - 1));
      Value src = b.add(
          qBase, toI64(b.add(b.mul(b.add(b.mul(batch, b.index(p.hq)), safeHead),
                                   b.index(p.dk * 2)),
                             b.mul(col, b.index(kVectorBytes)))));
      b.copyAsync16(b.add(qShared, swizzled(row, col, kHeadsPerBlock)), src,
                    b.select(inside, b.i32(kVectorBytes), b.i32(0)));
    });
  }

  /// The rows of tile `tile` (of the split) into rowTable[stage]: the
  /// buf.k row of each of its tokens, -1 for padding, unselected entries and
  /// positions at or past the request's length. Threads 0-63.
  void stageRowTable(Value tile, Value stage) {
    b.ifThen(b.cmp(Pred::ult, tid, b.index(kTileTokens)), [&] {
      Value t = b.add(b.mul(b.add(firstTile, tile), b.index(kTileTokens)), tid);
      Value entry = b.divU(t, b.index(p.pageSize));
      Value r = b.toI32(b.remU(t, b.index(p.pageSize)));
      Value inBudget = b.cmp(Pred::ult, entry, b.index(p.budget));
      Value safeEntry = b.minS(entry, b.index(p.budget - 1));
      Value unit = b.load(a.units, {batch, b.index(0), safeEntry});
      Value slot = b.load(a.slots, {batch, b.index(0), safeEntry});
      Value rows = b.minS(
          b.maxS(b.sub(length, b.mul(unit, b.i32(p.pageSize))), b.i32(0)),
          b.i32(p.pageSize));
      Value valid = b.andI(
          inBudget, b.andI(b.andI(b.cmp(Pred::sge, unit, b.i32(0)),
                                  b.cmp(Pred::sge, slot, b.i32(0))),
                           b.cmp(Pred::slt, r, rows)));
      Value rowIndex = b.add(b.mul(slot, b.i32(p.pageSize)), r);
      b.store(b.select(valid, rowIndex, b.i32(-1)), rowTable, {stage, tid});
    });
  }

  /// Phase 2: the key rows staged in row table `stage` into K stage `stage`
  /// (cp.async; invalid rows zero-filled). The caller commits the group.
  /// Thread t copies row t / 4, chunks t % 4 + 4 i: one row-table read and
  /// one source address per thread, and each chunk's addresses differ from
  /// them by constants (chunk c of the row sits in run c / 8 = i / 2 at
  /// position (c % 8) ^ (row % 8), and c % 8 = t % 4 + 4 (i % 2)).
  void issueTile(Value stage) {
    static_assert(kMLABlock == 4 * kTileTokens, "4 threads per key row");
    if (p.fp8)
      return issueRaw(stage);
    const int64_t rowChunks = p.dk * 2 / kVectorBytes; // a multiple of 8
    Value row = b.divU(tid, b.index(4));
    Value first = b.remU(tid, b.index(4));
    Value rowIndex = b.load(rowTable, {stage, row});
    Value valid = b.cmp(Pred::sge, rowIndex, b.i32(0));
    Value safeRow = b.extU64(b.maxS(rowIndex, b.i32(0)));
    Value requestRows = b.mul(toI64(batch), rowsPerRequest);
    Value src = b.add(
        keyBase, b.add(b.mul(b.add(requestRows, safeRow), b.i64(p.dk * 2)),
                       toI64(b.mul(first, b.index(kVectorBytes)))));
    Value srcBytes = b.select(valid, b.i32(kVectorBytes), b.i32(0));
    Value dstRow = b.add(
        b.add(kShared, b.mul(toI64(stage), b.i64(p.tileBytes()))),
        toI64(b.mul(row, b.index(kSwizzleBytes))));
    Value position = b.xorI(first, b.remU(row, b.index(8)));
    Value dstEven = b.add(dstRow, toI64(b.mul(position, b.index(kVectorBytes))));
    Value dstOdd = b.add(
        dstRow,
        toI64(b.mul(b.xorI(position, b.index(4)), b.index(kVectorBytes))));
    for (int64_t i = 0; i < rowChunks / 4; ++i) {
      Value dst = b.add(i % 2 ? dstOdd : dstEven,
                        b.i64(i / 2 * kTileTokens * kSwizzleBytes));
      b.copyAsync16(dst, b.add(src, b.i64(i * 4 * kVectorBytes)), srcBytes);
    }
  }

  /// This thread's key row of the tile in row table `stage` (row tid / 4):
  /// its global address (row 0 for an invalid token) and the bytes to copy
  /// per 16-byte chunk (0 zero-fills).
  std::pair<Value, Value> keyRowSource(Value stage, Value row) {
    Value rowIndex = b.load(rowTable, {stage, row});
    Value valid = b.cmp(Pred::sge, rowIndex, b.i32(0));
    Value safeRow = b.extU64(b.maxS(rowIndex, b.i32(0)));
    Value requestRows = b.mul(toI64(batch), rowsPerRequest);
    Value src = b.add(keyBase, b.mul(b.add(requestRows, safeRow),
                                     b.i64(p.rowBytes())));
    return {src, b.select(valid, b.i32(kVectorBytes), b.i32(0))};
  }

  /// fp8: the codes + scales of the rows staged in row table `stage` into
  /// raw stage `stage` ([64][rawRowBytes], unswizzled); thread t copies
  /// chunks t % 4 + 4 i of row t / 4.
  void issueRaw(Value stage) {
    const int64_t chunks = p.rawRowBytes() / kVectorBytes;
    Value row = b.divU(tid, b.index(4));
    Value first = b.remU(tid, b.index(4));
    auto [src, srcBytes] = keyRowSource(stage, row);
    src = b.add(src, toI64(b.mul(first, b.index(kVectorBytes))));
    Value dst = b.add(
        b.add(rawShared, b.mul(toI64(stage), b.i64(p.rawStageBytes()))),
        toI64(b.add(b.mul(row, b.index(p.rawRowBytes())),
                    b.mul(first, b.index(kVectorBytes)))));
    for (int64_t i = 0; 4 * i < chunks; ++i) {
      auto copy = [&, i] {
        b.copyAsync16(b.add(dst, b.i64(i * 4 * kVectorBytes)),
                      b.add(src, b.i64(i * 4 * kVectorBytes)), srcBytes);
      };
      if (4 * i + 3 < chunks)
        copy();
      else
        b.ifThen(b.cmp(Pred::ult, first, b.index(chunks - 4 * i)), copy);
    }
  }

  /// fp8: the rope (bf16) of tile `tile`'s rows (row table tile % 2) into
  /// the runs past dv of the bf16 K stage, which only S reads: the caller
  /// issues it once S of the previous tile is done.
  void issueRope(Value tile) {
    const int64_t ropeChunks = (p.dk - p.dv) * 2 / kVectorBytes;
    const int64_t runChunks = kSwizzleBytes / kVectorBytes;
    Value row = b.divU(tid, b.index(4));
    Value first = b.remU(tid, b.index(4));
    auto [src, srcBytes] =
        keyRowSource(b.remU(tile, b.index(2)), row);
    src = b.add(src, b.i64(p.rawRowBytes()));
    Value dstRow = b.add(kShared, toI64(b.mul(row, b.index(kSwizzleBytes))));
    for (int64_t i = 0; 4 * i < ropeChunks; ++i) {
      // Rope chunk j = t % 4 + 4 i: run dv / 64 + j / 8, position j % 8.
      Value chunk = b.add(first, b.index(4 * i));
      Value run = b.add(b.index(p.dv / kElementsPerRun),
                        b.divU(chunk, b.index(runChunks)));
      Value position = b.xorI(b.remU(chunk, b.index(runChunks)),
                              b.remU(row, b.index(8)));
      Value dst = b.add(
          dstRow, toI64(b.add(b.mul(run, b.index(kTileTokens * kSwizzleBytes)),
                              b.mul(position, b.index(kVectorBytes)))));
      b.copyAsync16(dst,
                    b.add(src, toI64(b.mul(chunk, b.index(kVectorBytes)))),
                    srcBytes);
    }
  }

  /// fp8: raw stage `stage`'s codes times their scales, as bf16, into the
  /// runs below dv of the bf16 K stage. Thread t dequantises code chunks
  /// c = t % 4 + 4 i of row t / 4: chunk c (16 codes) is in scale tile
  /// c / 8 = i / 2 and becomes bf16 chunks 2 c, 2 c + 1, in run c / 4 = i
  /// at positions 2 (t % 4) and 2 (t % 4) + 1.
  void dequantiseTile(Value stage) {
    static_assert(::hsa::artifact::kFp8LatentTile == 128,
                  "scale tile = 8 code chunks");
    auto sharedPtr = LLVM::LLVMPointerType::get(b.getContext(), 3);
    auto codesType = VectorType::get({16}, b.getI8Type());
    auto halfType = VectorType::get({8}, actType);
    auto halfF32 = VectorType::get({8}, f32);
    Value row = b.divU(tid, b.index(4));
    Value first = b.remU(tid, b.index(4));
    Value rawRow = b.add(
        b.add(rawShared, b.mul(toI64(stage), b.i64(p.rawStageBytes()))),
        toI64(b.mul(row, b.index(p.rawRowBytes()))));
    auto loadShared = [&](Type type, Value address) -> Value {
      return LLVM::LoadOp::create(
          b, type, LLVM::IntToPtrOp::create(b, sharedPtr, address));
    };
    const int64_t tiles = p.dv / ::hsa::artifact::kFp8LatentTile;
    SmallVector<Value> scales;
    for (int64_t t = 0; t < tiles; ++t)
      scales.push_back(loadShared(f32, b.add(rawRow, b.i64(p.dv + 4 * t))));
    Value swizzle = b.remU(row, b.index(8));
    Value rowBase = b.add(kShared, toI64(b.mul(row, b.index(kSwizzleBytes))));
    Value lowAt = toI64(b.mul(b.xorI(b.mul(first, b.index(2)), swizzle),
                              b.index(kVectorBytes)));
    Value highAt = toI64(b.mul(
        b.xorI(b.add(b.mul(first, b.index(2)), b.index(1)), swizzle),
        b.index(kVectorBytes)));
    for (int64_t i = 0; 4 * i < p.dv / 16; ++i) {
      Value codes = loadShared(
          codesType,
          b.add(rawRow, b.add(toI64(b.mul(first, b.index(kVectorBytes))),
                              b.i64(i * 4 * kVectorBytes))));
      SmallVector<Value> values = b.decodeE4M3(codes);
      Value scale = b.splat(halfF32, scales[i / 2]);
      Value low = b.mulF(vector::FromElementsOp::create(
                             b, halfF32, ArrayRef(values).take_front(8)),
                         scale);
      Value high = b.mulF(vector::FromElementsOp::create(
                              b, halfF32, ArrayRef(values).drop_front(8)),
                          scale);
      Value runBase =
          b.add(rowBase, b.i64(i * kTileTokens * kSwizzleBytes));
      LLVM::StoreOp::create(b, b.truncTo(halfType, low),
                            LLVM::IntToPtrOp::create(
                                b, sharedPtr, b.add(runBase, lowAt)));
      LLVM::StoreOp::create(b, b.truncTo(halfType, high),
                            LLVM::IntToPtrOp::create(
                                b, sharedPtr, b.add(runBase, highAt)));
    }
  }

  Type accType(int64_t n) {
    SmallVector<Type> types(n / 2, f32);
    return LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  }
  Value zeroAcc(int64_t n) {
    Value acc = LLVM::PoisonOp::create(b, accType(n));
    Value zero = b.f32(0.0);
    for (int64_t i = 0; i < n / 2; ++i)
      acc = LLVM::InsertValueOp::create(b, acc, zero, i);
    return acc;
  }
  Value wgmma(Value acc, int64_t n, Value descA, Value descB, bool accumulate,
              bool transposeB) {
    MLIRContext *ctx = b.getContext();
    auto type = NVVM::WGMMATypesAttr::get(
        ctx, p.f16 ? NVVM::WGMMATypes::f16 : NVVM::WGMMATypes::bf16);
    auto f32Type = NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32);
    auto one = NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one);
    auto scaleD = NVVM::WGMMAScaleOutAttr::get(
        ctx, accumulate ? NVVM::WGMMAScaleOut::one : NVVM::WGMMAScaleOut::zero);
    auto layoutA = NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row);
    auto layoutB = NVVM::MMALayoutAttr::get(
        ctx, transposeB ? NVVM::MMALayout::row : NVVM::MMALayout::col);
    return NVVM::WgmmaMmaAsyncOp::create(
        b, accType(n), acc, descA, descB,
        NVVM::MMAShapeAttr::get(ctx, 64, n, kMMAK), type, type, f32Type,
        scaleD, one, one, layoutA, layoutB, NVVM::MMAIntOverflowAttr());
  }
  void wgmmaWait() {
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));
  }
  /// Generic-proxy shared writes (cp.async's, P's) visible to wgmma.
  void fenceAsyncShared() {
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }

  /// Phase 3: the split's tiles. Carried: O (Dv / 4 f32 per thread), the
  /// running max of rows row0 / row1 (base 2) and their partial sums.
  SmallVector<Value> tileLoop() {
    const int64_t n = p.valueColumns();
    SmallVector<Value> init{zeroAcc(n), b.negInf(), b.negInf(), b.f32(0.0),
                            b.f32(0.0)};
    return b.forRange(
        b.index(0), tileCount, b.index(1), init,
        [&](Value tile, ValueRange carried) -> SmallVector<Value> {
          return tileStep(tile, carried);
        });
  }

  SmallVector<Value> tileStep(Value tile, ValueRange carried) {
    const int64_t n = p.valueColumns();
    Value stage = b.remU(tile, b.index(2));
    // Three barriers per tile (four with fp8). This one: every thread's
    // chunks of this tile (and of Q) have landed, and both warpgroups are
    // done with the previous tile (its K stage, P and row maxima are free).
    NVVM::CpAsyncWaitGroupOp::create(b, 0);
    fenceAsyncShared();
    b.barrier();
    Value next = b.add(tile, b.index(1));
    Value hasNext = b.cmp(Pred::ult, next, tileCount);
    if (p.fp8) {
      // The next tile's raw rows into the raw stage this tile's previous
      // one used (dequantised already), then this tile's rows into the bf16
      // stage, which the previous tile's P V is done with.
      b.ifThen(hasNext, [&] { issueRaw(b.remU(next, b.index(2))); });
      NVVM::CpAsyncCommitGroupOp::create(b);
      dequantiseTile(stage);
      fenceAsyncShared();
      b.barrier();
    }

    if (!p.fp8) {
      // The next tile's copies (row table staged two tiles ahead), in
      // flight while this one is computed, into the stage the previous tile
      // used. Issued before S: issuing S first and the copies under it was
      // measured slower (bench/results/2026-12-04-h200/session18).
      b.ifThen(hasNext, [&] { issueTile(b.remU(next, b.index(2))); });
      NVVM::CpAsyncCommitGroupOp::create(b);
    }

    // S = Q K^T for this warpgroup's 32 tokens.
    Value kStage =
        p.fp8 ? kShared
              : b.add(kShared, b.mul(toI64(stage), b.i64(p.tileBytes())));
    Value kHalf = b.add(kStage, b.mul(toI64(warpgroup),
                                      b.i64(32 * kSwizzleBytes)));
    NVVM::WgmmaFenceAlignedOp::create(b);
    Value s = zeroAcc(32);
    const int64_t stepsPerRun = kElementsPerRun / kMMAK;
    for (int64_t r = 0; r < p.keyRuns(); ++r)
      for (int64_t k = 0; k < stepsPerRun; ++k) {
        const int64_t at = k * kMMAK * 2;
        Value descA = b.swizzledDescriptor(
            b.add(qShared, b.i64(r * kHeadsPerBlock * kSwizzleBytes + at)));
        Value descB = b.swizzledDescriptor(
            b.add(kHalf, b.i64(r * kTileTokens * kSwizzleBytes + at)));
        s = wgmma(s, 32, descA, descB, r + k > 0, /*transposeB=*/false);
      }
    wgmmaWait();

    // Logits (base 2), masked; the tile's row maxima of both halves.
    // Accumulator 4 j + e: row row0 (e < 2) or row1, token 8 j + 2 q + e % 2
    // of this warpgroup's 32.
    Value logScale = b.f32(p.scale * kLog2E);
    SmallVector<Value> logits(16);
    Value tileMax0 = b.negInf(), tileMax1 = b.negInf();
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        Value token = b.add(
            b.add(b.mul(warpgroup, b.index(32)), b.index(8 * j + e % 2)),
            b.mul(quad, b.index(2)));
        Value valid =
            b.cmp(Pred::sge, b.load(rowTable, {stage, token}), b.i32(0));
        Value x = LLVM::ExtractValueOp::create(b, s, 4 * j + e);
        x = b.select(valid, b.mulF(x, logScale), b.negInf());
        logits[4 * j + e] = x;
        if (e < 2)
          tileMax0 = b.maxF(tileMax0, x);
        else
          tileMax1 = b.maxF(tileMax1, x);
      }
    for (int64_t offset : {1, 2}) {
      tileMax0 = b.maxF(tileMax0, b.shuffleXor(tileMax0, offset));
      tileMax1 = b.maxF(tileMax1, b.shuffleXor(tileMax1, offset));
    }
    b.ifThen(b.cmp(Pred::eq, quad, b.index(0)), [&] {
      b.store(tileMax0, rowMax, {warpgroup, row0});
      b.store(tileMax1, rowMax, {warpgroup, row1});
    });
    b.barrier();
    // fp8: both warpgroups are done with S, so the rope runs of the bf16
    // stage take the next tile's (its row table is still staged).
    if (p.fp8) {
      b.ifThen(hasNext, [&] { issueRope(next); });
      NVVM::CpAsyncCommitGroupOp::create(b);
    }
    // Every thread has masked this tile: its row table's buffer takes the
    // tile after next.
    stageRowTable(b.add(tile, b.index(2)), stage);
    Value other = b.sub(b.index(1), warpgroup);
    // The rows' reference (the max the weights are taken against) moves
    // only when a row's max passes it by more than kRescaleLog2 somewhere in
    // the warp: weights stay <= 2^kRescaleLog2 and most tiles skip the
    // rescale of O. Warp w of either warpgroup holds the same rows with the
    // same maxima, so both take the same decision and keep one reference.
    Value max0 = b.maxF(carried[1],
                        b.maxF(tileMax0, b.load(rowMax, {other, row0})));
    Value max1 = b.maxF(carried[2],
                        b.maxF(tileMax1, b.load(rowMax, {other, row1})));
    Value bound0 = b.addF(carried[1], b.f32(kRescaleLog2));
    Value bound1 = b.addF(carried[2], b.f32(kRescaleLog2));
    Value rescale = NVVM::VoteSyncOp::create(
        b, b.getI1Type(), b.i32(-1),
        b.orI(b.cmpF(FPred::OGT, max0, bound0),
              b.cmpF(FPred::OGT, max1, bound1)),
        NVVM::VoteSyncKind::any);
    max0 = b.select(rescale, max0, carried[1]);
    max1 = b.select(rescale, max1, carried[2]);
    Value ref0 = b.safeMax(max0), ref1 = b.safeMax(max1);
    Value alpha0 = b.exp2(b.subF(carried[1], ref0));
    Value alpha1 = b.exp2(b.subF(carried[2], ref1));
    Value sum0 = b.select(rescale, b.mulF(carried[3], alpha0), carried[3]);
    Value sum1 = b.select(rescale, b.mulF(carried[4], alpha1), carried[4]);

    // P (bf16 / f16) into shared memory: row h, token c at chunk c / 8
    // swizzled by h % 8; two elements per 32-bit store.
    auto sharedPtr = LLVM::LLVMPointerType::get(b.getContext(), 3);
    auto pairType = VectorType::get({2}, actType);
    auto pairF32 = VectorType::get({2}, f32);
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t half = 0; half < 2; ++half) {
        Value w0 = b.exp2(b.subF(logits[4 * j + 2 * half], half ? ref1 : ref0));
        Value w1 =
            b.exp2(b.subF(logits[4 * j + 2 * half + 1], half ? ref1 : ref0));
        if (half)
          sum1 = b.addF(sum1, b.addF(w0, w1));
        else
          sum0 = b.addF(sum0, b.addF(w0, w1));
        Value pair = b.truncTo(
            pairType, vector::FromElementsOp::create(b, pairF32,
                                                     ValueRange{w0, w1}));
        Value row = half ? row1 : row0;
        Value chunk = b.add(b.mul(warpgroup, b.index(4)), b.index(j));
        Value physical = b.xorI(chunk, b.remU(row, b.index(8)));
        Value offset = toI64(b.add(
            b.add(b.mul(row, b.index(kSwizzleBytes)),
                  b.mul(physical, b.index(kVectorBytes))),
            b.mul(quad, b.index(4))));
        Value ptr = LLVM::IntToPtrOp::create(b, sharedPtr,
                                             b.add(pShared, offset));
        LLVM::StoreOp::create(b, pair, ptr);
      }
    fenceAsyncShared();
    b.barrier(); // P of both halves

    // O = alpha O + P V over this warpgroup's value columns.
    Value o = b.ifThenElse(
        rescale, {accType(n)},
        [&]() -> SmallVector<Value> {
          Value scaled = carried[0];
          for (int64_t i = 0; i < n / 2; ++i) {
            Value x = LLVM::ExtractValueOp::create(b, scaled, i);
            scaled = LLVM::InsertValueOp::create(
                b, scaled, b.mulF(x, (i % 4) < 2 ? alpha0 : alpha1), i);
          }
          return {scaled};
        },
        [&]() -> SmallVector<Value> { return {carried[0]}; })[0];
    NVVM::WgmmaFenceAlignedOp::create(b);
    const int64_t runBytes = kTileTokens * kSwizzleBytes; // one 64-column block
    Value vBase = b.add(kStage, b.mul(toI64(warpgroup),
                                      b.i64(n / kElementsPerRun * runBytes)));
    for (int64_t k = 0; k < kTileTokens / kMMAK; ++k) {
      Value descA = b.swizzledDescriptor(b.add(pShared, b.i64(k * kMMAK * 2)));
      Value descB = b.swizzledDescriptor(
          b.add(vBase, b.i64(k * kMMAK * kSwizzleBytes)), runBytes);
      o = wgmma(o, n, descA, descB, /*accumulate=*/true, /*transposeB=*/true);
    }
    wgmmaWait();
    return {o, max0, max1, sum0, sum1};
  }

  /// Phase 4: the rows' sums (quads, then the two warpgroups), the output
  /// and LSE of the split, written to io.o / io.lse with one split, to the
  /// scratch (then merged by the last split) with several.
  void epilogue(ArrayRef<Value> state) {
    const int64_t n = p.valueColumns();
    Value o = state[0];
    Value max[2] = {state[1], state[2]}, sum[2] = {state[3], state[4]};
    Value rows[2] = {row0, row1};
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t offset : {1, 2})
        sum[h] = b.addF(sum[h], b.shuffleXor(sum[h], offset));
    }
    b.ifThen(b.cmp(Pred::eq, quad, b.index(0)), [&] {
      b.store(sum[0], rowSum, {warpgroup, row0});
      b.store(sum[1], rowSum, {warpgroup, row1});
    });
    b.barrier();
    Value other = b.sub(b.index(1), warpgroup);
    Value inv[2], lse[2];
    for (int64_t h = 0; h < 2; ++h) {
      Value total = b.addF(sum[h], b.load(rowSum, {other, rows[h]}));
      Value seen = b.cmpF(FPred::OGT, total, b.f32(0.0));
      inv[h] = b.select(seen, b.divF(b.f32(1.0), total), b.f32(0.0));
      Value natural = b.mulF(
          b.addF(max[h], b.log2(b.select(seen, total, b.f32(1.0)))),
          b.f32(kLn2));
      lse[h] = b.select(seen, natural, b.negInf());
    }
    Value firstColumn = b.mul(warpgroup, b.index(n));
    auto pairF32 = VectorType::get({2}, f32);
    auto pairAct = VectorType::get({2}, actType);
    Value single = b.cmp(Pred::eq, splits, b.index(1));
    // Accumulator 4 j + e: row rows[e / 2], column 8 j + 2 q + e % 2.
    auto forEachPair = [&](function_ref<void(Value head, Value col,
                                             Value pair, int64_t h)> body) {
      for (int64_t h = 0; h < 2; ++h) {
        Value head = b.add(firstHead, rows[h]);
        b.ifThen(b.cmp(Pred::ult, head, b.index(p.hq)), [&] {
          for (int64_t j = 0; j < n / 8; ++j) {
            Value x0 = LLVM::ExtractValueOp::create(b, o, 4 * j + 2 * h);
            Value x1 = LLVM::ExtractValueOp::create(b, o, 4 * j + 2 * h + 1);
            Value pair = b.mulF(
                vector::FromElementsOp::create(b, pairF32, ValueRange{x0, x1}),
                b.splat(pairF32, inv[h]));
            Value col = b.add(b.add(firstColumn, b.index(8 * j)),
                              b.mul(quad, b.index(2)));
            body(head, col, pair, h);
          }
        });
      }
    };
    auto writeLse = [&](Value target, bool partial) {
      b.ifThen(b.andI(b.cmp(Pred::eq, quad, b.index(0)),
                      b.cmp(Pred::eq, warpgroup, b.index(0))),
               [&] {
        for (int64_t h = 0; h < 2; ++h) {
          Value head = b.add(firstHead, rows[h]);
          b.ifThen(b.cmp(Pred::ult, head, b.index(p.hq)), [&] {
            if (partial)
              b.store(lse[h], target, {b.add(firstPartial, split), rows[h]});
            else
              b.store(lse[h], target, {batch, head});
          });
        }
      });
    };
    b.ifThenElse(
        single, TypeRange{},
        [&]() -> SmallVector<Value> {
          forEachPair([&](Value head, Value col, Value pair, int64_t) {
            b.storeVector(b.truncTo(pairAct, pair), a.output,
                          {batch, head, col});
          });
          writeLse(a.lse, /*partial=*/false);
          return {};
        },
        [&]() -> SmallVector<Value> {
          forEachPair([&](Value, Value col, Value pair, int64_t h) {
            b.storeVector(pair, a.partialOut,
                          {b.add(firstPartial, split), rows[h], col});
          });
          writeLse(a.partialLse, /*partial=*/true);
          return {};
        });
  }

  KernelBuilder &b;
  const MLAPlan &p;
  const MLAArgs &a;
  Type f32, i32, i64, actType;
  Value headBlock, split, splits, batch, tid, warpgroup, group, quad, row0,
      row1, firstHead, firstPartial, length, firstTile, tileCount;
  Value rowTable, rowMax, rowSum;
  Value qShared, kShared, pShared, rawShared, keyBase, rowsPerRequest;
};
} // namespace

/// The launch's split count, min(tiles, max(1, floor(132 / (B x head
/// blocks)))), as both the launch (`arith` on index values the exporter turns
/// into an expression) and the merge kernel compute it. Floor, not ceil: the
/// splits of one wave finish together, and a second, partial wave costs as
/// much as the first (B = 64: two splits of 128 blocks ran 2 x 16 tiles in
/// two waves plus a merge, one split 32 tiles in one). The expression
/// language has ceil division only: floor(132 / n) = ceil((133 - n) / n)
/// for n <= 132, and max(133 - n, 1) makes it 1 past that.
static Value splitCount(OpBuilder &builder, Location loc, Value batch,
                        const MLAPlan &p) {
  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  Value blocks = arith::MulIOp::create(builder, loc, batch, c(p.headBlocks));
  Value spare = arith::MaxSIOp::create(
      builder, loc,
      arith::SubIOp::create(builder, loc, c(kTargetBlocks + 1), blocks), c(1));
  return arith::MinSIOp::create(
      builder, loc, c(p.tiles),
      arith::CeilDivUIOp::create(builder, loc, spare, blocks));
}

static constexpr int64_t kMergeBlock = 256;

/// attend_mla_merge's body: one thread per (head row of the block, 4
/// output columns).
static void buildMergeKernel(KernelBuilder &b, const MLAPlan &p,
                             const MLAMergeArgs &a) {
  Type actType = p.f16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
  Value batch = b.blockId(gpu::Dimension::z);
  Value headBlock = b.blockId(gpu::Dimension::y);
  Value splits = splitCount(b, b.getLoc(), b.dim(a.output, 0), p);
  const int64_t quads = p.dv / 4;
  Value item = b.add(b.mul(b.blockId(gpu::Dimension::x), b.index(kMergeBlock)),
                     b.threadId());
  Value row = b.divU(item, b.index(quads));
  Value col = b.mul(b.remU(item, b.index(quads)), b.index(4));
  Value head = b.add(b.mul(headBlock, b.index(kHeadsPerBlock)), row);
  Value firstPartial = b.mul(
      b.add(b.mul(batch, b.index(p.headBlocks)), headBlock), splits);
  Value active = b.andI(
      b.cmp(Pred::ugt, splits, b.index(1)),
      b.andI(b.cmp(Pred::ult, row, b.index(kHeadsPerBlock)),
             b.cmp(Pred::ult, head, b.index(p.hq))));
  b.ifThen(active, [&] {
    auto lseAt = [&](Value s) {
      return b.load(a.partialLse, {b.add(firstPartial, s), row});
    };
    auto quadAt = [&](Value s, int64_t offset) {
      return b.loadVector(4, a.partialOut, {b.add(firstPartial, s), row,
                                            b.add(col, b.index(offset))});
    };
    emitSplitMerge(b, splits, 4, {lseAt, quadAt}, actType, a.output,
                   {batch, head, col},
                   [&] { return b.cmp(Pred::eq, col, b.index(0)); }, a.lse,
                   {batch, head});
  });
}

LogicalResult mlir::hsa::lowerAttendMLA(KernelContext &ctx, AttendOp op) {
  LayerOp layer = getLayer(op);
  MLAPlan plan = makeMLAPlan(layer);
  Type f32 = Float32Type::get(op.getContext());
  auto device = PlacementTier::device;
  FailureOr<Value> partialOut = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.mla_o", f32, {kPartials, kHeadsPerBlock, plan.dv}, device, 0});
  FailureOr<Value> partialLse = KernelContext::scratchBuffer(
      op, layer,
      {"scratch.mla_lse", f32, {kPartials, kHeadsPerBlock}, device, 0});
  FailureOr<Value> lse = KernelContext::layerBuffer(op, layer, "io.lse");
  if (failed(partialOut) || failed(partialLse) || failed(lse))
    return failure();

  const MLAArgs launchArgs{op.getQueries(), op.getLengths(), op.getUnits(),
                           op.getSlots(),   op.getKeys(),    *partialOut,
                           *partialLse,     op.getOutput(),  *lse};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "attend_mla"), operands, {kMLABlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        MLAKernel(b, plan, kernelArguments(fn, launchArgs)).build();
      });
  ctx.notePlan(kernel, plan);
  const MLAMergeArgs mergeArgs{*partialOut, *partialLse, op.getOutput(), *lse};
  SmallVector<Value> mergeOperands = kernelOperands(mergeArgs);
  const int64_t mergeChunks =
      llvm::divideCeil(kHeadsPerBlock * plan.dv / 4, kMergeBlock);
  gpu::GPUFuncOp merge = ctx.getOrCreateKernel(
      kernelName(layer, "attend_mla_merge"), mergeOperands, {kMergeBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        buildMergeKernel(b, plan, kernelArguments(fn, mergeArgs));
      });

  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto c = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v).getResult();
  };
  Value batch = memref::DimOp::create(builder, loc, op.getQueries(), 0);
  Value splits = splitCount(builder, loc, batch, plan);
  LaunchShape shape;
  shape.gridX = c(plan.headBlocks);
  shape.gridY = splits;
  shape.gridZ = batch;
  shape.blockX = kMLABlock;
  shape.dynamicSharedBytes = plan.sharedBytes();
  ctx.launchBefore(op, kernel, shape, operands);
  // The merge's grid collapses to (1, head blocks, 1) with one split:
  // max(1, min(n, (splits - 1) x n)) is n with several splits, else 1.
  auto onlyIfSplit = [&](Value n) {
    Value several = arith::MulIOp::create(
        builder, loc, arith::SubIOp::create(builder, loc, splits, c(1)), n);
    return arith::MaxSIOp::create(
               builder, loc, c(1),
               arith::MinSIOp::create(builder, loc, n, several))
        .getResult();
  };
  LaunchShape mergeShape;
  mergeShape.gridX = onlyIfSplit(c(mergeChunks));
  mergeShape.gridY = c(plan.headBlocks);
  mergeShape.gridZ = onlyIfSplit(batch);
  mergeShape.blockX = kMergeBlock;
  ctx.launch(op, merge, mergeShape, mergeOperands);
  return success();
}
