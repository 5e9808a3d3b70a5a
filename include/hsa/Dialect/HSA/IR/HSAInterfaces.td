//===- HSAInterfaces.td - algorithm and page-table format interfaces -----===//
//
// Sparse algorithms and page-table formats are plug-ins: attributes that
// implement these interfaces. Adding an algorithm is one attribute (parameters,
// verifier, representation list, IR builders) plus its kernels.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_INTERFACES_TD
#define HSA_INTERFACES_TD

include "mlir/IR/OpBase.td"

def HSA_SparseAlgorithmAttrInterface
    : AttrInterface<"SparseAlgorithmAttrInterface"> {
  let cppNamespace = "::mlir::hsa";
  let description = [{
    A sparse attention algorithm: how units are represented on the device,
    how a decode step scores them and how representations follow new tokens.
    The IR builders receive a `StageBuilder` that hands out the layer's named
    state buffers (docs/BUFFERS.md) and build hsa stage ops with them.
  }];
  let methods = [
    InterfaceMethod<"Name used in diagnostics and artifacts.",
      "::llvm::StringRef", "getAlgorithmName">,
    InterfaceMethod<[{
        Checks the algorithm's parameters against the layer it is used in.
      }],
      "::llvm::LogicalResult", "verifyLayer",
      (ins "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError,
           "const ::mlir::hsa::LayerConfigAttr &":$config,
           "int64_t":$budget,
           "const ::mlir::hsa::ForcedUnitsAttr &":$forced)>,
    InterfaceMethod<[{
        Appends the representations the algorithm keeps per unit (name,
        element type, shape, tier), e.g. Quest's `repr.kmin`. Device-tier
        ones are the stage ops' `reprs(...)`; host-tier ones live in the
        host pool, paged like `host.k` (`[pages][P]...`), and are the
        `host(...)` group of `hsa.update_repr` (which writes the appended
        token's row) and `hsa.rebuild_repr` (which reads them): DSA's
        `host.index_k`.
      }],
      "void", "getRepresentations",
      (ins "const ::mlir::hsa::LayerConfigAttr &":$config,
           "::llvm::SmallVectorImpl<::mlir::hsa::BufferSpec> &":$specs)>,
    InterfaceMethod<[{
        Appends the inputs the algorithm needs besides the layer's own, as
        the device-tier I/O buffers they bind to (name, element type, shape):
        the `inputs(...)` operands of `hsa.decode_step` (`kind` Decode) or
        `hsa.append` (Append), in this order. DSA: the indexer queries and
        head weights per step, the indexer key per appended token. Most
        algorithms score from the layer's queries and need none.
      }],
      "void", "getStepInputs",
      (ins "const ::mlir::hsa::LayerConfigAttr &":$config,
           "::mlir::hsa::StepKind":$kind,
           "::llvm::SmallVectorImpl<::mlir::hsa::BufferSpec> &":$specs),
      /*methodBody=*/"", /*defaultImplementation=*/"return;">,
    InterfaceMethod<[{
        Appends the parameters the artifact records for the runtime's package
        of the same name (docs/ARTIFACT.md, "Algorithm parameters"): every
        attribute parameter by its ODS name, integers as integers and enum
        cases by their spelling.
      }],
      "void", "getArtifactParameters",
      (ins "::llvm::SmallVectorImpl<::mlir::hsa::AlgorithmParameter> &":$params)>,
    InterfaceMethod<[{
        Whether this algorithm's IR builders exist. Layers whose algorithm
        is not yet implemented verify but cannot be expanded or lowered.
      }],
      "bool", "hasImplementation">,
    InterfaceMethod<[{
        Builds the ops that write `sel.scores` for a decode step; the
        decode step's own inputs (getStepInputs) are
        `stages.getStepInputs()`.
      }],
      "::llvm::LogicalResult", "buildScore",
      (ins "::mlir::hsa::StageBuilder &":$stages,
           "::mlir::Value":$queries, "::mlir::Value":$lengths,
           "::mlir::Value":$scores)>,
    InterfaceMethod<[{
        Builds the ops that fold one appended token per request into the
        representations: row `b` of `keys` (`io.new_k`) is token `lengths[b]`
        of request `b`; slots with `lengths[b] == 0` are free (used by
        append).
      }],
      "::llvm::LogicalResult", "buildUpdateRepresentations",
      (ins "::mlir::hsa::StageBuilder &":$stages, "::mlir::Value":$keys,
           "::mlir::Value":$lengths)>,
    InterfaceMethod<[{
        Builds the ops that rebuild the representation of every valid unit
        `u < ceil(lengths[b] / P)` of every slot with `lengths[b] > 0` from
        the host pool (`host.k` through `host.page_of`), after the runtime
        wrote a prompt there (used by prefill).
      }],
      "::llvm::LogicalResult", "buildRebuildRepresentations",
      (ins "::mlir::hsa::StageBuilder &":$stages, "::mlir::Value":$lengths)>
  ];
}

def HSA_PageTableFormatAttrInterface
    : AttrInterface<"PageTableFormatAttrInterface"> {
  let cppNamespace = "::mlir::hsa";
  let description = [{
    How the selected slots are presented to an attention kernel (the seed's
    BackendAdaptor): hsa's own table, or the index format of an external
    attention library that an engine already runs.
  }];
  let methods = [
    InterfaceMethod<"Name used in diagnostics and artifacts.",
      "::llvm::StringRef", "getFormatName">,
    InterfaceMethod<"Checks that the format can express the layer.",
      "::llvm::LogicalResult", "verifyLayer",
      (ins "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError,
           "const ::mlir::hsa::LayerConfigAttr &":$config)>,
    InterfaceMethod<[{
        Appends the buffers the format exports per decode step (name, element
        type, shape over symbols `B` batch and per-request constants).
      }],
      "void", "getExportedTables",
      (ins "const ::mlir::hsa::LayerConfigAttr &":$config, "int64_t":$budget,
           "::llvm::SmallVectorImpl<::mlir::hsa::BufferSpec> &":$tables)>
  ];
}

def HSA_LoweringLimitsOpInterface : OpInterface<"LoweringLimitsOpInterface"> {
  let cppNamespace = "::mlir::hsa";
  let description = [{
    What a lowering of hsa can generate kernels for. The dialect declares
    the interface and knows no lowering; a lowering library attaches a model
    to `hsa.layer` (HSAToGPU: `registerLoweringLimits`), and the layer's
    verifier then refuses, at the layer, a configuration that lowering would
    refuse later at some stage op (a buffer capacity above the LRU diff
    kernel's shared memory, a head dim that is not a whole number of 16-byte
    vectors). Tools that do not register a lowering verify layers without it.
  }];
  let methods = [
    InterfaceMethod<[{
        Emits an error at the op and fails if the attached lowering cannot
        generate its kernels.
      }],
      "::llvm::LogicalResult", "verifyLoweringLimits">
  ];
}

#endif // HSA_INTERFACES_TD
