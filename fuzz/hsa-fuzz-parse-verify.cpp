//===- hsa-fuzz-parse-verify.cpp - fuzz the parser and the verifier -------===//
//
// libFuzzer target: the input is parsed as an MLIR module with the dialects
// of hsa's tools and verified; diagnostics are captured, not printed. A
// diagnostic error is a normal outcome. Findings: a crash, a sanitizer
// report, an abort (report_fatal_error, an assertion in hsa's code or in
// LLVM/MLIR's headers, which the fuzz build compiles with assertions on).
//
// A module that verifies is also printed and parsed back, in the custom and
// in the generic form (what test/Dialect/HSA/roundtrip.mlir checks for its
// inputs, here for every input): printed IR that does not parse back or
// verify, or a custom form that does not print the same twice, is a
// finding too (HSA_FUZZ_ROUNDTRIP=0 turns this off).
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace hsa::fuzz;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  (void)toolRegistry();
  return 0;
}

/// Parses `text` printed from a module that verified; a failure is a
/// finding.
static OwningOpRef<ModuleOp> parseBack(FuzzContext &context,
                                       const std::string &text,
                                       const char *form) {
  context.clearDiagnostics();
  OwningOpRef<ModuleOp> module = parseAndVerify(context, text);
  if (!module)
    finding(llvm::Twine("a module that verified, printed in the ") + form +
                " form, does not parse back and verify",
            context.diagnostics() + "\n-- printed:\n" + text);
  return module;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzContext context;
  OwningOpRef<ModuleOp> module = parseAndVerify(
      context, llvm::StringRef(reinterpret_cast<const char *>(data), size));
  if (!module)
    return 0;

  static const bool roundTrip = envFlag("ROUNDTRIP", true);
  if (!roundTrip)
    return 0;

  std::string custom = print(module->getOperation(), /*generic=*/false);
  OwningOpRef<ModuleOp> reparsed = parseBack(context, custom, "custom");
  std::string again = print(reparsed->getOperation(), /*generic=*/false);
  if (again != custom)
    finding("the custom form does not print the same after a round trip",
            "-- first:\n" + custom + "\n-- after parsing it back:\n" + again);

  std::string generic = print(module->getOperation(), /*generic=*/true);
  (void)parseBack(context, generic, "generic");
  return 0;
}
