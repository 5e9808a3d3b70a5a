//===- ArtifactExport.cpp - lowered hsa module -> runtime artifact --------===//
//
// Reads what hsa-lower-to-nvvm leaves: the hsa.layer (its buffer table),
// one gpu.binary per kernel module, and host functions that
// are straight sequences of gpu.launch_func over hsa.state buffers. Every
// launch becomes a LaunchRecord whose grid/block sizes are size expressions
// (traced from memref.dim and arith ops) and whose arguments follow kernel
// ABI v2: each memref operand is expanded into the fields of its MLIR
// descriptor (allocated and aligned pointer, offset 0, sizes, strides),
// because that is what convert-gpu-to-nvvm makes the kernel take. Each
// kernel record's max_dynamic_shared_bytes is the largest dynamic shared
// memory size of that kernel's launches over all plans (the runtime checks
// every launch against it and raises the kernel's limit above 48 KiB).
//
//===----------------------------------------------------------------------===//

#include "hsa/Target/Artifact.h"

#include "hsa/Dialect/HSA/IR/HSADialect.h"
#include "hsa/artifact_writer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::hsa;
namespace art = ::hsa::artifact;
using art::Expr;

namespace {

/// One row of the layer's buffer table, in artifact terms.
struct PlannedBuffer {
  uint32_t index;
  SmallVector<Expr> dims;
};

/// The kernel images of one gpu.binary.
struct KernelImages {
  std::string chip;
  std::string ptx;
  std::vector<uint8_t> cubin;
};

class ArtifactBuilder {
public:
  ArtifactBuilder(ModuleOp module) : module(module) {}
  LogicalResult build(std::vector<uint8_t> &image);

private:
  LogicalResult addConfig(LayerOp layer);
  LogicalResult addBuffers(LayerOp layer);
  LogicalResult collectBinaries();
  LogicalResult addPlan(func::FuncOp func, StringRef name);
  LogicalResult collectDynamicShared();
  FailureOr<uint32_t> getKernel(gpu::LaunchFuncOp launch);
  FailureOr<StringRef> traceBuffer(Value value, Operation *user);
  FailureOr<Expr> toExpr(Value value, Operation *user,
                         StringRef what = "launch size", unsigned depth = 0);
  FailureOr<Expr> dynamicSharedExpr(gpu::LaunchFuncOp launch);
  LogicalResult addMemRefArgs(Value operand, unsigned position,
                              gpu::LaunchFuncOp launch,
                              std::vector<art::Arg> &args);

  ModuleOp module;
  art::ArtifactWriter writer;
  llvm::StringMap<PlannedBuffer> buffers;
  llvm::StringMap<KernelImages> binaries;
  llvm::StringMap<uint32_t> kernels;
  /// Per kernel (module::name): the largest dynamic shared memory of its
  /// launches, for its KernelRecord.
  llvm::StringMap<Expr> maxDynamicShared;
  std::string chip;
  uint32_t ptxIsa = 0;
};

} // namespace

static Expr constant(int64_t v) { return Expr::constant(v); }

/// The value of an expression that is one constant.
static std::optional<int64_t> constantValue(const Expr &e) {
  if (e.code.size() == 1 && e.code[0].op == uint32_t(art::ExprOp::PushConst))
    return e.code[0].value;
  return std::nullopt;
}

static bool sameExpr(const Expr &a, const Expr &b) {
  return a.code.size() == b.code.size() &&
         std::equal(a.code.begin(), a.code.end(), b.code.begin(),
                    [](const art::ExprInstr &x, const art::ExprInstr &y) {
                      return x.op == y.op && x.symbol == y.symbol &&
                             x.value == y.value;
                    });
}

/// The key of a launched kernel in `kernels` and `maxDynamicShared`.
static std::string kernelKey(gpu::LaunchFuncOp launch) {
  return (launch.getKernelModuleName().getValue() +
          "::" + launch.getKernelName().getValue())
      .str();
}

/// The product of `factors`, folding constants so expressions stay short.
static Expr product(ArrayRef<std::pair<std::optional<int64_t>, Expr>> factors) {
  int64_t folded = 1;
  std::optional<Expr> result;
  for (auto &[value, expr] : factors) {
    if (value) {
      folded *= *value;
      continue;
    }
    result = result ? *result * expr : expr;
  }
  if (!result)
    return constant(folded);
  return folded == 1 ? *result : *result * constant(folded);
}

LogicalResult ArtifactBuilder::addConfig(LayerOp layer) {
  LayerConfigAttr config = layer.getConfig();
  art::LayerConfigRecord cfg{};
  cfg.num_q_heads = config.getQHeads();
  cfg.num_kv_heads = config.getKvHeads();
  cfg.head_dim = config.getKeyDim();
  cfg.value_dim = config.getValueDim();
  cfg.page_size = config.getPageSize();
  Type dtype = config.getKvDtype();
  if (dtype.isBF16())
    cfg.kv_dtype = uint32_t(art::KvDtype::BF16);
  else if (dtype.isF16())
    cfg.kv_dtype = uint32_t(art::KvDtype::F16);
  else if (config.isFp8Latent())
    cfg.kv_dtype = uint32_t(art::KvDtype::Fp8Latent);
  else
    return layer.emitError() << "the artifact format holds bf16, f16 or fp8 "
                                "latent KV caches, not "
                             << dtype;
  cfg.scope = config.getScope() == SelectionScope::kv_head
                  ? uint32_t(art::SelectionScope::KvHead)
                  : uint32_t(art::SelectionScope::Request);
  // The algorithm is its package's name plus its parameters, whatever the
  // algorithm: a new one needs no change here nor in the format.
  auto algorithm = cast<SparseAlgorithmAttrInterface>(layer.getAlgorithm());
  SmallVector<AlgorithmParameter> parameters;
  algorithm.getArtifactParameters(parameters);
  std::vector<art::Param> params;
  for (const AlgorithmParameter &p : parameters)
    params.push_back(p.isString ? art::Param::string(p.name, p.stringValue)
                                : art::Param::number(p.name, p.intValue));
  writer.set_algorithm(algorithm.getAlgorithmName().str(), params);
  writer.set_layer_name(layer.getSymName().str());
  Attribute format = layer.getFormat();
  if (isa<NativeFormatAttr>(format))
    cfg.page_table_format = uint32_t(art::PageTableFormat::Native);
  else if (isa<FlashAttnBlockTableAttr>(format))
    cfg.page_table_format = uint32_t(art::PageTableFormat::FlashAttnBlockTable);
  else if (isa<FlashInferCSRAttr>(format))
    cfg.page_table_format = uint32_t(art::PageTableFormat::FlashInferCsr);
  else if (isa<TokenIndicesAttr>(format))
    cfg.page_table_format = uint32_t(art::PageTableFormat::TokenIndices);
  else
    return layer.emitError() << "page-table format " << format
                             << " has no artifact encoding";
  cfg.budget_units = layer.getBudget();
  cfg.capacity_units = layer.getBuffer().getCapacity();
  cfg.sink_units = layer.getForced().getSinks();
  cfg.window_units = layer.getForced().getWindow();
  cfg.softmax_scale = float(layer.getEffectiveSoftmaxScale());
  if (config.isLatent())
    cfg.flags |= art::kLayerFlagValueIsKeyPrefix;
  writer.set_layer_config(cfg);
  return success();
}

/// A dimension of the layer's buffer table: a constant or a runtime size.
static FailureOr<Expr> planDimToExpr(int64_t dim, LayerOp layer,
                                     StringRef buffer) {
  switch (dim) {
  case kBatchDim:
    return Expr::sym(art::Symbol::Batch);
  case kUnitsDim:
    return Expr::sym(art::Symbol::MaxUnits);
  case kPagesDim:
    return Expr::sym(art::Symbol::PoolPages);
  case kBatchPlusOneDim:
    return Expr::sym(art::Symbol::Batch) + constant(1);
  default:
    if (dim >= 0)
      return constant(dim);
    return layer.emitError() << "buffer '" << buffer
                             << "' has a dimension the runtime cannot size";
  }
}

// The table comes from the layer itself (LayerOp::getStateBuffers), the one
// source hsa-plan-buffers also records as `hsa.plan`.
LogicalResult ArtifactBuilder::addBuffers(LayerOp layer) {
  SmallVector<BufferSpec> specs;
  layer.getStateBuffers(specs);
  for (const BufferSpec &spec : specs) {
    StringRef name = spec.name;
    Type type = spec.elementType;
    art::ElementType elementType;
    if (type.isBF16())
      elementType = art::ElementType::BF16;
    else if (type.isF16())
      elementType = art::ElementType::F16;
    else if (type.isF32())
      elementType = art::ElementType::F32;
    else if (type.isInteger(32))
      elementType = art::ElementType::I32;
    else if (type.isInteger(64))
      elementType = art::ElementType::I64;
    else if (type.isInteger(8))
      elementType = art::ElementType::U8;
    else if (isa<Float8E4M3FNType>(type))
      elementType = art::ElementType::F8E4M3FN;
    else
      return layer.emitError() << "buffer '" << name << "' has element type "
                               << type << ", which the artifact cannot hold";
    art::Tier artTier;
    switch (spec.tier) {
    case PlacementTier::host:
      artTier = art::Tier::Host;
      break;
    case PlacementTier::device:
      artTier = art::Tier::Device;
      break;
    default:
      return layer.emitError() << "buffer '" << name << "' is placed on tier "
                               << stringifyPlacementTier(spec.tier)
                               << "; the runtime has host and device only";
    }
    uint32_t flags = 0;
    if (spec.fill == -1)
      flags |= art::kBufferFlagFillMinusOne;
    else if (spec.fill != 0)
      return layer.emitError() << "buffer '" << name << "' starts filled with "
                               << spec.fill << "; the runtime fills with 0 or -1";
    if (spec.shape.empty() || spec.shape.size() > art::kMaxRank)
      return layer.emitError() << "buffer '" << name << "' has rank "
                               << spec.shape.size()
                               << "; the artifact holds 1 to " << art::kMaxRank;

    PlannedBuffer planned;
    for (int64_t dim : spec.shape) {
      FailureOr<Expr> expr = planDimToExpr(dim, layer, name);
      if (failed(expr))
        return failure();
      planned.dims.push_back(*expr);
    }
    art::BufferScope scope = spec.shape.front() == kBatchDim
                                 ? art::BufferScope::PerBatchSlot
                                 : art::BufferScope::Global;
    planned.index = writer.add_buffer(
        spec.name, artTier, elementType, scope,
        std::vector<Expr>(planned.dims.begin(), planned.dims.end()), flags);
    buffers[name] = std::move(planned);
  }
  return success();
}

/// `.version X.Y` of a PTX text as X*10+Y, or 0.
static uint32_t parsePtxVersion(StringRef ptx) {
  size_t at = ptx.find(".version ");
  if (at == StringRef::npos)
    return 0;
  StringRef rest = ptx.drop_front(at + strlen(".version "));
  unsigned major = 0, minor = 0;
  auto [majorText, tail] = rest.split('.');
  if (majorText.getAsInteger(10, major) ||
      tail.take_while(llvm::isDigit).getAsInteger(10, minor))
    return 0;
  return major * 10 + minor;
}

/// The parameter count of `.entry name(...)` in a PTX text, if present.
static std::optional<unsigned> countPtxParams(StringRef ptx, StringRef name) {
  std::string needle = (".entry " + name + "(").str();
  size_t at = ptx.find(needle);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef params = ptx.drop_front(at + needle.size());
  params = params.take_until([](char c) { return c == ')'; });
  return params.count(".param");
}

LogicalResult ArtifactBuilder::collectBinaries() {
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    KernelImages images;
    for (Attribute attr : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(attr);
      auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
      if (!target)
        return binary.emitError() << "object for target " << object.getTarget()
                                  << ": artifacts hold NVVM kernels only";
      if (!images.chip.empty() && images.chip != target.getChip())
        return binary.emitError()
               << "objects for chips " << images.chip << " and "
               << target.getChip() << ": an artifact targets one chip";
      images.chip = target.getChip().str();
      StringRef bytes = object.getObject().getValue();
      switch (object.getFormat()) {
      case gpu::CompilationTarget::Assembly:
        images.ptx = bytes.rtrim('\0').str();
        break;
      case gpu::CompilationTarget::Binary:
      case gpu::CompilationTarget::Fatbin:
        images.cubin.assign(bytes.begin(), bytes.end());
        break;
      default:
        return binary.emitError("objects must be PTX (format=isa), cubin "
                                "(bin) or fatbin; serialize with "
                                "hsa-lower-to-nvvm");
      }
    }
    if (images.ptx.empty() && images.cubin.empty())
      return binary.emitError("gpu.binary holds no kernel image");
    if (!chip.empty() && chip != images.chip)
      return binary.emitError() << "kernel modules for chips " << chip
                                << " and " << images.chip
                                << ": an artifact targets one chip";
    chip = images.chip;
    if (!images.ptx.empty()) {
      uint32_t version = parsePtxVersion(images.ptx);
      if (version == 0)
        return binary.emitError("PTX without a .version directive");
      ptxIsa = std::max(ptxIsa, version);
    }
    binaries[binary.getSymName()] = std::move(images);
  }
  if (module.getOps<gpu::GPUModuleOp>().begin() !=
      module.getOps<gpu::GPUModuleOp>().end())
    return module.emitError("kernels are not serialized yet (gpu.module "
                            "left): run hsa-lower-to-nvvm first");
  if (binaries.empty())
    return module.emitError("no gpu.binary: run hsa-lower-to-nvvm first");
  return success();
}

/// The launch's dynamic shared memory size (constant 0 without one).
FailureOr<Expr> ArtifactBuilder::dynamicSharedExpr(gpu::LaunchFuncOp launch) {
  Value shared = launch.getDynamicSharedMemorySize();
  if (!shared)
    return constant(0);
  FailureOr<Expr> expr = toExpr(shared, launch, "dynamic shared memory size");
  if (failed(expr))
    return failure();
  if (std::optional<int64_t> bytes = constantValue(*expr); bytes && *bytes < 0)
    return launch.emitError()
           << "dynamic shared memory size " << *bytes << " is negative";
  return expr;
}

// Every kernel record is written at the kernel's first launch, so the
// maximum over all of its launches (in every plan) is taken first: the
// largest constant, and the distinct non-constant sizes under Max.
LogicalResult ArtifactBuilder::collectDynamicShared() {
  struct Bound {
    int64_t constant = 0;
    SmallVector<Expr> exprs;
  };
  llvm::StringMap<Bound> bounds;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    // The launches addPlan turns into records (it refuses any others).
    for (auto launch : func.getBody().getOps<gpu::LaunchFuncOp>()) {
      FailureOr<Expr> expr = dynamicSharedExpr(launch);
      if (failed(expr))
        return failure();
      Bound &bound = bounds[kernelKey(launch)];
      if (std::optional<int64_t> bytes = constantValue(*expr))
        bound.constant = std::max(bound.constant, *bytes);
      else if (llvm::none_of(bound.exprs, [&](const Expr &e) {
                 return sameExpr(e, *expr);
               }))
        bound.exprs.push_back(*expr);
    }
  }
  for (auto &[key, bound] : bounds) {
    std::optional<Expr> result;
    for (const Expr &e : bound.exprs)
      result = result ? Expr::max(*result, e) : e;
    if (!result)
      result = constant(bound.constant);
    else if (bound.constant > 0)
      result = Expr::max(*result, constant(bound.constant));
    maxDynamicShared.insert({key, *result});
  }
  return success();
}

FailureOr<uint32_t> ArtifactBuilder::getKernel(gpu::LaunchFuncOp launch) {
  StringRef moduleName = launch.getKernelModuleName().getValue();
  StringRef name = launch.getKernelName().getValue();
  std::string key = kernelKey(launch);
  if (auto it = kernels.find(key); it != kernels.end())
    return it->second;
  auto images = binaries.find(moduleName);
  if (images == binaries.end())
    return launch.emitError() << "kernel module @" << moduleName
                              << " is not a serialized gpu.binary";
  auto shared = maxDynamicShared.find(key);
  uint32_t index = writer.add_kernel(
      name.str(), name.str(), images->second.cubin, images->second.ptx,
      shared != maxDynamicShared.end() ? shared->second : constant(0));
  kernels[key] = index;
  return index;
}

FailureOr<StringRef> ArtifactBuilder::traceBuffer(Value value,
                                                  Operation *user) {
  while (true) {
    if (auto cast = value.getDefiningOp<memref::MemorySpaceCastOp>()) {
      value = cast.getSource();
      continue;
    }
    if (auto cast = value.getDefiningOp<memref::CastOp>()) {
      value = cast.getSource();
      continue;
    }
    break;
  }
  if (auto state = value.getDefiningOp<StateOp>())
    return state.getName();
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
    if (func)
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                        "hsa.buffer"))
        return name.getValue();
  }
  return user->emitError()
         << "operand is not a layer buffer (an hsa.state result or a "
            "function argument annotated with hsa.buffer by "
            "hsa-expand-algorithm): the runtime cannot bind it";
}

FailureOr<Expr> ArtifactBuilder::toExpr(Value value, Operation *user,
                                        StringRef what, unsigned depth) {
  if (depth > 32)
    return user->emitError("size expression too deep for a launch plan");
  Operation *def = value.getDefiningOp();
  auto fail = [&]() -> FailureOr<Expr> {
    InFlightDiagnostic diag = user->emitError()
                              << what
                              << " is not an expression over "
                                 "buffer dimensions and constants";
    if (def)
      diag.attachNote(def->getLoc()) << "computed by '" << def->getName()
                                     << "'";
    return diag;
  };
  if (!def)
    return fail();
  if (auto c = dyn_cast<arith::ConstantOp>(def)) {
    if (auto value = dyn_cast<IntegerAttr>(c.getValue()))
      return constant(value.getInt());
    return fail();
  }
  if (auto dim = dyn_cast<memref::DimOp>(def)) {
    std::optional<int64_t> index = dim.getConstantIndex();
    auto type = dyn_cast<MemRefType>(dim.getSource().getType());
    if (!index || !type || *index < 0 || *index >= type.getRank())
      return fail();
    if (!type.isDynamicDim(*index))
      return constant(type.getDimSize(*index));
    FailureOr<StringRef> name = traceBuffer(dim.getSource(), user);
    if (failed(name))
      return failure();
    auto it = buffers.find(*name);
    if (it == buffers.end() || size_t(*index) >= it->second.dims.size())
      return user->emitError() << "no planned buffer '" << *name << "'";
    return it->second.dims[*index];
  }
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtUIOp,
          arith::ExtSIOp>(def))
    return toExpr(def->getOperand(0), user, what, depth + 1);
  std::optional<art::ExprOp> op =
      llvm::TypeSwitch<Operation *, std::optional<art::ExprOp>>(def)
          .Case<arith::AddIOp>([](auto) { return art::ExprOp::Add; })
          .Case<arith::SubIOp>([](auto) { return art::ExprOp::Sub; })
          .Case<arith::MulIOp>([](auto) { return art::ExprOp::Mul; })
          .Case<arith::CeilDivUIOp, arith::CeilDivSIOp>(
              [](auto) { return art::ExprOp::CeilDiv; })
          .Case<arith::MinUIOp, arith::MinSIOp>(
              [](auto) { return art::ExprOp::Min; })
          .Case<arith::MaxUIOp, arith::MaxSIOp>(
              [](auto) { return art::ExprOp::Max; })
          .Default([](auto) { return std::nullopt; });
  if (!op)
    return fail();
  FailureOr<Expr> lhs = toExpr(def->getOperand(0), user, what, depth + 1);
  if (failed(lhs))
    return failure();
  FailureOr<Expr> rhs = toExpr(def->getOperand(1), user, what, depth + 1);
  if (failed(rhs))
    return failure();
  return Expr::binary(*lhs, *rhs, *op);
}

LogicalResult ArtifactBuilder::addMemRefArgs(Value operand, unsigned position,
                                             gpu::LaunchFuncOp launch,
                                             std::vector<art::Arg> &args) {
  auto type = cast<MemRefType>(operand.getType());
  if (!type.getLayout().isIdentity())
    return launch.emitError() << "kernel operand #" << position << " of type "
                              << type
                              << " has a non-identity layout; the artifact "
                                 "passes dense row-major buffers";
  FailureOr<StringRef> name = traceBuffer(operand, launch);
  if (failed(name))
    return failure();
  auto it = buffers.find(*name);
  if (it == buffers.end())
    return launch.emitError() << "kernel operand #" << position
                              << " is buffer '" << *name
                              << "', which the layer's plan does not have";
  const PlannedBuffer &buffer = it->second;
  if (int64_t(buffer.dims.size()) != type.getRank())
    return launch.emitError() << "kernel operand #" << position << " of type "
                              << type << " does not match the rank "
                              << buffer.dims.size() << " of buffer '" << *name
                              << "'";

  // Sizes: static dims of the type (the verifiers matched them to the plan)
  // or the buffer's runtime dimension.
  SmallVector<std::pair<std::optional<int64_t>, Expr>> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (type.isDynamicDim(i))
      sizes.push_back({std::nullopt, buffer.dims[i]});
    else
      sizes.push_back({type.getDimSize(i), constant(type.getDimSize(i))});
  }
  args.push_back(art::Arg::buffer(buffer.index)); // allocated pointer
  args.push_back(art::Arg::buffer(buffer.index)); // aligned pointer
  args.push_back(art::Arg::immediate_i64(0));     // offset
  for (auto &size : sizes)
    args.push_back(art::Arg::expr_i64(size.second));
  for (int64_t i = 0; i < type.getRank(); ++i)
    args.push_back(art::Arg::expr_i64(
        product(ArrayRef(sizes).drop_front(i + 1))));
  return success();
}

LogicalResult ArtifactBuilder::addPlan(func::FuncOp func, StringRef name) {
  std::vector<art::LaunchSpec> launches;
  for (Operation &op : func.getBody().getOps()) {
    auto launch = dyn_cast<gpu::LaunchFuncOp>(op);
    if (!launch) {
      if (isa<func::ReturnOp, StateOp>(op) ||
          (op.getNumRegions() == 0 && isMemoryEffectFree(&op)))
        continue;
      return op.emitError() << "'" << op.getName()
                            << "' cannot be expressed in a launch plan (plans "
                               "are straight sequences of gpu.launch_func)";
    }
    if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
        launch.hasClusterSize())
      return launch.emitError("async and cluster launches are not supported "
                              "in launch plans");
    FailureOr<uint32_t> kernel = getKernel(launch);
    if (failed(kernel))
      return failure();
    art::LaunchSpec spec;
    spec.kernel = *kernel;
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    Value sizes[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
    for (int i = 0; i < 6; ++i) {
      FailureOr<Expr> expr = toExpr(sizes[i], launch);
      if (failed(expr))
        return failure();
      (i < 3 ? spec.grid[i] : spec.block[i - 3]) = *expr;
    }
    FailureOr<Expr> shared = dynamicSharedExpr(launch);
    if (failed(shared))
      return failure();
    spec.dynamic_shared_bytes = *shared;
    for (auto [position, operand] :
         llvm::enumerate(launch.getKernelOperands())) {
      Type type = operand.getType();
      if (isa<MemRefType>(type)) {
        if (failed(addMemRefArgs(operand, position, launch, spec.args)))
          return failure();
        continue;
      }
      if (!type.isIndex() && !type.isInteger(64) && !type.isInteger(32))
        return launch.emitError() << "kernel operand #" << position
                                  << " has type " << type
                                  << "; launch plans pass memrefs and "
                                     "integers only";
      FailureOr<Expr> expr = toExpr(operand, launch);
      if (failed(expr))
        return failure();
      if (type.isInteger(32))
        return launch.emitError() << "kernel operand #" << position
                                  << ": i32 scalars are not supported; pass "
                                     "index or i64";
      spec.args.push_back(art::Arg::expr_i64(*expr));
    }
    // The kernel's real signature is in its PTX: a plan that passes a
    // different number of parameters would launch with garbage.
    auto images = binaries.find(launch.getKernelModuleName().getValue());
    if (images != binaries.end() && !images->second.ptx.empty()) {
      std::optional<unsigned> params = countPtxParams(
          images->second.ptx, launch.getKernelName().getValue());
      if (!params)
        return launch.emitError() << "kernel '" << launch.getKernelName()
                                  << "' is not an entry of its PTX";
      if (*params != spec.args.size())
        return launch.emitError()
               << "kernel '" << launch.getKernelName() << "' takes " << *params
               << " parameters but the plan passes " << spec.args.size();
    }
    launches.push_back(std::move(spec));
  }
  writer.add_plan(name.str(), launches);
  return success();
}

LogicalResult ArtifactBuilder::build(std::vector<uint8_t> &image) {
  SmallVector<LayerOp> layers(module.getOps<LayerOp>());
  if (layers.empty())
    return module.emitError() << "no hsa.layer in the module: an artifact "
                                 "holds exactly one layer";
  if (layers.size() > 1)
    return layers[1].emitError()
           << "an artifact holds one hsa.layer; the module has "
           << layers.size() << " (@" << layers[0].getSymName() << ", @"
           << layers[1].getSymName()
           << ", ...): compile each layer from a module of its own";
  LayerOp layer = layers.front();
  if (failed(addConfig(layer)) || failed(addBuffers(layer)) ||
      failed(collectBinaries()))
    return failure();
  writer.set_target(chip.c_str(), ptxIsa);
  if (failed(collectDynamicShared()))
    return failure();

  llvm::StringSet<> planned;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    auto entry = func->getAttrOfType<StringAttr>("hsa.entry");
    StringRef name = entry ? entry.getValue() : func.getSymName();
    if (!planned.insert(name).second)
      return func.emitError() << "a second function for plan '" << name
                              << "'";
    if (failed(addPlan(func, name)))
      return failure();
  }
  for (StringRef required : {"prefill", "decode_step", "append"})
    if (!planned.contains(required))
      return module.emitError()
             << "no function for plan '" << required
             << "': the runtime runs prefill, decode_step and append";
  image = writer.finish();
  return success();
}

namespace hsa {

LogicalResult buildArtifact(ModuleOp module, std::vector<uint8_t> &image) {
  return ArtifactBuilder(module).build(image);
}

LogicalResult exportArtifact(ModuleOp module, llvm::raw_ostream &os) {
  std::vector<uint8_t> image;
  if (failed(buildArtifact(module, image)))
    return failure();
  os.write(reinterpret_cast<const char *>(image.data()), image.size());
  return success();
}

LogicalResult exportArtifactHeader(ModuleOp module,
                                        llvm::raw_ostream &os) {
  std::vector<uint8_t> image;
  if (failed(buildArtifact(module, image)))
    return failure();
  LayerOp layer = *module.getOps<LayerOp>().begin();
  std::string id = ("hsa_artifact_" + layer.getSymName()).str();
  for (char &c : id)
    if (!llvm::isAlnum(c))
      c = '_';
  os << "// Generated by hsa-translate --hsa-to-cpp-header: the hsa artifact "
        "of layer @"
     << layer.getSymName()
     << "\n// (docs/ARTIFACT.md). Load it with hsattn_runtime_load_artifact("
     << id << ", " << id << "_size).\n"
     << "#pragma once\n#include <stddef.h>\n#include <stdint.h>\n\n"
     << "#ifdef __cplusplus\n#define HSA_ARTIFACT_ALIGN alignas(8)\n#else\n"
     << "#define HSA_ARTIFACT_ALIGN _Alignas(8)\n#endif\n\n"
     << "static HSA_ARTIFACT_ALIGN const uint8_t " << id << "[" << image.size()
     << "] = {";
  for (size_t i = 0; i < image.size(); ++i) {
    if (i % 16 == 0)
      os << "\n ";
    os << ' ' << unsigned(image[i]) << ',';
  }
  os << "\n};\nstatic const size_t " << id << "_size = " << image.size()
     << ";\n#undef HSA_ARTIFACT_ALIGN\n";
  return success();
}

void registerArtifactTranslations() {
  auto dialects = [](DialectRegistry &registry) {
    registry.insert<HSADialect, arith::ArithDialect, func::FuncDialect,
                    gpu::GPUDialect, memref::MemRefDialect, NVVM::NVVMDialect,
                    scf::SCFDialect>();
  };
  using Exporter = LogicalResult (*)(ModuleOp, llvm::raw_ostream &);
  auto onModule = [](Exporter exporter) {
    return [exporter](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
      auto module = dyn_cast<ModuleOp>(op);
      if (!module)
        return op->emitError("expected a builtin.module");
      return exporter(module, os);
    };
  };
  TranslateFromMLIRRegistration toArtifact(
      "hsa-to-artifact", "write the hsa runtime artifact of a lowered module",
      onModule(exportArtifact), dialects);
  TranslateFromMLIRRegistration toHeader(
      "hsa-to-cpp-header",
      "write the hsa runtime artifact of a lowered module as a C/C++ header",
      onModule(exportArtifactHeader), dialects);
}

} // namespace hsa
