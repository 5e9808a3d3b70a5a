// The multi-block top-k (TopK.cpp, lowerTopKMultiBlock): an unfused top-k
// runs histogram, refine and collect over (chunks of 4096 scores, groups,
// requests) and a finish over (groups, requests) when a row holds at least
// `topk-multiblock-min-units` units (default 32768) at `max-context`
// (default 131072), the top-k computes no group bound and K <= 4096.
// Otherwise the single-block kernel stays (topk.mlir checks it).
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=group-bound=false | FileCheck %s --check-prefix=NOBOUND
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=max-context=32767 | FileCheck %s --check-prefix=SINGLE
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=topk-multiblock-min-units=0 | FileCheck %s --check-prefix=SINGLE
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="max-context=4096 topk-multiblock-min-units=4096" | FileCheck %s --check-prefix=NOBOUND-SHORT
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=print-plans -o /dev/null | FileCheck %s --check-prefix=PLAN
// RUN: hsa-opt %s -split-input-file --hsa-lower-to-gpu="fuse=false topk-multiblock-min-units=0" | FileCheck %s --check-prefix=PIPE-SINGLE
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX
// RUN: not hsa-opt %s -split-input-file --convert-hsa-to-gpu=max-context=0 2>&1 | FileCheck %s --check-prefix=BADCTX
// RUN: not hsa-opt %s -split-input-file --convert-hsa-to-gpu=topk-multiblock-min-units=-1 2>&1 | FileCheck %s --check-prefix=BADMIN
// BADCTX: error: convert-hsa-to-gpu: max-context must be at least 1 token (got 0)
// BADMIN: error: convert-hsa-to-gpu: topk-multiblock-min-units must be at least 0 (got -1)

// Token-level units, Quest sum (no group bound), K 2048: multi-block.
hsa.layer @tok_sum config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = sum>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
func.func @tok_sum_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @tok_sum "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @tok_sum "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  hsa.topk @tok_sum scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x2048xi32, #hsa.tier<device>>)
  return
}

// The scratch, declared on the layer (zero-filled at allocation).
// CHECK-LABEL: hsa.layer @tok_sum
// CHECK-SAME: name = "scratch.topk_hist", shape = ["B", 1, 2, 2048]
// CHECK-SAME: name = "scratch.topk_above", shape = ["B", 1, 2048]
// CHECK-SAME: name = "scratch.topk_cand", shape = ["B", 1, 2, 2048]
// CHECK-SAME: name = "scratch.topk_count", shape = ["B", 1, 2]
// Three launches over (ceil((N + 3) / 4096), S, B) x 256, then the finish
// over (S, B) x 1024, in order.
// CHECK-LABEL: func.func @tok_sum_topk
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[N3:.*]] = arith.addi %[[N]], %c3 : index
// CHECK: %[[CHUNKS:.*]] = arith.ceildivui %[[N3]], %c4096 : index
// CHECK: gpu.launch_func @hsa_kernels::@tok_sum_topk_hist blocks in (%[[CHUNKS]], %[[S]], %[[B]]) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x2x2048xi32>)
// CHECK: gpu.launch_func @hsa_kernels::@tok_sum_topk_refine blocks in (%[[CHUNKS]], %[[S]], %[[B]]) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@tok_sum_topk_collect blocks in (%[[CHUNKS]], %[[S]], %[[B]]) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x2x2048xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1x2x2048xi32>, %{{.*}} : memref<?x1x2xi32>)
// CHECK: gpu.launch_func @hsa_kernels::@tok_sum_topk_finish blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024
// CHECK-SAME: args(%{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1x2x2048xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1x2x2048xi32>, %{{.*}} : memref<?x1x2xi32>)
// CHECK-NOT: gpu.launch_func
// CHECK-NOT: hsa.topk
// Histogram: 16-byte loads, keys, shared bins (warp-aggregated), then one
// global atomic per non-empty bin into level 0.
// CHECK-LABEL: gpu.func @tok_sum_topk_hist
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: memref.reinterpret_cast %arg0 to offset: [0], sizes: [%{{.*}}], strides: [1]
// CHECK-COUNT-4: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.shrui %{{.*}}, %c21_i32
// CHECK: nvvm.match.sync any
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg3[%{{.*}}] : (i32, memref<2048xi32, #gpu.address_space<workgroup>>{{[^)]*}}) -> i32
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg2[%{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}] : (i32, memref<?x1x2x2048xi32>) -> i32
// Refine: the level-0 threshold bin from the global histogram (block scan),
// then level 1 of its keys.
// CHECK-LABEL: gpu.func @tok_sum_topk_refine
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: memref.load %arg2[%{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: gpu.shuffle  up
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.shrui %{{.*}}, %c10_i32
// CHECK: nvvm.match.sync any
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg2[%{{.*}}, %{{.*}}, %c1{{.*}}, %{{.*}}] : (i32, memref<?x1x2x2048xi32>) -> i32
// Collect: both levels, then per-block bases from global atomics on the
// row's counters, the above units and the candidates (key, unit).
// CHECK-LABEL: gpu.func @tok_sum_topk_collect
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: memref.load %arg2[%{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: memref.load %arg2[%{{.*}}, %{{.*}}, %c1{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: arith.cmpi sle, %{{.*}}, %c2048_i32
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg5[%{{.*}}, %{{.*}}, %c0{{.*}}] : (i32, memref<?x1x2xi32>) -> i32
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg5[%{{.*}}, %{{.*}}, %c1{{.*}}] : (i32, memref<?x1x2xi32>) -> i32
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2048xi32>
// CHECK: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %c1{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// Finish: i64 sort keys in shared memory, the candidates sorted, the units
// sorted and written; the single-block select (emitTopKRow's buffers) for
// direct and overflowing rows; the scratch put back to 0.
// CHECK-LABEL: gpu.func @tok_sum_topk_finish
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4096xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: memref.load %arg5[%{{.*}}, %{{.*}}, %c0{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: memref.load %arg5[%{{.*}}, %{{.*}}, %c1{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: memref.load %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2048xi32>
// CHECK: memref.store %{{.*}}, %arg2[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2048xi32>
// CHECK: memref.store %c-1_i32, %arg2
// CHECK: memref.store %c0_i32{{.*}}, %arg3[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2x2048xi32>
// CHECK: memref.store %c0_i32{{.*}}, %arg6[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2xi32>
// PLAN: plan tok_sum_topk_hist: multi-block: chunks of 4096 scores x (1 groups, B) blocks of 256 threads; histogram 2048 bins of key bits 31..21, refine bits 20..10 in the threshold bin; collect: above < budget 2048, candidates <= 2048; finish (1 groups, B) x 1024: sort 256/2048 candidates, sort 2048 units; rows <= 4096 units and overflow: single-block select
// PLAN: plan tok_sum_topk_refine: multi-block
// PLAN: plan tok_sum_topk_collect: multi-block
// PLAN: plan tok_sum_topk_finish: multi-block
// SINGLE-LABEL: func.func @tok_sum_topk
// SINGLE: gpu.launch_func @hsa_kernels::@tok_sum_topk blocks
// SINGLE-NOT: gpu.launch_func
// SINGLE-NOT: scratch.topk
// PIPE-SINGLE-LABEL: func.func @tok_sum_topk
// PIPE-SINGLE: gpu.launch_func @hsa_kernels::@tok_sum_topk blocks
// PIPE-SINGLE-NOT: gpu.launch_func @hsa_kernels::@tok_sum
// PTX: .entry tok_sum_topk_hist
// PTX: .maxntid 256, 1, 1
// PTX: ld.global.v4
// PTX: match.any.sync.b32
// PTX: atom.shared.add.u32
// PTX: atom.global.add.u32
// PTX: .entry tok_sum_topk_refine
// PTX: .entry tok_sum_topk_collect
// PTX: atom.global.add.u32
// PTX: .entry tok_sum_topk_finish
// PTX: .maxntid 1024, 1, 1

// -----

// Quest max on the same rows: the top-k computes the group bound, so the
// single-block kernel stays (multi-block with group-bound=false).
hsa.layer @tok_max config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
func.func @tok_max_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @tok_max "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @tok_max "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  hsa.topk @tok_max scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x2048xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @tok_max_topk
// CHECK: gpu.launch_func @hsa_kernels::@tok_max_topk blocks
// CHECK-SAME: memref<?x1xf32>)
// CHECK-NOT: gpu.launch_func @hsa_kernels::@tok_max
// NOBOUND-LABEL: func.func @tok_max_topk
// NOBOUND: gpu.launch_func @hsa_kernels::@tok_max_topk_hist blocks
// NOBOUND: gpu.launch_func @hsa_kernels::@tok_max_topk_refine blocks
// NOBOUND: gpu.launch_func @hsa_kernels::@tok_max_topk_collect blocks
// NOBOUND: gpu.launch_func @hsa_kernels::@tok_max_topk_finish blocks
// NOBOUND-NOT: gpu.launch_func @hsa_kernels::@tok_max
// SINGLE-LABEL: func.func @tok_max_topk
// SINGLE: gpu.launch_func @hsa_kernels::@tok_max_topk blocks
// SINGLE-NOT: gpu.launch_func @hsa_kernels::@tok_max

// -----

// Pages of 16: 8192 units per row at 131072 tokens, below the threshold:
// single-block; so with a 4096-unit threshold at a 4096-token context (256
// units), where pages of 1 (the first layer) are multi-block.
hsa.layer @paged_sum config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = sum>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @paged_sum_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @paged_sum "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @paged_sum "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.topk @paged_sum scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @paged_sum_topk
// CHECK: gpu.launch_func @hsa_kernels::@paged_sum_topk blocks
// CHECK-NOT: gpu.launch_func
// NOBOUND-SHORT-LABEL: func.func @tok_sum_topk
// NOBOUND-SHORT: gpu.launch_func @hsa_kernels::@tok_sum_topk_hist blocks
// NOBOUND-SHORT-LABEL: func.func @paged_sum_topk
// NOBOUND-SHORT: gpu.launch_func @hsa_kernels::@paged_sum_topk blocks
// NOBOUND-SHORT-NOT: gpu.launch_func @hsa_kernels::@paged_sum

// -----

// A budget above 4096 (the finish sorts the K units in shared memory):
// single-block.
hsa.layer @tok_big config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = sum>) budget(8192) buffer(<capacity = 16384, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
func.func @tok_big_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @tok_big "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @tok_big "sel.units" : memref<?x1x8192xi32, #hsa.tier<device>>
  hsa.topk @tok_big scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x8192xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @tok_big_topk
// CHECK: gpu.launch_func @hsa_kernels::@tok_big_topk blocks
// CHECK-NOT: gpu.launch_func
