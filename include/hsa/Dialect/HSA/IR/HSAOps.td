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
    a layer by symbol. `softmax_scale` defaults to `1/sqrt(key dim)`; a
    latent (MLA) layer must give it (its model's scale is not that).

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
    $sym_name `config` `(` $config `)` `algorithm` `(` custom<Algorithm>($algorithm) `)`
    `budget` `(` $budget `)` `buffer` `(` $buffer `)`
    `forced` `(` $forced `)` `format` `(` custom<Format>($format) `)` attr-dict
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
    /// Adds a buffer private to a lowering's kernels (e.g. a kernel
    /// family's `scratch.*`) to the layer's buffer table: it is recorded in
    /// the layer's `hsa.kernel_buffers` attribute, which getStateBuffers
    /// reads, so the artifact carries exactly what the kernels declared.
    /// Declaring a buffer again with the same spec is a no-op; another spec
    /// under a name the layer already has fails.
    ::mlir::LogicalResult declareKernelBuffer(const BufferSpec &spec);
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

// prefill and append write the layer's state (representations, resident
// slots), which is not among their operands: the op-level write effect keeps
// them from being erased as read-only ops without results.
def HSA_PrefillOp : HSA_LayerUserOp<"prefill", [MemoryEffects<[MemWrite]>]> {
  let summary = "rebuilds the representations of prompts the runtime wrote";
  let description = [{
    The runtime has written each prompt's keys and values to the host pool
    (`host.k`, `host.v`, pages in `host.page_of`) and uploaded the new length
    `lengths[b]`; slots that are not part of the call have length 0 and are
    skipped. The prefill rebuilds the algorithm's representation of every
    valid unit `u < ceil(lengths[b] / P)` from `host.k` (zero-copy reads of the
    mapped host pool). The runtime itself drops stale resident copies.
    Expanded by `hsa-expand-algorithm` into the algorithm's rebuild stage
    (Quest: `hsa.rebuild_repr`; StreamingLLM: nothing).

    ```mlir
    hsa.prefill @attn lengths(%len : memref<?xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths);
  let assemblyFormat = [{
    $layer `lengths` `(` $lengths `:` type($lengths) `)` attr-dict
  }];
}

def HSA_AppendOp : HSA_LayerUserOp<"append", [MemoryEffects<[MemWrite]>,
                                               AttrSizedOperandSegments]> {
  let summary = "folds one decoded token per request into the device state";
  let description = [{
    One token per request: `keys` / `values` row `b` (`io.new_k` `[B][Hkv][D]`,
    `io.new_v` `[B][Hkv][Dv]`) is token `lengths[b]` of request `b`. The
    runtime has already written it to `host.k` / `host.v` (allocating its page
    in `host.page_of`) and counted it; slots with `lengths[b] == 0` are free
    and skipped. The append writes the token into the resident slot of its
    unit, if any, and into the algorithm's representations. Expanded by
    `hsa-expand-algorithm` into `hsa.store_kv` and the algorithm's
    representation update (Quest: `hsa.update_repr`). `inputs` are the
    algorithm's own per-token inputs (its `getStepInputs`; DSA: the indexer
    key `io.new_index_k [B][Di]` bf16).

    ```mlir
    hsa.append @attn keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
        values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$inputs);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    (`values` `(` $values^ `:` type($values) `)`)?
    `lengths` `(` $lengths `:` type($lengths) `)`
    (`inputs` `(` $inputs^ `:` type($inputs) `)`)? attr-dict
  }];
}

def HSA_DecodeStepOp : HSA_LayerUserOp<"decode_step"> {
  let summary = "one sparse decode step: score, top-k, diff, gather, attend";
  let description = [{
    Attends each request's queries to the units its algorithm selects, moving
    only the units missing from the device buffer. Expanded by
    `hsa-expand-algorithm` into the stage ops.

    `inputs` are the algorithm's own step inputs (its `getStepInputs`, in
    that order; DSA: the indexer queries `io.index_q [B][Hi][Di]` and head
    weights `io.index_w [B][Hi]`); most algorithms take none.

    ```mlir
    hsa.decode_step @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$queries,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemWrite]>:$output,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$inputs);
  let assemblyFormat = [{
    $layer `queries` `(` $queries `:` type($queries) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `into` `(` $output `:` type($output) `)`
    (`inputs` `(` $inputs^ `:` type($inputs) `)`)? attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// Stage ops (BRIEF.md's steps; operands are the named buffers of BUFFERS.md)
//===----------------------------------------------------------------------===//

def HSA_ScoreOp : HSA_LayerUserOp<"score", [AttrSizedOperandSegments]> {
  let summary = "scores every valid unit from its device representations";
  let description = [{
    Writes `sel.scores[b][g][u]` for every unit by the layer's algorithm:
    forced units score +inf, units past the context -inf. Reads only device
    memory. `reprs` are the algorithm's device representations in the order
    it lists them (Quest: `repr.kmin`, `repr.kmax`; StreamingLLM: none).
    `inputs` are the algorithm's decode step inputs, the `inputs(...)` of
    the `hsa.decode_step` it was expanded from, in `getStepInputs` order
    (DSA: the indexer queries `io.index_q` and head weights `io.index_w`);
    most algorithms take none.

    ```mlir
    hsa.score @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>,
                             memref<?x8x?x128xbf16, #hsa.tier<device>>)
        into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
    hsa.score @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>,
                               memref<?x?xf32, #hsa.tier<device>>)
        inputs(%iq, %iw : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>,
                          memref<?x64xf32, #hsa.tier<device>>)
        into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$queries,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$reprs,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$inputs,
                       Arg<AnyMemRef, "", [MemWrite]>:$scores);
  let assemblyFormat = [{
    $layer `queries` `(` $queries `:` type($queries) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    (`reprs` `(` $reprs^ `:` type($reprs) `)`)?
    (`inputs` `(` $inputs^ `:` type($inputs) `)`)?
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

def HSA_PageTableOp : HSA_LayerUserOp<"page_table"> {
  let summary = "writes the layer's exported page tables from the selection";
  let description = [{
    For a layer whose page-table format exports tables (every format but
    `#hsa.native`), writes them from this step's selection (`sel.units`), its
    slots (`sel.slots`) and the lengths, in the order the format lists them,
    so that an external attention kernel can read the resident buffer
    (`buf.k`/`buf.v`, viewed as blocks `(b * S + g) * C + slot` of one unit):

    - `#hsa.flash_attn_block_table`: `fa.block_table[b][i]` the block of the
      i-th selected unit (-1 past the selection), `fa.seqlens[b]` the
      selected tokens (the selection's last unit may be partial);
    - `#hsa.flashinfer_csr`: `fi.indptr [B+1]` (packed: the rows' selected
      unit counts, summed), `fi.indices` the blocks packed in that order,
      `fi.last_page_len[b]` the tokens of the row's last selected unit (0 for
      an empty row);
    - `#hsa.token_indices`: `tok.indices[b][g][i * P + p]` the position
      `block * P + p` of token p of the i-th selected unit, -1 past the
      selection and past the context.

    ```mlir
    hsa.page_table @attn units(%units : memref<?x1x64xi32, #hsa.tier<device>>)
        slots(%slots : memref<?x1x64xi32, #hsa.tier<device>>)
        lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
        into(%table, %seqlens : memref<?x64xi32, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$units,
                       Arg<AnyMemRef, "", [MemRead]>:$slots,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemWrite]>:$tables);
  let assemblyFormat = [{
    $layer `units` `(` $units `:` type($units) `)`
    `slots` `(` $slots `:` type($slots) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `into` `(` $tables `:` type($tables) `)`
    attr-dict
  }];
}

def HSA_GatherOp : HSA_LayerUserOp<"gather", [AttrSizedOperandSegments]> {
  let summary = "copies the missed units from the host pool into their slots";
  let description = [{
    For each of the first `copy_count` entries, copies unit `copy_units[i]`
    from its host page (`host.page_of`, read through its mapped device
    address) to slot `copy_slots[i]` of the device buffer. Moves host ->
    device only; nothing else moves.

    ```mlir
    hsa.gather @attn copies(%cu, %cs, %cc : memref<?x8x128xi32, #hsa.tier<device>>,
                            memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<host>>)
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

def HSA_UpdateReprOp : HSA_LayerUserOp<"update_repr",
                                         [AttrSizedOperandSegments]> {
  let summary = "folds the appended token's key into its unit's representation";
  let description = [{
    Row `b` of `keys` (`io.new_k`) is token `t = lengths[b]` of request `b`;
    slots with `lengths[b] == 0` are free and skipped. The algorithm's
    representation of unit `t / P` absorbs the key (Quest: element-wise min
    and max; a unit whose first token this is, `t % P == 0`, starts at the
    new key, so stale bounds never leak in).

    `inputs` are the algorithm's append step inputs, the `inputs(...)` of
    the `hsa.append` it was expanded from (DSA: the indexer key
    `io.new_index_k`). An algorithm with host representations (host-tier
    buffers of its `getRepresentations`, in the host pool: DSA's
    `host.index_k`) writes the token's row of them as well, at row `t % P` of
    page `page_of[b][t / P]`: `pages(...) host(...)` gives the page table and
    those buffers, in the algorithm's order, exactly when it has some.

    ```mlir
    hsa.update_repr @attn keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>,
                             memref<?x8x?x128xbf16, #hsa.tier<device>>)
    hsa.update_repr @dsa keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>,
                               memref<?x?xf32, #hsa.tier<device>>)
        inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<host>>)
        host(%hik : memref<?x1x128xbf16, #hsa.tier<host>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<Variadic<AnyMemRef>, "", [MemRead, MemWrite]>:$reprs,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$inputs,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$page_of,
                       Arg<Variadic<AnyMemRef>, "", [MemWrite]>:$host_reprs);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    `lengths` `(` $lengths `:` type($lengths) `)`
    `reprs` `(` $reprs `:` type($reprs) `)`
    (`inputs` `(` $inputs^ `:` type($inputs) `)`)?
    (`pages` `(` $page_of^ `:` type($page_of) `)`
     `host` `(` $host_reprs `:` type($host_reprs) `)`)? attr-dict
  }];
}

def HSA_RebuildReprOp : HSA_LayerUserOp<"rebuild_repr",
                                          [AttrSizedOperandSegments]> {
  let summary = "rebuilds every valid unit's representation from the host pool";
  let description = [{
    For every request with `lengths[b] > 0` and every valid unit
    `u < ceil(lengths[b] / P)` whose page `page_of[b][u]` is allocated (not
    -1), recomputes the algorithm's representation from the unit's keys in
    `host.k`, read zero-copy from the mapped, pinned host pool through its
    device address. Only tokens `t < lengths[b]` count (a partial last unit).
    Quest: `repr.kmin` / `repr.kmax` are the element-wise min and max over the
    unit's tokens per KV head and dim (exact in the KV dtype). Slots of
    length 0 and invalid units are left untouched.

    `host(...)` is the host pool: `host.k`, then the algorithm's host
    representations (host-tier buffers of its `getRepresentations`, paged
    like `host.k`), which it reads as well (DSA rebuilds its quantised
    indexer keys from `host.index_k`).

    ```mlir
    hsa.rebuild_repr @attn lengths(%len : memref<?xi32, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<host>>)
        host(%hk : memref<?x8x16x128xbf16, #hsa.tier<host>>)
        reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>,
                             memref<?x8x?x128xbf16, #hsa.tier<device>>)
    hsa.rebuild_repr @dsa lengths(%len : memref<?xi32, #hsa.tier<device>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<host>>)
        host(%hk, %hik : memref<?x1x1x576xbf16, #hsa.tier<host>>,
                         memref<?x1x128xbf16, #hsa.tier<host>>)
        reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>,
                               memref<?x?xf32, #hsa.tier<device>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemRead]>:$page_of,
                       Arg<AnyMemRef, "", [MemRead]>:$host_keys,
                       Arg<Variadic<AnyMemRef>, "", [MemRead]>:$host_reprs,
                       Arg<Variadic<AnyMemRef>, "", [MemWrite]>:$reprs);
  let assemblyFormat = [{
    $layer `lengths` `(` $lengths `:` type($lengths) `)`
    `pages` `(` $page_of `:` type($page_of) `)`
    `host` `(` $host_keys (`,` $host_reprs^)? `:` type($host_keys)
               (`,` type($host_reprs)^)? `)`
    `reprs` `(` $reprs `:` type($reprs) `)` attr-dict
  }];
}

def HSA_StoreKVOp : HSA_LayerUserOp<"store_kv", [AttrSizedOperandSegments]> {
  let summary = "writes the appended token into its unit's resident slot and, "
                "given `host`, into the host pool";
  let description = [{
    Row `b` of `keys` / `values` is token `t = lengths[b]` of request `b`
    (slots with `lengths[b] == 0` are free and skipped). When unit `t / P` is
    resident in a slot of group `g` (`unit_slot[b][g][t / P] >= 0`), the
    token's rows of that group's KV heads go to row `t % P` of the slot, so
    the device copy never goes stale.

    With `host(...) pages(...)` the token also goes to the host pool, row
    `t % P` of page `page_of[b][t / P]` (a page the runtime allocated; `-1`:
    none, nothing written), through the pool's mapped device address. That
    is what lets an append take its K/V from device memory on the caller's
    stream (and inside the caller's CUDA graph) without a host copy; the
    runtime's host-memory append writes the same bytes itself.

    ```mlir
    hsa.store_kv @attn keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
        values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
        lengths(%len : memref<?xi32, #hsa.tier<device>>)
        residency(%unit_slot : memref<?x8x?xi32, #hsa.tier<device>>)
        device(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>,
                          memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
        host(%hk, %hv : memref<?x8x16x128xbf16, #hsa.tier<host>>,
                        memref<?x8x16x128xbf16, #hsa.tier<host>>)
        pages(%page_of : memref<?x?xi32, #hsa.tier<host>>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$layer,
                       Arg<AnyMemRef, "", [MemRead]>:$keys,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$values,
                       Arg<AnyMemRef, "", [MemRead]>:$lengths,
                       Arg<AnyMemRef, "", [MemRead]>:$unit_slot,
                       Arg<AnyMemRef, "", [MemWrite]>:$device_keys,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$device_values,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$host_keys,
                       Arg<Optional<AnyMemRef>, "", [MemWrite]>:$host_values,
                       Arg<Optional<AnyMemRef>, "", [MemRead]>:$page_of);
  let assemblyFormat = [{
    $layer `keys` `(` $keys `:` type($keys) `)`
    (`values` `(` $values^ `:` type($values) `)`)?
    `lengths` `(` $lengths `:` type($lengths) `)`
    `residency` `(` $unit_slot `:` type($unit_slot) `)`
    `device` `(` $device_keys (`,` $device_values^)? `:` type($device_keys) (`,` type($device_values)^)? `)`
    (`host` `(` $host_keys^ (`,` $host_values^)? `:` type($host_keys) (`,` type($host_values)^)? `)`)?
    (`pages` `(` $page_of^ `:` type($page_of) `)`)?
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
    `kind` names the fusion:
    - `diff_gather`: the LRU diff decides the misses and the same kernel
      copies them from host memory (the gather copies the diff's copy list);
    - `score_topk`: the score kernel's last block of each (request, group)
      row selects the row's top-k (the top-k reads the score's output, with
      the same lengths).

    ```mlir
    hsa.fused "diff_gather" {
      hsa.diff @attn units(...) steps(...) residency(...) into(...)
      hsa.gather @attn copies(...) pages(...) from(...) into(...)
    }
    hsa.fused "score_topk" {
      hsa.score @attn queries(...) lengths(%len : ...) reprs(...) into(%s : ...)
      hsa.topk @attn scores(%s : ...) lengths(%len : ...) into(...)
    }
    ```
  }];
  let arguments = (ins StrAttr:$kind);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether `first` followed by `second` is a fusion of this kind: the
    /// rule the verifier enforces and hsa-fuse-stages fuses by (ops of the
    /// wrong types or an unknown kind: false).
    static bool isFusion(::llvm::StringRef kind, ::mlir::Operation *first,
                         ::mlir::Operation *second);
  }];
}

#endif // HSA_OPS_TD
