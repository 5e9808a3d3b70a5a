// The fused score + top-k kernel (hsa.fused "score_topk", Score.cpp +
// TopK.cpp's row emitter): one launch over the score grid; every block fences
// its scores at device scope and counts itself in scratch.topk_done[b][g]; the
// block that counts last (grid_dim.x - 1 earlier arrivals) selects the row
// with its 256 threads and puts the count back to 0. The row's keys are
// staged in the shared memory the score body leaves (8192 keys for the
// example; 4096 where 16 KiB of staged queries take room), and histogram
// increments are aggregated per warp (match.any.sync). Layers: the example
// (Quest max, kv_head), request scope with GQA 4 (32 staged query rows),
// StreamingLLM.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @llama3_8b_attn config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @llama3_8b_attn "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @llama3_8b_attn "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @llama3_8b_attn "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %u = hsa.state @llama3_8b_attn "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.fused "score_topk" {
    hsa.score @llama3_8b_attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
    hsa.topk @llama3_8b_attn scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  }
  return
}

// CHECK-LABEL: func.func @step
// CHECK: %[[DONE:.*]] = hsa.state @llama3_8b_attn "scratch.topk_done" : memref<?x8xi32, #hsa.tier<device>>
// CHECK-NOT: hsa.fused
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_score_topk blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%c256{{(_[0-9]+)?}},
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?x128xbf16>, %{{.*}} : memref<?x8x?x128xbf16>, %{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8xi32>, %{{.*}} : memref<?x8xf32>)
// CHECK-NOT: hsa.score
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @llama3_8b_attn_score_topk(
// CHECK-SAME: %[[DONEARG:arg6]]: memref<?x8xi32>, %[[BOUNDARG:arg7]]: memref<?x8xf32>)
// CHECK-SAME: workgroup({{.*}}memref<2048xi32, #gpu.address_space<workgroup>>{{.*}}memref<8192xi32, #gpu.address_space<workgroup>>
// CHECK-SAME: nvvm.minctasm = 3
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK-NEXT: gpu.barrier
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[DONEARG]][%{{.*}}, %{{.*}}] : (i32, memref<?x8xi32>) -> i32
// CHECK: gpu.barrier
// CHECK: %[[GRID:.*]] = gpu.grid_dim x
// CHECK: %[[BLOCKS:.*]] = arith.index_cast %[[GRID]] : index to i32
// CHECK: arith.subi %[[BLOCKS]], %c1_i32
// CHECK: scf.if
// CHECK-NEXT: llvm.fence syncscope("device") acq_rel
// CHECK: nvvm.match.sync any
// CHECK: memref.store %{{.*}}, %[[BOUNDARG]][%{{.*}}, %{{.*}}] : memref<?x8xf32>
// CHECK: memref.store %{{.*}}, %[[DONEARG]][%{{.*}}, %{{.*}}] : memref<?x8xi32>
// CHECK: gpu.return

// PTX-LABEL: .entry llama3_8b_attn_score_topk(
// PTX: ld.global.v4
// PTX: shfl.sync.bfly
// PTX: fence.acq_rel.gpu
// PTX: atom.global.add.u32
// PTX: fence.acq_rel.gpu
// PTX: match.any.sync.b32
// PTX: atom.shared.add.u32

// -----

// Request scope, GQA 4: the group's 32 query rows staged as f32 take 16 KiB,
// so the row stages 4096 keys.
hsa.layer @request config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @request "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @request "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @request "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %u = hsa.state @request "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  hsa.fused "score_topk" {
    hsa.score @request queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
    hsa.topk @request scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x1x64xi32, #hsa.tier<device>>)
  }
  return
}

// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@request_score_topk
// CHECK-SAME: %{{.*}} : memref<?x1x64xi32>, %{{.*}} : memref<?x1xi32>, %{{.*}} : memref<?x1xf32>)
// CHECK-LABEL: gpu.func @request_score_topk(
// CHECK-SAME: workgroup(%{{.*}} : memref<32x128xf32, #gpu.address_space<workgroup>>{{.*}}memref<2048xi32, #gpu.address_space<workgroup>>{{.*}}memref<4096xi32, #gpu.address_space<workgroup>>

// PTX-LABEL: .entry request_score_topk(

// -----

// StreamingLLM: the mark kernel (one thread per unit) with the same tail.
hsa.layer @streaming config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 16, scope = request>) algorithm(#hsa.streaming_llm) budget(8) buffer(<capacity = 8, policy = lru>) forced(<sinks = 4, window = 4>) format(#hsa.native)
func.func @step(%q: memref<?x8x64xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @streaming "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @streaming "sel.units" : memref<?x1x8xi32, #hsa.tier<device>>
  hsa.fused "score_topk" {
    hsa.score @streaming queries(%q : memref<?x8x64xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
    hsa.topk @streaming scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x1x8xi32, #hsa.tier<device>>)
  }
  return
}

// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@streaming_score_topk blocks in ({{.*}}) threads in (%c256{{(_[0-9]+)?}},
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?x1x8xi32>, %{{.*}} : memref<?x1xi32>)
// CHECK-LABEL: gpu.func @streaming_score_topk(
// CHECK-SAME: memref<8192xi32, #gpu.address_space<workgroup>>
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.grid_dim x

// PTX-LABEL: .entry streaming_score_topk(
// PTX: atom.global.add.u32
// PTX: match.any.sync.b32
