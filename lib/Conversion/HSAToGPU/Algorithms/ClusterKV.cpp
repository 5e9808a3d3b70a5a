//===- ClusterKV.cpp - the ClusterKV package's kernels --------------------===//
//
// ClusterKV (Liu et al., 2024): per KV head, cosine k-means centroids of the
// keys (repr.centroids [B][Hkv][Cmax][D] f32), every token's centroid
// (repr.cluster_of [B][Hkv][N][P] i32, -1 = none) and per request the
// centroids in use and the open segment (repr.cluster_state [B][2]). The
// contract, which the CPU reference implements, is
// docs/algorithms/cluster_kv.md. Notation: T0 = sinks * P sink tokens, M0
// clusters, M1 new_clusters, E recluster_every, I iterations, Cmax the table
// size, G = Hq / Hkv, V = D / 8 16-byte key vectors.
//
// k-means tile (every assignment pass, prefill and append): 256 threads
// assign a tile of 64 tokens to 64 centroids at a time. The tile's keys are
// read from the mapped host pool (host.k through host.page_of, 16-byte
// loads, all issued before the first is used) into shared memory as f32
// rows [64][D+4]; the centroids as f32 columns [D][64] with their inverse
// norms 1/sqrt(max(c.c, 1e-30)). Thread (ty, tx) = (tid / 16, tid % 16)
// computes the 4 x 4 dot products of tokens 4ty..4ty+3 and centroids
// 4tx..4tx+3 (two 16-byte shared loads per 16 FMAs), keeps each token's best
// cosine (ascending centroids, strict >: ties go to the lower centroid) over
// the centroid tiles and merges the 16 threads of a token by xor shuffles
// (equal values: the lower index). An accumulating pass then adds every
// key to scratch.cluster_sums / cluster_sizes of its centroid (global f32
// atomics); a final pass writes cluster_of = base + centroid. Shared memory
// is dynamic: 64*(D+4)*4 + D*64*4 + 1.5 KiB (67 KiB at D = 128).
//
// prefill (rebuild_repr): k-means over [T0', L) of every slot with L > 0,
// T0' = min(T0, L), m = min(M0, L - T0') centroids, in 2I + 2 launches
// (kernel boundaries order the rounds); every kernel loops over the batch
// slots and skips free ones, so a prefill of one slot among B costs B loads
// of req.length per block:
//   cluster_init, grid (ceil(M0*V / 256), Hkv): thread item (i, v) copies
//     vector v of key T0' + floor(i*n/m) into centroid i and zeroes its sums
//     (and size); the tokens < T0' and >= L get cluster_of = -1; one thread
//     writes cluster_state = {m, L}.
//   I x cluster_assign, grid (min(ceil(N*P / 64), ceil(256 / Hkv)), Hkv):
//     each block takes the token tiles x, x + gridDim.x, ... of the segment
//     (a PCIe-bound pass: every block keeps 16 KiB of host loads in flight)
//     and accumulates; then cluster_update, grid (ceil(M0 / Cb), Hkv): Cb =
//     256 / (D/4) centroids per block, one thread per 4 dims: c = sum / size
//     where size > 0, sums zeroed; after a barrier the sizes.
//   cluster_final (same grid as cluster_assign): writes cluster_of.
// The passes ask for two resident blocks per SM (at most 128 registers; the
// shared memory allows three). A long prefill is bound by the PCIe reads of
// the keys: I + 1 passes over them (measured in docs/PERF.md, "ClusterKV").
//
// append (update_repr): two launches.
//   cluster_append, grid (Hkv, B), 256 threads: block (h, b) appends token
//     t = L[b]. t < T0: cluster_of[t] = -1. Else it seeds centroid 0 with the
//     key when count == 0, then R = pow2ceil(V) lanes per centroid (256 / R
//     centroids at a time, shuffle-reduced dot and norm) find the best
//     centroid < max(count, 1), merged over rows by shuffles and over warps
//     in shared memory. When the open segment [s, t+1), s = max(seg, T0),
//     reaches E tokens and m1 = min(M1, Cmax - count, t+1-s) > 0, the block
//     runs the whole k-means of the segment on its own with the tile above
//     (keys re-read from the host pool each round) into centroids
//     [count, count + m1): init, I x (accumulate, update), final. Every block
//     reads cluster_state and none writes it, so the KV heads never race.
//   cluster_state, grid (ceil(B / 128)), 128 threads: one thread per slot
//     applies the same rules to cluster_state (count 0 -> 1; count += m1 and
//     seg = t + 1 when the segment is full).
//
// score (in the ScoreFrame; fused with top-k when the frame fuses): two
// launches. A token's score for query row q is q . c[cluster_of[t]], so per
// (request, KV head) a table of q . c_i over the centroids in use replaces
// all key reads:
//   cluster_score_table, grid (ceil(Cmax / (4 * 256/R)), Hkv, B): rows of R
//     lanes compute 4 centroids' dot products with the KV head's query rows
//     (shuffle-reduced) into scratch.cluster_sums[b][h] (its first rows*Cmax
//     floats; k-means scratch is free between prefill and append). Rows per
//     KV head: `max` 1 (max over the G heads: the max commutes with the max
//     over tokens), `mean_query` 1 (the mean query), `sum` 1 when P = 1 (the
//     summed query: one token per unit), else G (the sum of per-head maxima).
//   score, grid (ceil(N / U), S, B), U = 256 units per block (1024 when P =
//     1, 4 per thread): the block stages its group's table rows in shared
//     memory (when rows * Cmax * 4 <= 32 KiB, else it reads them from the
//     scratch), then one thread per unit reads the cluster_of of its tokens
//     < L (16-byte loads when P % 4 == 0) and combines the table entries:
//     max over tokens and heads (`max`), or per KV head (and head, for `sum`
//     with P > 1) the max over tokens, summed. A token without a centroid
//     (-1 or >= count) counts as -inf.
//
//===----------------------------------------------------------------------===//

#include "Algorithms.h"
#include "../ScoreFrame.h"

#include "hsa/Conversion/HSAToGPU/AlgorithmKernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::hsa;

using Pred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

namespace {

constexpr int64_t kBlock = 256;
/// A k-means tile: 64 tokens x 64 centroids, 4 x 4 per thread.
constexpr int64_t kTileTokens = 64;
constexpr int64_t kTileCentroids = 64;
constexpr int64_t kPerThread = 4;
constexpr int64_t kTileLanes = kTileCentroids / kPerThread; // 16
/// f32 padding of a staged key row: rows 4 apart fall in other banks.
constexpr int64_t kKeyPad = 4;
constexpr int64_t kNormParts = kBlock / kTileCentroids;
/// Blocks a prefill pass aims for over all KV heads (about two per SM).
constexpr int64_t kPassBlocks = 256;
constexpr int64_t kStateBlock = 128;
constexpr int64_t kTableCentroidsPerRow = 4;
constexpr int64_t kMaxStagedTableBytes = 32 * 1024;
/// Query heads whose maxima a score thread keeps at once (`sum`, P > 1).
constexpr int64_t kMaxHeadChunk = 8;
/// Units a score thread handles when a unit is one token.
constexpr int64_t kTokenUnitsPerThread = 4;
constexpr double kMinNorm2 = 1e-30;
constexpr double kInf = std::numeric_limits<double>::infinity();

//===----------------------------------------------------------------------===//
// The layer as the kernels see it
//===----------------------------------------------------------------------===//

struct ClusterShape {
  int64_t hkv, group, hu, dim, page, lanes, vectors, sinkTokens;
  int64_t clusters, iterations, reclusterEvery, newClusters, table;
  ScoreCombine combine;

  static ClusterShape of(LayerOp layer) {
    LayerConfigAttr config = layer.getConfig();
    auto algo = cast<ClusterKVAttr>(layer.getAlgorithm());
    ClusterShape s;
    s.hkv = config.getKvHeads();
    s.group = config.getGroupSize();
    s.hu = config.getHeadsPerUnit();
    s.dim = config.getKeyDim();
    s.page = config.getPageSize();
    s.lanes = kVectorBytes / config.getElementBytes();
    s.vectors = s.dim / s.lanes;
    s.sinkTokens = layer.getForced().getSinks() * s.page;
    s.clusters = algo.getClusters();
    s.iterations = algo.getIterations();
    s.reclusterEvery = algo.getReclusterEvery();
    s.newClusters = algo.getNewClusters();
    s.table = algo.getResolvedMaxClusters();
    s.combine = algo.getCombine();
    return s;
  }
  /// Lanes that hold one key or centroid row, 8 elements each.
  int64_t rowLanes() const { return int64_t(llvm::PowerOf2Ceil(vectors)); }
  /// Score-table rows per KV head (see the header).
  int64_t tableRows() const {
    return combine == ScoreCombine::sum && page > 1 ? group : 1;
  }
};

/// The plan of one of ClusterKV's kernels: the layer's shape and the
/// kernel's geometry (printed by `print-plans`; the numbers are the ones
/// the kernel builders and launches use).
enum class ClusterKernel { Init, Assign, Update, Final, Append, State, Table,
                           Score };
struct ClusterKernelPlan {
  ClusterShape s;
  ClusterKernel kernel;
  ScoreFramePlan frame; ///< Score only
  void print(raw_ostream &os) const;
};

/// Key rows of up to 32 lanes; table rows fit the k-means scratch.
LogicalResult checkClusterLimits(LayerOp layer, EmitErrorFn emitError) {
  ClusterShape s = ClusterShape::of(layer);
  if (s.rowLanes() > kWarpSize)
    return emitError() << "cannot be lowered: cluster_kv kernels hold a key "
                          "row in at most "
                       << kWarpSize << " lanes of " << s.lanes
                       << " elements, so the head dim must be at most "
                       << kWarpSize * s.lanes << ", got " << s.dim;
  if (s.tableRows() > s.dim)
    return emitError() << "cannot be lowered: cluster_kv's sum score keeps "
                          "one table row per query head of a KV head in "
                          "scratch.cluster_sums, so the GQA group ("
                       << s.group << ") must be at most the head dim ("
                       << s.dim << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

/// 1 / sqrt(max(n2, 1e-30)): the contract's cosine normalisation.
Value inverseNorm(KernelBuilder &b, Value n2) {
  return b.divF(b.f32(1.0), b.sqrt(b.maxF(n2, b.f32(kMinNorm2))));
}

//===----------------------------------------------------------------------===//
// The k-means machinery (prefill kernels and the append kernel)
//===----------------------------------------------------------------------===//

/// Kernel arguments of every k-means kernel, in this order.
struct KMeansArgs {
  Value lengths, pageOf, hostKeys, centroids, clusterOf, state, sums, sizes;
  SmallVector<Value *> fields() {
    return {&lengths, &pageOf,    &hostKeys, &centroids,
            &clusterOf, &state, &sums,     &sizes};
  }
  /// The launch's operands: req.length, the host pool and the package's
  /// buffers (repr.* then scratch.*, as getRepresentations lists them).
  static KMeansArgs of(Value lengths, Value pageOf, Value hostKeys,
                       ValueRange reprs) {
    return {lengths, pageOf,   hostKeys, reprs[0],
            reprs[1], reprs[2], reprs[3], reprs[4]};
  }
};

/// The append kernel's arguments: the appended keys, then the k-means'.
struct AppendArgs {
  Value newKeys;
  KMeansArgs kmeans;
  SmallVector<Value *> fields() {
    SmallVector<Value *> all = {&newKeys};
    llvm::append_range(all, kmeans.fields());
    return all;
  }
};

/// The cluster_state kernel's arguments.
struct StateArgs {
  Value lengths, clusterOf, state;
  SmallVector<Value *> fields() { return {&lengths, &clusterOf, &state}; }
};

/// The score-table kernel's arguments.
struct TableArgs {
  Value queries, lengths, centroids, state, sums;
  SmallVector<Value *> fields() {
    return {&queries, &lengths, &centroids, &state, &sums};
  }
};

/// The score kernel's arguments (the frame's fused top-k tail last).
struct ClusterScoreArgs {
  Value lengths, clusterOf, state, sums, scores;
  ScoreFrame::TailArgs tail;
  SmallVector<Value *> fields() {
    return {&lengths, &clusterOf, &state,      &sums,
            &scores,  &tail.units, &tail.done, &tail.groupBound};
  }
};

/// Tokens [t0, t0 + n) clustered into m centroids stored from `base` (index
/// values, uniform over the block).
struct Segment {
  Value t0, n, m, base;
};

/// The shared memory of the k-means tile (dynamic, one layout).
struct TileSpace {
  Value keys;      ///< [64][D + 4] f32
  Value centroids; ///< [D][64] f32, one column per centroid
  Value normParts; ///< [4][64] f32
  Value invNorms;  ///< [64] f32
  Value assigned;  ///< [64] i32, a token's centroid (relative), -1 none
  Value warpBest;  ///< [8] f32, [8] i32: the append's block argmax
  Value warpBestIndex;

  static SmallVector<int64_t> layout(int64_t dim) {
    int64_t keys = kTileTokens * (dim + kKeyPad) * 4;
    int64_t cents = dim * kTileCentroids * 4;
    int64_t parts = kNormParts * kTileCentroids * 4;
    int64_t small = kTileCentroids * 4;
    int64_t warps = kBlock / kWarpSize * 4;
    SmallVector<int64_t> offsets = {0};
    for (int64_t bytes : {keys, cents, parts, small, small, warps, warps})
      offsets.push_back(offsets.back() + llvm::alignTo(bytes, 16));
    return offsets; // the last entry is the total
  }
  static int64_t bytes(int64_t dim) { return layout(dim).back(); }
  static TileSpace create(KernelBuilder &b, int64_t dim) {
    SmallVector<int64_t> at = layout(dim);
    Type f32 = b.getF32Type(), i32 = b.getI32Type();
    int64_t warps = kBlock / kWarpSize;
    return {b.dynamicSharedBuffer({kTileTokens, dim + kKeyPad}, f32, at[0]),
            b.dynamicSharedBuffer({dim, kTileCentroids}, f32, at[1]),
            b.dynamicSharedBuffer({kNormParts, kTileCentroids}, f32, at[2]),
            b.dynamicSharedBuffer({kTileCentroids}, f32, at[3]),
            b.dynamicSharedBuffer({kTileTokens}, i32, at[4]),
            b.dynamicSharedBuffer({warps}, f32, at[5]),
            b.dynamicSharedBuffer({warps}, i32, at[6])};
  }
};

enum class PassMode { Accumulate, Assign };

/// Emits the k-means steps of one (request, KV head) with the block's 256
/// threads. Every method must be reached by all threads of the block.
class KMeansEmitter {
public:
  KMeansEmitter(KernelBuilder &b, const ClusterShape &shape,
                const KMeansArgs &args, TileSpace space, Value batch,
                Value head)
      : b(b), s(shape), args(args), space(space), batch(batch), head(head) {
    tid = b.threadId();
    ty = b.divU(tid, b.index(kTileLanes));
    tx = b.remU(tid, b.index(kTileLanes));
  }

  /// Centroid base + i = key t0 + floor(i * n / m) for items i * V + v in
  /// first, first + step, ...; their sums and sizes start at 0.
  void init(const Segment &seg, Value first, Value step);
  /// One round over the token tiles first, first + step, ... of the
  /// segment: accumulate into the scratch, or write cluster_of. `maxM`
  /// bounds seg.m at compile time.
  void pass(const Segment &seg, Value firstTile, Value tileStep, PassMode mode,
            int64_t maxM);
  /// Centroids base + [begin, end): mean of their sums where the size is
  /// positive; sums and sizes back to 0.
  void update(const Segment &seg, Value begin, Value end);
  /// The whole k-means of the segment in this block.
  void run(const Segment &seg, int64_t maxM, int64_t iterations);
  /// cluster_of[t] = value.
  void storeClusterOf(Value t, Value value);

private:
  struct KeyLoad {
    Value raw, ok;
  };
  KeyLoad issueKeyLoad(Value t, Value vector);
  Value finishKeyLoad(const KeyLoad &load);
  void stageKeys(Value start, Value valid);
  void stageCentroids(Value first, Value valid);
  SmallVector<Value> tileDots();
  void updateBest(ArrayRef<Value> dots, Value firstRel, Value m,
                  SmallVectorImpl<Value> &best);
  void emitResults(Value start, Value valid, ArrayRef<Value> best,
                   const Segment &seg, PassMode mode);

  KernelBuilder &b;
  const ClusterShape &s;
  KMeansArgs args;
  TileSpace space;
  Value batch, head, tid, ty, tx;
};

KMeansEmitter::KeyLoad KMeansEmitter::issueKeyLoad(Value t, Value vector) {
  Value page = b.load(args.pageOf, {batch, b.divU(t, b.index(s.page))});
  Value ok = b.cmp(Pred::sge, page, b.i32(0));
  Value pageIdx = b.toIndex(b.select(ok, page, b.i32(0)));
  Value raw = b.loadVector(s.lanes, args.hostKeys,
                           {pageIdx, head, b.remU(t, b.index(s.page)),
                            b.mul(vector, b.index(s.lanes))});
  return {raw, ok};
}

Value KMeansEmitter::finishKeyLoad(const KeyLoad &load) {
  // A token without a page (never for t < L) reads as zeros.
  return b.select(load.ok, b.toF32(load.raw), b.splatF32(s.lanes, 0.0));
}

void KMeansEmitter::storeClusterOf(Value t, Value value) {
  b.store(value, args.clusterOf,
          {batch, head, b.divU(t, b.index(s.page)), b.remU(t, b.index(s.page))});
}

void KMeansEmitter::init(const Segment &seg, Value first, Value step) {
  Value items = b.mul(seg.m, b.index(s.vectors));
  b.forRange(first, items, step, [&](Value item) {
    Value i = b.divU(item, b.index(s.vectors));
    Value v = b.remU(item, b.index(s.vectors));
    Value t = b.add(seg.t0, b.divU(b.mul(i, seg.n), seg.m));
    Value key = finishKeyLoad(issueKeyLoad(t, v));
    Value c = b.add(seg.base, i), col = b.mul(v, b.index(s.lanes));
    b.storeVector(key, args.centroids, {batch, head, c, col}, /*align=*/16);
    b.storeVector(b.splatF32(s.lanes, 0.0), args.sums, {batch, head, c, col}, /*align=*/16);
    b.ifThen(b.cmp(Pred::eq, v, b.index(0)),
             [&] { b.store(b.i32(0), args.sizes, {batch, head, c}); });
  });
}

void KMeansEmitter::stageKeys(Value start, Value valid) {
  // Tokens past `valid` re-read the last valid one (never used); items past
  // the tile (a partial last round) redo the last item, storing the same
  // values. All of a thread's host loads are issued before the first store.
  Value last = b.sub(valid, b.index(1));
  const int64_t items = kTileTokens * s.vectors;
  SmallVector<std::tuple<Value, Value, KeyLoad>> loads;
  for (int64_t k = 0, rounds = llvm::divideCeil(items, kBlock); k < rounds;
       ++k) {
    Value item = b.add(tid, b.index(k * kBlock));
    if ((k + 1) * kBlock > items)
      item = b.minS(item, b.index(items - 1));
    Value tok = b.divU(item, b.index(s.vectors));
    Value v = b.remU(item, b.index(s.vectors));
    loads.push_back(
        {tok, v, issueKeyLoad(b.add(start, b.minS(tok, last)), v)});
  }
  for (auto &[tok, v, load] : loads)
    b.storeVector(finishKeyLoad(load), space.keys,
              {tok, b.mul(v, b.index(s.lanes))}, /*align=*/16);
  b.barrier();
}

void KMeansEmitter::stageCentroids(Value first, Value valid) {
  const int64_t quads = s.dim / 4;
  b.forStrided(tid, kTileCentroids * quads, kBlock, [&](int64_t, Value item) {
    Value c = b.remU(item, b.index(kTileCentroids));
    Value quad = b.divU(item, b.index(kTileCentroids));
    Value ok = b.cmp(Pred::ult, c, valid);
    Value at = b.add(first, b.select(ok, c, b.index(0)));
    Value v = b.loadVector(4, args.centroids,
                       {batch, head, at, b.mul(quad, b.index(4))}, /*align=*/16);
    v = b.select(ok, v, b.splatF32(4, 0.0));
    for (int64_t e = 0; e < 4; ++e)
      b.store(b.extract(v, e), space.centroids,
              {b.add(b.mul(quad, b.index(4)), b.index(e)), c});
  });
  b.barrier();
  // |c|^2 in four partial sums per centroid, then the inverse norms.
  Value c = b.remU(tid, b.index(kTileCentroids));
  Value part = b.divU(tid, b.index(kTileCentroids));
  const int64_t span = s.dim / kNormParts;
  Value from = b.mul(part, b.index(span));
  Value n2 = b.forRange(from, b.add(from, b.index(span)), b.index(1),
                        {b.f32(0.0)},
                        [&](Value d, ValueRange acc) -> SmallVector<Value> {
                          Value x = b.load(space.centroids, {d, c});
                          return {b.mulAddContract(acc[0], x, x)};
                        })[0];
  b.store(n2, space.normParts, {part, c});
  b.barrier();
  b.ifThen(b.cmp(Pred::ult, tid, b.index(kTileCentroids)), [&] {
    Value sum = b.load(space.normParts, {b.index(0), tid});
    for (int64_t p = 1; p < kNormParts; ++p)
      sum = b.addF(sum, b.load(space.normParts, {b.index(p), tid}));
    b.store(inverseNorm(b, sum), space.invNorms, {tid});
  });
  b.barrier();
}

SmallVector<Value> KMeansEmitter::tileDots() {
  SmallVector<Value> init(kPerThread * kPerThread, b.f32(0.0));
  Value row0 = b.mul(ty, b.index(kPerThread));
  Value col0 = b.mul(tx, b.index(kPerThread));
  return b.forRange(
      b.index(0), b.index(s.dim), b.index(4), init,
      [&](Value d, ValueRange acc) -> SmallVector<Value> {
        SmallVector<Value> keys, cents;
        for (int64_t j = 0; j < kPerThread; ++j)
          keys.push_back(
              b.loadVector(4, space.keys, {b.add(row0, b.index(j)), d}, /*align=*/16));
        for (int64_t e = 0; e < 4; ++e)
          cents.push_back(b.loadVector(4, space.centroids,
                                   {b.add(d, b.index(e)), col0}, /*align=*/16));
        SmallVector<Value> next(acc.begin(), acc.end());
        for (int64_t e = 0; e < 4; ++e)
          for (int64_t j = 0; j < kPerThread; ++j) {
            Value k = b.extract(keys[j], e);
            for (int64_t c = 0; c < kPerThread; ++c) {
              Value &a = next[j * kPerThread + c];
              a = b.mulAddContract(a, k, b.extract(cents[e], c));
            }
          }
        return next;
      });
}

void KMeansEmitter::updateBest(ArrayRef<Value> dots, Value firstRel, Value m,
                               SmallVectorImpl<Value> &best) {
  Value col0 = b.mul(tx, b.index(kPerThread));
  Value inv = b.loadVector(4, space.invNorms, {col0}, /*align=*/16);
  Value ninf = b.f32(-kInf);
  for (int64_t c = 0; c < kPerThread; ++c) {
    Value rel = b.add(firstRel, b.add(col0, b.index(c)));
    Value ok = b.cmp(Pred::ult, rel, m);
    Value rel32 = b.toI32(rel);
    Value invNorm = b.extract(inv, c);
    for (int64_t j = 0; j < kPerThread; ++j) {
      Value score = b.select(ok, b.mulF(dots[j * kPerThread + c], invNorm), ninf);
      Value take = b.cmpF(FPred::OGT, score, best[j]);
      best[j] = b.select(take, score, best[j]);
      best[kPerThread + j] = b.select(take, rel32, best[kPerThread + j]);
    }
  }
}

void KMeansEmitter::emitResults(Value start, Value valid, ArrayRef<Value> best,
                                const Segment &seg, PassMode mode) {
  Value writer = b.cmp(Pred::eq, tx, b.index(0));
  Value row0 = b.mul(ty, b.index(kPerThread));
  Value base32 = b.toI32(seg.base);
  if (mode == PassMode::Assign) {
    b.ifThen(writer, [&] {
      for (int64_t j = 0; j < kPerThread; ++j) {
        Value tok = b.add(row0, b.index(j));
        b.ifThen(b.cmp(Pred::ult, tok, valid), [&] {
          storeClusterOf(b.add(start, tok),
                         b.add(base32, best[kPerThread + j]));
        });
      }
    });
    return;
  }
  b.ifThen(writer, [&] {
    for (int64_t j = 0; j < kPerThread; ++j) {
      Value tok = b.add(row0, b.index(j));
      Value idx = b.select(b.cmp(Pred::ult, tok, valid), best[kPerThread + j],
                           b.i32(-1));
      b.store(idx, space.assigned, {tok});
    }
  });
  b.barrier();
  const int64_t quads = s.dim / 4;
  b.forStrided(tid, kTileTokens * quads, kBlock, [&](int64_t, Value item) {
    Value tok = b.divU(item, b.index(quads));
    Value quad = b.remU(item, b.index(quads));
    Value rel = b.load(space.assigned, {tok});
    b.ifThen(b.cmp(Pred::sge, rel, b.i32(0)), [&] {
      Value c = b.add(seg.base, b.toIndex(rel));
      Value col = b.mul(quad, b.index(4));
      Value key = b.loadVector(4, space.keys, {tok, col}, /*align=*/16);
      for (int64_t e = 0; e < 4; ++e)
        b.atomicAdd(b.extract(key, e), args.sums,
                    {batch, head, c, b.add(col, b.index(e))});
      b.ifThen(b.cmp(Pred::eq, quad, b.index(0)),
               [&] { b.atomicAdd(b.i32(1), args.sizes, {batch, head, c}); });
    });
  });
}

void KMeansEmitter::pass(const Segment &seg, Value firstTile, Value tileStep,
                         PassMode mode, int64_t maxM) {
  const bool oneCentroidTile = maxM <= kTileCentroids;
  Value tiles = b.ceilDivU(seg.n, b.index(kTileTokens));
  if (oneCentroidTile)
    stageCentroids(seg.base, seg.m);
  b.forRange(firstTile, tiles, tileStep, [&](Value tile) {
    Value offset = b.mul(tile, b.index(kTileTokens));
    Value start = b.add(seg.t0, offset);
    Value valid = b.minS(b.sub(seg.n, offset), b.index(kTileTokens));
    stageKeys(start, valid);
    SmallVector<Value> best(kPerThread, b.f32(-kInf));
    best.append(kPerThread, b.i32(0));
    if (oneCentroidTile) {
      updateBest(tileDots(), b.index(0), seg.m, best);
    } else {
      Value centroidTiles = b.ceilDivU(seg.m, b.index(kTileCentroids));
      best = b.forRange(
          b.index(0), centroidTiles, b.index(1), best,
          [&](Value ct, ValueRange carried) -> SmallVector<Value> {
            Value firstRel = b.mul(ct, b.index(kTileCentroids));
            stageCentroids(b.add(seg.base, firstRel),
                           b.minS(b.sub(seg.m, firstRel),
                                  b.index(kTileCentroids)));
            SmallVector<Value> next(carried.begin(), carried.end());
            updateBest(tileDots(), firstRel, seg.m, next);
            b.barrier(); // the next tile overwrites the staged centroids
            return next;
          });
    }
    for (int64_t j = 0; j < kPerThread; ++j)
      std::tie(best[j], best[kPerThread + j]) =
          b.warpArgMax(best[j], best[kPerThread + j], {8, 4, 2, 1});
    emitResults(start, valid, best, seg, mode);
    b.barrier(); // the next tile overwrites the staged keys
  });
}

void KMeansEmitter::update(const Segment &seg, Value begin, Value end) {
  const int64_t quads = s.dim / 4;
  Value items = b.mul(b.sub(end, begin), b.index(quads));
  b.forRange(tid, items, b.index(kBlock), [&](Value item) {
    Value c = b.add(seg.base, b.add(begin, b.divU(item, b.index(quads))));
    Value col = b.mul(b.remU(item, b.index(quads)), b.index(4));
    Value size = b.load(args.sizes, {batch, head, c});
    b.ifThen(b.cmp(Pred::sgt, size, b.i32(0)), [&] {
      Value sum = b.loadVector(4, args.sums, {batch, head, c, col}, /*align=*/16);
      Value count = b.sToF32(size);
      Value mean = b.divF(sum, b.splat(cast<VectorType>(sum.getType()), count));
      b.storeVector(mean, args.centroids, {batch, head, c, col}, /*align=*/16);
    });
    b.storeVector(b.splatF32(4, 0.0), args.sums, {batch, head, c, col}, /*align=*/16);
  });
  // Every thread of a centroid has read its size.
  b.barrier();
  b.forRange(b.add(begin, tid), end, b.index(kBlock), [&](Value i) {
    b.store(b.i32(0), args.sizes, {batch, head, b.add(seg.base, i)});
  });
  b.barrier();
}

void KMeansEmitter::run(const Segment &seg, int64_t maxM, int64_t iterations) {
  init(seg, tid, b.index(kBlock));
  b.barrier();
  b.forRange(b.index(0), b.index(iterations), b.index(1), [&](Value) {
    pass(seg, b.index(0), b.index(1), PassMode::Accumulate, maxM);
    update(seg, b.index(0), seg.m);
  });
  pass(seg, b.index(0), b.index(1), PassMode::Assign, maxM);
}

/// `body(b, L)` for every slot with L = min(lengths[b], N * P) > 0.
void forActiveSlots(KernelBuilder &b, const ClusterShape &s,
                    const KMeansArgs &args,
                    function_ref<void(Value batch, Value length)> body) {
  Value slots = b.dim(args.lengths, 0);
  Value tokens = b.mul(b.dim(args.clusterOf, 2),
                       b.index(s.page));
  b.forRange(b.index(0), slots, b.index(1), [&](Value batch) {
    Value length = b.load(args.lengths, {batch});
    b.ifThen(b.cmp(Pred::sgt, length, b.i32(0)), [&] {
      body(batch, b.minS(b.toIndex(length), tokens));
    });
  });
}

/// The prefill's k-means of a request of `length` tokens.
Segment prefillSegment(KernelBuilder &b, const ClusterShape &s, Value length) {
  Value t0 = b.minS(b.index(s.sinkTokens), length);
  Value n = b.sub(length, t0);
  return {t0, n, b.minS(b.index(s.clusters), n), b.index(0)};
}

//===----------------------------------------------------------------------===//
// rebuild_repr (prefill)
//===----------------------------------------------------------------------===//

gpu::GPUFuncOp buildInitKernel(KernelContext &ctx, LayerOp layer,
                               const ClusterShape &s, const KMeansArgs &launch) {
  return ctx.getOrCreateKernel(
      kernelName(layer, "cluster_init"), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        KMeansArgs args = kernelArguments(fn, launch);
        Value head = b.blockId(gpu::Dimension::y);
        Value blockX = b.blockId(gpu::Dimension::x);
        Value first = b.add(b.mul(blockX, b.index(kBlock)), b.threadId());
        Value step = b.mul(b.gridDim(),
                           b.index(kBlock));
        // No shared memory and no barrier: the tile space is never used.
        forActiveSlots(b, s, args, [&](Value batch, Value length) {
          Segment seg = prefillSegment(b, s, length);
          KMeansEmitter km(b, s, args, TileSpace(), batch, head);
          km.init(seg, first, step);
          // No centroid for the sink tokens, nor for stale tokens past the
          // request (the reference resets them too).
          b.forRange(first, seg.t0, step,
                     [&](Value t) { km.storeClusterOf(t, b.i32(-1)); });
          Value tokens = b.mul(b.dim(args.clusterOf, 2),
                               b.index(s.page));
          b.forRange(b.add(length, first), tokens, step,
                     [&](Value t) { km.storeClusterOf(t, b.i32(-1)); });
          Value writer = b.andI(
              b.andI(b.cmp(Pred::eq, blockX, b.index(0)),
                     b.cmp(Pred::eq, head, b.index(0))),
              b.cmp(Pred::eq, b.threadId(), b.index(0)));
          b.ifThen(writer, [&] {
            b.store(b.toI32(seg.m), args.state, {batch, b.index(0)});
            b.store(b.toI32(length), args.state, {batch, b.index(1)});
          });
        });
      });
}

gpu::GPUFuncOp buildPassKernel(KernelContext &ctx, LayerOp layer,
                               const ClusterShape &s, const KMeansArgs &launch,
                               PassMode mode) {
  StringRef stage =
      mode == PassMode::Accumulate ? "cluster_assign" : "cluster_final";
  gpu::GPUFuncOp kernel = ctx.getOrCreateKernel(
      kernelName(layer, stage), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        KMeansArgs args = kernelArguments(fn, launch);
        TileSpace space = TileSpace::create(b, s.dim);
        Value head = b.blockId(gpu::Dimension::y);
        Value firstTile = b.blockId(gpu::Dimension::x);
        Value tileStep = b.gridDim();
        forActiveSlots(b, s, args, [&](Value batch, Value length) {
          Segment seg = prefillSegment(b, s, length);
          b.ifThen(b.cmp(Pred::sgt, seg.m, b.index(0)), [&] {
            KMeansEmitter km(b, s, args, space, batch, head);
            km.pass(seg, firstTile, tileStep, mode, s.clusters);
            b.barrier();
          });
        });
      });
  // Two blocks per SM (at most 128 registers; the tile's shared memory
  // allows three): ptxas' own choice spills a value at 400 clusters.
  KernelContext::setMinBlocksPerSM(kernel, 2);
  return kernel;
}

/// Centroids one update block owns: one thread per 4 dims.
int64_t centroidsPerUpdateBlock(const ClusterShape &s) {
  return std::max<int64_t>(1, kBlock / (s.dim / 4));
}

gpu::GPUFuncOp buildUpdateKernel(KernelContext &ctx, LayerOp layer,
                                 const ClusterShape &s, const KMeansArgs &launch) {
  const int64_t perBlock = centroidsPerUpdateBlock(s);
  return ctx.getOrCreateKernel(
      kernelName(layer, "cluster_update"), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        KMeansArgs args = kernelArguments(fn, launch);
        Value head = b.blockId(gpu::Dimension::y);
        Value begin =
            b.mul(b.blockId(gpu::Dimension::x), b.index(perBlock));
        forActiveSlots(b, s, args, [&](Value batch, Value length) {
          Segment seg = prefillSegment(b, s, length);
          b.ifThen(b.cmp(Pred::ult, begin, seg.m), [&] {
            KMeansEmitter km(b, s, args, TileSpace(), batch, head);
            km.update(seg, begin,
                      b.minS(b.add(begin, b.index(perBlock)), seg.m));
          });
        });
      });
}

LogicalResult lowerClusterRebuild(KernelContext &ctx, RebuildReprOp op) {
  LayerOp layer = getLayer(op);
  ClusterShape s = ClusterShape::of(layer);
  if (failed(checkClusterLimits(layer, [&] { return op.emitOpError(); })))
    return failure();
  const KMeansArgs launchArgs = KMeansArgs::of(
      op.getLengths(), op.getPageOf(), op.getHostKeys(), op.getReprs());
  SmallVector<Value> operands = kernelOperands(launchArgs);

  gpu::GPUFuncOp init = buildInitKernel(ctx, layer, s, launchArgs);
  gpu::GPUFuncOp accumulate =
      buildPassKernel(ctx, layer, s, launchArgs, PassMode::Accumulate);
  gpu::GPUFuncOp update = buildUpdateKernel(ctx, layer, s, launchArgs);
  gpu::GPUFuncOp assign =
      buildPassKernel(ctx, layer, s, launchArgs, PassMode::Assign);
  ctx.notePlan(init, ClusterKernelPlan{s, ClusterKernel::Init, {}});
  ctx.notePlan(accumulate, ClusterKernelPlan{s, ClusterKernel::Assign, {}});
  ctx.notePlan(update, ClusterKernelPlan{s, ClusterKernel::Update, {}});
  ctx.notePlan(assign, ClusterKernelPlan{s, ClusterKernel::Final, {}});

  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, v);
  };
  Value heads = c(s.hkv);
  LaunchShape initShape{c(llvm::divideCeil(s.clusters * s.vectors, kBlock)),
                        heads, nullptr, kBlock};
  // Token tiles of the longest request, at most about kPassBlocks blocks.
  Value units = memref::DimOp::create(builder, loc, op.getReprs()[1], 2);
  Value tiles = arith::CeilDivUIOp::create(
      builder, loc, arith::MulIOp::create(builder, loc, units, c(s.page)),
      c(kTileTokens));
  Value passBlocks = arith::MinUIOp::create(
      builder, loc, tiles, c(llvm::divideCeil(kPassBlocks, s.hkv)));
  LaunchShape passShape{passBlocks, heads, nullptr, kBlock};
  passShape.dynamicSharedBytes = TileSpace::bytes(s.dim);
  LaunchShape updateShape{
      c(llvm::divideCeil(s.clusters, centroidsPerUpdateBlock(s))), heads,
      nullptr, kBlock};

  ctx.launchBefore(op, init, initShape, operands);
  for (int64_t i = 0; i < s.iterations; ++i) {
    ctx.launchBefore(op, accumulate, passShape, operands);
    ctx.launchBefore(op, update, updateShape, operands);
  }
  ctx.launch(op, assign, passShape, operands);
  return success();
}

//===----------------------------------------------------------------------===//
// update_repr (append)
//===----------------------------------------------------------------------===//

/// The append kernel's best centroid < count for the token's key (one row of
/// R lanes per centroid); thread 0 gets the block's result. Returns the
/// index (i32, valid in thread 0).
Value nearestCentroid(KernelBuilder &b, const ClusterShape &s,
                      const KMeansArgs &args, const TileSpace &space,
                      Value batch, Value head, Value key, Value count) {
  const int64_t width = s.rowLanes(), rows = kBlock / width;
  Value tid = b.threadId();
  Value row = b.divU(tid, b.index(width));
  Value lane = b.remU(tid, b.index(width));
  Value laneOk = b.cmp(Pred::ult, lane, b.index(s.vectors));
  Value col = b.mul(b.minS(lane, b.index(s.vectors - 1)), b.index(s.lanes));
  Value last = b.sub(count, b.index(1));
  // Every lane runs every round (shuffles), rows past count are masked.
  SmallVector<Value> best = b.forRange(
      b.index(0), count, b.index(rows), {b.f32(-kInf), b.i32(0)},
      [&](Value first, ValueRange carried) -> SmallVector<Value> {
        Value i = b.add(first, row);
        Value c = b.loadVector(s.lanes, args.centroids,
                           {batch, head, b.minS(i, last), col}, /*align=*/16);
        Value zero = b.f32(0.0);
        Value d = b.select(laneOk, b.dot(key, c), zero);
        Value n2 = b.select(laneOk, b.dot(c, c), zero);
        d = b.warpReduce(d, WarpReduceKind::Sum, width);
        n2 = b.warpReduce(n2, WarpReduceKind::Sum, width);
        Value score = b.select(b.cmp(Pred::ult, i, count),
                               b.mulF(d, inverseNorm(b, n2)), b.f32(-kInf));
        Value take = b.cmpF(FPred::OGT, score, carried[0]);
        return {b.select(take, score, carried[0]),
                b.select(take, b.toI32(i), carried[1])};
      });
  SmallVector<int64_t> offsets;
  for (int64_t offset = width; offset < kWarpSize; offset *= 2)
    offsets.push_back(offset);
  auto [value, index] = b.warpArgMax(best[0], best[1], offsets);
  Value warp = b.divU(tid, b.index(kWarpSize));
  b.ifThen(b.cmp(Pred::eq, b.remU(tid, b.index(kWarpSize)), b.index(0)), [&] {
    b.store(value, space.warpBest, {warp});
    b.store(index, space.warpBestIndex, {warp});
  });
  b.barrier();
  Value v = b.load(space.warpBest, {b.index(0)});
  Value idx = b.load(space.warpBestIndex, {b.index(0)});
  for (int64_t w = 1; w < kBlock / kWarpSize; ++w)
    std::tie(v, idx) = b.argMax(v, idx, b.load(space.warpBest, {b.index(w)}),
                              b.load(space.warpBestIndex, {b.index(w)}));
  return idx;
}

/// The open segment and the centroids a re-clustering adds (contract:
/// append), from the request's state before this append. `count` is the
/// count after seeding.
struct Recluster {
  Value start, tokens, added, due;
};
Recluster reclusterOf(KernelBuilder &b, const ClusterShape &s, Value t,
                      Value seg, Value count) {
  Value start = b.maxS(b.toIndex(seg), b.index(s.sinkTokens));
  Value tokens = b.sub(b.add(t, b.index(1)), start);
  Value added = b.minS(b.minS(b.index(s.newClusters),
                              b.sub(b.index(s.table), count)),
                       tokens);
  Value full = b.cmp(Pred::sge, tokens, b.index(s.reclusterEvery));
  return {start, tokens, added, full};
}

/// The state's count, clamped to the table: a count of 0 is seeded to 1.
Value seededCount(KernelBuilder &b, const ClusterShape &s, Value count) {
  Value c = b.minS(b.maxS(b.toIndex(count), b.index(0)), b.index(s.table));
  return b.maxS(c, b.index(1));
}

/// Token t >= T0 of (batch, head): seed centroid 0 if none is in use, take
/// the nearest centroid, re-cluster the open segment when it is full.
void appendClusteredToken(KernelBuilder &b, const ClusterShape &s,
                          const KMeansArgs &args, const TileSpace &space,
                          KMeansEmitter &km, Value newKeys, Value batch,
                          Value head, Value t) {
  Value tid = b.threadId();
  Value stateCount = b.load(args.state, {batch, b.index(0)});
  Value count = seededCount(b, s, stateCount);
  // This lane's 8 dims of the key (lanes past V hold dims of the last
  // vector and are masked in the dot products).
  Value lane = b.remU(tid, b.index(s.rowLanes()));
  Value col = b.mul(b.minS(lane, b.index(s.vectors - 1)), b.index(s.lanes));
  Value key = b.toF32(b.loadVector(s.lanes, newKeys, {batch, head, col}));
  Value seed = b.andI(b.cmp(Pred::sle, stateCount, b.i32(0)),
                      b.cmp(Pred::ult, tid, b.index(s.vectors)));
  b.ifThen(seed, [&] {
    b.storeVector(key, args.centroids, {batch, head, b.index(0), col}, /*align=*/16);
  });
  b.barrier();
  Value nearest =
      nearestCentroid(b, s, args, space, batch, head, key, count);
  b.ifThen(b.cmp(Pred::eq, tid, b.index(0)),
           [&] { km.storeClusterOf(t, nearest); });
  Value seg = b.load(args.state, {batch, b.index(1)});
  Recluster r = reclusterOf(b, s, t, seg, count);
  Value due = b.andI(r.due, b.cmp(Pred::sgt, r.added, b.index(0)));
  b.ifThen(due, [&] {
    km.run({r.start, r.tokens, r.added, count}, s.newClusters, s.iterations);
  });
}

gpu::GPUFuncOp buildAppendKernel(KernelContext &ctx, LayerOp layer,
                                 const ClusterShape &s, const AppendArgs &launch) {
  return ctx.getOrCreateKernel(
      kernelName(layer, "cluster_append"), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        AppendArgs all = kernelArguments(fn, launch);
        Value newKeys = all.newKeys;
        KMeansArgs args = all.kmeans;
        TileSpace space = TileSpace::create(b, s.dim);
        Value head = b.blockId(gpu::Dimension::x);
        Value batch = b.blockId(gpu::Dimension::y);
        Value length = b.load(args.lengths, {batch});
        Value t = b.toIndex(length);
        Value tokens = b.mul(b.dim(args.clusterOf, 2),
                             b.index(s.page));
        Value active = b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                              b.cmp(Pred::slt, t, tokens));
        KMeansEmitter km(b, s, args, space, batch, head);
        // Uniform over the block (one request and KV head): the barriers
        // inside see every thread.
        b.ifThen(active, [&] {
          Value sink = b.cmp(Pred::slt, t, b.index(s.sinkTokens));
          b.ifThenElse(
              sink, {},
              [&]() -> SmallVector<Value> {
                b.ifThen(b.cmp(Pred::eq, b.threadId(), b.index(0)),
                         [&] { km.storeClusterOf(t, b.i32(-1)); });
                return {};
              },
              [&]() -> SmallVector<Value> {
                appendClusteredToken(b, s, args, space, km, newKeys, batch,
                                     head, t);
                return {};
              });
        });
      });
}

gpu::GPUFuncOp buildStateKernel(KernelContext &ctx, LayerOp layer,
                                const ClusterShape &s, const StateArgs &launch) {
  return ctx.getOrCreateKernel(
      kernelName(layer, "cluster_state"), kernelOperands(launch), {kStateBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        StateArgs args = kernelArguments(fn, launch);
        Value lengths = args.lengths, clusterOf = args.clusterOf,
              state = args.state;
        Value batch = b.add(
            b.mul(b.blockId(gpu::Dimension::x), b.index(kStateBlock)),
            b.threadId());
        Value slots = b.dim(lengths, 0);
        b.ifThen(b.cmp(Pred::ult, batch, slots), [&] {
          Value length = b.load(lengths, {batch});
          Value t = b.toIndex(length);
          Value tokens = b.mul(b.dim(clusterOf, 2),
                               b.index(s.page));
          Value clustered = b.andI(
              b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                     b.cmp(Pred::slt, t, tokens)),
              b.cmp(Pred::sge, t, b.index(s.sinkTokens)));
          b.ifThen(clustered, [&] {
            Value count = seededCount(
                b, s, b.load(state, {batch, b.index(0)}));
            Value seg = b.load(state, {batch, b.index(1)});
            Recluster r = reclusterOf(b, s, t, seg, count);
            Value added = b.select(r.due, b.maxS(r.added, b.index(0)),
                                   b.index(0));
            b.store(b.toI32(b.add(count, added)), state, {batch, b.index(0)});
            Value nextSeg = b.select(r.due, b.toI32(b.add(t, b.index(1))), seg);
            b.store(nextSeg, state, {batch, b.index(1)});
          });
        });
      });
}

LogicalResult lowerClusterUpdate(KernelContext &ctx, UpdateReprOp op) {
  LayerOp layer = getLayer(op);
  ClusterShape s = ClusterShape::of(layer);
  if (failed(checkClusterLimits(layer, [&] { return op.emitOpError(); })))
    return failure();
  // The re-clustering reads the segment's keys from the host pool.
  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto state = [&](StringRef name) -> Value {
    FailureOr<BufferSpec> spec = layer.getStateBuffer(name);
    return StateOp::create(builder, loc, Type(getBufferType(*spec)),
                           layer.getSymName(), name);
  };
  const AppendArgs appendArgs{
      op.getKeys(), KMeansArgs::of(op.getLengths(), state("host.page_of"),
                                   state("host.k"), op.getReprs())};
  SmallVector<Value> operands = kernelOperands(appendArgs);
  gpu::GPUFuncOp append = buildAppendKernel(ctx, layer, s, appendArgs);
  const StateArgs stateArgs{op.getLengths(), op.getReprs()[1],
                            op.getReprs()[2]};
  SmallVector<Value> stateOperands = kernelOperands(stateArgs);
  gpu::GPUFuncOp update = buildStateKernel(ctx, layer, s, stateArgs);
  ctx.notePlan(append, ClusterKernelPlan{s, ClusterKernel::Append, {}});
  ctx.notePlan(update, ClusterKernelPlan{s, ClusterKernel::State, {}});

  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, v);
  };
  Value slots = memref::DimOp::create(builder, loc, op.getKeys(), 0);
  LaunchShape appendShape{c(s.hkv), slots, nullptr, kBlock};
  appendShape.dynamicSharedBytes = TileSpace::bytes(s.dim);
  LaunchShape stateShape{
      arith::CeilDivUIOp::create(builder, loc, slots, c(kStateBlock)), nullptr,
      nullptr, kStateBlock};
  ctx.launchBefore(op, append, appendShape, operands);
  ctx.launch(op, update, stateShape, stateOperands);
  return success();
}

//===----------------------------------------------------------------------===//
// score
//===----------------------------------------------------------------------===//

/// Table entry (row r, centroid i) of a KV head: element r * Cmax + i of its
/// scratch.cluster_sums rows.
SmallVector<Value> tableIndex(KernelBuilder &b, const ClusterShape &s,
                              Value batch, Value kvh, Value r, Value i) {
  Value flat = b.add(b.mul(r, b.index(s.table)), i);
  return {batch, kvh, b.divU(flat, b.index(s.dim)),
          b.remU(flat, b.index(s.dim))};
}

/// Per-lane query rows of one KV head: `combine`d into one row (sum of the
/// group, or its mean), or the head `h`'s own.
Value queryVector(KernelBuilder &b, const ClusterShape &s, Value queries,
                  Value batch, Value kvh, Value col, Value head) {
  Value row = b.add(b.mul(kvh, b.index(s.group)), head);
  return b.toF32(b.loadVector(s.lanes, queries, {batch, row, col}));
}

/// The centroids one table block handles (4 per row of R lanes) and the
/// entries it writes for them.
struct TableBlock {
  KernelBuilder &b;
  const ClusterShape &s;
  Value queries, sums, batch, kvh, lane, col, count;
  SmallVector<Value> ids, cents;

  /// Head h's 8 dims of this lane, f32.
  Value headQuery(Value h) {
    return queryVector(b, s, queries, batch, kvh, col, h);
  }
  /// q . centroid k of this row, on every lane of the row.
  Value rowDot(Value q, int64_t k) {
    return b.warpReduce(b.dot(q, cents[k]), WarpReduceKind::Sum,
                        s.rowLanes());
  }
  void write(Value r, int64_t k, Value v) {
    Value ok = b.andI(b.cmp(Pred::eq, lane, b.index(0)),
                      b.cmp(Pred::ult, ids[k], count));
    b.ifThen(ok, [&] {
      b.store(v, sums, tableIndex(b, s, batch, kvh, r, ids[k]));
    });
  }
  /// `sum` with P = 1 and `mean_query`: one row of the summed (mean) query.
  void emitCombinedRow() {
    Value q = b.forRange(b.index(0), b.index(s.group), b.index(1),
                         {b.splatF32(s.lanes, 0.0)},
                         [&](Value h, ValueRange acc) -> SmallVector<Value> {
                           return {b.addF(acc[0], headQuery(h))};
                         })[0];
    if (s.combine == ScoreCombine::mean_query && s.group > 1)
      q = b.divF(q, b.splat(cast<VectorType>(q.getType()),
                                   b.f32(double(s.group))));
    for (int64_t k = 0; k < kTableCentroidsPerRow; ++k)
      write(b.index(0), k, rowDot(q, k));
  }
  /// `max`: one row of the max over the KV head's query heads.
  void emitMaxRow() {
    SmallVector<Value> init(kTableCentroidsPerRow, b.f32(-kInf));
    SmallVector<Value> maxima = b.forRange(
        b.index(0), b.index(s.group), b.index(1), init,
        [&](Value h, ValueRange acc) -> SmallVector<Value> {
          Value q = headQuery(h);
          SmallVector<Value> next;
          for (int64_t k = 0; k < kTableCentroidsPerRow; ++k)
            next.push_back(b.maxF(acc[k], rowDot(q, k)));
          return next;
        });
    for (int64_t k = 0; k < kTableCentroidsPerRow; ++k)
      write(b.index(0), k, maxima[k]);
  }
  /// `sum` with P > 1: one row per query head.
  void emitHeadRows() {
    b.forRange(b.index(0), b.index(s.group), b.index(1), [&](Value h) {
      Value q = headQuery(h);
      for (int64_t k = 0; k < kTableCentroidsPerRow; ++k)
        write(h, k, rowDot(q, k));
    });
  }
};

gpu::GPUFuncOp buildTableKernel(KernelContext &ctx, LayerOp layer,
                                const ClusterShape &s, const TableArgs &launch) {
  const int64_t width = s.rowLanes(), rows = kBlock / width;
  return ctx.getOrCreateKernel(
      kernelName(layer, "cluster_score_table"), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        TableArgs args = kernelArguments(fn, launch);
        Value queries = args.queries, lengths = args.lengths,
              centroids = args.centroids, state = args.state,
              sums = args.sums;
        Value kvh = b.blockId(gpu::Dimension::y);
        Value batch = b.blockId(gpu::Dimension::z);
        Value first = b.mul(b.blockId(gpu::Dimension::x),
                            b.index(rows * kTableCentroidsPerRow));
        Value tid = b.threadId();
        Value row = b.divU(tid, b.index(width));
        Value lane = b.remU(tid, b.index(width));
        Value laneOk = b.cmp(Pred::ult, lane, b.index(s.vectors));
        Value col = b.mul(b.minS(lane, b.index(s.vectors - 1)),
                          b.index(s.lanes));
        Value length = b.load(lengths, {batch});
        Value count = b.minS(
            b.maxS(b.toIndex(b.load(state, {batch, b.index(0)})), b.index(0)),
            b.index(s.table));
        Value active = b.andI(b.cmp(Pred::sgt, length, b.i32(0)),
                              b.cmp(Pred::ult, first, count));
        // Uniform over the block: the shuffles below see every lane.
        b.ifThen(active, [&] {
          TableBlock block{b, s, queries, sums, batch, kvh, lane, col, count,
                           {}, {}};
          for (int64_t k = 0; k < kTableCentroidsPerRow; ++k) {
            Value i = b.add(first, b.add(b.index(k * rows), row));
            Value at = b.minS(i, b.index(s.table - 1));
            Value c = b.loadVector(s.lanes, centroids, {batch, kvh, at, col}, /*align=*/16);
            block.ids.push_back(i);
            block.cents.push_back(
                b.select(laneOk, c, b.splatF32(s.lanes, 0.0)));
          }
          if (s.combine == ScoreCombine::max)
            block.emitMaxRow();
          else if (s.tableRows() == 1)
            block.emitCombinedRow();
          else
            block.emitHeadRows();
        });
      });
}

/// Reads the table entries of one score block: staged in shared memory or
/// straight from the scratch.
struct ScoreTable {
  Value shared; ///< [Hu * rows][Cmax] f32, or null
  Value sums;
  Value batch, firstKvh;
  Value lookup(KernelBuilder &b, const ClusterShape &s, Value kvhLocal,
               int64_t r, Value centroid) const {
    if (shared) {
      Value row = b.add(b.mul(kvhLocal, b.index(s.tableRows())), b.index(r));
      return b.load(shared, {row, centroid});
    }
    return b.load(sums, tableIndex(b, s, batch, b.add(firstKvh, kvhLocal),
                                   b.index(r), centroid));
  }
};

/// Calls `body(id, ok, carried)` for the cluster ids of the unit's P tokens
/// of one KV head; ok: token < L. Returns the carried values.
SmallVector<Value>
forUnitTokens(KernelBuilder &b, const ClusterShape &s, Value clusterOf,
              Value batch, Value kvh, Value unit, Value validTokens,
              SmallVector<Value> init,
              function_ref<SmallVector<Value>(Value, Value, ValueRange)> body) {
  const int64_t step = s.page % 4 == 0 ? 4 : 1;
  auto chunk = [&](Value p0, ValueRange carried) -> SmallVector<Value> {
    SmallVector<Value> ids;
    if (step == 4) {
      Value v = b.loadVector(4, clusterOf, {batch, kvh, unit, p0});
      for (int64_t e = 0; e < 4; ++e)
        ids.push_back(b.extract(v, e));
    } else {
      ids.push_back(b.load(clusterOf, {batch, kvh, unit, p0}));
    }
    SmallVector<Value> acc(carried.begin(), carried.end());
    for (auto [e, id] : llvm::enumerate(ids)) {
      Value ok = b.cmp(Pred::ult, b.add(p0, b.index(e)), validTokens);
      acc = body(id, ok, acc);
    }
    return acc;
  };
  if (s.page <= 16) {
    for (int64_t p0 = 0; p0 < s.page; p0 += step)
      init = chunk(b.index(p0), init);
    return init;
  }
  return b.forRange(b.index(0), b.index(s.page), b.index(step), init, chunk);
}

/// The largest divisor of G that is at most kMaxHeadChunk.
int64_t headChunk(int64_t group) {
  int64_t chunk = std::min(group, kMaxHeadChunk);
  while (group % chunk != 0)
    --chunk;
  return chunk;
}

/// Score of a valid unit (before the frame's forced / invalid rule).
Value unitScore(KernelBuilder &b, const ClusterShape &s, const ScoreTable &tbl,
                Value clusterOf, Value batch, Value unit, Value validTokens,
                Value count) {
  Value ninf = b.f32(-kInf);
  // Table entry of a token's cluster id for row r, -inf without a centroid.
  auto entry = [&](Value kvhLocal, int64_t r, Value id, Value ok) {
    Value has = b.andI(ok, b.andI(b.cmp(Pred::sge, id, b.i32(0)),
                                  b.cmp(Pred::slt, b.toIndex(id), count)));
    Value at = b.toIndex(b.select(has, id, b.i32(0)));
    return b.select(has, tbl.lookup(b, s, kvhLocal, r, at), ninf);
  };
  auto overKvHeads = [&](SmallVector<Value> init,
                         function_ref<SmallVector<Value>(Value, ValueRange)>
                             body) {
    if (s.hu == 1)
      return body(b.index(0), init);
    return b.forRange(b.index(0), b.index(s.hu), b.index(1), init, body);
  };
  auto tokensOf = [&](Value kvhLocal, SmallVector<Value> init,
                      function_ref<SmallVector<Value>(Value, Value, ValueRange)>
                          body) {
    return forUnitTokens(b, s, clusterOf, batch, b.add(tbl.firstKvh, kvhLocal),
                         unit, validTokens, std::move(init), body);
  };

  if (s.combine == ScoreCombine::max)
    return overKvHeads({ninf}, [&](Value kvhLocal, ValueRange acc) {
      return tokensOf(kvhLocal, {acc[0]},
                      [&](Value id, Value ok, ValueRange m)
                          -> SmallVector<Value> {
                        return {b.maxF(m[0], entry(kvhLocal, 0, id, ok))};
                      });
    })[0];
  const int64_t rows = s.tableRows(), chunk = headChunk(rows);
  return overKvHeads({b.f32(0.0)}, [&](Value kvhLocal, ValueRange total) {
    // Row r0 + j of the table, j < chunk: the max over tokens, summed.
    auto chunkSum = [&](int64_t r0) {
      SmallVector<Value> maxima = tokensOf(
          kvhLocal, SmallVector<Value>(chunk, ninf),
          [&](Value id, Value ok, ValueRange m) -> SmallVector<Value> {
            SmallVector<Value> next;
            for (int64_t j = 0; j < chunk; ++j)
              next.push_back(b.maxF(m[j], entry(kvhLocal, r0 + j, id, ok)));
            return next;
          });
      Value sum = maxima[0];
      for (int64_t j = 1; j < chunk; ++j)
        sum = b.addF(sum, maxima[j]);
      return sum;
    };
    Value sum = total[0];
    for (int64_t r0 = 0; r0 < rows; r0 += chunk)
      sum = b.addF(sum, chunkSum(r0));
    return SmallVector<Value>{sum};
  })[0];
}

/// Units one score block covers: 4 per thread when a unit is one token.
int64_t scoreUnitsPerThread(const ClusterShape &s) {
  return s.page == 1 ? kTokenUnitsPerThread : 1;
}

/// Table rows of a group (Hu KV heads) and whether they fit shared memory.
int64_t stagedTableRows(const ClusterShape &s) { return s.hu * s.tableRows(); }
bool stagesTable(const ClusterShape &s) {
  return stagedTableRows(s) * s.table * 4 <= kMaxStagedTableBytes;
}

/// Copies the group's table entries < count into `tbl.shared` [r][i].
void stageTable(KernelBuilder &b, const ClusterShape &s, const ScoreTable &tbl,
                Value count) {
  b.forRange(b.threadId(), b.index(stagedTableRows(s) * s.table),
             b.index(kBlock), [&](Value item) {
    Value r = b.divU(item, b.index(s.table));
    Value i = b.remU(item, b.index(s.table));
    b.ifThen(b.cmp(Pred::ult, i, count), [&] {
      Value kvh = b.add(tbl.firstKvh, b.divU(r, b.index(s.tableRows())));
      Value row = b.remU(r, b.index(s.tableRows()));
      Value v = b.load(tbl.sums, tableIndex(b, s, tbl.batch, kvh, row, i));
      b.store(v, tbl.shared, {r, i});
    });
  });
  b.barrier();
}

gpu::GPUFuncOp buildScoreKernel(KernelContext &ctx, LayerOp layer,
                                const ClusterShape &s, const ClusterScoreArgs &launch,
                                ScoreFrame &fused,
                                const ScoreFramePlan &frame) {
  const int64_t sinks = layer.getForced().getSinks();
  const int64_t window = layer.getForced().getWindow();
  const int64_t perThread = scoreUnitsPerThread(s);
  const int64_t unitsPerBlock = perThread * kBlock;
  return ctx.getOrCreateKernel(
      kernelName(layer, fused.stage()), kernelOperands(launch), {kBlock},
      [&](KernelBuilder &b, gpu::GPUFuncOp fn) {
        ClusterScoreArgs args = kernelArguments(fn, launch);
        Value lengths = args.lengths, clusterOf = args.clusterOf,
              state = args.state, sums = args.sums, scores = args.scores;
        Value shared;
        if (stagesTable(s))
          shared = KernelContext::addSharedBuffer(
              fn, {stagedTableRows(s), s.table}, b.getF32Type());
        Value batch = b.blockId(gpu::Dimension::z);
        Value group = b.blockId(gpu::Dimension::y);
        Value chunkStart =
            b.mul(b.blockId(gpu::Dimension::x), b.index(unitsPerBlock));
        Value tid = b.threadId();
        Value units = b.dim(scores, 2);
        Value length = b.toIndex(b.load(lengths, {batch}));
        Value n = b.minS(b.ceilDivU(length, b.index(s.page)), units);
        Value count = b.minS(
            b.maxS(b.toIndex(b.load(state, {batch, b.index(0)})), b.index(0)),
            b.index(s.table));
        ScoreTable tbl{shared, sums, batch, b.mul(group, b.index(s.hu))};
        Value ninf = b.f32(-kInf);
        auto scoreOf = [&](Value u) -> SmallVector<Value> {
          Value first = b.mul(u, b.index(s.page));
          Value valid = b.minS(b.sub(length, first), b.index(s.page));
          return {unitScore(b, s, tbl, clusterOf, batch, u, valid, count)};
        };
        ScoreFrame::forChunk(
            b, chunkStart, n, units, tid, ninf, scores, batch, group,
            unitsPerBlock, kBlock, [&] {
              if (shared)
                stageTable(b, s, tbl, count);
              for (int64_t k = 0; k < perThread; ++k) {
                Value u = b.add(chunkStart, b.add(b.index(k * kBlock), tid));
                b.ifThen(b.cmp(Pred::ult, u, units), [&] {
                  Value bound = b.ifThenElse(
                      b.cmp(Pred::ult, u, n), {b.getF32Type()},
                      [&] { return scoreOf(u); },
                      [&]() -> SmallVector<Value> { return {ninf}; })[0];
                  b.store(ScoreFrame::finalScore(b, u, n, bound, sinks, window),
                          scores, {batch, group, u});
                });
              }
            });
        if (fused)
          fused.emitTail(b, fn, frame, scores, lengths, args.tail, batch,
                         group);
      });
}

LogicalResult lowerClusterScore(KernelContext &ctx, ScoreOp op,
                                ScoreFrame &fused) {
  LayerOp layer = getLayer(op);
  ClusterShape s = ClusterShape::of(layer);
  if (failed(checkClusterLimits(layer, [&] { return op.emitOpError(); })))
    return failure();
  ValueRange reprs = op.getReprs();
  Value centroids = reprs[0], clusterOf = reprs[1], state = reprs[2],
        sums = reprs[3];
  const TableArgs tableArgs{op.getQueries(), op.getLengths(), centroids, state,
                            sums};
  SmallVector<Value> tableOperands = kernelOperands(tableArgs);
  gpu::GPUFuncOp table = buildTableKernel(ctx, layer, s, tableArgs);
  const ClusterScoreArgs scoreArgs{op.getLengths(), clusterOf, state, sums,
                                   op.getScores(), fused.tailArgs()};
  SmallVector<Value> operands = kernelOperands(scoreArgs);
  const ScoreFramePlan frame =
      fused.plan(layer, scoreUnitsPerThread(s) * kBlock, kBlock,
                 stagesTable(s) ? stagedTableRows(s) * s.table * 4 : 0);
  gpu::GPUFuncOp kernel =
      buildScoreKernel(ctx, layer, s, scoreArgs, fused, frame);
  ctx.notePlan(table, ClusterKernelPlan{s, ClusterKernel::Table, {}});
  ctx.notePlan(kernel, ClusterKernelPlan{s, ClusterKernel::Score, frame});

  OpBuilder builder(op);
  Location loc = op.getLoc();
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(builder, loc, v);
  };
  const int64_t centroidsPerBlock =
      kBlock / s.rowLanes() * kTableCentroidsPerRow;
  LaunchShape tableShape{c(llvm::divideCeil(s.table, centroidsPerBlock)),
                         c(s.hkv),
                         memref::DimOp::create(builder, loc, op.getQueries(), 0),
                         kBlock};
  ctx.launchBefore(op, table, tableShape, tableOperands);
  fused.launch(ctx, op, kernel, frame, operands);
  return success();
}

void ClusterKernelPlan::print(raw_ostream &os) const {
  const int64_t tile = TileSpace::bytes(s.dim);
  switch (kernel) {
  case ClusterKernel::Init:
    os << "grid (" << llvm::divideCeil(s.clusters * s.vectors, kBlock) << ", "
       << s.hkv << " KV heads) block " << kBlock << "; clusters "
       << s.clusters << ", sink tokens " << s.sinkTokens;
    return;
  case ClusterKernel::Assign:
  case ClusterKernel::Final:
    os << "grid (min(ceil(N * " << s.page << " / " << kTileTokens << "), "
       << llvm::divideCeil(kPassBlocks, s.hkv) << "), " << s.hkv
       << " KV heads) block " << kBlock << " dynamic " << tile << "; tile "
       << kTileTokens << " tokens x " << kTileCentroids
       << " centroids, clusters " << s.clusters << ", min blocks/SM 2";
    if (kernel == ClusterKernel::Assign)
      os << ", launched " << s.iterations << " times";
    return;
  case ClusterKernel::Update:
    os << "grid ("
       << llvm::divideCeil(s.clusters, centroidsPerUpdateBlock(s)) << ", "
       << s.hkv << " KV heads) block " << kBlock << "; centroids/block "
       << centroidsPerUpdateBlock(s) << ", launched " << s.iterations
       << " times";
    return;
  case ClusterKernel::Append:
    os << "grid (" << s.hkv << " KV heads, B) block " << kBlock
       << " dynamic " << tile << "; row lanes " << s.rowLanes()
       << ", recluster every " << s.reclusterEvery << " into "
       << s.newClusters << " (table " << s.table << ")";
    return;
  case ClusterKernel::State:
    os << "grid (ceil(B / " << kStateBlock << ")) block " << kStateBlock;
    return;
  case ClusterKernel::Table: {
    const int64_t perBlock = kBlock / s.rowLanes() * kTableCentroidsPerRow;
    os << "grid (" << llvm::divideCeil(s.table, perBlock) << ", " << s.hkv
       << " KV heads, B) block " << kBlock << "; centroids/block " << perBlock
       << ", rows/KV head " << s.tableRows();
    return;
  }
  case ClusterKernel::Score:
    frame.print(os);
    os << "; units/thread " << scoreUnitsPerThread(s) << ", staged table rows "
       << (stagesTable(s) ? stagedTableRows(s) : 0) << " x " << s.table;
    return;
  }
}

//===----------------------------------------------------------------------===//
// The package's model
//===----------------------------------------------------------------------===//

struct ClusterKVKernels
    : public AlgorithmKernelsAttrInterface::ExternalModel<ClusterKVKernels,
                                                          ClusterKVAttr> {
  LogicalResult verifyKernelLimits(Attribute, LayerOp layer,
                                   EmitErrorFn emitError) const {
    return checkClusterLimits(layer, emitError);
  }
  LogicalResult lowerScore(Attribute, KernelContext &ctx, ScoreOp op,
                           ScoreFrame &frame) const {
    if (op.getReprs().size() != 5)
      return op.emitOpError() << "expects ClusterKV's five buffers";
    return lowerClusterScore(ctx, op, frame);
  }
  LogicalResult lowerUpdateRepresentations(Attribute, KernelContext &ctx,
                                           UpdateReprOp op) const {
    return lowerClusterUpdate(ctx, op);
  }
  LogicalResult lowerRebuildRepresentations(Attribute, KernelContext &ctx,
                                            RebuildReprOp op) const {
    return lowerClusterRebuild(ctx, op);
  }
};

} // namespace

void mlir::hsa::registerClusterKVKernels(MLIRContext &context) {
  ClusterKVAttr::attachInterface<ClusterKVKernels>(context);
}
