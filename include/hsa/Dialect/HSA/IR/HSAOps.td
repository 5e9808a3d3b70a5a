//===- HSAOps.td - hsa operations --------------------------*- tablegen -*-===//

#ifndef HSA_OPS_TD
#define HSA_OPS_TD

include "hsa/Dialect/HSA/IR/HSAAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Layer declaration
//===----------------------------------------------------------------------===//

def HSA_LayerOp : HSA_Op<"layer", [Symbol]> {
  let summary = "declares one sparse attention layer with tiered KV placement";
  let description = [{
    A layer fixes everything the compiler specialises on: the shapes and dtype
    (`config`), the sparse algorithm, the budget `K` (units selected per
    request and selection group), the device unit buffer, the forced units and
    the page-table format handed to attention. The ops of the dialect refer to
    a layer by symbol. `softmax_scale` defaults to `1/sqrt(key dim)`.

    ```mlir
    hsa.layer @attn
      config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                         kv_dtype = bf16, page_size = 16, scope = kv_head>)
      algorithm(#hsa.quest<combine = max>) budget(128)
      buffer(#hsa.buffer<capacity = 512, policy = lru>)
      forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       HSA_LayerConfigAttr:$config,
                       HSA_SparseAlgorithmAttrInterface:$algorithm,
                       I64Attr:$budget,
                       HSA_BufferPolicyAttr:$buffer,
                       HSA_ForcedUnitsAttr:$forced,
                       HSA_PageTableFormatAttrInterface:$format,
                       OptionalAttr<F32Attr>:$softmax_scale);
  let assemblyFormat = [{
    $sym_name `config` `(` $config `)` `algorithm` `(` $algorithm `)`
    `budget` `(` $budget `)` `buffer` `(` $buffer `)`
    `forced` `(` $forced `)` `format` `(` $format `)` attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Softmax scale: the explicit attribute or 1/sqrt(key dim).
    double getEffectiveSoftmaxScale();
    /// Every named state buffer of this layer (docs/BUFFERS.md), including
    /// the algorithm's representations.
    void getStateBuffers(::llvm::SmallVectorImpl<BufferSpec> &specs);
    /// The named state buffer `name`, or failure if the layer has none.
    ::mlir::FailureOr<BufferSpec> getStateBuffer(::llvm::StringRef name);
    /// Selected units one split-K attention work item covers, and the
    /// number of splits per (request, query head).
    int64_t getAttentionUnitsPerSplit();
    int64_t getAttentionSplits();
    /// Bytes of buffer `spec` for one request (batch slot) holding
    /// `contextTokens` tokens; global buffers (the host pool) count the
    /// pages the request needs.
    int64_t getBytesPerRequest(const BufferSpec &spec, int64_t contextTokens);
  }];
}

//===----------------------------------------------------------------------===//
// Named state buffers
//===----------------------------------------------------------------------===//

def HSA_StateOp : HSA_Op<"state", [Pure,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "a named buffer of a layer's state (pool, buffer, tables)";
  let description = [{
    Returns the memref of one named buffer of the layer's per-batch state, as
    listed in docs/BUFFERS.md (`host.k`, `buf.k`, `sel.units`, `repr.kmin`,
    ...). The runtime allocates these buffers and binds them to kernel
    arguments by name; the type must match the layer's shapes and tiers.

    ```mlir
    %keys = hsa.state @attn "buf.k"
        : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer, StrAttr:$name);
  let results = (outs AnyMemRef:$buffer);
  let assemblyFormat = "$layer $name attr-dict `:` type($buffer)";
}

//===----------------------------------------------------------------------===//
// High-level ops
//===----------------------------------------------------------------------===//

class HSA_LayerUserOp<string mnemonic, list<Trait> traits = []>
    : HSA_Op<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<SymbolUserOpInterface>])>;

def HSA_PrefillOp : HSA_LayerUserOp<"prefill"> {
  let summary = "writes a prompt's keys and values and builds representations";
  let description = [{
    Appends `counts[b]` tokens (rows of `keys` / `values`, device tensors
    `[B][T][Hkv][D]`) to each request's cache: to the host pool, to resident
    device slots, and into the algorithm's representations. Expanded by
    `hsa-expand-algorithm` into `hsa.store_kv` and the algorithm's
    representation updates.

    ```mlir
    hsa.prefill @attn keys(%k : memref<?x?x8x128xbf16, #hsa.tier<device>>)
        values(%v : memref<?x?x8x128xbf16, #hsa.tier<device>>)
        counts(%n : memref<?xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemRead]>:$counts);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    (`values` `(` $values^ `:` type($values) `)`)?
    `counts` `(` $counts `:` type($counts) `)` attr-dict
  }];
}

def HSA_AppendOp : HSA_LayerUserOp<"append"> {
  let summary = "writes newly decoded tokens and updates representations";
  let description = [{
    The decode-time twin of `hsa.prefill`: the tokens produced by the model
    (usually one per request) go to the host cache, to the device slot of the
    unit being written when it is resident, and into the representations.

    ```mlir
    hsa.append @attn keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>)
        values(%v : memref<?x1x8x128xbf16, #hsa.tier<device>>)
        counts(%n : memref<?xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemRead]>:$counts);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    (`values` `(` $values^ `:` type($values) `)`)?
    `counts` `(` $counts `:` type($counts) `)` attr-dict
  }];
}

def HSA_DecodeStepOp : HSA_LayerUserOp<"decode_step"> {
  let summary = "one sparse decode step: score, top-k, diff, gather, attend";
  let description = [{
    Attends each request's queries to the units its algorithm selects, moving
    only the units missing from the device buffer. Expanded by
    `hsa-expand-algorithm` into the stage ops.

    ```mlir
    hsa.decode_step @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$queries,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemWrite]>:$output);
  let assemblyFormat = [{
    $layer `queries` `(` $queries `:` type($queries) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `into` `(` $output `:` type($output) `)` attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// Stage ops (BRIEF.md's steps; operands are the named buffers of BUFFERS.md)
//===----------------------------------------------------------------------===//

def HSA_ScoreOp : HSA_LayerUserOp<"score"> {
  let summary = "scores every valid unit from its device representations";
  let description = [{
    Writes `sel.scores[b][g][u]` for every unit by the layer's algorithm:
    forced units score +inf, units past the context -inf. Reads only device
    memory. `reprs` are the algorithm's representations in the order it
    lists them (Quest: `repr.kmin`, `repr.kmax`; StreamingLLM: none).

    ```mlir
    hsa.score @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>,
                             memref<?x8x?x128xbf16, #hsa.tier<device>>)
        into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$queries,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$reprs,
                       Arg<AnyMemRef, "", [MemWrite]>:$scores);
  let assemblyFormat = [{
    $layer `queries` `(` $queries `:` type($queries) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    (`reprs` `(` $reprs^ `:` type($reprs) `)`)?
    `into` `(` $scores `:` type($scores) `)` attr-dict
  }];
}

def HSA_TopKOp : HSA_LayerUserOp<"topk"> {
  let summary = "selects the budget's highest-scoring units per group";
  let description = [{
    Writes the `min(K, n[b])` highest-scoring units of every (request, group)
    to `sel.units`, ascending by unit id and padded with -1; ties go to the
    lower unit id.

    ```mlir
    hsa.topk @attn scores(%s : memref<?x8x?xf32, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        into(%units : memref<?x8x128xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$scores,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemWrite]>:$units);
  let assemblyFormat = [{
    $layer `scores` `(` $scores `:` type($scores) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `into` `(` $units `:` type($units) `)` attr-dict
  }];
}

def HSA_DiffOp : HSA_LayerUserOp<"diff"> {
  let summary = "LRU diff of the selection against the resident units";
  let description = [{
    Hits keep their slot; each miss (ascending unit order) takes an empty slot
    (lowest first) or evicts the least recently used slot not selected this
    step (ties: lowest slot). Updates `buf.slot_unit`, `buf.last_used` and
    the reverse map `buf.unit_slot`, writes the page table `sel.slots` and
    the copy list of the misses.

    ```mlir
    hsa.diff @attn units(%units : memref<?x8x128xi32, #hsa.tier<device>>)
        steps(%step : memref<?xi32, #hsa.tier<device>>)
        residency(%slot_unit, %last_used, %unit_slot
                  : memref<?x8x512xi32, #hsa.tier<device>>, memref<?x8x512xi32, #hsa.tier<device>>,
                    memref<?x8x?xi32, #hsa.tier<device>>)
        into(%slots, %copy_units, %copy_slots, %copy_count
             : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>,
               memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$units,
                       Arg<AnyMemRef, "", [MemRead]>:$steps,
                       Arg<AnyMemRef, "", [MemRead, MemWrite]>:$slot_unit,
                       Arg<AnyMemRef, "", [MemRead, MemWrite]>:$last_used,
                       Arg<AnyMemRef, "", [MemRead, MemWrite]>:$unit_slot,
                       Arg<AnyMemRef, "", [MemWrite]>:$slots,
                       Arg<AnyMemRef, "", [MemWrite]>:$copy_units,
                       Arg<AnyMemRef, "", [MemWrite]>:$copy_slots,
                       Arg<AnyMemRef, "", [MemWrite]>:$copy_count);
  let assemblyFormat = [{
    $layer `units` `(` $units `:` type($units) `)`
    `steps` `(` $steps `:` type($steps) `)`
    `residency` `(` $slot_unit `,` $last_used `,` $unit_slot `:`
      type($slot_unit) `,` type($last_used) `,` type($unit_slot) `)`
    `into` `(` $slots `,` $copy_units `,` $copy_slots `,` $copy_count `:`
      type($slots) `,` type($copy_units) `,` type($copy_slots) `,` type($copy_count) `)`
    attr-dict
  }];
}

def HSA_GatherOp : HSA_LayerUserOp<"gather", [AttrSizedOperandSegments]> {
  let summary = "copies the missed units from the host pool into their slots";
  let description = [{
    For each of the first `copy_count` entries, copies unit `copy_units[i]`
    from its host page to slot `copy_slots[i]` of the device buffer. Moves
    host -> device only; nothing else moves.

    ```mlir
    hsa.gather @attn copies(%cu, %cs, %cc : memref<?x8x128xi32, #hsa.tier<device>>,
                            memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<device>>)
        from(%hk, %hv : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>)
        into(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>,
                        memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$copy_units,
                       Arg<AnyMemRef, "", [MemRead]>:$copy_slots,
                       Arg<AnyMemRef, "", [MemRead]>:$copy_count,
                       Arg<AnyMemRef, "", [MemRead]>:$page_of,
                       Arg<AnyMemRef, "", [MemRead]>:$host_keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$host_values,
                       Arg<AnyMemRef, "", [MemWrite]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$values);
  let assemblyFormat = [{
    $layer `copies` `(` $copy_units `,` $copy_slots `,` $copy_count `:`
      type($copy_units) `,` type($copy_slots) `,` type($copy_count) `)`
    `pages` `(` $page_of `:` type($page_of) `)`
    `from` `(` $host_keys (`,` $host_values^)? `:` type($host_keys) (`,` type($host_values)^)? `)`
    `into` `(` $keys (`,` $values^)? `:` type($keys) (`,` type($values)^)? `)`
    attr-dict
  }];
}

def HSA_AttendOp : HSA_LayerUserOp<"attend"> {
  let summary = "exact softmax attention over the selected units' tokens";
  let description = [{
    For every query head, softmax attention (fp32 accumulation) over all
    tokens of the units selected for its group, read from their slots in the
    device buffer, masking tokens at positions `>= lengths[b]`. Reads only
    device memory.

    ```mlir
    hsa.attend @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        table(%units, %slots : memref<?x8x128xi32, #hsa.tier<device>>,
                               memref<?x8x128xi32, #hsa.tier<device>>)
        kv(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>,
                      memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
        into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$queries,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemRead]>:$units,
                       Arg<AnyMemRef, "", [MemRead]>:$slots,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemWrite]>:$output);
  let assemblyFormat = [{
    $layer `queries` `(` $queries `:` type($queries) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `table` `(` $units `,` $slots `:` type($units) `,` type($slots) `)`
    `kv` `(` $keys (`,` $values^)? `:` type($keys) (`,` type($values)^)? `)`
    `into` `(` $output `:` type($output) `)` attr-dict
  }];
}

def HSA_UpdateReprOp : HSA_LayerUserOp<"update_repr"> {
  let summary = "folds newly written keys into the unit representations";
  let description = [{
    For each request, the first `counts[b]` rows of `keys` are the tokens at
    positions `lengths[b] + t`; the algorithm's representation of each touched
    unit absorbs them (Quest: element-wise min and max; a fresh unit starts at
    the new key).

    ```mlir
    hsa.update_repr @attn keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>)
        counts(%n : memref<?xi32, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>,
                             memref<?x8x?x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<AnyMemRef, "", [MemRead]>:$counts,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemRead, MemWrite]>:$reprs);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    `counts` `(` $counts `:` type($counts) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `reprs` `(` $reprs `:` type($reprs) `)` attr-dict
  }];
}

def HSA_StoreKVOp : HSA_LayerUserOp<"store_kv", [AttrSizedOperandSegments]> {
  let summary = "writes new tokens to the host pool and to resident slots";
  let description = [{
    Token `t = lengths[b] + i` (for `i < counts[b]`) goes to its page of the
    host pool and, when its unit is resident in a slot of the device buffer,
    into that slot too, so the device copy never goes stale. Writes host and
    device memory.

    ```mlir
    hsa.store_kv @attn keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>)
        values(%v : memref<?x1x8x128xbf16, #hsa.tier<device>>)
        counts(%n : memref<?xi32, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<device>>)
        residency(%unit_slot : memref<?x8x?xi32, #hsa.tier<device>>)
        host(%hk, %hv : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>)
        device(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>,
                          memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemRead]>:$counts,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemRead]>:$page_of,
                       Arg<AnyMemRef, "", [MemRead]>:$unit_slot,
                       Arg<AnyMemRef, "", [MemWrite]>:$host_keys,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$host_values,
                       Arg<AnyMemRef, "", [MemWrite]>:$device_keys,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$device_values);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    (`values` `(` $values^ `:` type($values) `)`)?
    `counts` `(` $counts `:` type($counts) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `pages` `(` $page_of `:` type($page_of) `)`
    `residency` `(` $unit_slot `:` type($unit_slot) `)`
    `host` `(` $host_keys (`,` $host_values^)? `:` type($host_keys) (`,` type($host_values)^)? `)`
    `device` `(` $device_keys (`,` $device_values^)? `:` type($device_keys) (`,` type($device_values)^)? `)`
    attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def HSA_FusedOp : HSA_Op<"fused", [SingleBlock, NoTerminator,
    RecursiveMemoryEffects]> {
  let summary = "stage ops that one generated kernel runs together";
  let description = [{
    Created by `hsa-fuse-stages`. The body holds the stage ops in program
    order; `convert-hsa-to-gpu` emits one kernel for all of them, saving a
    launch and the round trip of intermediate buffers through memory.
    `kind` names the fusion: `diff_gather` (the LRU diff decides the misses
    and the same kernel copies them from host memory).

    ```mlir
    hsa.fused "diff_gather" {
      hsa.diff @attn units(...) steps(...) residency(...) into(...)
      hsa.gather @attn copies(...) pages(...) from(...) into(...)
    }
    ```
  }];
  let arguments = (ins StrAttr:$kind);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

#endif // HSA_OPS_TD
