//===- Pipelines.cpp - hsa's named pass pipelines -------------------------===//

#include "hsa/Pipelines/Pipelines.h"

#include "hsa/Conversion/Passes.h"
#include "hsa/Dialect/HSA/Transforms/Passes.h"
#include "hsa/Pipelines/Targets.h"

#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using ::hsa::LowerToGPUOptions;
using ::hsa::LowerToNVVMOptions;

namespace {

/// gpu-module-to-binary, but able to keep both the PTX and the cubin of each
/// kernel module in one gpu.binary (format "both"): the runtime loads the
/// cubin on the chip it was built for and JIT-compiles the PTX elsewhere.
struct SerializeKernelsPass
    : public PassWrapper<SerializeKernelsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SerializeKernelsPass)

  SerializeKernelsPass() = default;
  SerializeKernelsPass(const SerializeKernelsPass &other)
      : PassWrapper(other) {}
  SerializeKernelsPass(StringRef formatValue, StringRef toolkitValue) {
    format = formatValue.str();
    toolkit = toolkitValue.str();
  }

  StringRef getArgument() const override { return "hsa-serialize-kernels"; }
  StringRef getDescription() const override {
    return "Serializes gpu.module kernels to PTX and/or cubin objects";
  }

  gpu::TargetOptions targetOptions(gpu::CompilationTarget target) {
    return gpu::TargetOptions(toolkit, {}, {}, {}, target);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (format != "both") {
      std::optional<gpu::CompilationTarget> target =
          llvm::StringSwitch<std::optional<gpu::CompilationTarget>>(
              StringRef(format))
              .Case("isa", gpu::CompilationTarget::Assembly)
              .Case("bin", gpu::CompilationTarget::Binary)
              .Case("fatbin", gpu::CompilationTarget::Fatbin)
              .Default(std::nullopt);
      if (!target) {
        module.emitError() << "unknown kernel format '" << format
                           << "': expected isa, bin, fatbin or both";
        return signalPassFailure();
      }
      if (failed(gpu::transformGpuModulesToBinaries(module, nullptr,
                                                    targetOptions(*target))))
        return signalPassFailure();
      return;
    }

    // Serialize clones to cubin in a scratch module, then PTX in place, and
    // append the cubin objects to the PTX binaries of the same name.
    OpBuilder builder(module.getContext());
    OwningOpRef<ModuleOp> scratch = ModuleOp::create(module.getLoc());
    builder.setInsertionPointToEnd(scratch->getBody());
    for (auto kernels : module.getOps<gpu::GPUModuleOp>())
      builder.clone(*kernels);
    if (failed(gpu::transformGpuModulesToBinaries(
            *scratch, nullptr,
            targetOptions(gpu::CompilationTarget::Binary))) ||
        failed(gpu::transformGpuModulesToBinaries(
            module, nullptr,
            targetOptions(gpu::CompilationTarget::Assembly))))
      return signalPassFailure();
    for (auto cubins : scratch->getOps<gpu::BinaryOp>()) {
      auto ptx = SymbolTable::lookupSymbolIn(module, cubins.getSymName());
      auto binary = dyn_cast_or_null<gpu::BinaryOp>(ptx);
      if (!binary) {
        cubins.emitError("serialized kernel module has no PTX twin");
        return signalPassFailure();
      }
      SmallVector<Attribute> objects(binary.getObjects().begin(),
                                     binary.getObjects().end());
      llvm::append_range(objects, cubins.getObjects());
      binary.setObjectsAttr(builder.getArrayAttr(objects));
    }
  }

  // Options, so that a printed pipeline (--dump-pass-pipeline) replays.
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("isa (PTX), bin (cubin), fatbin, or both (PTX and "
                     "cubin objects in one gpu.binary)"),
      llvm::cl::init("isa")};
  Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit holding ptxas (default: PATH)"),
      llvm::cl::init("")};
};

} // namespace

/// hsa-lower-to-gpu's passes, from its options as either pipeline has them.
template <typename Derived>
static void addLowerToGPUPasses(OpPassManager &pm,
                                const ::hsa::LowerToGPUOptionsBase<Derived> &options,
                                const ::hsa::TargetFeatures &target) {
  pm.addPass(mlir::hsa::createHSAExpandAlgorithm());
  if (options.fuse) {
    mlir::hsa::HSAFuseStagesOptions fuse;
    fuse.maxContext = options.maxContext;
    fuse.scoreTopKMaxUnits = options.scoreTopKMaxUnits;
    fuse.diffGatherMaxBudget = options.diffGatherMaxBudget;
    pm.addPass(mlir::hsa::createHSAFuseStages(fuse));
  }
  mlir::hsa::ConvertHSAToGPUOptions convert;
  convert.attentionSplitTokens = options.attentionSplitTokens;
  convert.telemetry = options.telemetry;
  convert.groupBound = options.groupBound;
  convert.maxContext = options.maxContext;
  convert.topkMultiBlockMinUnits = options.topkMultiBlockMinUnits;
  convert.fp8MMA = target.fp8MMA;
  convert.wgmma = target.wgmma;
  convert.mlaTensorCores = options.mlaTensorCores;
  convert.topkCluster = options.topkCluster && target.clusters;
  pm.addPass(mlir::hsa::createConvertHSAToGPU(convert));
  // After the conversion: the kernel families have declared their scratch
  // (only what the fused and unfused kernels use), so the plan and the
  // per-request report count exactly the buffers the artifact will carry.
  mlir::hsa::HSAPlanBuffersOptions plan;
  plan.maxContext = options.maxContext;
  plan.deviceMemoryGiB = options.deviceMemoryGiB;
  pm.addPass(mlir::hsa::createHSAPlanBuffers(plan));
}

void ::hsa::buildLowerToGPUPipeline(OpPassManager &pm,
                                  const LowerToGPUOptions &options) {
  addLowerToGPUPasses(pm, options,
                      {options.fp8MMA, options.wgmma, /*clusters=*/true});
}

void ::hsa::buildKernelsToNVVMPipeline(OpPassManager &pm,
                                     const LowerToNVVMOptions &options) {
  std::string error;
  std::optional<std::string> features = ::hsa::resolveNVVMTarget(
      options.chip, options.features, options.format, error);
  assert(features && "options not checked (checkLowerToNVVMOptions)");
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = features.value_or(options.features);
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  // NVVM ops that lower to inline PTX (wgmma.mma_async and its fences).
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
}

namespace hsa {
LogicalResult checkLowerToNVVMOptions(const LowerToNVVMOptions &options,
                                      std::string &error) {
  return success(static_cast<bool>(resolveNVVMTarget(
      options.chip, options.features, options.format, error)));
}
} // namespace hsa

void ::hsa::buildLowerToNVVMPipeline(OpPassManager &pm,
                                   const LowerToNVVMOptions &options) {
  std::string error;
  std::optional<std::string> features = ::hsa::resolveNVVMTarget(
      options.chip, options.features, options.format, error);
  assert(features && "options not checked (checkLowerToNVVMOptions)");
  addLowerToGPUPasses(
      pm, options,
      ::hsa::targetFeatures(options.chip, features.value_or(options.features)));
  ::hsa::buildKernelsToNVVMPipeline(pm, options);
  pm.addPass(std::make_unique<SerializeKernelsPass>(options.format,
                                                    options.toolkit));
}

void ::hsa::registerPipelines() {
  PassRegistration<SerializeKernelsPass>();
  PassPipelineRegistration<LowerToGPUOptions>(
      "hsa-lower-to-gpu",
      "Lowers hsa layers to gpu.func kernels and gpu.launch_func plans",
      ::hsa::buildLowerToGPUPipeline);
  // Registered by hand (not PassPipelineRegistration) so that a chip, PTX
  // ISA or format hsa cannot build fails the pipeline's construction with a
  // message, before NVPTX would abort the process.
  registerPassPipeline(
      "hsa-lower-to-nvvm",
      "Lowers hsa layers to kernels serialized in gpu.binary (PTX/cubin) "
      "with host-side launch plans, ready for hsa-translate",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        LowerToNVVMOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        std::string error;
        if (failed(::hsa::checkLowerToNVVMOptions(options, error)))
          return errorHandler("hsa-lower-to-nvvm: " + error);
        ::hsa::buildLowerToNVVMPipeline(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optionHandler) {
        optionHandler(LowerToNVVMOptions());
      });
}
