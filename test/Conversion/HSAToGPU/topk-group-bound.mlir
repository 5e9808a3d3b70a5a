// The top-k's group bound (TopK.cpp; telemetry_contract.h): where the
// algorithm's unit scores bound the logits of every query head of their
// group (Quest with combine = max), the top-k also writes
// io.group_unselected_log_bound[b][g] = log U_g over the units it did not
// select, from the histogram of its first radix pass: -inf when every unit
// is selected; otherwise each bin below the threshold's (and the threshold
// bin's unselected units) counts P tokens at the bin's top score; a warp and
// block merge of (max, sum) pairs, and thread 0's log with the contract's
// margin. Quest sum and StreamingLLM get no such
// buffer; `group-bound=false` leaves it out.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="group-bound=false" | FileCheck %s --check-prefix=OFF
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @quest_max config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @quest_max_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @quest_max "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @quest_max "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.topk @quest_max scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: hsa.layer @quest_max
// CHECK-SAME: name = "io.group_unselected_log_bound", shape = ["B", 8], tier = #hsa.tier<device>
// CHECK-LABEL: func.func @quest_max_topk
// CHECK: %[[BOUND:.*]] = hsa.state @quest_max "io.group_unselected_log_bound" : memref<?x8xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@quest_max_topk
// CHECK-SAME: %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8xf32>)
// CHECK-LABEL: gpu.func @quest_max_topk(
// CHECK-SAME: %arg3: memref<?x8xf32>)
// Every unit selected: nothing missed.
// CHECK: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: memref.store %[[NINF]], %arg3[%block_id_y, %block_id_x] : memref<?x8xf32>
// The first radix pass's bins (2 per thread of 1024) against the threshold
// bin: the thread's (max, sum), carried out of the pass...
// CHECK: arith.shrui %{{.*}}, %c21_i32
// CHECK-COUNT-2: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield {{.*}} : i32, i32, i32, i32, f32, f32
// ... then, after the compaction, merged over the warp and the block.
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32{{.*}} : f32
// CHECK: gpu.barrier
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %arg3[%block_id_y, %block_id_x] : memref<?x8xf32>
// CHECK: gpu.return

// OFF-LABEL: hsa.layer @quest_max
// OFF-NOT: group_unselected_log_bound
// OFF: gpu.func @quest_max_topk(%arg0: memref<?x8x?xf32>, %arg1: memref<?xi32>, %arg2: memref<?x8x128xi32>)
// OFF-NOT: llvm.nvvm.lg2

// PTX-LABEL: .entry quest_max_topk(
// PTX: ex2.approx.ftz.f32
// PTX: shfl.sync.bfly.b32
// PTX: lg2.approx.ftz.f32

// -----

hsa.layer @quest_sum config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = sum>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @quest_sum_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @quest_sum "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @quest_sum "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.topk @quest_sum scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// A sum of the heads' bounds bounds no single head: no group bound.
// CHECK-LABEL: hsa.layer @quest_sum
// CHECK-NOT: group_unselected_log_bound
// CHECK: gpu.func @quest_sum_topk(%arg0: memref<?x8x?xf32>, %arg1: memref<?xi32>, %arg2: memref<?x8x128xi32>)
// CHECK-NOT: llvm.nvvm.lg2
// CHECK: gpu.return

// -----

hsa.layer @streaming config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.streaming_llm) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 127>) format(#hsa.native)
func.func @streaming_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @streaming "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @streaming "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.topk @streaming scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// StreamingLLM's scores bound nothing.
// CHECK-LABEL: hsa.layer @streaming
// CHECK-NOT: group_unselected_log_bound
// CHECK: gpu.func @streaming_topk(%arg0: memref<?x8x?xf32>, %arg1: memref<?xi32>, %arg2: memref<?x8x128xi32>)
