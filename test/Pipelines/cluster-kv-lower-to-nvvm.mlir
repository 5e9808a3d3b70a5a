// hsa-lower-to-nvvm on a ClusterKV layer (docs/algorithms/cluster_kv.md):
// prefill is the k-means as 2I + 2 launches, the decode step scores through
// the query . centroid table, append folds the token in with two launches
// after store_kv; every kernel is serialized into the gpu.binary.
// RUN: hsa-opt --hsa-lower-to-nvvm %s | FileCheck %s
// RUN: hsa-opt --hsa-lower-to-nvvm="fuse=false" %s | FileCheck %s --check-prefix=UNFUSED
// RUN: hsa-opt --hsa-lower-to-nvvm="max-context=262144" %s | FileCheck %s --check-prefix=SPLIT
// With ptxas: format "both" (PTX and cubin) and the artifact.
// RUN: %if ptxas %{ hsa-compile %s -o %t.hsa --emit-lowered %t.mlir --quiet && FileCheck %s --check-prefix=BOTH < %t.mlir %}

hsa.layer @attn
  config(#hsa.config<q_heads = 16, kv_heads = 4, head_dim = 64,
                     kv_dtype = f16, page_size = 32, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 32, iterations = 2, recluster_every = 128,
                            new_clusters = 2, combine = sum>) budget(8)
  buffer(#hsa.buffer<capacity = 16, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @step(%q: memref<?x16x64xf16, #hsa.tier<device>>,
                %lengths: memref<?xi32, #hsa.tier<device>>,
                %o: memref<?x16x64xf16, #hsa.tier<device>>) {
  hsa.decode_step @attn queries(%q : memref<?x16x64xf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x16x64xf16, #hsa.tier<device>>)
  return
}

func.func @append(%k: memref<?x4x64xf16, #hsa.tier<device>>,
                  %v: memref<?x4x64xf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @attn keys(%k : memref<?x4x64xf16, #hsa.tier<device>>)
      values(%v : memref<?x4x64xf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// CHECK: module attributes {gpu.container_module}
// CHECK: func.func @prefill(%{{.*}}: memref<?xi32, #hsa.tier<device>> {hsa.buffer = "req.length"}) attributes {hsa.entry = "prefill"}
// CHECK-DAG: hsa.state @attn "host.page_of"
// CHECK-DAG: hsa.state @attn "host.k"
// CHECK-DAG: hsa.state @attn "repr.centroids" : memref<?x4x64x64xf32, #hsa.tier<device>>
// CHECK-DAG: hsa.state @attn "repr.cluster_of" : memref<?x4x?x32xi32, #hsa.tier<device>>
// CHECK-DAG: hsa.state @attn "repr.cluster_state" : memref<?x2xi32, #hsa.tier<device>>
// CHECK-DAG: hsa.state @attn "scratch.cluster_sums" : memref<?x4x64x64xf32, #hsa.tier<device>>
// CHECK-DAG: hsa.state @attn "scratch.cluster_sizes" : memref<?x4x64xi32, #hsa.tier<device>>
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_init
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_assign
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_update
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_assign
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_update
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_final
// CHECK-NEXT: return
// CHECK: func.func @step({{.*}}) attributes {hsa.entry = "decode_step"}
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_score_table
// CHECK:   gpu.launch_func @hsa_kernels::@attn_score_topk
// CHECK:   gpu.launch_func @hsa_kernels::@attn_diff_gather
// CHECK:   gpu.launch_func @hsa_kernels::@attn_attend
// CHECK: func.func @append({{.*}}{hsa.buffer = "io.new_k"}{{.*}}{hsa.buffer = "io.new_v"}{{.*}}{hsa.buffer = "req.length"}) attributes {hsa.entry = "append"}
// CHECK:   gpu.launch_func @hsa_kernels::@attn_store_kv
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_append
// CHECK:   gpu.launch_func @hsa_kernels::@attn_cluster_state
// CHECK-NEXT: return
// CHECK: gpu.binary @hsa_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx84">, properties = {{.*}}, assembly = "
// CHECK-NOT: gpu.module

// UNFUSED: gpu.launch_func @hsa_kernels::@attn_cluster_score_table blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_score blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_topk blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_diff blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_gather blocks

// 262144 tokens = 8192 units of 32 per row: score and top-k stay apart.
// SPLIT: gpu.launch_func @hsa_kernels::@attn_cluster_score_table blocks
// SPLIT: gpu.launch_func @hsa_kernels::@attn_score blocks
// SPLIT: gpu.launch_func @hsa_kernels::@attn_topk blocks
// SPLIT: gpu.launch_func @hsa_kernels::@attn_diff_gather blocks

// BOTH: gpu.binary @hsa_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx84">, properties = {{.*}}, bin = "
