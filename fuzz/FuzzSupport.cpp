//===- FuzzSupport.cpp - shared parts of hsa's fuzz targets ---------------===//

#include "FuzzSupport.h"

#include "hsa/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace mlir;

// Sanitizer defaults, built in so that running a target by hand behaves as
// under scripts/fuzz-compiler.sh (ASAN_OPTIONS etc. still override them).
// allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons its slabs in
// instrumented code (ours, through the inline headers) but not in the
// uninstrumented libMLIR.so; both allocate from the same slabs (the storage
// uniquer's), so reads of objects the dylib allocated would be reported as
// use-after-poison. detect_container_overflow=0: the same for container
// annotations. Both only drop annotations; heap bounds, use-after-free and
// the rest are still checked.
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0:detect_container_overflow=0";
}
extern "C" const char *__ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}

namespace {
/// Diagnostics of one input are kept up to this size (a finding's message
/// needs the first ones; an input can emit thousands).
constexpr size_t kMaxDiagnosticText = 16 * 1024;
} // namespace

bool hsa::fuzz::envFlag(const char *name, bool fallback) {
  std::string var = std::string("HSA_FUZZ_") + name;
  const char *value = std::getenv(var.c_str());
  if (!value || !*value)
    return fallback;
  return std::strcmp(value, "0") != 0;
}

const DialectRegistry &hsa::fuzz::toolRegistry() {
  static const DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    hsa::registerToolDialects(*r);
    return r;
  }();
  return *registry;
}

hsa::fuzz::FuzzContext::FuzzContext()
    : context(toolRegistry(), MLIRContext::Threading::DISABLED),
      handler(&context, [this](Diagnostic &diag) {
        if (text.size() < kMaxDiagnosticText) {
          llvm::raw_string_ostream os(text);
          os << diag.getLocation() << ": " << diag << "\n";
        }
        // HSA_FUZZ_VERBOSE=1 shows them while triaging an input.
        static const bool verbose = envFlag("VERBOSE", false);
        if (verbose)
          llvm::errs() << diag.getLocation() << ": " << diag << "\n";
        return success();
      }) {}

OwningOpRef<ModuleOp> hsa::fuzz::parseAndVerify(FuzzContext &context,
                                                llvm::StringRef input) {
  // MLIR bytecode starts with "ML\xefR".
  if (input.starts_with(llvm::StringRef("ML\xef" "R", 4)))
    return {};
  // A copy: MemoryBuffer guarantees the NUL after the end that MLIR's lexer
  // stops at (libFuzzer's buffer has none).
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(input, "fuzz-input.mlir"),
      llvm::SMLoc());
  ParserConfig config(&context.get(), /*verifyAfterParse=*/false);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, config);
  if (!module)
    return {};
  if (failed(verify(*module)))
    return {};
  return module;
}

std::string hsa::fuzz::print(Operation *op, bool generic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  flags.assumeVerified();
  if (generic)
    flags.printGenericOpForm();
  op->print(os, flags);
  return text;
}

void hsa::fuzz::finding(const llvm::Twine &what, llvm::StringRef details) {
  llvm::errs() << "==hsa-fuzz== FINDING: " << what << "\n";
  if (!details.empty())
    llvm::errs() << "==hsa-fuzz== details:\n" << details << "\n";
  llvm::errs().flush();
  std::abort();
}
