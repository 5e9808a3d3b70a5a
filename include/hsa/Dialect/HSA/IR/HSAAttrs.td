//===- HSAAttrs.td - hsa attributes ------------------------*- tablegen -*-===//

#ifndef HSA_ATTRS_TD
#define HSA_ATTRS_TD

include "hsa/Dialect/HSA/IR/HSABase.td"
include "hsa/Dialect/HSA/IR/HSAInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

//===----------------------------------------------------------------------===//
// Placement
//===----------------------------------------------------------------------===//

def HSA_PlacementTierAttr : EnumAttr<HSA_Dialect, HSA_PlacementTier, "tier"> {
  let summary = "placement tier of a buffer, usable as a memref memory space";
  let description = [{
    Where the bytes of a buffer live. Used as the memory space of memrefs so
    that placement is part of the type and verifiers can reject an attention
    that reads host memory or a gather that copies the wrong way.

    ```mlir
    memref<?x8x16x128xbf16, #hsa.tier<host>>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Layer configuration
//===----------------------------------------------------------------------===//

def HSA_LayerConfigAttr : HSA_Attr<"LayerConfig", "config"> {
  let summary = "shapes, dtype, page size and selection scope of a layer";
  let description = [{
    Either `head_dim` (multi-head / grouped-query attention: keys and values
    have `head_dim` elements) or `latent_dim` and `rope_dim` (multi-head latent
    attention: one latent tensor of `latent_dim + rope_dim` elements per token
    serves as the key, its first `latent_dim` elements as the value).
    `scope = request` selects units for all KV heads of a request together;
    `scope = kv_head` lets every KV head select its own units.

    `kv_dtype` is bf16 or f16 (keys, values, queries and outputs in it), or,
    for a latent layer, `f8E4M3FN`: FlashMLA's fp8 latent row, per token
    `latent_dim` e4m3 bytes, one f32 scale per 128 latent elements, then
    `rope_dim` bf16 values (656 bytes for 512 + 64), stored as bytes;
    queries and outputs are bf16 and the attention kernel dequantises
    (`latent[i] = e4m3[i] * scale[i / 128]`).

    ```mlir
    #hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16,
                page_size = 16, scope = kv_head>
    #hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64,
                kv_dtype = bf16, page_size = 1, scope = request>
    #hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64,
                kv_dtype = f8E4M3FN, page_size = 1, scope = request>
    ```
  }];
  let parameters = (ins
    "int64_t":$q_heads,
    "int64_t":$kv_heads,
    OptionalParameter<"std::optional<int64_t>">:$head_dim,
    OptionalParameter<"std::optional<int64_t>">:$latent_dim,
    OptionalParameter<"std::optional<int64_t>">:$rope_dim,
    "::mlir::Type":$kv_dtype,
    "int64_t":$page_size,
    EnumParameter<HSA_SelectionScope>:$scope);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for multi-head latent attention (one latent tensor per token).
    bool isLatent() const { return getLatentDim().has_value(); }
    /// Elements of a key row (MLA: latent + rope).
    int64_t getKeyDim() const;
    /// Elements of a value row (MLA: latent).
    int64_t getValueDim() const;
    /// Query heads per KV head.
    int64_t getGroupSize() const { return getQHeads() / getKvHeads(); }
    /// Selection groups per request (`S` in docs/BUFFERS.md).
    int64_t getSelectionGroups() const;
    /// KV heads per unit (`Hu` in docs/BUFFERS.md).
    int64_t getHeadsPerUnit() const;
    /// True for FlashMLA's fp8 latent rows (`kv_dtype = f8E4M3FN`).
    bool isFp8Latent() const;
    /// The element type of the stored cache (host.k, buf.k, io.new_k): the
    /// KV dtype, or i8 bytes for fp8 latent rows.
    ::mlir::Type getStoredType() const;
    /// The element type of queries and outputs (io.q, io.o): the KV dtype,
    /// or bf16 for fp8 latent rows.
    ::mlir::Type getActivationType() const;
    /// Stored elements of one key row: the key dim, or the fp8 latent row's
    /// bytes (`KeyRow` in docs/BUFFERS.md).
    int64_t getKeyRowElements() const;
    /// Bytes of one stored element (1 for fp8 latent rows).
    int64_t getElementBytes() const;
    /// Bytes of one unit, keys and values together.
    int64_t getUnitBytes() const;
  }];
}

//===----------------------------------------------------------------------===//
// Buffer policy and forced units
//===----------------------------------------------------------------------===//

def HSA_BufferPolicyAttr : HSA_Attr<"BufferPolicy", "buffer"> {
  let summary = "device unit buffer: capacity in units and eviction policy";
  let description = [{
    Each (request, selection group) owns `capacity` device slots of one unit
    each. Selected units that are resident stay; misses evict by `policy`.

    ```mlir
    #hsa.buffer<capacity = 512, policy = lru>
    ```
  }];
  let parameters = (ins "int64_t":$capacity,
                        EnumParameter<HSA_EvictionPolicy>:$policy);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def HSA_ForcedUnitsAttr : HSA_Attr<"ForcedUnits", "forced"> {
  let summary = "units every step selects: attention sinks and recent window";
  let description = [{
    The first `sinks` units and the last `window` units (which always include
    the unit being written) score +inf and are always selected.

    ```mlir
    #hsa.forced<sinks = 1, window = 2>
    ```
  }];
  let parameters = (ins "int64_t":$sinks, "int64_t":$window);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Sparse algorithms
//===----------------------------------------------------------------------===//

// `overrides`: interface methods with a default the package implements
// itself (getStepInputs).
class HSA_AlgorithmAttr<string name, string mnemonic,
                        list<string> overrides = []>
    : HSA_Attr<name, mnemonic, [DeclareAttrInterfaceMethods<
        HSA_SparseAlgorithmAttrInterface, overrides>]>;

// One line per algorithm package (include/hsa/Dialect/HSA/IR/Algorithms/).
include "hsa/Dialect/HSA/IR/Algorithms/Quest.td"
include "hsa/Dialect/HSA/IR/Algorithms/StreamingLLM.td"
include "hsa/Dialect/HSA/IR/Algorithms/DSA.td"
include "hsa/Dialect/HSA/IR/Algorithms/ClusterKV.td"

//===----------------------------------------------------------------------===//
// Page-table formats
//===----------------------------------------------------------------------===//

class HSA_FormatAttr<string name, string mnemonic>
    : HSA_Attr<name, mnemonic, [DeclareAttrInterfaceMethods<
        HSA_PageTableFormatAttrInterface>]>;

def HSA_NativeFormatAttr : HSA_FormatAttr<"NativeFormat", "native"> {
  let summary = "hsa's own page table: the slot of every selected unit";
  let description = [{
    `sel.slots [B][S][K]`: the slot of each selected unit, read by hsa's own
    attention kernel. Any scope and page size.

    ```mlir
    #hsa.native
    ```
  }];
}

def HSA_FlashAttnBlockTableAttr
    : HSA_FormatAttr<"FlashAttnBlockTable", "flash_attn_block_table"> {
  let summary = "FlashAttention paged-KV block table";
  let description = [{
    `block_table [B][K]` of physical block ids (`b * C + slot`) plus
    `seqlens [B]`, as FlashAttention's paged KV takes them. A block holds all
    KV heads, so the scope must be `request`; FlashAttention needs the block
    size to be a multiple of 16.

    ```mlir
    #hsa.flash_attn_block_table
    ```
  }];
}

def HSA_FlashInferCSRAttr : HSA_FormatAttr<"FlashInferCSR", "flashinfer_csr"> {
  let summary = "FlashInfer paged-KV CSR: indptr, indices, last page length";
  let description = [{
    `kv_indptr [B+1]`, `kv_indices [B*K]`, `kv_last_page_len [B]`, as
    FlashInfer's paged decode takes them. Pages hold all KV heads, so the
    scope must be `request`.

    ```mlir
    #hsa.flashinfer_csr
    ```
  }];
}

def HSA_TokenIndicesAttr : HSA_FormatAttr<"TokenIndices", "token_indices"> {
  let summary = "token indices into the unit buffer (FlashMLA sparse)";
  let description = [{
    `indices [B][S][K*P]`: the buffer position of every selected token, -1 for
    padding and for tokens past the context, as FlashMLA's sparse decode
    takes them.

    ```mlir
    #hsa.token_indices
    ```
  }];
}

#endif // HSA_ATTRS_TD
