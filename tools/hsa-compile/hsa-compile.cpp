//===- hsa-compile.cpp - one-shot driver: .mlir layer -> runtime artifact -===//
//
//   hsa-compile examples/llama3-8b-quest.mlir -o llama3.hsa [--header x.h]
//
// Runs hsa-lower-to-nvvm (expand, plan, fuse, convert, NVVM, serialize; PTX
// and cubin by default) and exports the artifact (docs/ARTIFACT.md).
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/Transforms/Passes.h"
#include "hsa/InitAll.h"
#include "hsa/Pipelines/Pipelines.h"
#include "hsa/Target/Artifact.h"
#include "hsa/sha256.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<layer.mlir>"),
                                      cl::init("-"));
static cl::opt<std::string> outputFile("o", cl::desc("artifact to write"),
                                       cl::value_desc("file"), cl::Required);
static cl::opt<std::string>
    headerFile("header", cl::desc("also write the artifact as a C/C++ header"),
               cl::value_desc("file"));
static cl::opt<std::string>
    loweredFile("emit-lowered",
                cl::desc("also write the lowered module (for inspection)"),
                cl::value_desc("file"));
static cl::opt<std::string> chip("chip", cl::desc("GPU architecture"),
                                 cl::init("sm_90a"));
static cl::opt<std::string>
    features("features",
             cl::desc("PTX ISA as +ptxNN (default: the chip's minimum, at least "
                      "+ptx84 on sm_89+ for fp8 tensor cores)"),
             cl::init(""));
static cl::opt<unsigned> optLevel("opt-level", cl::desc("LLVM -O level"),
                                  cl::init(3));
static cl::opt<std::string>
    kernelFormat("format", cl::desc("kernel images: both (PTX + cubin), isa, bin"),
           cl::init("both"));
static cl::opt<std::string>
    toolkit("toolkit", cl::desc("CUDA toolkit with ptxas (default: "
                                "$CUDA_HOME, else /usr/local/cuda)"));
static cl::opt<bool> noFuse("no-fuse", cl::desc("keep every stage a kernel"));
static cl::opt<std::string> maxContextText(
    "max-context",
    cl::desc("longest context (tokens; K suffix = x1024) a request reaches "
             "(default 128K): score + top-k fuse when a row then holds at "
             "most --score-topk-max-units units"),
    cl::init("131072"));
static cl::opt<int64_t> scoreTopKMaxUnits(
    "score-topk-max-units",
    cl::desc("units per row up to which score + top-k fuse (0: never; "
             "default 4096)"),
    cl::init(4096));
static cl::opt<int64_t> diffGatherMaxBudget(
    "diff-gather-max-budget",
    cl::desc("budget (units) up to which diff + gather fuse into one kernel "
             "per (request, group) (0: never; default 1024)"),
    cl::init(1024));
static cl::opt<int64_t> topkMultiBlockMinUnits(
    "topk-multiblock-min-units",
    cl::desc("units per row at --max-context from which an unfused top-k "
             "without a group bound (budget <= 4096) runs several blocks "
             "per row (0: never; default 32768)"),
    cl::init(32768));
static cl::opt<bool> topkCluster(
    "topk-cluster",
    cl::desc("run that several-block top-k as one kernel per row on a "
             "cluster of 8 blocks (sm_90+; default off: slower on the H200 "
             "today, docs/PERF.md)"),
    cl::init(false));
static cl::opt<bool> mlaTensorCores(
    "mla-tensor-cores",
    cl::desc("latent (MLA) layers in bf16 / f16 attend on warpgroup MMA "
             "(sm_90a; default on; off: the CUDA-core split kernel)"),
    cl::init(true));
static cl::opt<bool> telemetry(
    "telemetry",
    cl::desc("generate the algorithm's telemetry outputs (Quest: the "
             "unselected units' logit bound), which RuntimeOptions::"
             "telemetry needs on the CUDA backend (docs/ACCURACY.md)"));
static cl::opt<bool> groupBound(
    "group-bound",
    cl::desc("the top-k's cheap bound of the unselected mass, where the "
             "algorithm's scores bound their group's logits (Quest max; "
             "default on, --group-bound=false to leave it out)"),
    cl::init(true));
static cl::opt<bool> quiet("quiet", cl::desc("no summary"));
static cl::opt<std::string> digestFile(
    "sha256-file",
    cl::desc("also write the artifact's SHA-256 (hex) to this file, for "
             "pinning it at load time (hsa-run --sha256, docs/ARTIFACT.md)"),
    cl::value_desc("file"));

/// Tokens from "131072" or "128K"; nullopt for anything else or < 1.
static std::optional<int64_t> parseTokens(StringRef text) {
  int64_t scale = 1;
  if (text.ends_with("K") || text.ends_with("k")) {
    scale = 1024;
    text = text.drop_back();
  }
  int64_t value = 0;
  if (text.getAsInteger(10, value) || value < 1 || value > (int64_t(1) << 40))
    return std::nullopt;
  return value * scale;
}

static std::string defaultToolkit() {
  if (!toolkit.empty())
    return toolkit;
  if (std::optional<std::string> home = sys::Process::GetEnv("CUDA_HOME"))
    return *home;
  return sys::fs::exists("/usr/local/cuda/bin/ptxas") ? "/usr/local/cuda" : "";
}

static bool writeFile(StringRef path,
                      function_ref<mlir::LogicalResult(raw_ostream &)> write) {
  std::string error;
  auto out = mlir::openOutputFile(path, &error);
  if (!out) {
    errs() << "hsa-compile: " << error << "\n";
    return false;
  }
  if (mlir::failed(write(out->os())))
    return false;
  out->keep();
  return true;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "hsa-compile: compile an hsa layer (.mlir) into a runtime artifact\n");

  mlir::DialectRegistry registry;
  hsa::registerToolDialects(registry);
  mlir::MLIRContext context(registry);
  // A diagnostic names its op by location; dumping the op (a whole lowered
  // module for a module-level error) buries the message.
  context.printOpOnDiagnostic(false);

  SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  std::string error;
  auto input = mlir::openInputFile(inputFile, &error);
  if (!input) {
    errs() << "hsa-compile: " << error << "\n";
    return 1;
  }
  sourceMgr.AddNewSourceBuffer(std::move(input), SMLoc());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  // One layer per artifact: say so before lowering (minutes for many layers).
  {
    auto layers = module->getOps<mlir::hsa::LayerOp>();
    size_t count = std::distance(layers.begin(), layers.end());
    if (count == 0) {
      module->emitError() << "no hsa.layer in " << inputFile
                          << ": an artifact holds exactly one layer";
      return 1;
    }
    if (count > 1) {
      auto second = *std::next(layers.begin());
      second.emitError() << "an artifact holds one hsa.layer; " << inputFile
                         << " has " << count
                         << ": compile each layer from a module of its own";
      return 1;
    }
  }

  std::optional<int64_t> parsedContext = parseTokens(maxContextText);
  if (!parsedContext) {
    errs() << "hsa-compile: bad --max-context '" << maxContextText
           << "': tokens >= 1, e.g. 32768 or 32K\n";
    return 1;
  }
  const int64_t maxContext = *parsedContext;
  hsa::LowerToNVVMOptions options;
  options.fuse = !noFuse;
  options.maxContext = maxContext;
  options.scoreTopKMaxUnits = scoreTopKMaxUnits;
  options.diffGatherMaxBudget = diffGatherMaxBudget;
  options.topkMultiBlockMinUnits = topkMultiBlockMinUnits;
  options.topkCluster = topkCluster;
  options.mlaTensorCores = mlaTensorCores;
  options.telemetry = telemetry;
  options.groupBound = groupBound;
  options.chip = chip;
  options.features = features;
  options.optLevel = optLevel;
  options.format = kernelFormat;
  options.toolkit = defaultToolkit();
  if (std::string targetError;
      mlir::failed(hsa::checkLowerToNVVMOptions(options, targetError))) {
    errs() << "hsa-compile: " << targetError << "\n";
    return 1;
  }
  if (options.format != "isa" && options.toolkit.empty()) {
    errs() << "hsa-compile: format '" << kernelFormat
           << "' needs ptxas: pass --toolkit=<CUDA dir> or --format=isa\n";
    return 1;
  }
  // What the fusion pass will decide, for the summary (the layers are gone
  // after lowering).
  std::string fusionNotes;
  if (!noFuse)
    module->walk([&](mlir::hsa::LayerOp layer) {
      mlir::hsa::ScoreTopKFusion decision = mlir::hsa::decideScoreTopKFusion(
          layer, maxContext, scoreTopKMaxUnits);
      raw_string_ostream os(fusionNotes);
      os << "  @" << layer.getSymName() << ": score + top-k "
         << (decision.fused ? "fused" : "two kernels") << " ("
         << decision.rowUnits
         << " units per row at --max-context=" << maxContext
         << (decision.fused ? " <= " : " > ")
         << "--score-topk-max-units=" << scoreTopKMaxUnits << "); diff + "
         << "gather "
         << (layer.getBudget() <= diffGatherMaxBudget ? "fused" : "two kernels")
         << " (budget " << layer.getBudget()
         << (layer.getBudget() <= diffGatherMaxBudget ? " <= " : " > ")
         << "--diff-gather-max-budget=" << diffGatherMaxBudget << ")\n";
    });
  mlir::PassManager pm(&context);
  hsa::buildLowerToNVVMPipeline(pm, options);
  if (mlir::failed(pm.run(*module)))
    return 1;

  if (!loweredFile.empty() &&
      !writeFile(loweredFile, [&](raw_ostream &os) {
        module->print(os);
        return mlir::success();
      }))
    return 1;
  std::vector<uint8_t> image;
  if (mlir::failed(hsa::buildArtifact(*module, image)))
    return 1;
  if (!writeFile(outputFile, [&](raw_ostream &os) {
        os.write(reinterpret_cast<const char *>(image.data()), image.size());
        return mlir::success();
      }))
    return 1;
  if (!headerFile.empty() &&
      !writeFile(headerFile, [&](raw_ostream &os) {
        return hsa::exportArtifactHeader(*module, os);
      }))
    return 1;
  const std::string digest = hsa::sha256_hex(image.data(), image.size());
  if (!digestFile.empty() && !writeFile(digestFile, [&](raw_ostream &os) {
        os << digest << "\n";
        return mlir::success();
      }))
    return 1;
  if (!quiet) {
    unsigned launches = 0;
    module->walk([&](mlir::Operation *op) {
      launches += op->getName().getStringRef() == "gpu.launch_func";
    });
    outs() << "hsa-compile: " << inputFile << " -> " << outputFile << " ("
           << image.size() << " bytes; " << chip << ", kernels as " << kernelFormat
           << ", " << launches << " launches in 3 plans)\n"
           << "  sha256 " << digest << "\n";
    // The kernels of each plan, in launch order.
    module->walk([&](mlir::func::FuncOp fn) {
      auto entry = fn->getAttrOfType<mlir::StringAttr>("hsa.entry");
      if (!entry)
        return;
      outs() << "  " << entry.getValue() << ":";
      fn.walk([&](mlir::gpu::LaunchFuncOp launch) {
        outs() << " " << launch.getKernelName().getValue();
      });
      outs() << "\n";
    });
    outs() << fusionNotes;
  }
  return 0;
}
