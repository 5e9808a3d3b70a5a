// Quest's telemetry (convert-hsa-to-gpu{telemetry}, Algorithms/Quest.cpp):
// the score kernel keeps every unit's per-head bound (times the softmax
// scale) in a shared table [units per block][Hu x G], then per head the
// block's max and fixed-point sum of n_u * exp(bound - max) go to
// scratch.quest_bound_max/_sum [B][Hq][N]; after the selection a tail
// recomputes the selected units' bounds, subtracts their terms (i64
// atomics) and merges the chunks into io.unselected_log_bound [B][Hq]. The
// tail is its own kernel after the top-k (unfused) or runs in the selecting
// block of score_topk (fused). The combines: max (the bounds come out of the
// score's reduce-scatter), sum (each head reduced apart from the sum),
// mean_query (the heads' own queries: G more partials per unit).
//
// RUN: hsa-opt --hsa-expand-algorithm --convert-hsa-to-gpu=telemetry %hsa_src_root/examples/llama3-8b-quest.mlir | FileCheck %s --check-prefix=UNFUSED
// RUN: hsa-opt --hsa-expand-algorithm --hsa-fuse-stages=max-context=32768 --convert-hsa-to-gpu=telemetry %hsa_src_root/examples/llama3-8b-quest.mlir | FileCheck %s --check-prefix=FUSED
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=telemetry | FileCheck %s
// RUN: hsa-opt --hsa-lower-to-nvvm="format=isa telemetry" %hsa_src_root/examples/llama3-8b-quest.mlir | FileCheck %s --check-prefix=PTX
// Without the option nothing of it is generated.
// RUN: hsa-opt --hsa-expand-algorithm --convert-hsa-to-gpu %hsa_src_root/examples/llama3-8b-quest.mlir | FileCheck %s --check-prefix=OFF

// UNFUSED-LABEL: hsa.layer @llama3_8b_attn
// UNFUSED-SAME: name = "scratch.quest_bound_max", shape = ["B", 32, "N"]
// UNFUSED-SAME: element = i64, {{.*}} name = "scratch.quest_bound_sum", shape = ["B", 32, "N"]
// UNFUSED-SAME: name = "io.unselected_log_bound", shape = ["B", 32]
// UNFUSED: gpu.launch_func @hsa_kernels::@llama3_8b_attn_score blocks
// UNFUSED-SAME: %{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?x32x?xf32>, %{{.*}} : memref<?x32x?xi64>)
// UNFUSED: gpu.launch_func @hsa_kernels::@llama3_8b_attn_topk
// UNFUSED: gpu.launch_func @hsa_kernels::@llama3_8b_attn_score_bound blocks in (%c8{{(_[0-9]+)?}}, %{{.*}}, %c1{{(_[0-9]+)?}}) threads in (%c256
// UNFUSED-SAME: %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x32x?xf32>, %{{.*}} : memref<?x32x?xi64>, %{{.*}} : memref<?x32xf32>)
// UNFUSED: gpu.launch_func @hsa_kernels::@llama3_8b_attn_diff
// The score kernel: the bound table after the staged queries; the bounds
// (scaled) into it, then per head a max and a fixed-point sum.
// UNFUSED-LABEL: gpu.func @llama3_8b_attn_score(
// UNFUSED-SAME: workgroup(%{{.*}} : memref<4x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[TABLE:.*]] : memref<64x4xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// UNFUSED: memref.store %{{.*}}, %[[TABLE]][%{{.*}}, %{{.*}}] : memref<64x4xf32, #gpu.address_space<workgroup>>
// UNFUSED: gpu.barrier
// UNFUSED: memref.load %[[TABLE]]
// UNFUSED: arith.maximumf
// UNFUSED: gpu.shuffle  xor %{{.*}}, %c16_i32
// UNFUSED: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// UNFUSED: arith.fptosi %{{.*}} : f32 to i64
// UNFUSED: memref.store %{{.*}}, %arg5[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x32x?xf32>
// UNFUSED: memref.store %{{.*}}, %arg6[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x32x?xi64>
// The tail: one block per (group, request); the selected units' bounds
// reduced over the 16 lanes of a row, subtracted; then the chunks merged.
// UNFUSED-LABEL: gpu.func @llama3_8b_attn_score_bound(
// UNFUSED: memref.load %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x8x128xi32>
// UNFUSED: vector.load %arg2
// UNFUSED: vector.load %arg3
// UNFUSED: vector.load %arg0
// UNFUSED: gpu.shuffle  xor %{{.*}}, %c8_i32
// UNFUSED: gpu.shuffle  xor %{{.*}}, %c1_i32
// UNFUSED: arith.fptosi %{{.*}} : f32 to i64
// UNFUSED: memref.atomic_rmw addi %{{.*}}, %arg6[%{{.*}}, %{{.*}}, %{{.*}}] : (i64, memref<?x32x?xi64>) -> i64
// UNFUSED: llvm.fence syncscope("device") acq_rel
// UNFUSED-NEXT: gpu.barrier
// UNFUSED-NEXT: llvm.fence syncscope("device") acq_rel
// UNFUSED: memref.load %arg6
// UNFUSED: arith.sitofp %{{.*}} : i64 to f32
// UNFUSED: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// UNFUSED: memref.store %{{.*}}, %arg7[%{{.*}}, %{{.*}}] : memref<?x32xf32>

// Fused: the tail follows the row's top-k in the selecting block.
// FUSED-LABEL: gpu.func @llama3_8b_attn_score_topk(
// FUSED-SAME: %arg5: memref<?x8x128xi32>, %arg6: memref<?x8xi32>, %arg7: memref<?x8xf32>, %arg8: memref<?x32x?xf32>, %arg9: memref<?x32x?xi64>, %arg10: memref<?x32xf32>)
// FUSED: memref.store %{{.*}}, %arg9[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x32x?xi64>
// FUSED: memref.atomic_rmw addi %{{.*}}, %arg6
// FUSED: memref.store %{{.*}}, %arg5
// FUSED: gpu.barrier
// FUSED: memref.atomic_rmw addi %{{.*}}, %arg9[%{{.*}}, %{{.*}}, %{{.*}}] : (i64, memref<?x32x?xi64>) -> i64
// FUSED: memref.store %{{.*}}, %arg10[%{{.*}}, %{{.*}}] : memref<?x32xf32>
// FUSED-NOT: gpu.func @llama3_8b_attn_score_bound

// PTX-LABEL: .entry llama3_8b_attn_score(
// PTX: cvt.rzi.s64.f32
// PTX-LABEL: .entry llama3_8b_attn_score_bound(
// PTX: shfl.sync.bfly.b32
// PTX: atom.global.add.u64
// PTX: fence.acq_rel.gpu

// OFF-NOT: quest_bound
// OFF-NOT: "io.unselected_log_bound"
// OFF-NOT: score_bound

// sum over a GQA group of 8: each head's bounds reduced apart from the sum.
hsa.layer @sum config(<q_heads = 64, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = sum>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @sum_step(%q: memref<?x64x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @sum "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @sum "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @sum "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %u = hsa.state @sum "sel.units" : memref<?x8x64xi32, #hsa.tier<device>>
  hsa.score @sum queries(%q : memref<?x64x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  hsa.topk @sum scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x8x64xi32, #hsa.tier<device>>)
  return
}
// CHECK-LABEL: func.func @sum_step
// CHECK: gpu.launch_func @hsa_kernels::@sum_score blocks
// CHECK: gpu.launch_func @hsa_kernels::@sum_topk
// CHECK: gpu.launch_func @hsa_kernels::@sum_score_bound
// CHECK-LABEL: gpu.func @sum_score(
// CHECK-SAME: memref<64x8xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: gpu.shuffle  xor
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<64x8xf32, #gpu.address_space<workgroup>>
// CHECK: scf.yield
// CHECK: memref.store %{{.*}}, %arg6[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x64x?xi64>

// -----

// mean_query, request scope: the table holds all 32 query heads of the
// request's group; their own queries come from io.q.
hsa.layer @mean config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = mean_query>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @mean_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @mean "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @mean "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @mean "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %u = hsa.state @mean "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  hsa.fused "score_topk" {
    hsa.score @mean queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
    hsa.topk @mean scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x1x64xi32, #hsa.tier<device>>)
  }
  return
}
// CHECK-LABEL: func.func @mean_step
// CHECK: gpu.launch_func @hsa_kernels::@mean_score_topk
// CHECK-NOT: mean_score_bound
// CHECK-LABEL: gpu.func @mean_score_topk(
// CHECK-SAME: memref<8x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x32xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for
// CHECK: vector.load %arg0
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<32x32xf32, #gpu.address_space<workgroup>>
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg8[%{{.*}}, %{{.*}}, %{{.*}}] : (i64, memref<?x32x?xi64>) -> i64
// CHECK: memref.store %{{.*}}, %arg9[%{{.*}}, %{{.*}}] : memref<?x32xf32>
