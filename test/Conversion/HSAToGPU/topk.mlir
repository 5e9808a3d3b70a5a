// The top-k kernel generator (TopK.cpp): one block of 1024 threads per
// (request, group) row; radix select over order-preserving u32 keys in
// 3 passes of 11/11/10 bits with a 2048-bin shared histogram
// (warp-aggregated atomic adds: match.any.sync), rows of up to 8192 units
// staged in shared memory as keys first (8 KiB histogram + 32 KiB keys),
// then an ordered compaction with a block-wide prefix scan
// (output ascending by unit id, ties to the lower unit id), -1 padding.
// Layers: the example (K 128, kv_head, 8 groups), request scope (one
// group), page size 1 (DSA-like: K 2048, C 4096), K = C, one unit (K 1).
// Quest max layers also get io.group_unselected_log_bound (its kernel:
// topk-group-bound.mlir); the sum layer (K = C) does not.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @llama3_8b_attn config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @llama3_8b_attn_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @llama3_8b_attn "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @llama3_8b_attn "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.topk @llama3_8b_attn scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// The example layer: K 128 of up to N units per KV head.
// CHECK-LABEL: func.func @llama3_8b_attn_topk
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_topk blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8xf32>)
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @llama3_8b_attn_topk
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: arith.ceildivui %{{.*}}, %c16 : index
// CHECK: arith.minsi %{{.*}}, %c128{{.*}} : index
// CHECK: memref.store %c-1_i32, %arg2
// CHECK: memref.reinterpret_cast %arg0 to offset: [0], sizes: [%{{.*}}], strides: [1]
// Rows of up to 8192 units: keys staged in shared memory, then the passes.
// CHECK: scf.if
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: vector.store %{{.*}}, %arg7[%{{.*}}] {alignment = 16 : i64} : memref<8192xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK-COUNT-4: vector.load %arg7[%{{.*}}] {alignment = 16 : i64} : memref<8192xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK: nvvm.match.sync any
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg4[%{{.*}}] : (i32, memref<2048xi32, #gpu.address_space<workgroup>>{{[^)]*}}) -> i32
// Longer rows read the scores (16-byte loads) in every pass.
// CHECK: } else {
// CHECK: gpu.barrier
// CHECK-COUNT-4: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: nvvm.match.sync any
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg4[%{{.*}}] : (i32, memref<2048xi32, #gpu.address_space<workgroup>>{{[^)]*}}) -> i32
// CHECK: gpu.barrier
// CHECK: gpu.shuffle  up
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK-COUNT-4: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK: gpu.shuffle  up
// CHECK: memref.store %{{.*}}, %arg2[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x8x128xi32>
// PTX: .entry llama3_8b_attn_topk
// PTX: .maxntid 1024, 1, 1
// PTX: ld.global.v4
// PTX: match.any.sync.b32
// PTX: atom.shared.add.u32
// PTX: shfl.sync.up.b32
// PTX: bar.sync

// -----

hsa.layer @request_max config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @request_max_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @request_max "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @request_max "sel.units" : memref<?x1x128xi32, #hsa.tier<device>>
  hsa.topk @request_max scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x128xi32, #hsa.tier<device>>)
  return
}

// Request scope: one selection group per request.
// CHECK-LABEL: func.func @request_max_topk
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@request_max_topk blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x128xi32>, %{{.*}} : memref<?x1xf32>)
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @request_max_topk
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: arith.ceildivui %{{.*}}, %c16 : index
// CHECK: arith.minsi %{{.*}}, %c128{{.*}} : index
// CHECK: memref.store %c-1_i32, %arg2
// PTX: .entry request_max_topk
// PTX: .maxntid 1024, 1, 1
// PTX: ld.global.v4
// PTX: atom.shared.add.u32
// PTX: shfl.sync.up.b32
// PTX: bar.sync

// -----

hsa.layer @token_mla config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @token_mla_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @token_mla "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @token_mla "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  hsa.topk @token_mla scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x2048xi32, #hsa.tier<device>>)
  return
}

// Page size 1 (token-level, DSA-like shape): K 2048 with C 4096.
// CHECK-LABEL: func.func @token_mla_topk
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@token_mla_topk blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1xf32>)
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @token_mla_topk
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: arith.ceildivui %{{.*}}, %c1 : index
// CHECK: arith.minsi %{{.*}}, %c2048{{.*}} : index
// CHECK: memref.store %c-1_i32, %arg2
// PTX: .entry token_mla_topk
// PTX: .maxntid 1024, 1, 1
// PTX: ld.global.v4
// PTX: atom.shared.add.u32
// PTX: shfl.sync.up.b32
// PTX: bar.sync

// -----

hsa.layer @k_eq_c config(<q_heads = 64, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = sum>) budget(256) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @k_eq_c_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @k_eq_c "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @k_eq_c "sel.units" : memref<?x8x256xi32, #hsa.tier<device>>
  hsa.topk @k_eq_c scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x256xi32, #hsa.tier<device>>)
  return
}

// K = C = 256, GQA group 8.
// CHECK-LABEL: func.func @k_eq_c_topk
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@k_eq_c_topk blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x256xi32>)
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @k_eq_c_topk
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: arith.ceildivui %{{.*}}, %c16 : index
// CHECK: arith.minsi %{{.*}}, %c256{{.*}} : index
// CHECK: memref.store %c-1_i32, %arg2
// PTX: .entry k_eq_c_topk
// PTX: .maxntid 1024, 1, 1
// PTX: ld.global.v4
// PTX: atom.shared.add.u32
// PTX: shfl.sync.up.b32
// PTX: bar.sync

// -----

hsa.layer @one_unit config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 64, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(1) buffer(<capacity = 1, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @one_unit_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @one_unit "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @one_unit "sel.units" : memref<?x8x1xi32, #hsa.tier<device>>
  hsa.topk @one_unit scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x8x1xi32, #hsa.tier<device>>)
  return
}

// One unit: K = C = 1.
// CHECK-LABEL: func.func @one_unit_topk
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@one_unit_topk blocks in (%[[S]], %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c1024, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x1xi32>, %{{.*}} : memref<?x8xf32>)
// CHECK-NOT: hsa.topk
// CHECK-LABEL: gpu.func @one_unit_topk
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<4xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: arith.ceildivui %{{.*}}, %c64 : index
// CHECK: arith.minsi %{{.*}}, %c1{{(_[0-9]+)?}} : index
// CHECK: memref.store %c-1_i32, %arg2
// PTX: .entry one_unit_topk
// PTX: .maxntid 1024, 1, 1
// PTX: ld.global.v4
// PTX: atom.shared.add.u32
// PTX: shfl.sync.up.b32
// PTX: bar.sync
