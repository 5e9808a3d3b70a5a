// The score kernel generator (Score.cpp): Quest bounds over kmin/kmax with
// 16-byte loads, queries staged in shared memory as f32, a butterfly
// reduce-scatter over the lanes of a unit row; the combine rules (max, sum,
// mean_query) for kv_head and request scope; StreamingLLM's forced marks.
// Layers: the example (Hq 32, Hkv 8, D 128, P 16, kv_head, max), request
// scope max, request scope mean_query (SGLang), GQA group 8 with sum, GQA
// group 1 with one unit (f16, D 64, K = C = 1), page size 1 on an MLA layer
// (D 576: queries too large to stage, read from global), kv_head mean_query
// with group 7, request max with group 7 (padded head chunk), StreamingLLM.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @llama3_8b_attn config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @llama3_8b_attn_score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @llama3_8b_attn "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @llama3_8b_attn "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @llama3_8b_attn "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.score @llama3_8b_attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// One block per (64 units, KV head, request): 16 lanes x 8 bf16 per 128-dim
// row, 4 units per lane; the 4 query heads of the group staged as f32.
// CHECK-LABEL: func.func @llama3_8b_attn_score
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[GX:.*]] = arith.ceildivui %[[N]], %c64 : index
// CHECK: %[[S:.*]] = memref.dim %{{.*}}, %c1 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_score blocks in (%[[GX]], %[[S]], %[[B]]) threads in (%c256, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-NOT: hsa.score
// CHECK-LABEL: gpu.func @llama3_8b_attn_score
// CHECK-SAME: workgroup(%{{.*}} : memref<4x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: vector.load %arg0{{.*}} {alignment = 16 : i64} : memref<?x32x128xbf16>, vector<8xbf16>
// CHECK: vector.store {{.*}} : memref<4x128xf32, #gpu.address_space<workgroup>>{{[^,]*}}, vector<8xf32>
// CHECK: gpu.barrier
// CHECK-COUNT-4: vector.load %arg2{{.*}} {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>
// CHECK: vector.load {{.*}} : memref<4x128xf32, #gpu.address_space<workgroup>>{{[^,]*}}, vector<8xf32>
// CHECK: arith.maximumf
// 4 units x 4 heads over 16 lanes: 8 + 4 + 2 + 1 scatter shuffles, then
// the max over the heads' 2 lane bits.
// CHECK-COUNT-8: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK-COUNT-4: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK-COUNT-2: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK-NOT: gpu.shuffle
// CHECK: memref.store {{.*}} : memref<?x8x?xf32>
// CHECK: gpu.return
// PTX: .entry llama3_8b_attn_score
// PTX: ld.global.v4.b32
// PTX: ld.shared.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @request_max config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @request_max_score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @request_max "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @request_max "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @request_max "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.score @request_max queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// Request scope: one group, 8 KV heads looped per block, all 32 query
// heads staged (16 KiB); max over the 32 heads.
// CHECK-LABEL: func.func @request_max_score
// CHECK: %[[GX:.*]] = arith.ceildivui %{{.*}}, %c32 : index
// CHECK: gpu.launch_func @hsa_kernels::@request_max_score blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c256
// CHECK-LABEL: gpu.func @request_max_score
// CHECK-SAME: workgroup(%{{.*}} : memref<32x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c1{{(_[0-9]+)?}} iter_args
// CHECK: vector.load %arg2{{.*}} {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>
// CHECK: gpu.shuffle  xor
// CHECK: arith.maximumf
// PTX: .entry request_max_score
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @request_mean config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 32, scope = request>) algorithm(#hsa.quest<combine = mean_query>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)
func.func @request_mean_score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @request_mean "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @request_mean "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @request_mean "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.score @request_mean queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// mean_query, request scope: the mean query of each KV head is staged
// (8 rows), bounds summed over the KV heads (SGLang).
// CHECK-LABEL: gpu.func @request_mean_score
// CHECK-SAME: workgroup(%{{.*}} : memref<8x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK: arith.divf {{.*}} : vector<8xf32>
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c1{{(_[0-9]+)?}} iter_args
// CHECK: gpu.shuffle  xor
// PTX: .entry request_mean_score
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @group8_sum config(<q_heads = 64, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = sum>) budget(256) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @group8_sum_score(%q: memref<?x64x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @group8_sum "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @group8_sum "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @group8_sum "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.score @group8_sum queries(%q : memref<?x64x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// sum, GQA group 8: 8 query heads per KV head summed per lane before one
// reduce-scatter of the 4 units.
// CHECK-LABEL: gpu.func @group8_sum_score
// CHECK-SAME: workgroup(%{{.*}} : memref<8x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c1{{(_[0-9]+)?}} iter_args
// CHECK-COUNT-2: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK-NOT: gpu.shuffle
// PTX: .entry group8_sum_score
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @one_unit config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 64, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(1) buffer(<capacity = 1, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @one_unit_score(%q: memref<?x8x64xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @one_unit "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @one_unit "repr.kmin" : memref<?x8x?x64xf16, #hsa.tier<device>>
  %kmax = hsa.state @one_unit "repr.kmax" : memref<?x8x?x64xf16, #hsa.tier<device>>
  hsa.score @one_unit queries(%q : memref<?x8x64xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x8x?x64xf16, #hsa.tier<device>>, memref<?x8x?x64xf16, #hsa.tier<device>>)
      into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// GQA group 1, f16, D 64 (8 lanes per row), budget 1.
// CHECK-LABEL: func.func @one_unit_score
// CHECK: arith.ceildivui %{{.*}}, %c128 : index
// CHECK-LABEL: gpu.func @one_unit_score
// CHECK-SAME: workgroup(%{{.*}} : memref<1x64xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK: vector.load %arg2{{.*}} {alignment = 16 : i64} : memref<?x8x?x64xf16>, vector<8xf16>
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32
// PTX: .entry one_unit_score
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @token_mla config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @token_mla_score(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @token_mla "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @token_mla "repr.kmin" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  %kmax = hsa.state @token_mla "repr.kmax" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  hsa.score @token_mla queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x1x?x576xbf16, #hsa.tier<device>>, memref<?x1x?x576xbf16, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// Page size 1 on an MLA layer: 576-dim rows (72 vectors over 32 lanes, the
// last one masked), 128 query heads: too large to stage, so the queries are
// read from global memory in chunks of 16 heads.
// CHECK-LABEL: func.func @token_mla_score
// CHECK: arith.ceildivui %{{.*}}, %c8 : index
// CHECK-LABEL: gpu.func @token_mla_score
// CHECK-NOT: workgroup
// CHECK: vector.load %arg2{{.*}} {alignment = 16 : i64} : memref<?x1x?x576xbf16>, vector<8xbf16>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c1{{(_[0-9]+)?}} iter_args
// CHECK: vector.load %arg0{{.*}} {alignment = 16 : i64} : memref<?x128x576xbf16>, vector<8xbf16>
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32
// PTX: .entry token_mla_score
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32

// -----

hsa.layer @kvhead_mean config(<q_heads = 28, kv_heads = 4, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = mean_query>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @kvhead_mean_score(%q: memref<?x28x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @kvhead_mean "sel.scores" : memref<?x4x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @kvhead_mean "repr.kmin" : memref<?x4x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @kvhead_mean "repr.kmax" : memref<?x4x?x128xbf16, #hsa.tier<device>>
  hsa.score @kvhead_mean queries(%q : memref<?x28x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x4x?x128xbf16, #hsa.tier<device>>, memref<?x4x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x4x?xf32, #hsa.tier<device>>)
  return
}

// mean_query, kv_head scope, group 7: the mean of 7 query heads.
// CHECK-LABEL: gpu.func @kvhead_mean_score
// CHECK-SAME: workgroup(%{{.*}} : memref<1x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-COUNT-7: vector.load %arg0
// CHECK: arith.divf
// PTX: .entry kvhead_mean_score

// -----

hsa.layer @group7_request config(<q_heads = 28, kv_heads = 4, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @group7_request_score(%q: memref<?x28x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @group7_request "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @group7_request "repr.kmin" : memref<?x4x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @group7_request "repr.kmax" : memref<?x4x?x128xbf16, #hsa.tier<device>>
  hsa.score @group7_request queries(%q : memref<?x28x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%kmin, %kmax : memref<?x4x?x128xbf16, #hsa.tier<device>>, memref<?x4x?x128xbf16, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// Request scope max with group 7: a head chunk of 8 with one padded head.
// CHECK-LABEL: gpu.func @group7_request_score
// CHECK-SAME: workgroup(%{{.*}} : memref<28x128xf32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c4{{.*}} step %c1{{(_[0-9]+)?}} iter_args
// CHECK: arith.constant 0xFF800000 : f32
// PTX: .entry group7_request_score

// -----

hsa.layer @streaming config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.streaming_llm) budget(6) buffer(<capacity = 8, policy = lru>) forced(<sinks = 2, window = 4>) format(#hsa.native)
func.func @streaming_score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @streaming "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  hsa.score @streaming queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// StreamingLLM: no representations; one thread per unit marks forced units
// +inf and all others -inf (never selected).
// CHECK-LABEL: func.func @streaming_score
// CHECK: %[[GX:.*]] = arith.ceildivui %{{.*}}, %c256 : index
// CHECK: gpu.launch_func @hsa_kernels::@streaming_score blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?xf32>)
// CHECK-LABEL: gpu.func @streaming_score
// CHECK-DAG: arith.constant 0x7F800000 : f32
// CHECK-DAG: arith.constant 0xFF800000 : f32
// CHECK-NOT: arith.constant 0.000000e+00 : f32
// CHECK: memref.store {{.*}} : memref<?x8x?xf32>
// PTX: .entry streaming_score
