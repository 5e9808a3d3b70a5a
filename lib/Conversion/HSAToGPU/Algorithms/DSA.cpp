//===- DSA.cpp - the DSA package's kernels --------------------------------===//
//
// DeepSeek-V3.2's lightning indexer (docs/algorithms/dsa.md): per token t a
// key kI[t] of Di elements in index_dtype (fp8 e4m3 with one f32 scale per
// token, or bf16 with scale 1) in repr.index_keys / repr.index_scales; the
// score of t is
//   s[t] = scale[t] * sum_{j < Hi} max(0, qI[j] . kI[t]) * w[j]
// with the step's indexer queries qI = io.index_q [B][Hi][Di] and head
// weights w = io.index_w [B][Hi]. The bf16 key of every token also lives in
// the host pool (host.index_k [pages][P][Di], paged like host.k), from
// which prefill quantises.
//
// score, fp8 keys on tensor cores (DSAScorePlan with mma; sm_89+, the
// `fp8-mma` option): grid (ceil(N / 512), 1, B), 256 threads (8 warps). The
// block stages the row's fp8 queries [Hi][Di] (8 KiB for V3.2) and weights
// in shared memory; each warp copies its query fragments into registers
// once (Hi x Di / 128 words: 64 for V3.2) and then walks 4 tiles of 16
// tokens. A tile is Hi / 8 x Di / 32 mma.sync.m16n8k32.row.col.f32.e4m3.e4m3
// (the tile's tokens as M, 8 heads as N, 32 key dims as K), so the dot of
// every (token, head) pair comes out of the tensor cores in fp32 and each
// n-tile's four accumulators go straight through the relu and the weight.
// The dot is a sum over dims, so any permutation of the dims applied to
// keys and queries alike gives the same result: quad lane q of a warp owns
// bytes [16 q, 16 q + 16) and [64 + 16 q, 64 + 16 q + 16) of every
// 128-byte run, which the fragments take as (k-step s: words 2 s, 2 s + 1),
// so a token row is two coalesced 16-byte loads per lane and run instead of
// eight 4-byte ones. The next tile's key loads are issued before the
// current tile's MMAs. The row's head sum ends with two quad shuffles;
// lanes 0 and 1 of each quad store tokens g and g + 8. ptxas sees the LLVM
// intrinsic through llvm.call_intrinsic: MLIR 22's nvvm.mma.sync verifier
// does not admit e4m3 at m16n8k32.
//
// score, CUDA cores (bf16 keys, or fp8 without `fp8-mma`): grid
// (ceil(N / 256), 1, B), 128 threads. The block stages the row's queries as
// f32 [Hi][Di] and its weights [Hi] in shared memory (32 KiB + 256 B for
// V3.2). Each thread owns T = 2 tokens (t = chunk + i * 128 + tid,
// consecutive threads on consecutive tokens) and walks the heads in chunks
// of Hc (<= 32) heads: for every slice of 16 key dims it loads each token's
// slice (one 16-byte load of fp8, two of bf16), decodes it to f32
// (cvt.rn.f16x2.e4m3x2, then f16 -> f32; exact), and accumulates T x Hc
// fp32 dot products, reading the queries from shared memory as 16-byte
// broadcasts (every lane reads the same address). After the last slice
// each head's dot goes through the relu and is weighted: total += max(0,
// dot) * w[j] (fma).
//
// Both: the token's score is scale[t] * total, finished by
// ScoreFrame::finalScore (forced and invalid tokens) and, fused, followed by
// the frame's top-k tail.
//
// update_repr (append) and rebuild_repr (prefill) quantise rows by V3.2's
// rule, one warp per token row: lane l holds elements [128 c + 4 l, +4) of
// every 128-element run c (8-byte bf16 loads, 4-byte code stores); amax =
// max(max |x|, 1e-4) by an xor-shuffle max over the warp; the scale
// s = 2^ceil(log2(amax / 448)) comes exactly from amax's bits (amax =
// m * 2^e with m in [1, 2): s = 2^(e - 8) if m <= 1.75, else 2^(e - 7),
// since 448 = 1.75 * 2^8), and 1/s from the same exponent; the codes are
// e4m3(x * (1/s)) by cvt.rn.satfinite.e4m3x2.f32 (x * 2^-k is exact, and
// |x / s| <= 448, so the saturation never changes a value). Lane 0 writes
// the scale. bf16 keys are copied with scale 1.
//   append: grid (ceil(B / 4)), 128 threads, warp w of block k: row
//   b = 4 k + w, token t = lengths[b] (skipped when lengths[b] <= 0 or
//   t >= N, as Quest's append); the bf16 row also goes to host.index_k at
//   row t % P of page page_of[b][t / P] (when allocated), a zero-copy store
//   to the mapped pool.
//   prefill: grid (ceil(N / 4), B), 128 threads, warp w of block k: token
//   t = 4 k + w of request b, for t < lengths[b] whose page is allocated,
//   read zero-copy from host.index_k.
//
//===----------------------------------------------------------------------===//

#include "Algorithms.h"
#include "../ScoreFrame.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;

/// Score: threads per block, tokens per thread, the most heads whose dot
/// products a thread keeps at once, key dims decoded per step.
static constexpr int64_t kScoreBlock = 128;
static constexpr int64_t kTokensPerThread = 2;
static constexpr int64_t kMaxHeadChunk = 32;
static constexpr int64_t kSliceDims = 16;
/// Tensor-core score: warps per block, 16-token tiles per warp, the MMA's
/// M (tokens), N (heads) and K (key dims), and the most query-fragment
/// words a thread keeps in registers (Hi x Di / 128).
static constexpr int64_t kMMAWarps = 8;
static constexpr int64_t kMMATilesPerWarp = 8;
/// Tiles whose key loads are in flight while a tile's MMAs run.
static constexpr int64_t kMMAPrefetchTiles = 2;
static constexpr int64_t kMMATokens = 16;
static constexpr int64_t kMMAHeads = 8;
static constexpr int64_t kMMADims = 32;
static constexpr int64_t kMaxQueryFragmentWords = 64;
/// Bytes of a key run whose dims the quad lanes split (two 16-byte pieces
/// each).
static constexpr int64_t kMMARun = 128;
/// Warpgroup MMA (sm_90a): one warpgroup per block, its 64-token tiles
/// (all in flight at once: cp.async into a shared tile each), the most heads
/// (N; the accumulators are Hi / 2 registers).
static constexpr int64_t kWGThreads = 128;
static constexpr int64_t kWGTokens = 64;
static constexpr int64_t kWGTiles = 4;
/// Fused with the top-k, whose tail needs 8 KiB of the 48 KiB of static
/// shared memory: two tiles.
static constexpr int64_t kWGFusedTiles = 2;
static constexpr int64_t kWGMaxHeads = 128;
/// The operands' layout: K-major rows of 128 bytes with the 128-byte
/// swizzle (16-byte chunk c of row r at chunk c ^ (r % 8)), whose tiles
/// start 1024-byte aligned.
/// The staged f32 queries [Hi][Di] (static shared memory is 48 KiB; the
/// fused top-k tail needs some of the rest).
static constexpr int64_t kMaxStagedQueryBytes = 32 * 1024;
/// Quantisation: elements of a row one warp covers per run (4 per lane),
/// and token rows (warps) per block.
static constexpr int64_t kQuantRun = 4 * kWarpSize;
static constexpr int64_t kQuantRows = 4;
static constexpr int64_t kQuantBlock = kQuantRows * kWarpSize;

static LogicalResult checkDSALimits(LayerOp layer, EmitErrorFn emitError) {
  auto dsa = cast<DSAAttr>(layer.getAlgorithm());
  const int64_t heads = dsa.getIndexHeads(), dim = dsa.getIndexDim();
  if (dim % kQuantRun != 0)
    return emitError() << "cannot be lowered: dsa's quantiser covers a key "
                          "row in runs of 128 elements (4 per lane of a warp), "
                          "so index_dim must be a multiple of 128, got "
                       << dim;
  if (heads * dim * 4 > kMaxStagedQueryBytes)
    return emitError() << "cannot be lowered: dsa's score stages the "
                          "indexer queries as f32, index_heads x index_dim x "
                          "4 = "
                       << heads * dim * 4 << " bytes (limit "
                       << kMaxStagedQueryBytes << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// fp8 e4m3 codes
//===----------------------------------------------------------------------===//


/// Four f32 values as four e4m3 codes (round to nearest even, saturating):
/// a vector<4 x f8E4M3FN> for one 4-byte store.
static Value encodeE4M3x4(KernelBuilder &b, ArrayRef<Value> values) {
  Type i16 = b.getI16Type(), i32 = b.getI32Type();
  Type e4m3 = b.getType<Float8E4M3FNType>();
  auto pack = [&](Value lo, Value hi) {
    // The first operand lands in the upper byte.
    return NVVM::ConvertF32x2ToF8x2Op::create(
        b, i16, hi, lo, NVVM::FPRoundingMode::RN,
        NVVM::SaturationMode::SATFINITE, /*relu=*/false, e4m3);
  };
  Value low = arith::ExtUIOp::create(b, i32, pack(values[0], values[1]));
  Value high = arith::ExtUIOp::create(b, i32, pack(values[2], values[3]));
  Value word = b.orI(low, b.shl(high, b.i32(16)));
  Value vec = b.splat(VectorType::get({1}, i32), word);
  return vector::BitCastOp::create(b, VectorType::get({4}, e4m3), vec);
}

//===----------------------------------------------------------------------===//
// Quantisation of one token row (append, prefill)
//===----------------------------------------------------------------------===//

namespace {
/// The append and prefill kernels' plan: one warp per token row.
struct DSAQuantPlan {
  int64_t dim, runs;
  bool fp8, append;
  static DSAQuantPlan get(LayerOp layer, bool append) {
    auto dsa = cast<DSAAttr>(layer.getAlgorithm());
    DSAQuantPlan p;
    p.dim = dsa.getIndexDim();
    p.runs = p.dim / kQuantRun;
    p.fp8 = isa<Float8E4M3FNType>(dsa.getIndexDtype());
    p.append = append;
    return p;
  }
  void print(raw_ostream &os) const {
    if (append)
      os << "grid (ceil(B / " << kQuantRows << ")) block " << kQuantBlock;
    else
      os << "grid (ceil(N / " << kQuantRows << "), B) block " << kQuantBlock;
    os << "; a warp per token row, " << runs << " x 4 elements per lane, "
       << (fp8 ? "amax by shuffles, scale 2^ceil(log2(amax / 448)) from the "
                 "exponent bits, codes by cvt.rn.satfinite.e4m3x2.f32"
               : "bf16 copy, scale 1");
    if (append)
      os << "; the bf16 row also to host.index_k (zero-copy)";
    else
      os << "; rows read zero-copy from host.index_k";
  }
};
} // namespace

/// Quantises the token row this warp loaded (`row[c]`: vector<4 x bf16> of
/// run c at this lane's columns `cols[c]`) into repr.index_keys[batch][t]
/// and repr.index_scales[batch][t]. Every lane of the warp must reach it.
static void quantiseRow(KernelBuilder &b, const DSAQuantPlan &p,
                        ArrayRef<Value> row, ArrayRef<Value> cols, Value lane,
                        Value keys, Value scales, Value batch, Value t) {
  Value scale;
  if (!p.fp8) {
    for (auto [c, col] : llvm::enumerate(cols))
      b.storeVector(row[c], keys, {batch, t, col});
    scale = b.f32(1.0);
  } else {
    SmallVector<Value> x;
    for (Value v : row)
      x.push_back(b.toF32(v));
    // amax = max(max |x|, 1e-4); maxnum ignores a NaN, as std::max does in
    // the reference (llvm.maxnum is PTX max.f32; arith.maxnumf would become
    // a libdevice call).
    auto maxNum = [&](Value a, Value c) -> Value {
      return LLVM::MaxNumOp::create(b, a, c);
    };
    Value amax = b.f32(1e-4);
    for (Value v : x)
      for (int64_t e = 0; e < 4; ++e) {
        Value s = b.extract(v, e);
        amax = maxNum(amax, maxNum(s, arith::NegFOp::create(b, s)));
      }
    for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2)
      amax = maxNum(amax, b.shuffleXor(amax, offset));
    // amax = m * 2^(E - 127), m in [1, 2): the smallest power of two p with
    // 448 p >= amax is 2^(E - 135) if m <= 1.75 (mantissa bits <= 0x600000),
    // else 2^(E - 134). amax >= 1e-4 is normal, and so are s and 1 / s.
    Value bits = b.bitcast(b.getI32Type(), amax);
    Value exponent = b.shrU(bits, b.i32(23));
    Value above = b.cmp(Pred::ugt, b.andI(bits, b.i32(0x7fffff)),
                        b.i32(0x600000));
    Value sExp = b.add(b.sub(exponent, b.i32(8)), b.extU32(above));
    scale = b.bitcast(b.getF32Type(), b.shl(sExp, b.i32(23)));
    Value inverse = b.bitcast(b.getF32Type(),
                              b.shl(b.sub(b.i32(254), sExp), b.i32(23)));
    for (auto [c, col] : llvm::enumerate(cols)) {
      SmallVector<Value> y;
      for (int64_t e = 0; e < 4; ++e)
        y.push_back(b.mulF(b.extract(x[c], e), inverse)); // exact: x / s
      b.storeVector(encodeE4M3x4(b, y), keys, {batch, t, col});
    }
  }
  b.ifThen(b.cmp(Pred::eq, lane, b.index(0)),
           [&] { b.store(scale, scales, {batch, t}); });
}

/// This lane's columns of the row: 4 l + 128 c.
static SmallVector<Value> laneColumns(KernelBuilder &b, const DSAQuantPlan &p,
                                      Value lane) {
  SmallVector<Value> cols;
  for (int64_t c = 0; c < p.runs; ++c)
    cols.push_back(b.add(b.mul(lane, b.index(4)), b.index(c * kQuantRun)));
  return cols;
}

namespace {
/// The append kernel's arguments, in order.
struct DSAAppendArgs {
  Value newIndexKeys, lengths, keys, scales, pageOf, hostIndexKeys;
  SmallVector<Value *> fields() {
    return {&newIndexKeys, &lengths, &keys, &scales, &pageOf, &hostIndexKeys};
  }
};
/// The prefill kernel's arguments, in order.
struct DSAPrefillArgs {
  Value lengths, pageOf, hostIndexKeys, keys, scales;
  SmallVector<Value *> fields() {
    return {&lengths, &pageOf, &hostIndexKeys, &keys, &scales};
  }
};
} // namespace

static LogicalResult lowerDSAUpdateRepr(KernelContext &ctx, UpdateReprOp op) {
  LayerOp layer = getLayer(op);
  if (op.getReprs().size() != 2 || op.getInputs().size() != 1 ||
      op.getHostReprs().size() != 1 || !op.getPageOf())
    return op.emitOpError() << "expects DSA's index keys and scales, its "
                               "new index key and host.index_k with the "
                               "page table";
  const DSAQuantPlan plan = DSAQuantPlan::get(layer, /*append=*/true);
  const int64_t pageSize = layer.getConfig().getPageSize();
  const DSAAppendArgs launchArgs{op.getInputs()[0], op.getLengths(),
                                 op.getReprs()[0],  op.getReprs()[1],
                                 op.getPageOf(),    op.getHostReprs()[0]};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "update_repr"), operands, {kQuantBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        DSAAppendArgs args = kernelArguments(fn, launchArgs);
        Value lane = b.laneId();
        Value batch = b.add(b.mul(b.blockId(), b.index(kQuantRows)),
                            b.warpId());
        Value rows = b.dim(args.newIndexKeys, 0);
        // A warp's row is uniform over its lanes: the shuffles below see
        // the whole warp.
        b.ifThen(b.cmp(Pred::ult, batch, rows), [&] {
          Value length = b.load(args.lengths, {batch});
          Value t = b.toIndex(length);
          Value valid = b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                               b.cmp(Pred::ult, t, b.dim(args.keys, 1)));
          b.ifThen(valid, [&] {
            SmallVector<Value> cols = laneColumns(b, plan, lane);
            SmallVector<Value> row;
            for (Value col : cols)
              row.push_back(
                  b.loadVector(4, args.newIndexKeys, {batch, col}));
            quantiseRow(b, plan, row, cols, lane, args.keys, args.scales,
                        batch, t);
            // The caller's row into the host pool, as store_kv writes host.k.
            Value unit = b.divU(t, b.index(pageSize));
            b.ifThen(b.cmp(Pred::ult, unit, b.dim(args.pageOf, 1)), [&] {
              Value page = b.load(args.pageOf, {batch, unit});
              b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
                Value r = b.remU(t, b.index(pageSize));
                for (auto [c, col] : llvm::enumerate(cols))
                  b.storeVector(row[c], args.hostIndexKeys,
                                {b.toIndex(page), r, col});
              });
            });
          });
        });
      });
  OpBuilder builder(op);
  Location loc = op.getLoc();
  LaunchShape shape;
  shape.gridX = arith::CeilDivUIOp::create(
      builder, loc, memref::DimOp::create(builder, loc, op.getInputs()[0], 0),
      arith::ConstantIndexOp::create(builder, loc, kQuantRows));
  shape.blockX = kQuantBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}

static LogicalResult lowerDSARebuildRepr(KernelContext &ctx,
                                         RebuildReprOp op) {
  LayerOp layer = getLayer(op);
  if (op.getReprs().size() != 2 || op.getHostReprs().size() != 1)
    return op.emitOpError()
           << "expects DSA's index keys and scales and host.index_k";
  const DSAQuantPlan plan = DSAQuantPlan::get(layer, /*append=*/false);
  const int64_t pageSize = layer.getConfig().getPageSize();
  const DSAPrefillArgs launchArgs{op.getLengths(), op.getPageOf(),
                                  op.getHostReprs()[0], op.getReprs()[0],
                                  op.getReprs()[1]};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, "rebuild_repr"), operands, {kQuantBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        DSAPrefillArgs args = kernelArguments(fn, launchArgs);
        Value lane = b.laneId();
        Value batch = b.blockId(gpu::Dimension::y);
        Value t = b.add(b.mul(b.blockId(), b.index(kQuantRows)), b.warpId());
        Value length = b.toIndex(b.load(args.lengths, {batch}));
        Value unit = b.divU(t, b.index(pageSize));
        // Uniform over the warp (one token per warp).
        Value valid = b.andI(
            b.andI(b.cmp(Pred::ult, t, length),
                   b.cmp(Pred::ult, t, b.dim(args.keys, 1))),
            b.cmp(Pred::ult, unit, b.dim(args.pageOf, 1)));
        b.ifThen(valid, [&] {
          Value page = b.load(args.pageOf, {batch, unit});
          b.ifThen(b.cmp(Pred::sge, page, b.i32(0)), [&] {
            SmallVector<Value> cols = laneColumns(b, plan, lane);
            Value r = b.remU(t, b.index(pageSize));
            SmallVector<Value> row;
            for (Value col : cols)
              row.push_back(b.loadVector(4, args.hostIndexKeys,
                                         {b.toIndex(page), r, col}));
            quantiseRow(b, plan, row, cols, lane, args.keys, args.scales,
                        batch, t);
          });
        });
      });
  OpBuilder builder(op);
  Location loc = op.getLoc();
  Value keys = op.getReprs()[0];
  LaunchShape shape;
  shape.gridX = arith::CeilDivUIOp::create(
      builder, loc, memref::DimOp::create(builder, loc, keys, 1),
      arith::ConstantIndexOp::create(builder, loc, kQuantRows));
  shape.gridY = memref::DimOp::create(builder, loc, keys, 0);
  shape.blockX = kQuantBlock;
  ctx.notePlan(kernel, plan);
  ctx.launch(op, kernel, shape, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// score
//===----------------------------------------------------------------------===//

namespace {
/// Compile-time geometry of the indexer's score kernel.
struct DSAScorePlan {
  int64_t heads, dim, sinks, window;
  bool fp8;
  /// fp8 keys on tensor cores (mma.sync, or wgmma where `wgmma`);
  /// otherwise CUDA cores.
  bool mma = false;
  bool wgmma = false;
  int64_t wgTiles = kWGTiles; ///< wgmma: 64-token tiles per block
  // CUDA cores:
  int64_t tokensPerThread = kTokensPerThread;
  int64_t headChunk = 1;  ///< Hc: heads whose dots a thread keeps at once
  int64_t slices = 0;     ///< Di / 16: key slices per head chunk
  int64_t sliceLoads = 0; ///< 16-byte loads per token and slice
  ScoreFramePlan frame;

  static DSAScorePlan get(const KernelContext &ctx, LayerOp layer,
                          const ScoreFrame &fused) {
    auto dsa = cast<DSAAttr>(layer.getAlgorithm());
    DSAScorePlan p;
    p.heads = dsa.getIndexHeads();
    p.dim = dsa.getIndexDim();
    p.sinks = layer.getForced().getSinks();
    p.window = layer.getForced().getWindow();
    p.fp8 = isa<Float8E4M3FNType>(dsa.getIndexDtype());
    p.mma = p.fp8 && ctx.getOptions().fp8MMA && p.heads % kMMAHeads == 0 &&
            p.dim % kMMARun == 0 &&
            p.queryFragmentWords() <= kMaxQueryFragmentWords;
    p.wgmma = p.fp8 && ctx.getOptions().fp8MMA && ctx.getOptions().wgmma &&
              p.heads % kMMAHeads == 0 && p.heads <= kWGMaxHeads &&
              p.dim % kSwizzleBytes == 0;
    if (p.wgmma)
      p.mma = false;
    p.wgTiles = fused ? kWGFusedTiles : kWGTiles;
    // The largest divisor of Hi up to 32: every chunk is full.
    for (int64_t c = std::min(p.heads, kMaxHeadChunk); c >= 1; --c)
      if (p.heads % c == 0) {
        p.headChunk = c;
        break;
      }
    p.slices = p.dim / kSliceDims;
    p.sliceLoads = p.fp8 ? 1 : 2;
    p.frame = fused.plan(layer, p.unitsPerBlock(), p.blockSize(),
                         p.stagedBytes());
    return p;
  }
  int64_t blockSize() const {
    if (wgmma)
      return kWGThreads;
    return mma ? kMMAWarps * kWarpSize : kScoreBlock;
  }
  int64_t unitsPerBlock() const {
    if (wgmma)
      return wgTiles * kWGTokens;
    return mma ? kMMAWarps * kMMATilesPerWarp * kMMATokens
               : tokensPerThread * kScoreBlock;
  }
  int64_t chunks() const { return heads / headChunk; }
  /// Tensor cores: n-tiles of 8 heads, 128-dim runs of the key.
  int64_t headTiles() const { return heads / kMMAHeads; }
  int64_t runs() const { return dim / kMMARun; }
  /// Query fragment words per thread: 2 per (n-tile, k-step).
  int64_t queryFragmentWords() const {
    return heads / kMMAHeads * (dim / kMMADims) * 2;
  }
  /// q [Hi][Di] (fp8 bytes for the tensor cores, else f32), then w [Hi] f32
  /// (16-byte aligned).
  int64_t stagedBytes() const {
    if (wgmma) // q, then the key tiles (1024-aligned), then w
      return llvm::alignTo(heads * dim, kSwizzleAlign) +
             wgTiles * kWGTokens * dim + int64_t(llvm::alignTo(heads * 4, 16));
    return heads * dim * (mma ? 1 : 4) + int64_t(llvm::alignTo(heads * 4, 16));
  }
  void print(raw_ostream &os) const {
    frame.print(os);
    if (wgmma) {
      os << "; warpgroup MMA: wgmma m64n" << heads << "k32 e4m3 from shared "
         << "memory (128-byte swizzle), " << wgTiles << " tiles of "
         << kWGTokens << " tokens, all in flight (cp.async, one group per "
         << "tile), " << dim / kMMADims << " k-steps per tile, " << heads / 2
         << " accumulators per thread; q [" << heads << "][" << dim
         << "] fp8 (cp.async) and w staged";
      return;
    }
    if (mma) {
      os << "; tensor cores: mma.sync m16n8k32 e4m3, " << kMMAWarps
         << " warps x " << kMMATilesPerWarp << " tiles of " << kMMATokens
         << " tokens, " << headTiles() << " head tiles x " << dim / kMMADims
         << " k-steps per tile, " << queryFragmentWords()
         << " query fragment words per thread, keys of " << kMMAPrefetchTiles
         << " tiles in flight; q [" << heads << "][" << dim
         << "] fp8 and w staged";
      return;
    }
    os << "; CUDA cores: " << tokensPerThread << " tokens/thread, "
       << chunks() << " head chunks x " << headChunk << ", " << slices
       << " key slices of " << kSliceDims << " dims ("
       << (fp8 ? "fp8, cvt e4m3x2" : "bf16") << "), q [" << heads << "]["
       << dim << "] and w staged as f32";
  }
};

/// The score kernel's arguments, in order.
struct DSAScoreArgs {
  Value lengths, keys, scales, indexQ, indexW, scores;
  ScoreFrame::TailArgs tail;
  SmallVector<Value *> fields() {
    return {&lengths, &keys,       &scales,    &indexQ,         &indexW,
            &scores,  &tail.units, &tail.done, &tail.groupBound};
  }
};
} // namespace

/// Key dims [col, col + 16) of token t as f32 scalars.
static SmallVector<Value> keySlice(KernelBuilder &b, const DSAScorePlan &p,
                                   Value keys, Value batch, Value t,
                                   Value col) {
  if (p.fp8)
    return b.decodeE4M3(b.loadVector(kSliceDims, keys, {batch, t, col}));
  SmallVector<Value> out;
  for (int64_t k = 0; k < p.sliceLoads; ++k) {
    Value v = b.toF32(
        b.loadVector(8, keys, {batch, t, b.add(col, b.index(8 * k))}));
    for (int64_t e = 0; e < 8; ++e)
      out.push_back(b.extract(v, e));
  }
  return out;
}

namespace {
/// What one score block works on: the row, its chunk, the staged queries
/// and weights.
struct DSAScoreChunk {
  Value batch, group, chunkStart, n, units, tid, qStage, wStage;
  /// wgmma: the key tiles [tile][run][64][32 words].
  Value kStage;
};
} // namespace

/// The block's chunk on CUDA cores: T tokens per thread, fp32 FMAs over the
/// decoded keys and the f32 queries in shared memory.
static void scoreChunkCudaCores(KernelBuilder &b, const DSAScorePlan &p,
                                const DSAScoreArgs &args,
                                const DSAScoreChunk &c) {
  const int64_t T = p.tokensPerThread, Hc = p.headChunk;
  // Stage the row's queries (f32) and weights.
  const int64_t quads = p.dim / 4;
  b.forRange(c.tid, b.index(p.heads * quads), b.index(kScoreBlock),
             [&](Value item) {
    Value head = b.divU(item, b.index(quads));
    Value col = b.mul(b.remU(item, b.index(quads)), b.index(4));
    Value raw = b.loadVector(4, args.indexQ, {c.batch, head, col});
    Value q;
    if (p.fp8) {
      SmallVector<Value> v = b.decodeE4M3(raw);
      q = b.splatF32(4, 0.0);
      for (int64_t e = 0; e < 4; ++e)
        q = b.insert(v[e], q, e);
    } else {
      q = b.toF32(raw);
    }
    b.storeVector(q, c.qStage, {head, col}, /*align=*/16);
  });
  b.forRange(c.tid, b.index(p.heads), b.index(kScoreBlock), [&](Value h) {
    b.store(b.load(args.indexW, {c.batch, h}), c.wStage, {h});
  });
  b.barrier();

  // This thread's tokens; loads past the context re-read the last token
  // (their scores are -inf).
  SmallVector<Value> tokens, loadTokens;
  Value last = b.sub(c.n, b.index(1));
  for (int64_t i = 0; i < T; ++i) {
    Value t = b.add(c.chunkStart, b.add(b.index(i * kScoreBlock), c.tid));
    tokens.push_back(t);
    loadTokens.push_back(b.minS(t, last));
  }
  Value zero = b.f32(0.0);
  SmallVector<Value> totals(T, zero);
  totals = b.forRange(
      b.index(0), b.index(p.chunks()), b.index(1), totals,
      [&](Value chunk, ValueRange carried) -> SmallVector<Value> {
    Value firstHead = b.mul(chunk, b.index(Hc));
    // acc[i * Hc + h]: token i, head firstHead + h.
    SmallVector<Value> init(T * Hc, zero);
    SmallVector<Value> acc = b.forRange(
        b.index(0), b.index(p.slices), b.index(1), init,
        [&](Value slice, ValueRange dots) -> SmallVector<Value> {
      Value col = b.mul(slice, b.index(kSliceDims));
      SmallVector<SmallVector<Value>> key;
      for (int64_t i = 0; i < T; ++i)
        key.push_back(
            keySlice(b, p, args.keys, c.batch, loadTokens[i], col));
      SmallVector<Value> next(dots.begin(), dots.end());
      for (int64_t h = 0; h < Hc; ++h) {
        Value head = b.add(firstHead, b.index(h));
        for (int64_t q4 = 0; q4 < kSliceDims / 4; ++q4) {
          Value q = b.loadVector(4, c.qStage,
                                 {head, b.add(col, b.index(4 * q4))},
                                 /*align=*/16);
          for (int64_t e = 0; e < 4; ++e) {
            Value qe = b.extract(q, e);
            for (int64_t i = 0; i < T; ++i)
              next[i * Hc + h] = b.mulAddContract(next[i * Hc + h], qe,
                                                  key[i][4 * q4 + e]);
          }
        }
      }
      return next;
    });
    // relu before the weight (which may be negative).
    SmallVector<Value> sums(carried.begin(), carried.end());
    for (int64_t h = 0; h < Hc; ++h) {
      Value w = b.load(c.wStage, {b.add(firstHead, b.index(h))});
      for (int64_t i = 0; i < T; ++i)
        sums[i] = b.fma(b.maxF(acc[i * Hc + h], zero), w, sums[i]);
    }
    return sums;
  });
  for (int64_t i = 0; i < T; ++i) {
    Value t = tokens[i];
    b.ifThen(b.cmp(Pred::ult, t, c.units), [&] {
      Value scale = b.load(args.scales, {c.batch, loadTokens[i]});
      Value s = b.mulF(scale, totals[i]);
      b.store(ScoreFrame::finalScore(b, t, c.n, s, p.sinks, p.window),
              args.scores, {c.batch, c.group, t});
    });
  }
}

/// One m16n8k32 e4m3 MMA with f32 accumulators: D = A x B + C.
static SmallVector<Value> mmaE4M3(KernelBuilder &b, ArrayRef<Value> a,
                                  ArrayRef<Value> bFrag, ArrayRef<Value> acc) {
  Type f32 = b.getF32Type();
  Type result = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                 {f32, f32, f32, f32});
  SmallVector<Value> operands(a.begin(), a.end());
  operands.append(bFrag.begin(), bFrag.end());
  operands.append(acc.begin(), acc.end());
  auto call = LLVM::CallIntrinsicOp::create(
      b, result,
      b.getStringAttr("llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"),
      operands);
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, call.getResult(0), i));
  return out;
}

/// One n-tile of the m16n8 accumulators (mma.sync's and, per warp,
/// wgmma's): `acc` = (g, 2 q), (g, 2 q + 1), (g + 8, 2 q), (g + 8, 2 q + 1)
/// for heads 8 j + 2 q + {0, 1}, through the relu, then weighted into the
/// rows' totals (rows g and g + 8 of the warp's 16 tokens).
static void weighHeadTile(KernelBuilder &b, const DSAScoreChunk &c,
                          Value quadLane, int64_t j, ArrayRef<Value> acc,
                          Value &totalG, Value &totalG8) {
  Value zero = b.f32(0.0);
  Value w = b.loadVector(
      2, c.wStage,
      {b.add(b.index(j * kMMAHeads), b.mul(quadLane, b.index(2)))},
      /*align=*/8);
  Value w0 = b.extract(w, 0), w1 = b.extract(w, 1);
  totalG = b.fma(b.maxF(acc[0], zero), w0, totalG);
  totalG = b.fma(b.maxF(acc[1], zero), w1, totalG);
  totalG8 = b.fma(b.maxF(acc[2], zero), w0, totalG8);
  totalG8 = b.fma(b.maxF(acc[3], zero), w1, totalG8);
}

/// The rows' totals summed over the quad's heads (two xor shuffles), then
/// stored: quad lane 0 token `rowsStart` + g, lane 1 token `rowsStart` + g +
/// 8, each times its scale through the score frame. `last` is the last
/// token of the context (the scale of a token past it is never used).
static void storeRowScores(KernelBuilder &b, const DSAScorePlan &p,
                           const DSAScoreArgs &args, const DSAScoreChunk &c,
                           Value rowsStart, Value groupLane, Value quadLane,
                           Value last, Value totalG, Value totalG8) {
  for (int64_t offset : {1, 2}) {
    totalG = b.addF(totalG, b.shuffleXor(totalG, offset));
    totalG8 = b.addF(totalG8, b.shuffleXor(totalG8, offset));
  }
  Value second = b.cmp(Pred::eq, quadLane, b.index(1));
  Value t = b.add(rowsStart,
                  b.add(groupLane, b.select(second, b.index(8), b.index(0))));
  Value total = b.select(second, totalG8, totalG);
  b.ifThen(b.andI(b.cmp(Pred::ult, quadLane, b.index(2)),
                  b.cmp(Pred::ult, t, c.units)),
           [&] {
    Value scale = b.load(args.scales, {c.batch, b.minS(t, last)});
    Value s = b.mulF(scale, total);
    b.store(ScoreFrame::finalScore(b, t, c.n, s, p.sinks, p.window),
            args.scores, {c.batch, c.group, t});
  });
}

/// This lane's 16-byte pieces of a 128-dim run, as word offsets into a row
/// of Di / 4 words: [4 q, 4 q + 4) and [16 + 4 q, 16 + 4 q + 4).
static Value pieceWord(KernelBuilder &b, Value quadLane, int64_t run,
                       int64_t piece) {
  return b.add(b.mul(quadLane, b.index(4)),
               b.index(run * kMMARun / 4 + piece * kMMARun / 8));
}

/// The block's chunk on tensor cores (the header explains the layout).
static void scoreChunkMMA(KernelBuilder &b, const DSAScorePlan &p,
                          const DSAScoreArgs &args, const DSAScoreChunk &c) {
  Type i32 = b.getI32Type();
  auto words4 = VectorType::get({4}, i32);
  const int64_t runs = p.runs();
  const int64_t stepsPerRun = kMMARun / kMMADims;

  // Phase 1: stage the row's fp8 queries (as words) and weights.
  const int64_t pieces = p.heads * p.dim / kVectorBytes;
  b.forRange(c.tid, b.index(pieces), b.index(p.blockSize()), [&](Value item) {
    Value head = b.divU(item, b.index(p.dim / kVectorBytes));
    Value col = b.mul(b.remU(item, b.index(p.dim / kVectorBytes)),
                      b.index(kVectorBytes));
    Value raw = b.loadVector(kVectorBytes, args.indexQ, {c.batch, head, col});
    b.storeVector(vector::BitCastOp::create(b, words4, raw), c.qStage,
                  {head, b.divU(col, b.index(4))}, /*align=*/16);
  });
  b.forRange(c.tid, b.index(p.heads), b.index(p.blockSize()), [&](Value h) {
    b.store(b.load(args.indexW, {c.batch, h}), c.wStage, {h});
  });
  b.barrier();

  Value lane = b.laneId();
  Value groupLane = b.divU(lane, b.index(4)); // g: the fragment's row
  Value quadLane = b.remU(lane, b.index(4));  // q: its dims

  // Phase 2: this lane's query fragments, qWords[(j * runs + r) * 8 + w]:
  // head 8 j + g, run r, word w of the lane's two pieces.
  SmallVector<Value> qWords;
  for (int64_t j = 0; j < p.headTiles(); ++j) {
    Value head = b.add(b.index(j * kMMAHeads), groupLane);
    for (int64_t r = 0; r < runs; ++r)
      for (int64_t piece = 0; piece < 2; ++piece) {
        Value v = b.loadVector(4, c.qStage,
                               {head, pieceWord(b, quadLane, r, piece)},
                               /*align=*/16);
        for (int64_t e = 0; e < 4; ++e)
          qWords.push_back(b.extract(v, e));
      }
  }

  // Phase 3: the warp's tiles. A tile's key pieces for rows g and g + 8
  // (loads past the context re-read the last token; their scores are -inf):
  // (row * runs + r) * 2 + piece.
  const int64_t warpTokens = kMMATilesPerWarp * kMMATokens;
  Value warpStart =
      b.add(c.chunkStart, b.mul(b.warpId(), b.index(warpTokens)));
  Value last = b.sub(c.n, b.index(1));
  auto loadTile = [&](Value tileStart) {
    SmallVector<Value> tile;
    for (int64_t row = 0; row < 2; ++row) {
      Value t = b.minS(b.add(tileStart, b.add(groupLane, b.index(8 * row))),
                       last);
      for (int64_t r = 0; r < runs; ++r)
        for (int64_t piece = 0; piece < 2; ++piece) {
          Value col = b.mul(pieceWord(b, quadLane, r, piece), b.index(4));
          tile.push_back(vector::BitCastOp::create(
              b, words4,
              b.loadVector(kVectorBytes, args.keys, {c.batch, t, col})));
        }
    }
    return tile;
  };
  Value zero = b.f32(0.0);
  // The loop carries the keys of the next kMMAPrefetchTiles tiles, oldest
  // first; each iteration issues the loads of the tile that many ahead
  // before this tile's MMAs (tiles past the warp's re-read clamped rows).
  const int64_t tileValues = 2 * runs * 2;
  SmallVector<Value> inFlight;
  for (int64_t i = 0; i < kMMAPrefetchTiles; ++i)
    llvm::append_range(inFlight,
                       loadTile(b.add(warpStart, b.index(i * kMMATokens))));
  b.forRange(
      b.index(0), b.index(kMMATilesPerWarp), b.index(1), inFlight,
      [&](Value tileIndex, ValueRange carried) -> SmallVector<Value> {
    Value tileStart = b.add(warpStart, b.mul(tileIndex, b.index(kMMATokens)));
    SmallVector<Value> tile(carried.begin(), carried.begin() + tileValues);
    SmallVector<Value> next(carried.begin() + tileValues, carried.end());
    llvm::append_range(
        next, loadTile(b.add(tileStart,
                             b.index(kMMAPrefetchTiles * kMMATokens))));
    // word(row, r, w): word w in [0, 8) of the lane's pieces of run r.
    auto keyWord = [&](int64_t row, int64_t r, int64_t w) {
      return b.extract(tile[(row * runs + r) * 2 + w / 4], w % 4);
    };
    Value totalG = zero, totalG8 = zero;
    for (int64_t j = 0; j < p.headTiles(); ++j) {
      SmallVector<Value> acc(4, zero);
      for (int64_t r = 0; r < runs; ++r)
        for (int64_t step = 0; step < stepsPerRun; ++step) {
          // k-step slots [4 q, 4 q + 4) <- word 2 step, [16 + 4 q, +4) <-
          // word 2 step + 1, for keys (A: rows g, g + 8) and queries (B)
          // alike.
          const int64_t w0 = 2 * step, w1 = 2 * step + 1;
          SmallVector<Value> a = {keyWord(0, r, w0), keyWord(1, r, w0),
                                  keyWord(0, r, w1), keyWord(1, r, w1)};
          const int64_t qBase = (j * runs + r) * 8;
          SmallVector<Value> bFrag = {qWords[qBase + w0], qWords[qBase + w1]};
          acc = mmaE4M3(b, a, bFrag, acc);
        }
      weighHeadTile(b, c, quadLane, j, acc, totalG, totalG8);
    }
    storeRowScores(b, p, args, c, tileStart, groupLane, quadLane, last,
                   totalG, totalG8);
    return next;
  });
}


/// The block's chunk on warpgroup MMA (sm_90a): one warpgroup, its
/// wgTiles tiles of 64 tokens. Every 16-byte chunk of the queries and of
/// the tiles' keys is issued at once with cp.async into its place in the
/// 128-byte-swizzled K-major tiles (chunk c of row r at c ^ (r % 8);
/// consecutive threads on consecutive chunks of a row), one commit group
/// per tile (the queries in the first): no register holds keys, and the
/// whole chunk's bytes are in flight. Tile i then waits for its group,
/// fences the shared writes into the async proxy, syncs the block and runs
/// Di / 32 wgmma.mma_async m64n{Hi}k32 e4m3 (A = keys, B = queries, both
/// through shared-memory descriptors); the accumulators come back in the
/// m16n8 layout per warp (rows 16 w + g, g + 8; heads 8 j + 2 q, + 1), so
/// the relu / weight / quad-sum epilogue is the mma.sync one.
static void scoreChunkWGMMA(KernelBuilder &b, const DSAScorePlan &p,
                            const DSAScoreArgs &args, const DSAScoreChunk &c) {
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  const int64_t runs = p.dim / kSwizzleBytes;
  const int64_t chunksPerRow = kSwizzleBytes / kVectorBytes; // 8
  const int64_t rowChunks = p.dim / kVectorBytes;
  const int64_t stepsPerRun = kSwizzleBytes / kMMADims;      // 4
  auto toI64 = [&](Value v) {
    return arith::IndexCastUIOp::create(b, i64, v).getResult();
  };
  Value qShared = b.sharedAddress(c.qStage);
  Value kShared = b.sharedAddress(c.kStage);
  // Byte offset of chunk `col` (of Di / 16) of row `row` in a swizzled
  // operand whose runs are `rows` rows apart.
  auto swizzledOffset = [&](Value row, Value col, int64_t rows) {
    Value run = b.divU(col, b.index(chunksPerRow));
    Value chunk = b.remU(col, b.index(chunksPerRow));
    Value physical = b.xorI(chunk, b.remU(row, b.index(8)));
    return toI64(b.add(b.mul(b.add(b.mul(run, b.index(rows)), row),
                             b.index(kSwizzleBytes)),
                       b.mul(physical, b.index(kVectorBytes))));
  };

  // Phase 1: the queries and every tile's keys in flight.
  Value qGlobal = b.add(b.baseAddress(args.indexQ, 1),
                        b.mul(toI64(c.batch), b.i64(p.heads * p.dim)));
  b.forRange(c.tid, b.index(p.heads * rowChunks), b.index(kWGThreads),
             [&](Value item) {
    Value head = b.divU(item, b.index(rowChunks));
    Value col = b.remU(item, b.index(rowChunks));
    b.copyAsync16(b.add(qShared, swizzledOffset(head, col, p.heads)),
                b.add(qGlobal, toI64(b.mul(item, b.index(kVectorBytes)))));
  });
  Value tokens = b.dim(args.keys, 1);
  Value kGlobal = b.add(b.baseAddress(args.keys, 1),
                        b.mul(b.mul(toI64(c.batch), toI64(tokens)),
                              b.i64(p.dim)));
  Value last = b.sub(c.n, b.index(1));
  const int64_t tileChunks = kWGTokens * rowChunks;
  for (int64_t tile = 0; tile < p.wgTiles; ++tile) {
    Value tileStart = b.add(c.chunkStart, b.index(tile * kWGTokens));
    for (int64_t i = 0; i < tileChunks / kWGThreads; ++i) {
      Value item = b.add(c.tid, b.index(i * kWGThreads));
      Value row = b.divU(item, b.index(rowChunks));
      Value col = b.remU(item, b.index(rowChunks));
      // Rows past the context re-read the last token (scores -inf).
      Value t = b.minS(b.add(tileStart, row), last);
      Value src = b.add(kGlobal, toI64(b.add(b.mul(t, b.index(p.dim)),
                                             b.mul(col, b.index(kVectorBytes)))));
      Value dst = b.add(kShared, b.add(b.i64(tile * runs * kWGTokens *
                                             kSwizzleBytes),
                                       swizzledOffset(row, col, kWGTokens)));
      b.copyAsync16(dst, src);
    }
    NVVM::CpAsyncCommitGroupOp::create(b);
  }
  b.forRange(c.tid, b.index(p.heads), b.index(kWGThreads), [&](Value h) {
    b.store(b.load(args.indexW, {c.batch, h}), c.wStage, {h});
  });

  Value lane = b.laneId();
  Value warp = b.warpId();
  Value groupLane = b.divU(lane, b.index(4));
  Value quadLane = b.remU(lane, b.index(4));
  const int64_t accCount = p.heads / 2;
  SmallVector<Type> accTypes(accCount, f32);
  Type accType = LLVM::LLVMStructType::getLiteral(b.getContext(), accTypes);
  auto shape = NVVM::MMAShapeAttr::get(b.getContext(), 64, p.heads, kMMADims);
  auto e4m3 = NVVM::WGMMATypesAttr::get(b.getContext(), NVVM::WGMMATypes::e4m3);
  auto f32Type = NVVM::WGMMATypesAttr::get(b.getContext(), NVVM::WGMMATypes::f32);
  auto one = NVVM::WGMMAScaleInAttr::get(b.getContext(), NVVM::WGMMAScaleIn::one);
  auto rowLayout = NVVM::MMALayoutAttr::get(b.getContext(), NVVM::MMALayout::row);
  auto colLayout = NVVM::MMALayoutAttr::get(b.getContext(), NVVM::MMALayout::col);
  Value zero = b.f32(0.0);

  // Phase 2: the tiles in order, each as soon as its group has landed.
  for (int64_t tile = 0; tile < p.wgTiles; ++tile) {
    Value tileStart = b.add(c.chunkStart, b.index(tile * kWGTokens));
    NVVM::CpAsyncWaitGroupOp::create(b, uint32_t(p.wgTiles - 1 - tile));
    NVVM::FenceProxyOp::create(
        b, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
    b.barrier(); // every thread's chunks of the tile (and the weights)

    NVVM::WgmmaFenceAlignedOp::create(b);
    Value acc = LLVM::PoisonOp::create(b, accType);
    Value kTile = b.add(kShared, b.i64(tile * runs * kWGTokens * kSwizzleBytes));
    for (int64_t r = 0; r < runs; ++r)
      for (int64_t step = 0; step < stepsPerRun; ++step) {
        const int64_t offset = step * kMMADims; // K within the 128-byte row
        Value descA = b.swizzledDescriptor(
            b.add(kTile, b.i64(r * kWGTokens * kSwizzleBytes + offset)));
        Value descB = b.swizzledDescriptor(
            b.add(qShared, b.i64(r * p.heads * kSwizzleBytes + offset)));
        auto scaleD = NVVM::WGMMAScaleOutAttr::get(
            b.getContext(), r == 0 && step == 0 ? NVVM::WGMMAScaleOut::zero
                                                : NVVM::WGMMAScaleOut::one);
        acc = NVVM::WgmmaMmaAsyncOp::create(
            b, accType, acc, descA, descB, shape, e4m3, e4m3, f32Type, scaleD,
            one, one, rowLayout, colLayout, NVVM::MMAIntOverflowAttr());
      }
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    NVVM::WgmmaWaitGroupSyncOp::create(b, uint64_t(0));

    // Accumulator 4 j + e: row g (e < 2) or g + 8, head 8 j + 2 q + e % 2.
    Value totalG = zero, totalG8 = zero;
    for (int64_t j = 0; j < p.heads / kMMAHeads; ++j) {
      SmallVector<Value> tileAcc;
      for (int64_t e = 0; e < 4; ++e)
        tileAcc.push_back(LLVM::ExtractValueOp::create(b, acc, 4 * j + e));
      weighHeadTile(b, c, quadLane, j, tileAcc, totalG, totalG8);
    }
    storeRowScores(b, p, args, c, b.add(tileStart, b.mul(warp, b.index(16))),
                   groupLane, quadLane, last, totalG, totalG8);
  }
}

static LogicalResult lowerDSAScore(KernelContext &ctx, ScoreOp op,
                                   ScoreFrame &fused) {
  LayerOp layer = getLayer(op);
  if (op.getReprs().size() != 2 || op.getInputs().size() != 2)
    return op.emitOpError() << "expects DSA's index keys and scales and its "
                               "indexer queries and weights";
  if (failed(checkDSALimits(layer, [&] { return op.emitOpError(); })))
    return failure();
  const DSAScorePlan p = DSAScorePlan::get(ctx, layer, fused);
  const DSAScoreArgs launchArgs{op.getLengths(),   op.getReprs()[0],
                                op.getReprs()[1],  op.getInputs()[0],
                                op.getInputs()[1], op.getScores(),
                                fused.tailArgs()};
  SmallVector<Value> operands = kernelOperands(launchArgs);
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), operands, {p.blockSize()},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        DSAScoreArgs args = kernelArguments(fn, launchArgs);
        DSAScoreChunk c;
        if (p.wgmma) {
          const int64_t runs = p.dim / kSwizzleBytes;
          c.qStage = KernelContext::addSharedBuffer(
              fn, {runs * p.heads, kSwizzleBytes / 4}, b.getI32Type(),
              kSwizzleAlign);
          c.kStage = KernelContext::addSharedBuffer(
              fn, {p.wgTiles * runs * kWGTokens, kSwizzleBytes / 4},
              b.getI32Type(), kSwizzleAlign);
        } else {
          c.qStage =
              p.mma ? KernelContext::addSharedBuffer(fn, {p.heads, p.dim / 4},
                                                     b.getI32Type())
                    : KernelContext::addSharedBuffer(fn, {p.heads, p.dim},
                                                     b.getF32Type());
        }
        c.wStage =
            KernelContext::addSharedBuffer(fn, {p.heads}, b.getF32Type());
        c.batch = b.blockId(gpu::Dimension::z);
        c.group = b.blockId(gpu::Dimension::y);
        c.chunkStart =
            b.mul(b.blockId(gpu::Dimension::x), b.index(p.unitsPerBlock()));
        c.tid = b.threadId();
        c.units = b.dim(args.scores, 2);
        // One unit per token (page_size 1).
        c.n = b.minS(b.toIndex(b.load(args.lengths, {c.batch})), c.units);
        ScoreFrame::forChunk(b, c.chunkStart, c.n, c.units, c.tid,
                             b.negInf(), args.scores, c.batch, c.group,
                             p.unitsPerBlock(), p.blockSize(), [&] {
          if (p.wgmma)
            scoreChunkWGMMA(b, p, args, c);
          else if (p.mma)
            scoreChunkMMA(b, p, args, c);
          else
            scoreChunkCudaCores(b, p, args, c);
        });
        if (fused)
          fused.emitTail(b, fn, p.frame, args.scores, args.lengths, args.tail,
                         c.batch, c.group);
      });
  ctx.notePlan(kernel, p);
  fused.launch(ctx, op, kernel, p.frame, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// The package's model
//===----------------------------------------------------------------------===//

namespace {
struct DSAKernels
    : public AlgorithmKernelsAttrInterface::ExternalModel<DSAKernels, DSAAttr> {
  LogicalResult verifyKernelLimits(Attribute, LayerOp layer,
                                   EmitErrorFn emitError) const {
    return checkDSALimits(layer, emitError);
  }
  LogicalResult lowerScore(Attribute, KernelContext &ctx, ScoreOp op,
                           ScoreFrame &frame) const {
    return lowerDSAScore(ctx, op, frame);
  }
  LogicalResult lowerUpdateRepresentations(Attribute, KernelContext &ctx,
                                           UpdateReprOp op) const {
    return lowerDSAUpdateRepr(ctx, op);
  }
  LogicalResult lowerRebuildRepresentations(Attribute, KernelContext &ctx,
                                            RebuildReprOp op) const {
    return lowerDSARebuildRepr(ctx, op);
  }
  // Indexer scores bound no attention logits.
  bool scoresBoundGroupLogits(Attribute, LayerOp) const { return false; }
};
} // namespace

void mlir::hsa::registerDSAKernels(MLIRContext &context) {
  DSAAttr::attachInterface<DSAKernels>(context);
}
