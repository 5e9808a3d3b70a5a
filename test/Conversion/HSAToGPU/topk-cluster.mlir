// The cluster top-k (TopK.cpp, lowerTopKCluster; opt-in `topk-cluster`):
// where the several-block top-k applies, one launch over (8, S, B) in
// clusters of 8 blocks of 1024 threads, the row's chunk staged as keys in
// dynamic shared memory, the histograms merged through distributed shared
// memory between cluster barriers. No global scratch. Off (the default),
// the four launches stay (topk-multiblock.mlir); hsa-lower-to-nvvm turns it
// off below sm_90.
//
// RUN: hsa-opt %s --convert-hsa-to-gpu=topk-cluster=true | FileCheck %s
// RUN: hsa-opt %s --convert-hsa-to-gpu="topk-cluster=true print-plans" -o /dev/null | FileCheck %s --check-prefix=PLAN
// RUN: hsa-opt %s --convert-hsa-to-gpu="topk-cluster=true max-context=262144" | FileCheck %s --check-prefix=LONG
// RUN: hsa-opt %s --convert-hsa-to-gpu="topk-cluster=true max-context=262145" | FileCheck %s --check-prefix=FOUR
// RUN: hsa-opt %s --hsa-lower-to-nvvm="format=isa chip=sm_80 topk-cluster=true" | FileCheck %s --check-prefix=SM80
// RUN: hsa-opt %s --hsa-lower-to-nvvm="format=isa chip=sm_90a topk-cluster=true" > %t.mlir
// RUN: %python %hsa_src_root/scripts/extract-ptx.py %t.mlir %t.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx

hsa.layer @tok_sum config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = sum>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
func.func @tok_sum_topk(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @tok_sum "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %u = hsa.state @tok_sum "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  hsa.topk @tok_sum scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%u : memref<?x1x2048xi32, #hsa.tier<device>>)
  return
}

// No scratch: the cluster's shared memory holds everything.
// CHECK-LABEL: hsa.layer @tok_sum
// CHECK-NOT: scratch.topk
// CHECK-LABEL: func.func @tok_sum_topk
// CHECK: gpu.launch_func @hsa_kernels::@tok_sum_topk_cluster blocks in (%c8, %{{.*}}, %{{.*}}) threads in (%c1024
// CHECK-SAME: dynamic_shared_memory_size %c65536_i32
// CHECK-NOT: gpu.launch_func
// CHECK-LABEL: gpu.func @tok_sum_topk_cluster
// CHECK-SAME: nvvm.cluster_dim = array<i32: 8, 1, 1>
// CHECK: gpu.dynamic_shared_memory
// CHECK: nvvm.read.ptx.sreg.cluster.ctarank
// Three passes: local histogram, cluster barrier, the 8 blocks' bins.
// CHECK-COUNT-3: nvvm.cluster.wait {aligned}
// Compaction: the block counts, a barrier, the lower blocks' counts.
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK: nvvm.cluster.wait {aligned}
// CHECK: nvvm.mapa %{{.*}} : !llvm.ptr<3> -> !llvm.ptr<7>
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK: nvvm.cluster.wait {aligned}

// PLAN: plan tok_sum_topk_cluster: cluster: grid (8, 1 groups, B) in clusters of 8 blocks of 1024 threads; staged keys 16384 per block (4 vectors/thread)

// 256K tokens: 32768 keys per block (128 KiB), still one cluster per row.
// LONG: gpu.launch_func @hsa_kernels::@tok_sum_topk_cluster
// LONG-SAME: dynamic_shared_memory_size %c131072_i32
// Beyond: the four launches.
// FOUR: gpu.launch_func @hsa_kernels::@tok_sum_topk_hist
// FOUR-NOT: topk_cluster

// SM80-NOT: topk_cluster
// SM80: topk_hist

// PTX: .explicitcluster
// PTX-NEXT: .reqnctapercluster 8, 1, 1
// PTX: barrier.cluster.arrive.aligned;
// PTX: mapa.shared::cluster
// PTX: ld.shared::cluster.b32
