//===- HSABase.td - hsa dialect definition ----------------*- tablegen -*-===//
//
// The hsa dialect describes one decode step of sparse attention over a KV
// cache placed across memory tiers (host, device). This file holds the
// dialect record, the enums and the base classes of ops and attributes.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_BASE_TD
#define HSA_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def HSA_Dialect : Dialect {
  let name = "hsa";
  let cppNamespace = "::mlir::hsa";
  let summary = "Hierarchical sparse attention with tiered KV placement";
  let description = [{
    The `hsa` dialect describes sparse attention layers whose complete KV cache
    lives in host memory while the GPU keeps light per-unit representations and
    an LRU buffer of recently used units. An `hsa.layer` symbol declares one
    layer (shapes, algorithm, budget, buffer, page-table format); the
    high-level `hsa.prefill`, `hsa.decode_step` and `hsa.append` ops refer to it
    and are expanded into the stage ops `hsa.score`, `hsa.topk`, `hsa.diff`,
    `hsa.gather`, `hsa.attend`, `hsa.update_repr` and `hsa.store_kv`, whose
    operands are memrefs whose memory space is a placement tier
    (`#hsa.tier<host>`, `#hsa.tier<device>`). Buffer names, shapes and the exact
    step semantics are in docs/BUFFERS.md.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def HSA_PlacementTier : I32EnumAttr<"PlacementTier", "where a buffer lives", [
    I32EnumAttrCase<"host", 0>,
    I32EnumAttrCase<"device", 1>,
    I32EnumAttrCase<"remote", 2>]> {
  let cppNamespace = "::mlir::hsa";
  let genSpecializedAttr = 0;
}

def HSA_SelectionScope : I32EnumAttr<"SelectionScope",
    "which heads choose their units together", [
    I32EnumAttrCase<"request", 0>,
    I32EnumAttrCase<"kv_head", 1>]> {
  let cppNamespace = "::mlir::hsa";
  let genSpecializedAttr = 0;
}

def HSA_ScoreCombine : I32EnumAttr<"ScoreCombine",
    "how the per-head scores of one selection group are combined", [
    I32EnumAttrCase<"max", 0>,
    I32EnumAttrCase<"sum", 1>,
    I32EnumAttrCase<"mean_query", 2>]> {
  let cppNamespace = "::mlir::hsa";
  let genSpecializedAttr = 0;
}

def HSA_EvictionPolicy : I32EnumAttr<"EvictionPolicy",
    "which resident unit a miss replaces", [
    I32EnumAttrCase<"lru", 0>]> {
  let cppNamespace = "::mlir::hsa";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

class HSA_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<HSA_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

class HSA_Op<string mnemonic, list<Trait> traits = []>
    : Op<HSA_Dialect, mnemonic, traits>;

#endif // HSA_BASE_TD
