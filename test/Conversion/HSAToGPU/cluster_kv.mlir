// The ClusterKV package's kernels (Algorithms/ClusterKV.cpp): the prefill's
// k-means as 2I + 2 launches (init; I x (accumulating pass, update); final
// pass), the append's per-(KV head, request) kernel and its state kernel,
// and the score as a query . centroid table followed by the score kernel in
// the ScoreFrame. Layers: Llama-3-8B-like per KV head with pages of 16
// (`max`, Cmax 128), token units in one request group (`sum`: one summed
// query row per KV head), the mean query fused with top-k, and `sum` over
// pages with a table too large to stage (one row per query head, read from
// the scratch).
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @ckv config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 128>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %pages = hsa.state @ckv "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @ckv "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %c = hsa.state @ckv "repr.centroids" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %of = hsa.state @ckv "repr.cluster_of" : memref<?x8x?x16xi32, #hsa.tier<device>>
  %st = hsa.state @ckv "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckv "scratch.cluster_sums" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckv "scratch.cluster_sizes" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.rebuild_repr @ckv lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x?x16xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>)
  return
}
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %c = hsa.state @ckv "repr.centroids" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %of = hsa.state @ckv "repr.cluster_of" : memref<?x8x?x16xi32, #hsa.tier<device>>
  %st = hsa.state @ckv "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckv "scratch.cluster_sums" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckv "scratch.cluster_sizes" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.update_repr @ckv keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x?x16xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>)
  return
}
func.func @score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @ckv "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %c = hsa.state @ckv "repr.centroids" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %of = hsa.state @ckv "repr.cluster_of" : memref<?x8x?x16xi32, #hsa.tier<device>>
  %st = hsa.state @ckv "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckv "scratch.cluster_sums" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckv "scratch.cluster_sizes" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.score @ckv queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x?x16xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// prefill: every launch takes (lengths, host.page_of, host.k, the five
// buffers); the passes cover min(ceil(N*16 / 64), 32) token tiles per KV
// head with 68160 bytes of dynamic shared memory; init covers
// ceil(64 * 16 / 256) = 4 blocks of (centroid, vector) items, the update
// 64 / 8 = 8 blocks of 8 centroids. Four rounds, then the final pass.
// CHECK-LABEL: func.func @prefill
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2{{(_[0-9]+)?}} : memref<?x8x?x16xi32, #hsa.tier<device>>
// CHECK: %[[TOKENS:.*]] = arith.muli %[[N]], %c16{{(_[0-9]+)?}} : index
// CHECK: %[[TILES:.*]] = arith.ceildivui %[[TOKENS]], %c64{{(_[0-9]+)?}} : index
// CHECK: %[[PASS:.*]] = arith.minui %[[TILES]], %c32{{(_[0-9]+)?}} : index
// CHECK: %[[PAGES:.*]] = memref.memory_space_cast %{{.*}} : memref<?x?xi32, #hsa.tier<host>> to memref<?x?xi32>
// CHECK: %[[HK:.*]] = memref.memory_space_cast %{{.*}} : memref<?x8x16x128xbf16, #hsa.tier<host>> to memref<?x8x16x128xbf16>
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_init blocks in (%c4, %c8, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %[[PAGES]] : memref<?x?xi32>, %[[HK]] : memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x8x?x16xi32>, %{{.*}} : memref<?x2xi32>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x8x128xi32>)
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_assign blocks in (%[[PASS]], %c8, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c68160_i32
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_update blocks in (%c8{{(_[0-9]+)?}}, %c8, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_assign blocks in (%[[PASS]], %c8, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c68160_i32
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_update blocks in (%c8{{(_[0-9]+)?}}, %c8, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_assign blocks in (%[[PASS]], %c8, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c68160_i32
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_update blocks in (%c8{{(_[0-9]+)?}}, %c8, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_assign blocks in (%[[PASS]], %c8, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c68160_i32
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_update blocks in (%c8{{(_[0-9]+)?}}, %c8, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_final blocks in (%[[PASS]], %c8,
// CHECK-SAME: dynamic_shared_memory_size %c68160_i32
// CHECK-NOT: gpu.launch_func
// CHECK-NOT: hsa.rebuild_repr
// CHECK: return

// append: the kernel per (KV head, request) reads the host pool for a
// re-clustering (hsa.state at the op); the state kernel runs after it, one
// thread per request.
// CHECK-LABEL: func.func @append
// CHECK-DAG: %[[APAGES:.*]] = hsa.state @ckv "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
// CHECK-DAG: %[[AHK:.*]] = hsa.state @ckv "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8x128xbf16, #hsa.tier<device>>
// CHECK: %[[SLOTS:.*]] = arith.ceildivui %[[B]], %c128{{(_[0-9]+)?}} : index
// CHECK: memref.memory_space_cast %[[APAGES]]
// CHECK: memref.memory_space_cast %[[AHK]]
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_append blocks in (%c8{{(_[0-9]+)?}}, %[[B]], %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c68160_i32
// CHECK-SAME: args(%{{.*}} : memref<?x8x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?xi32>, %{{.*}} : memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x8x?x16xi32>, %{{.*}} : memref<?x2xi32>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x8x128xi32>)
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_state blocks in (%[[SLOTS]], %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?x16xi32>, %{{.*}} : memref<?x2xi32>)
// CHECK-NOT: hsa.update_repr

// score: the table kernel over ceil(128 / 64) centroid blocks x 8 KV heads x
// B, then 256 units per block of the score kernel.
// CHECK-LABEL: func.func @score
// CHECK: %[[QB:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x32x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@ckv_cluster_score_table blocks in (%c2, %c8, %[[QB]]) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x2xi32>, %{{.*}} : memref<?x8x128x128xf32>)
// CHECK: %[[U:.*]] = memref.dim %{{.*}}, %c2{{(_[0-9]+)?}} : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK: %[[GX:.*]] = arith.ceildivui %[[U]], %c256{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @hsa_kernels::@ckv_score blocks in (%[[GX]],
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?x16xi32>, %{{.*}} : memref<?x2xi32>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x8x?xf32>)
// CHECK-NOT: hsa.score

// Kernels. init: no shared memory and no barrier; the passes stage keys
// [64][132] and centroids [128][64] in dynamic shared memory; accumulating
// passes add keys and counts with atomics, the final pass writes cluster_of.
// CHECK-LABEL: gpu.func @ckv_cluster_init
// CHECK-NOT: gpu.barrier
// CHECK-LABEL: gpu.func @ckv_cluster_assign
// CHECK-DAG: memref.view %{{.*}}[%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x132xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.view %{{.*}}[%{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<128x64xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: vector.load %arg2[{{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK-DAG: memref.atomic_rmw addf %{{.*}}, %arg6[{{.*}}] : (f32, memref<?x8x128x128xf32>) -> f32
// CHECK-DAG: memref.atomic_rmw addi %{{.*}}, %arg7[{{.*}}] : (i32, memref<?x8x128xi32>) -> i32
// CHECK-LABEL: gpu.func @ckv_cluster_update
// CHECK: arith.divf %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK: gpu.barrier
// CHECK-LABEL: gpu.func @ckv_cluster_final
// CHECK-NOT: memref.atomic_rmw
// CHECK: memref.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<?x8x?x16xi32>
// CHECK-NOT: memref.atomic_rmw
// CHECK-LABEL: gpu.func @ckv_cluster_append
// CHECK: memref.view
// CHECK: gpu.shuffle  xor
// CHECK-LABEL: gpu.func @ckv_cluster_state
// CHECK-NOT: gpu.barrier
// CHECK-LABEL: gpu.func @ckv_cluster_score_table
// CHECK: gpu.shuffle  xor
// CHECK-LABEL: gpu.func @ckv_score
// CHECK-SAME: workgroup(%{{.*}} : memref<1x128xf32, #gpu.address_space<workgroup>>
// CHECK: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<?x8x?x16xi32>, vector<4xi32>

// PTX: .extern .shared .align 16 .b8 __hsa_dynamic_shared[];
// PTX-LABEL: .visible .entry ckv_cluster_init(
// PTX-LABEL: .visible .entry ckv_cluster_assign(
// PTX: ld.global.v4.b32
// PTX: fma.rn.f32
// PTX: shfl.sync.bfly.b32
// PTX: atom.global.add.f32
// PTX-LABEL: .visible .entry ckv_cluster_update(
// PTX: div.rn.f32
// PTX-LABEL: .visible .entry ckv_cluster_final(
// PTX-LABEL: .visible .entry ckv_cluster_append(
// PTX: sqrt.rn.f32
// PTX-LABEL: .visible .entry ckv_cluster_state(
// PTX-LABEL: .visible .entry ckv_cluster_score_table(
// PTX-LABEL: .visible .entry ckv_score(

// -----

hsa.layer @ckvtok config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 128, combine = sum>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
func.func @score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @ckvtok "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %c = hsa.state @ckvtok "repr.centroids" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %of = hsa.state @ckvtok "repr.cluster_of" : memref<?x8x?x1xi32, #hsa.tier<device>>
  %st = hsa.state @ckvtok "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckvtok "scratch.cluster_sums" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckvtok "scratch.cluster_sizes" : memref<?x8x128xi32, #hsa.tier<device>>
  hsa.score @ckvtok queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x?x1xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// Token units in one request group, `sum`: one summed query row per KV head
// (the table kernel adds the group's 4 query rows), all 8 KV heads' rows
// staged per block, 1024 units per block (4 per thread).
// CHECK-LABEL: func.func @score
// CHECK: gpu.launch_func @hsa_kernels::@ckvtok_cluster_score_table
// CHECK: %[[U:.*]] = memref.dim %{{.*}}, %c2{{(_[0-9]+)?}} : memref<?x1x?xf32, #hsa.tier<device>>
// CHECK: %[[GX:.*]] = arith.ceildivui %[[U]], %c1024{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @hsa_kernels::@ckvtok_score blocks in (%[[GX]],
// CHECK-LABEL: gpu.func @ckvtok_cluster_score_table
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<8xf32>)
// CHECK: arith.addf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK-LABEL: gpu.func @ckvtok_score
// CHECK-SAME: workgroup(%{{.*}} : memref<8x128xf32, #gpu.address_space<workgroup>>
// CHECK: memref.load %arg1[{{.*}}] : memref<?x8x?x1xi32>

// PTX-LABEL: .visible .entry ckvtok_cluster_score_table(
// PTX-LABEL: .visible .entry ckvtok_score(

// -----

hsa.layer @ckvmean config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 128, combine = mean_query>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @score(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @ckvmean "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %c = hsa.state @ckvmean "repr.centroids" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %of = hsa.state @ckvmean "repr.cluster_of" : memref<?x8x?x16xi32, #hsa.tier<device>>
  %st = hsa.state @ckvmean "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckvmean "scratch.cluster_sums" : memref<?x8x128x128xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckvmean "scratch.cluster_sizes" : memref<?x8x128xi32, #hsa.tier<device>>
  %u = hsa.state @ckvmean "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  hsa.fused "score_topk" {
    hsa.score @ckvmean queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x?x16xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x8x128x128xf32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
    hsa.topk @ckvmean scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x1x64xi32, #hsa.tier<device>>)
  }
  return
}

// The mean query, fused with top-k: the table kernel, then one score + top-k
// kernel whose last block of each row selects (sel.units, scratch.topk_done
// follow the score kernel's own arguments).
// CHECK-LABEL: func.func @score
// CHECK: %[[DONE:.*]] = hsa.state @ckvmean "scratch.topk_done" : memref<?x1xi32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@ckvmean_cluster_score_table
// CHECK: gpu.launch_func @hsa_kernels::@ckvmean_score_topk blocks in
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?x16xi32>, %{{.*}} : memref<?x2xi32>, %{{.*}} : memref<?x8x128x128xf32>, %{{.*}} : memref<?x1x?xf32>, %{{.*}} : memref<?x1x64xi32>, %{{.*}} : memref<?x1xi32>)
// CHECK-NOT: hsa.topk
// CHECK-NOT: hsa.fused
// CHECK-LABEL: gpu.func @ckvmean_cluster_score_table
// CHECK: arith.divf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK-LABEL: gpu.func @ckvmean_score_topk
// CHECK: memref.atomic_rmw addi %{{.*}}, %arg6[{{.*}}] : (i32, memref<?x1xi32>) -> i32

// PTX-LABEL: .visible .entry ckvmean_score_topk(

// -----

hsa.layer @ckvwide config(<q_heads = 16, kv_heads = 4, head_dim = 64, kv_dtype = bf16, page_size = 8, scope = request>) algorithm(#hsa.cluster_kv<clusters = 256, iterations = 2, recluster_every = 512, new_clusters = 100, combine = sum>) budget(32) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)
func.func @score(%q: memref<?x16x64xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @ckvwide "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %c = hsa.state @ckvwide "repr.centroids" : memref<?x4x1856x64xf32, #hsa.tier<device>>
  %of = hsa.state @ckvwide "repr.cluster_of" : memref<?x4x?x8xi32, #hsa.tier<device>>
  %st = hsa.state @ckvwide "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckvwide "scratch.cluster_sums" : memref<?x4x1856x64xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckvwide "scratch.cluster_sizes" : memref<?x4x1856xi32, #hsa.tier<device>>
  hsa.score @ckvwide queries(%q : memref<?x16x64xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x4x1856x64xf32, #hsa.tier<device>>, memref<?x4x?x8xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x4x1856x64xf32, #hsa.tier<device>>, memref<?x4x1856xi32, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %pages = hsa.state @ckvwide "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @ckvwide "host.k" : memref<?x4x8x64xbf16, #hsa.tier<host>>
  %c = hsa.state @ckvwide "repr.centroids" : memref<?x4x1856x64xf32, #hsa.tier<device>>
  %of = hsa.state @ckvwide "repr.cluster_of" : memref<?x4x?x8xi32, #hsa.tier<device>>
  %st = hsa.state @ckvwide "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
  %sums = hsa.state @ckvwide "scratch.cluster_sums" : memref<?x4x1856x64xf32, #hsa.tier<device>>
  %sizes = hsa.state @ckvwide "scratch.cluster_sizes" : memref<?x4x1856xi32, #hsa.tier<device>>
  hsa.rebuild_repr @ckvwide lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x4x8x64xbf16, #hsa.tier<host>>) reprs(%c, %of, %st, %sums, %sizes : memref<?x4x1856x64xf32, #hsa.tier<device>>, memref<?x4x?x8xi32, #hsa.tier<device>>, memref<?x2xi32, #hsa.tier<device>>, memref<?x4x1856x64xf32, #hsa.tier<device>>, memref<?x4x1856xi32, #hsa.tier<device>>)
  return
}

// `sum` over pages of 8 tokens: one table row per query head (4 per KV
// head), 16 rows x 1856 centroids = 116 KiB, too large to stage: the score
// kernel reads the table from the scratch and has no shared memory. 256
// clusters: the passes loop over centroid tiles of 64; the update has
// blocks of 16 centroids (64 dims, one thread per 4).
// CHECK-LABEL: func.func @score
// CHECK: gpu.launch_func @hsa_kernels::@ckvwide_cluster_score_table blocks in (%c15, %c4,
// CHECK: gpu.launch_func @hsa_kernels::@ckvwide_score
// CHECK-LABEL: func.func @prefill
// CHECK: gpu.launch_func @hsa_kernels::@ckvwide_cluster_init blocks in (%c8, %c4,
// CHECK: gpu.launch_func @hsa_kernels::@ckvwide_cluster_assign blocks in (%{{.*}}, %c4, %{{.*}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c35392_i32
// CHECK: gpu.launch_func @hsa_kernels::@ckvwide_cluster_update blocks in (%c16, %c4,
// CHECK-LABEL: gpu.func @ckvwide_score(
// CHECK-SAME: %arg4: memref<?x1x?xf32>) kernel
// CHECK: memref.load %arg3[{{.*}}] : memref<?x4x1856x64xf32>
// CHECK-LABEL: gpu.func @ckvwide_cluster_assign
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, i32, i32, i32, i32)
// CHECK: gpu.barrier

// PTX-LABEL: .visible .entry ckvwide_score(
