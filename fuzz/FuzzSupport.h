//===- FuzzSupport.h - shared parts of hsa's fuzz targets -------*- C++ -*-===//
//
// What every fuzz target in fuzz/ does the same way: the dialects of hsa's
// tools (hsa::registerToolDialects, built once), a context per input,
// diagnostics captured instead of printed, and one way to parse and verify
// an input as hsa-opt reads a file. fuzz/README.md says what a finding is.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_FUZZ_FUZZSUPPORT_H
#define HSA_FUZZ_FUZZSUPPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsa::fuzz {

/// Dialects, extensions and translations of hsa's tools, built on first use.
const mlir::DialectRegistry &toolRegistry();

/// A context with the tool registry and no threads (one input at a time;
/// threads would make runs nondeterministic and slower).
class FuzzContext {
public:
  FuzzContext();
  mlir::MLIRContext &get() { return context; }

  /// Every diagnostic emitted so far, as text (for a finding's message).
  const std::string &diagnostics() const { return text; }
  /// Forgets the diagnostics collected so far.
  void clearDiagnostics() { text.clear(); }

private:
  mlir::MLIRContext context;
  std::string text;
  mlir::ScopedDiagnosticHandler handler;
};

/// Parses `input` as an MLIR module the way hsa-opt reads a file (a
/// NUL-terminated copy in a SourceMgr; top-level ops other than a module get
/// an implicit one) and verifies it. A diagnostic error gives null: that is
/// a normal outcome. MLIR bytecode is refused (null): the bytecode reader is
/// upstream's, and text is what the seeds and the dictionary are about.
mlir::OwningOpRef<mlir::ModuleOp> parseAndVerify(FuzzContext &context,
                                                 llvm::StringRef input);

/// `op` printed (custom form, or generic with `generic`), without locations.
std::string print(mlir::Operation *op, bool generic);

/// Reports a finding that is not a crash by itself (a pass leaving invalid
/// IR, printed IR that does not parse back) and aborts, so that libFuzzer
/// saves the input like any crash. Prints `what`, then `details`.
[[noreturn]] void finding(const llvm::Twine &what, llvm::StringRef details);

/// Whether HSA_FUZZ_<name> is set to something other than "0" (default:
/// `fallback` when unset).
bool envFlag(const char *name, bool fallback);

} // namespace hsa::fuzz

#endif // HSA_FUZZ_FUZZSUPPORT_H
