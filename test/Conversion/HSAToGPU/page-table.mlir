// The page_table kernel (PageTable.cpp): the exported tables of a layer's
// format from the selection, grid (S, B), 256 threads. FlashAttention: the
// block table (b * C + slot, -1 past the selection) and seqlens; FlashInfer:
// packed CSR (each block sums the earlier rows' counts), indices and last
// page lengths; token indices: block * P + p per selected token, -1 past the
// selection or the context.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @fa config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.flash_attn_block_table)
func.func @fa_tables(%len: memref<?xi32, #hsa.tier<device>>) {
  %u = hsa.state @fa "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  %s = hsa.state @fa "sel.slots" : memref<?x1x64xi32, #hsa.tier<device>>
  %t = hsa.state @fa "fa.block_table" : memref<?x64xi32, #hsa.tier<device>>
  %n = hsa.state @fa "fa.seqlens" : memref<?xi32, #hsa.tier<device>>
  hsa.page_table @fa units(%u : memref<?x1x64xi32, #hsa.tier<device>>) slots(%s : memref<?x1x64xi32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%t, %n : memref<?x64xi32, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @fa_tables
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?xi32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@fa_page_table blocks in (%c1{{.*}}, %[[B]], %c1{{.*}}) threads in (%c256
// CHECK-SAME: args(%{{.*}} : memref<?x1x64xi32>, %{{.*}} : memref<?x1x64xi32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x64xi32>, %{{.*}} : memref<?xi32>)
// CHECK-NOT: hsa.page_table
// CHECK-LABEL: gpu.func @fa_page_table
// CHECK: memref.load %arg1[
// CHECK: arith.muli %{{.*}}, %c256
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}, %{{.*}}] : memref<?x64xi32>
// CHECK: memref.store %{{.*}}, %arg4[%{{.*}}] : memref<?xi32>
// PTX-LABEL: .entry fa_page_table(
// PTX: st.global.b32

// -----

hsa.layer @fi config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(<capacity = 256, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.flashinfer_csr)
func.func @fi_tables(%len: memref<?xi32, #hsa.tier<device>>) {
  %u = hsa.state @fi "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  %s = hsa.state @fi "sel.slots" : memref<?x1x64xi32, #hsa.tier<device>>
  %p = hsa.state @fi "fi.indptr" : memref<?xi32, #hsa.tier<device>>
  %i = hsa.state @fi "fi.indices" : memref<?x64xi32, #hsa.tier<device>>
  %l = hsa.state @fi "fi.last_page_len" : memref<?xi32, #hsa.tier<device>>
  hsa.page_table @fi units(%u : memref<?x1x64xi32, #hsa.tier<device>>) slots(%s : memref<?x1x64xi32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%p, %i, %l : memref<?xi32, #hsa.tier<device>>, memref<?x64xi32, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>)
  return
}

// The earlier rows' counts summed by each block (a block scan), the
// indices packed through the flattened [B][K] table, and the last row's
// block closing indptr[B].
// CHECK-LABEL: gpu.func @fi_page_table
// CHECK-SAME: %arg5: memref<?xi32>)
// CHECK: scf.for {{.*}} iter_args
// CHECK: gpu.shuffle  up
// CHECK: memref.reinterpret_cast %arg4 to offset: [0], sizes: [%{{.*}}], strides: [1]
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}] : memref<?xi32>
// CHECK: memref.store %{{.*}}, %arg5[%{{.*}}] : memref<?xi32>
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}] : memref<?xi32>
// PTX-LABEL: .entry fi_page_table(
// PTX: shfl.sync.up.b32
// PTX: bar.sync

// -----

hsa.layer @tok config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @tok_tables(%len: memref<?xi32, #hsa.tier<device>>) {
  %u = hsa.state @tok "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %s = hsa.state @tok "sel.slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %t = hsa.state @tok "tok.indices" : memref<?x1x2048xi32, #hsa.tier<device>>
  hsa.page_table @tok units(%u : memref<?x1x2048xi32, #hsa.tier<device>>) slots(%s : memref<?x1x2048xi32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%t : memref<?x1x2048xi32, #hsa.tier<device>>)
  return
}

// One entry per selected token (P 1: per unit), -1 outside.
// CHECK-LABEL: gpu.func @tok_page_table
// CHECK-SAME: %arg3: memref<?x1x2048xi32>)
// CHECK: arith.constant 4096 : index
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}, %{{.*}}, %{{.*}}] : memref<?x1x2048xi32>
// PTX-LABEL: .entry tok_page_table(
// PTX: st.global.b32
