//===- KernelBuilder.h - shared pieces of hsa's kernel generators -*- C++ -*-===//
//
// Private to lib/Conversion/HSAToGPU. `KernelBuilder` makes kernel bodies
// read like the algorithm (loops, guards, warp reductions, 16-byte vector
// loads); `KernelContext` owns the gpu.module and creates kernels and their
// launches. One file per kernel family uses them (Score.cpp, TopK.cpp,
// DiffGather.cpp, Attention.cpp, WriteKV.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef HSA_LIB_CONVERSION_HSATOGPU_KERNELBUILDER_H
#define HSA_LIB_CONVERSION_HSATOGPU_KERNELBUILDER_H

#include "hsa/Dialect/HSA/IR/HSADialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>

namespace mlir {
namespace hsa {

/// Bytes one thread moves per vector load on bulk data paths.
constexpr int64_t kVectorBytes = 16;
/// Row bytes of a 128-byte-swizzled wgmma operand, and the alignment its
/// tiles need (8 rows of 128 bytes: one swizzle pattern).
constexpr int64_t kSwizzleBytes = 128;
constexpr int64_t kSwizzleAlign = 1024;
/// Static shared memory one block may declare. Dynamic shared memory
/// (KernelBuilder::dynamicSharedBuffer, LaunchShape::dynamicSharedBytes) can
/// go beyond it: the artifact records each kernel's largest dynamic size and
/// the runtime raises the kernel's limit above 48 KiB.
constexpr int64_t kStaticSharedBytes = 48 * 1024;
constexpr int64_t kWarpSize = 32;

enum class WarpReduceKind { Sum, Max, Min };

/// An ImplicitLocOpBuilder with the vocabulary of kernel bodies. Index-typed
/// helpers take and return `index` values; `i32`/`f32` make constants.
class KernelBuilder : public ImplicitLocOpBuilder {
public:
  using ImplicitLocOpBuilder::ImplicitLocOpBuilder;

  // Constants.
  Value index(int64_t value);
  Value i32(int64_t value);
  Value i64(int64_t value);
  Value f32(double value);
  Value negInf() { return f32(-std::numeric_limits<double>::infinity()); }
  Value posInf() { return f32(std::numeric_limits<double>::infinity()); }

  // Thread geometry.
  Value threadId(gpu::Dimension dim = gpu::Dimension::x);
  Value blockId(gpu::Dimension dim = gpu::Dimension::x);
  Value gridDim(gpu::Dimension dim = gpu::Dimension::x);
  Value laneId() { return remU(threadId(), index(kWarpSize)); }
  Value warpId() { return divU(threadId(), index(kWarpSize)); }

  // Integer arithmetic (index or iN, both operands of one type).
  Value add(Value a, Value b);
  Value sub(Value a, Value b);
  Value mul(Value a, Value b);
  Value divU(Value a, Value b);
  Value remU(Value a, Value b);
  Value minS(Value a, Value b);
  Value maxS(Value a, Value b);
  Value ceilDivU(Value a, Value b);
  Value cmp(arith::CmpIPredicate pred, Value a, Value b);
  Value andI(Value a, Value b);
  Value orI(Value a, Value b);
  Value xorI(Value a, Value b);
  /// Logical not of an i1.
  Value notI(Value a);
  Value shl(Value a, Value b);
  Value shrU(Value a, Value b);
  Value select(Value cond, Value a, Value b);
  Value toIndex(Value value);
  Value toI32(Value value);
  /// Zero- / sign-extension to i64, zero-extension (of an i1) to i32.
  Value extU64(Value value);
  Value extS64(Value value);
  Value extU32(Value value);
  Value bitcast(Type type, Value value);
  /// The f32 values of a vector of fp8 e4m3 codes (an even count): pairs
  /// through cvt.rn.f16x2.e4m3x2, then f16 -> f32 (both exact).
  SmallVector<Value> decodeE4M3(Value codes);

  // Float arithmetic.
  Value addF(Value a, Value b);
  Value subF(Value a, Value b);
  Value mulF(Value a, Value b);
  Value divF(Value a, Value b);
  Value maxF(Value a, Value b);
  Value minF(Value a, Value b);
  /// x * y + acc as one fma (scalars or vectors): arith's mulf/addf lower
  /// to mul.rn/add.rn, which ptxas never contracts.
  Value fma(Value x, Value y, Value acc);
  /// acc + x * y with `contract` fast-math flags: one FMA where the rounding
  /// is left open (fp32 dot products).
  Value mulAddContract(Value acc, Value x, Value y);
  /// sum_e x[e] * y[e] of two f32 vectors, in order (mulAddContract).
  Value dot(Value x, Value y);
  /// IEEE sqrt (sqrt.rn.f32).
  Value sqrt(Value a);
  /// `max` unless it is -inf (nothing seen), then 0: exponents relative to
  /// it stay finite (exp2(-inf - 0) = 0) instead of NaN (online softmax).
  Value safeMax(Value max);
  Value exp(Value a);
  Value log(Value a);
  /// Base-2 exp/log: one MUFU op each (ex2.approx / lg2.approx).
  Value exp2(Value a);
  Value log2(Value a);
  Value cmpF(arith::CmpFPredicate pred, Value a, Value b);
  Value toF32(Value value);
  /// Signed integer to f32.
  Value sToF32(Value value);
  Value truncTo(Type type, Value value);

  // Vectors.
  Value splat(VectorType type, Value scalar);
  Value zeros(Type type);
  /// A constant vector<n x f32> of `value`.
  Value splatF32(int64_t n, double value);
  /// Concatenation of equal-width vectors (vector.shuffle: lowered by
  /// convert-gpu-to-nvvm, unlike the strided-slice ops).
  Value concat(ArrayRef<Value> pieces);
  /// Elements [first, first + count) of a vector (vector.shuffle).
  Value slice(Value vector, int64_t first, int64_t count);

  // Control flow.
  void forRange(Value lb, Value ub, Value step,
                function_ref<void(Value iv)> body);
  SmallVector<Value>
  forRange(Value lb, Value ub, Value step, ValueRange init,
           function_ref<SmallVector<Value>(Value iv, ValueRange carried)> body);
  void ifThen(Value cond, function_ref<void()> then);
  SmallVector<Value> ifThenElse(Value cond, TypeRange types,
                                function_ref<SmallVector<Value>()> then,
                                function_ref<SmallVector<Value>()> otherwise);

  // Memory.
  /// Size of dimension `dim` of a memref (index).
  Value dim(Value memref, int64_t dim);
  /// The identity-layout memref as a 1-D memref of `elements` elements.
  Value flatten(Value memref, Value elements);
  Value load(Value memref, ValueRange indices);
  void store(Value value, Value memref, ValueRange indices);
  /// A vector load of `lanes` elements along the innermost dimension,
  /// aligned to its size (one `ld.global.v4` for 8 x bf16) or to `align`
  /// bytes (e.g. 16 for 8 x f32: two 16-byte loads).
  Value loadVector(int64_t lanes, Value memref, ValueRange indices,
                   int64_t align = 0);
  void storeVector(Value vector, Value memref, ValueRange indices,
                   int64_t align = 0);
  Value extract(Value vector, int64_t position);
  Value insert(Value scalar, Value vector, int64_t position);
  Value atomicAdd(Value value, Value memref, ValueRange indices);
  /// A static-shape view (`shape` x `elementType`, identity layout, workgroup
  /// address space) at byte `byteOffset` of the block's dynamic shared memory
  /// (gpu.dynamic_shared_memory + memref.view; the first use declares the
  /// external symbol it lowers to in the gpu.module). The launch must pass at
  /// least byteOffset + the view's bytes as LaunchShape::dynamicSharedBytes;
  /// the base is 16-byte aligned.
  Value dynamicSharedBuffer(ArrayRef<int64_t> shape, Type elementType,
                            int64_t byteOffset = 0);

  // Asynchronous copies and warpgroup MMA operands (sm_90a).
  /// Byte address (i64, shared window) of a workgroup buffer.
  Value sharedAddress(Value buffer);
  /// Byte address (i64) of element 0 of a memref (its aligned pointer plus
  /// its offset), in the memref's address space.
  Value baseAddress(Value memref, int64_t elementBytes);
  /// cp.async.cg of 16 bytes from global byte address `src` to shared byte
  /// address `dst`; with `srcBytes` (i32), only that many are read and the
  /// rest of the 16 are zero-filled (0: a zero row, `src` not read).
  void copyAsync16(Value dst, Value src, Value srcBytes = Value());
  /// The wgmma shared-memory descriptor of a 128-byte-swizzled operand at
  /// byte address `address`: 8-row groups `kSwizzleAlign` bytes apart (the
  /// stride byte offset) and, for an MN-major operand, 64-element blocks of
  /// its M / N dimension `leadingBytes` apart (unused by K-major ones).
  Value swizzledDescriptor(Value address, int64_t leadingBytes = 16);

  // Cooperation.
  void barrier();
  /// This block's rank in its thread-block cluster (i32; sm_90+).
  Value clusterRank();
  /// Every thread of every block of the cluster arrives (release) ...
  void clusterArrive();
  /// ... and waits for all of them (acquire): shared-memory stores before
  /// the arrival are visible to every block's loads after the wait. A block
  /// must not exit while another may still read its shared memory, so a
  /// kernel that reads remote shared memory ends with both.
  void clusterWait();
  void clusterBarrier() {
    clusterArrive();
    clusterWait();
  }
  /// The i32 at `index` of the workgroup buffer `buffer` (memref<... x i32>,
  /// identity layout, indexed flat) of the cluster's block `rank` (i32):
  /// distributed shared memory (mapa + ld.shared::cluster).
  Value loadClusterShared(Value buffer, Value index, Value rank);
  /// Acquire-release fence at device (PTX .gpu) scope: this thread's stores
  /// are visible to, and its later loads see the stores of, every other
  /// block that synchronised through an atomic (threadFenceReduction).
  void fenceDevice();
  /// Butterfly reduction over groups of `width` consecutive lanes
  /// (gpu.shuffle xor); every lane of the group gets the result.
  Value warpReduce(Value value, WarpReduceKind kind, int64_t width = kWarpSize);
  /// Lane `offset` xor this lane's `value` (i32 or f32; i64 as two halves).
  Value shuffleXor(Value value, int64_t offset);
  /// Lane `src` (i32) of `value` (i32) for every lane.
  Value shuffleIdx(Value value, Value src);
  /// Inclusive prefix sum of an i32 over the warp (gpu.shuffle up).
  Value warpInclusiveScan(Value value);
  /// (value, index) of the better of two candidates: the larger value, on
  /// equal values the lower index.
  std::pair<Value, Value> argMax(Value v, Value i, Value otherV,
                                 Value otherI);
  /// argMax over the lanes `offsets` apart (xor butterfly): every lane of a
  /// group gets the group's best.
  std::pair<Value, Value> warpArgMax(Value v, Value i,
                                     ArrayRef<int64_t> offsets);
  /// Block-wide exclusive prefix sum of an i32 (one value per thread):
  /// returns (exclusive, block total). `scratch` is memref<(warps + 1) x
  /// i32, workgroup>; two barriers, plus one so that `scratch` can be
  /// reused. Every thread of the block must reach it.
  std::pair<Value, Value> blockExclusiveScan(Value value, Value scratch,
                                             int64_t warps);
  /// Block-wide exclusive prefix sums of R i32 values per thread (value r
  /// of thread t is element r * T + t), given each warp's inclusive scan
  /// `inclusive[r]` of `values[r]` and its total already stored in
  /// `warpTotals[r][warp]` before a barrier: every warp re-scans the totals
  /// (shuffles instead of a second barrier). Returns the R exclusive
  /// prefixes and the total over all rounds.
  std::pair<SmallVector<Value>, Value>
  blockExclusiveScanRounds(ArrayRef<Value> values, ArrayRef<Value> inclusive,
                           Value warpTotals, int64_t warps);
  /// Sorts `numKeys` (a power of two >= 64) i64 keys of the shared buffer
  /// `keys` ascending with the block's `threads` threads (bitonic: partner
  /// distances >= 64 through shared memory, <= 32 in registers with
  /// shuffles over 64-key warp chunks). Expects a barrier before; ends with
  /// one.
  void blockBitonicSort(Value keys, int64_t numKeys, int64_t threads);
  /// blockBitonicSort of the first `numKeys` keys of `keys`, where
  /// `numKeys` (index, the same in every thread) is only known at run time:
  /// a power of two in [64, maxKeys] (maxKeys a power of two). The network's
  /// merge levels are emitted up to `maxKeys`; those above `numKeys` are
  /// skipped (uniform branches), so the sort costs what numKeys' own does.
  /// Expects a barrier before; ends with one.
  void blockBitonicSortPrefix(Value keys, Value numKeys, int64_t maxKeys,
                              int64_t threads);
  /// The last-arrival pattern (threadFenceReduction): every thread fences
  /// its stores, thread 0 counts the block in `counter[indices]` (i32,
  /// global) and keeps the old count in `arrival` (memref<1 x i32,
  /// workgroup>); the block whose count is `expected(...)` - 1, i.e. the
  /// last of `expected` blocks, runs `last` after an acquire fence and puts
  /// the count back to 0 for the next launch. Every thread must reach it.
  void lastArrival(Value counter, ValueRange indices, Value arrival,
                   function_ref<Value()> expectedMinusOne,
                   function_ref<void()> last);
  /// `body(k, item)` for item = first + k * stride, k < ceil(count /
  /// stride), unrolled; guarded by item < count where the last round is
  /// partial.
  void forStrided(Value first, int64_t count, int64_t stride,
                  function_ref<void(int64_t, Value)> body);
  /// counts[bin] += 1 (i32, shared memory) for every lane where `pred`,
  /// with one atomic per distinct bin of the warp (match.any.sync): lanes
  /// whose keys share a bin would otherwise serialise up to 32 atomics on one
  /// address. All 32 lanes of the warp must reach it.
  void warpAggregatedIncrement(Value counts, Value bin, Value pred);
};

/// Kernel arguments as one struct shared by the launch and the body: `Args`
/// has `SmallVector<Value *> fields()` listing its members in kernel-argument
/// order. The launch fills the members with the op's operands (a null member
/// is an absent optional operand, e.g. the values of a latent layer) and
/// passes `kernelOperands(args)`; the body gets the same struct with every
/// present member replaced by its kernel argument (`kernelArguments`), so
/// no argument is read by position.
template <typename Args>
SmallVector<Value> kernelOperands(Args args) {
  SmallVector<Value> operands;
  for (Value *field : args.fields())
    if (*field)
      operands.push_back(*field);
  return operands;
}
template <typename Args>
Args kernelArguments(gpu::GPUFuncOp fn, Args launch) {
  unsigned next = 0;
  for (Value *field : launch.fields())
    if (*field)
      *field = fn.getArgument(next++);
  assert(next == fn.getNumArguments() && "the struct is the kernel's ABI");
  return launch;
}

/// A plain memref type: the tier memory space erased (kernel argument type).
MemRefType stripTier(MemRefType type);

/// Launch geometry of one kernel, built at the launch site.
struct LaunchShape {
  Value gridX, gridY, gridZ; ///< `index` values over the layer's dims
  int64_t blockX = 1, blockY = 1, blockZ = 1;
  /// Bytes of dynamic shared memory per block (0: none; the launch then has
  /// no dynamic_shared_memory_size, as before this field existed).
  int64_t dynamicSharedBytes = 0;
};

/// Options of the conversion that shape kernels (ConvertHSAToGPU's).
struct KernelOptions {
  /// Print each kernel's plan (KernelContext::notePlan).
  bool printPlans = false;
  /// Tokens one split-K attention block covers (Attention.cpp).
  int64_t attentionSplitTokens = 128;
  /// The algorithm's telemetry outputs (Quest: io.unselected_log_bound).
  bool telemetry = false;
  /// The top-k's bound of the unselected mass from the scores, where the
  /// algorithm's scores bound its group's logits
  /// (io.group_unselected_log_bound).
  bool groupBound = true;
  /// Longest context (tokens) of a request: bounds a top-k row's units.
  int64_t maxContext = 131072;
  /// The unfused top-k runs several blocks per row when a row holds at least
  /// this many units at maxContext (TopK.cpp, multiBlockTopK; 0: never).
  int64_t topkMultiBlockMinUnits = 32768;
  /// fp8 operands may be multiplied on tensor cores (mma.sync m16n8k32
  /// e4m3): the target is sm_89 or later with PTX ISA 8.4 or later.
  bool fp8MMA = true;
  /// Warpgroup MMA (wgmma.mma_async) is available: the target is sm_90a.
  bool wgmma = true;
  /// With `wgmma`, latent (MLA) layers attend on warpgroup MMA
  /// (AttentionMLA.cpp) where the kernel supports their shape.
  bool mlaTensorCores = true;
  /// The several-block top-k as a cluster kernel (needs sm_90+).
  bool topkCluster = false;
};

/// Owns the `gpu.module @hsa_kernels` and the kernels generated into it.
class KernelContext {
public:
  explicit KernelContext(ModuleOp module, KernelOptions options = {});

  const KernelOptions &getOptions() const { return options; }

  /// With `print-plans`: prints `plan <kernel>: ` and the plan (a struct with
  /// `print(raw_ostream &)`) once per generated kernel.
  template <typename PlanT>
  void notePlan(gpu::GPUFuncOp kernel, const PlanT &plan) {
    if (!options.printPlans || !printedPlans.insert(kernel).second)
      return;
    llvm::raw_ostream &os = planStream();
    os << "plan " << kernel.getName() << ": ";
    plan.print(os);
    os << "\n";
  }

  /// The kernel `name`, generated the first time it is asked for: its
  /// arguments are `operands`' types with tiers erased; `build` fills the
  /// body (the terminator is added after it).
  gpu::GPUFuncOp getOrCreateKernel(
      StringRef name, ValueRange operands, ArrayRef<int64_t> blockSize,
      function_ref<void(KernelBuilder &, gpu::GPUFuncOp)> build);

  /// Replaces `op` with a launch of `kernel` over `operands` (tier memrefs
  /// are cast to plain memrefs at the launch).
  void launch(Operation *op, gpu::GPUFuncOp kernel, const LaunchShape &shape,
              ValueRange operands);
  /// Adds a launch of `kernel` over `operands` before `op` and keeps `op`:
  /// a stage lowered to several launches (launch replaces it with the last).
  void launchBefore(Operation *op, gpu::GPUFuncOp kernel,
                    const LaunchShape &shape, ValueRange operands);

  /// Bytes of the kernel's static workgroup buffers so far (each at its
  /// alignment, as addSharedBuffer places them).
  static int64_t sharedBytes(gpu::GPUFuncOp kernel);

  /// A buffer private to a kernel family (`scratch.*`) at `op`: declared on
  /// the layer (LayerOp::declareKernelBuffer, so the artifact lists it only
  /// when a kernel uses it) and fetched by name before `op`.
  static FailureOr<Value> scratchBuffer(Operation *op, LayerOp layer,
                                        const BufferSpec &spec);

  /// A buffer the layer already has (a contract buffer that is no operand
  /// of `op`, e.g. io.lse), fetched by name before `op`.
  static FailureOr<Value> layerBuffer(Operation *op, LayerOp layer,
                                      StringRef name);

  /// Adds a static workgroup (shared memory) buffer to a kernel, aligned to
  /// `alignment` bytes (a power of two >= 16; swizzled wgmma operands need
  /// 1024).
  static Value addSharedBuffer(gpu::GPUFuncOp kernel, ArrayRef<int64_t> shape,
                               Type elementType, int64_t alignment = 16);

  /// Asks ptxas for at least `blocks` resident blocks per SM (PTX
  /// .minnctapersm), which caps the kernel's registers: for latency-bound
  /// streaming kernels more resident warps beat more registers per thread.
  static void setMinBlocksPerSM(gpu::GPUFuncOp kernel, int64_t blocks);

  /// Compiles the kernel for clusters of `blocks` x 1 x 1 blocks (PTX
  /// .reqnctapercluster; sm_90+): the launch's grid x must be a multiple of
  /// it, and a plain cuLaunchKernel launches it as clusters.
  static void setClusterBlocks(gpu::GPUFuncOp kernel, int64_t blocks);

private:
  static llvm::raw_ostream &planStream();

  gpu::GPUModuleOp kernels;
  KernelOptions options;
  llvm::SmallPtrSet<Operation *, 16> printedPlans;
};

/// The layer an op refers to (verified to exist).
LayerOp getLayer(Operation *op);

/// `name`_`stage` kernel names: unique per layer and stage.
std::string kernelName(LayerOp layer, StringRef stage);

/// One (request, group) row of top-k selection, emitted into a kernel body
/// by `emitTopKRow` (TopK.cpp) for the top-k kernel and for the fused
/// score + top-k kernel.
struct TopKRow {
  /// Kernel arguments: sel.scores, req.length, sel.units.
  Value scores, lengths, units;
  /// The row (index values).
  Value batch, group;
  /// Threads of the block (32..1024, a divisor of 2048).
  int64_t blockSize = 1024;
  int64_t pageSize = 1, groups = 1, budget = 1;
  /// Rows of up to this many units are staged in shared memory as keys
  /// (one read of the scores instead of four); 0: never.
  int64_t stagedKeys = 0;
  /// io.group_unselected_log_bound [B][S] (f32) or null: the row's log U_g
  /// over its unselected units (telemetry_contract.h), from the scores
  /// times `logitScale`.
  Value groupBound;
  double logitScale = 1.0;
};
/// The largest power-of-two key count (at most 8192, at least 1024, else 0)
/// whose shared buffer fits in `fn` (or beside `usedSharedBytes` of static
/// shared memory) beside what emitTopKRow adds.
int64_t stagedKeysThatFit(gpu::GPUFuncOp fn, int64_t blockSize);
int64_t stagedKeysThatFit(int64_t usedSharedBytes, int64_t blockSize);
/// The plan of one top-k row (the top-k kernel's, or the fused tail's).
struct TopKRowPlan {
  int64_t blockSize = 1024, budget = 1, stagedKeys = 0;
  void print(raw_ostream &os) const;
};
/// The row's selection: every thread of the block must reach it (it has
/// barriers); adds its shared buffers to `fn`.
void emitTopKRow(KernelBuilder &b, gpu::GPUFuncOp fn, const TopKRow &row);
/// Shapes the top-k kernels need (located error otherwise).
LogicalResult checkTopK(TopKOp op);
/// io.group_unselected_log_bound at `op` when the options ask for the group
/// bound and the layer's algorithm gives one (its scores bound the logits of
/// their group: AlgorithmKernelsAttrInterface::scoresBoundGroupLogits); a
/// null Value otherwise.
FailureOr<Value> groupBoundBuffer(const KernelContext &ctx, Operation *op,
                                  LayerOp layer);
/// The row description of `op`'s layer for kernel values of its operands.
TopKRow topKRowOf(TopKOp op, Value scores, Value lengths, Value units,
                  Value batch, Value group, int64_t blockSize);

// What each kernel family can generate, checked on the layer alone so that
// the layer's verifier can refuse it (Limits.cpp attaches them to hsa.layer
// as its LoweringLimitsOpInterface) and the family's lowering checks the same
// rule. `emitError` starts a diagnostic at the caller's op.
using EmitErrorFn = llvm::function_ref<InFlightDiagnostic()>;
/// Key and value dims a whole number of 16-byte vectors (every family).
LogicalResult checkVectorDims(LayerOp layer, EmitErrorFn emitError);
LogicalResult checkScoreLimits(LayerOp layer, EmitErrorFn emitError);
LogicalResult checkTopKLimits(LayerOp layer, EmitErrorFn emitError);
LogicalResult checkDiffLimits(LayerOp layer, EmitErrorFn emitError);
LogicalResult checkAttendLimits(LayerOp layer, EmitErrorFn emitError);

// Kernel families, one file each. Each replaces its op by a launch.
/// `fusedTopK`: the top-k of these scores, fused into the score kernel (the
/// last block of each row to finish selects; the top-k op is erased).
LogicalResult lowerScore(KernelContext &ctx, ScoreOp op,
                         TopKOp fusedTopK = nullptr);
LogicalResult lowerTopK(KernelContext &ctx, TopKOp op);
/// Whether `layer`'s attention is the warpgroup-MMA kernel of latent (MLA)
/// layers (AttentionMLA.cpp): options.wgmma and options.mlaTensorCores, a
/// bf16 / f16 latent layer whose dims the kernel supports.
bool useMLATensorCores(const KernelOptions &options, LayerOp layer);
LogicalResult lowerAttendMLA(KernelContext &ctx, AttendOp op);
/// Whether the unfused top-k of `layer` runs several blocks per row
/// (TopK.cpp): a row holds at least options.topkMultiBlockMinUnits units at
/// options.maxContext, the top-k computes no group bound and the budget is
/// at most 4096 units.
bool useMultiBlockTopK(const KernelOptions &options, LayerOp layer,
                       bool groupBound);
/// The top-k as four launches: histogram, refine, collect (several blocks
/// per row) and finish (one block per row).
LogicalResult lowerTopKMultiBlock(KernelContext &ctx, TopKOp op);
/// Whether the several-block top-k runs as one cluster kernel per row
/// (options.topkCluster, rows at max-context of at most 8 x 32768 units).
bool useClusterTopK(const KernelOptions &options, LayerOp layer);
/// The top-k as one launch of clusters of 8 blocks per row (TopK.cpp).
LogicalResult lowerTopKCluster(KernelContext &ctx, TopKOp op);
LogicalResult lowerPageTable(KernelContext &ctx, PageTableOp op);
LogicalResult lowerDiff(KernelContext &ctx, DiffOp op);
LogicalResult lowerGather(KernelContext &ctx, GatherOp op);
LogicalResult lowerAttend(KernelContext &ctx, AttendOp op);
LogicalResult lowerUpdateRepr(KernelContext &ctx, UpdateReprOp op);
LogicalResult lowerStoreKV(KernelContext &ctx, StoreKVOp op);
LogicalResult lowerRebuildRepr(KernelContext &ctx, RebuildReprOp op);
/// One kernel for `hsa.fused "diff_gather"`: the diff, then the copies.
LogicalResult lowerDiffGather(KernelContext &ctx, DiffOp diff, GatherOp gather);

} // namespace hsa
} // namespace mlir

#endif // HSA_LIB_CONVERSION_HSATOGPU_KERNELBUILDER_H
