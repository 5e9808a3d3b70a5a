//===- hsa-fuzz-passes.cpp - fuzz hsa's passes and pipelines --------------===//
//
// libFuzzer target: an input that parses and verifies (as in
// hsa-fuzz-parse-verify) goes, one fresh copy each, through the pipelines
// of kPipelines below: each hsa pass on its own (inputs are at every level:
// high-level ops, stage ops, fused stages), then hsa-lower-to-gpu followed
// by the kernels' NVVM lowering of hsa-lower-to-nvvm, without the
// serialization (gpu-module-to-binary: ptxas is out of process and slow; the
// NVVM lowering in process is kept, fuzz/README.md has the measurements).
//
// A pass that fails with a diagnostic is a normal outcome. Findings: a
// crash, a sanitizer report, an abort (report_fatal_error, assertions), and
// a pass that succeeds but leaves IR that does not verify (the verifier runs
// after every pass, through the instrumentation below, in place of the pass
// manager's own, which would only make that a diagnostic).
//
// HSA_FUZZ_PIPELINES='p1;p2' replaces the list (to triage one pipeline);
// HSA_FUZZ_STATS=1 prints at exit how many inputs each pipeline completed.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "hsa/InitAll.h"
#include "hsa/Pipelines/Pipelines.h"

#include "mlir/IR/Verifier.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <string>
#include <vector>

using namespace mlir;
using namespace hsa::fuzz;

/// The kernels' part of hsa-lower-to-nvvm with its default options
/// (hsa::buildKernelsToNVVMPipeline), as text; LLVMFuzzerInitialize checks
/// that it still is the same pipeline.
static const char kKernelsToNVVM[] =
    "nvvm-attach-target{chip=sm_90a features=+ptx84 O=3},"
    "gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,convert-nvvm-to-llvm,canonicalize,cse,"
    "reconcile-unrealized-casts)";

/// What runs on every input that verifies, each on its own copy.
static std::vector<std::string> defaultPipelines() {
  return {
      "builtin.module(hsa-expand-algorithm)",
      "builtin.module(hsa-plan-buffers{report=true})",
      "builtin.module(hsa-fuse-stages)",
      "builtin.module(convert-hsa-to-gpu)",
      std::string("builtin.module(hsa-lower-to-gpu,") + kKernelsToNVVM + ")",
  };
}

namespace {
/// Verifies the IR after each pass that succeeded; IR that does not verify
/// is a finding (the pass is wrong, not the input).
struct VerifyAfterEachPass : public PassInstrumentation {
  VerifyAfterEachPass(FuzzContext &context, const std::string &pipeline)
      : context(context), pipeline(pipeline) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    if (succeeded(verify(op)))
      return;
    llvm::StringRef name = pass->getArgument();
    if (name.empty())
      name = pass->getName();
    finding(llvm::Twine("pass '") + name + "' (pipeline '" + pipeline +
                "') succeeded but left IR that does not verify",
            context.diagnostics());
  }

  FuzzContext &context;
  const std::string &pipeline;
};
} // namespace

/// The pipelines to run, as text and parsed (copied into a pass manager of
/// each input's context).
static std::vector<std::string> pipelines;
static std::vector<OpPassManager> parsedPipelines;

/// HSA_FUZZ_STATS=1: at exit, how many inputs verified and how many of those
/// each pipeline took to the end (what the passes actually saw).
static size_t inputs = 0, verified = 0;
static std::vector<size_t> completed;
static void printStats() {
  llvm::errs() << "hsa-fuzz-passes: " << inputs << " inputs, " << verified
               << " parsed and verified\n";
  for (size_t i = 0; i < pipelines.size(); ++i)
    llvm::errs() << "  " << completed[i] << " completed: " << pipelines[i]
                 << "\n";
}

/// A textual pipeline anchored on builtin.module, parsed; stops at once when
/// it does not parse (a typo here would fuzz nothing).
static OpPassManager parseOrDie(const std::string &pipeline) {
  std::string error;
  llvm::raw_string_ostream errors(error);
  FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, errors);
  if (failed(parsed) ||
      parsed->getOpAnchorName() != ModuleOp::getOperationName()) {
    llvm::errs() << "hsa-fuzz-passes: bad pipeline '" << pipeline
                 << "' (it must be builtin.module(...)): " << error << "\n";
    std::abort();
  }
  return std::move(*parsed);
}

/// The pipeline's passes, printed back by the pass manager.
static std::string printed(const OpPassManager &pm) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pm.printAsTextualPipeline(os);
  return text;
}

/// Stops at once when kKernelsToNVVM no longer says what
/// hsa::buildKernelsToNVVMPipeline builds.
static void checkKernelsToNVVM() {
  OpPassManager built(ModuleOp::getOperationName());
  hsa::buildKernelsToNVVMPipeline(built, hsa::LowerToNVVMOptions());
  OpPassManager parsed =
      parseOrDie(std::string("builtin.module(") + kKernelsToNVVM + ")");
  if (printed(built) != printed(parsed)) {
    llvm::errs() << "hsa-fuzz-passes: kKernelsToNVVM is not the pipeline of "
                    "hsa::buildKernelsToNVVMPipeline any more; update it.\n"
                 << "  built:  " << printed(built) << "\n"
                 << "  parsed: " << printed(parsed) << "\n";
    std::abort();
  }
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  mlir::registerAllPasses();
  hsa::registerAllPasses();
  (void)toolRegistry();
  checkKernelsToNVVM();

  if (const char *list = std::getenv("HSA_FUZZ_PIPELINES")) {
    llvm::SmallVector<llvm::StringRef> items;
    llvm::StringRef(list).split(items, ';', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef item : items)
      pipelines.push_back(item.trim().str());
  } else {
    pipelines = defaultPipelines();
  }
  for (const std::string &pipeline : pipelines)
    parsedPipelines.push_back(parseOrDie(pipeline));
  completed.assign(pipelines.size(), 0);
  if (envFlag("STATS", false))
    std::atexit(printStats);
  if (envFlag("VERBOSE", false))
    for (const OpPassManager &pm : parsedPipelines)
      llvm::errs() << "hsa-fuzz-passes: pipeline " << printed(pm) << "\n";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ++inputs;
  FuzzContext context;
  OwningOpRef<ModuleOp> module = parseAndVerify(
      context, llvm::StringRef(reinterpret_cast<const char *>(data), size));
  // -1: libFuzzer keeps no input that does not verify in this target's
  // corpus, however new its coverage (error paths of the parser and the
  // verifier are hsa-fuzz-parse-verify's); mutations then start from
  // modules the passes run on. Without it, 21 of 1044 corpus inputs verified.
  if (!module)
    return -1;
  ++verified;

  for (size_t i = 0; i < pipelines.size(); ++i) {
    context.clearDiagnostics();
    PassManager pm(&context.get(), ModuleOp::getOperationName());
    static_cast<OpPassManager &>(pm) = parsedPipelines[i];
    pm.enableVerifier(false);
    pm.addInstrumentation(
        std::make_unique<VerifyAfterEachPass>(context, pipelines[i]));
    OwningOpRef<ModuleOp> copy = module->clone();
    if (succeeded(pm.run(*copy)))
      ++completed[i];
  }
  return 0;
}
