// The sparse attention kernel generator (Attention.cpp): hsa.attend becomes
// a split-K flash-decoding kernel (grid B x Hkv*head chunks x splits, 4 warps,
// one block per KV head so K/V rows are read once per GQA group) and a
// log-sum-exp merge kernel (grid B x ceil(Hq*Dv/8/128)), through
// scratch.attn_o / scratch.attn_lse fetched with hsa.state at the launch;
// the merge also writes each head's LSE to io.lse (a contract buffer,
// fetched by name).
// Configurations: the example layer (Hq 32, Hkv 8, D 128, bf16, P 16,
// kv_head, K 128), GQA group 1 and 8, page size 1 (K 256: 2 splits of 128
// units), request scope (a unit holds all 8 KV heads), a latent MLA layer
// (128 query heads over one 576/512 latent head, P 1, K 2048: query heads
// split into 32 chunks of 4, V read from the key registers) and one unit
// (K = C = 1, P 64, f16). The latent layer would attend on warpgroup MMA by
// default (attention-mla.mlir); here `mla-tensor-cores=false` keeps it on
// this kernel, which is its fallback and the A/B peer.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="mla-tensor-cores=false" | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="mla-tensor-cores=false" \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

// The example layer: 4 query heads per block, 16 lanes per 128-dim row (two rows per warp), 16 splits of 8 units.

hsa.layer @llama
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @llama_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  %units = hsa.state @llama "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  %slots = hsa.state @llama "sel.slots" : memref<?x8x128xi32, #hsa.tier<device>>
  %bk = hsa.state @llama "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @llama "buf.v" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  hsa.attend @llama queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @llama_step
// CHECK: hsa.state @llama "scratch.attn_o" : memref<?x32x16x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @llama "scratch.attn_lse" : memref<?x32x16xf32, #hsa.tier<device>>
// CHECK: hsa.state @llama "io.lse" : memref<?x32xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x32x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c16{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x32x16x128xf32>, %{{.*}} : memref<?x32x16xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @llama_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x4x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME: nvvm.minctasm = 4 : i32
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x16x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x32x16xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x32x16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x16x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x128xbf16>, vector<8xbf16>
// The merged LSE of the head (column 0's item): max + ln(sum), -inf unseen.
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %arg10[%{{.*}}, %{{.*}}] : memref<?x32xf32>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_llama_attend_5[
// PTX-DAG: .entry llama_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// GQA group 1: one query head per block.

hsa.layer @gqa1
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @gqa1_step(%q: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x8x128xbf16, #hsa.tier<device>>) {
  %units = hsa.state @gqa1 "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  %slots = hsa.state @gqa1 "sel.slots" : memref<?x8x128xi32, #hsa.tier<device>>
  %bk = hsa.state @gqa1 "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @gqa1 "buf.v" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  hsa.attend @gqa1 queries(%q : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) into(%o : memref<?x8x128xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @gqa1_step
// CHECK: hsa.state @gqa1 "scratch.attn_o" : memref<?x8x16x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @gqa1 "scratch.attn_lse" : memref<?x8x16xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x8x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@gqa1_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c16{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x8x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x16x128xf32>, %{{.*}} : memref<?x8x16xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @gqa1_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x1x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x8x16xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x8x16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x8x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_gqa1_attend_5[
// PTX-DAG: .entry gqa1_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// GQA group 8: all 8 query heads of a KV head in one block.

hsa.layer @gqa8
  config(#hsa.config<q_heads = 64, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @gqa8_step(%q: memref<?x64x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x64x128xbf16, #hsa.tier<device>>) {
  %units = hsa.state @gqa8 "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  %slots = hsa.state @gqa8 "sel.slots" : memref<?x8x128xi32, #hsa.tier<device>>
  %bk = hsa.state @gqa8 "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @gqa8 "buf.v" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  hsa.attend @gqa8 queries(%q : memref<?x64x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) into(%o : memref<?x64x128xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @gqa8_step
// CHECK: hsa.state @gqa8 "scratch.attn_o" : memref<?x64x16x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @gqa8 "scratch.attn_lse" : memref<?x64x16xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x64x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@gqa8_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c16{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x64x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x128xi32>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x64x16x128xf32>, %{{.*}} : memref<?x64x16xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @gqa8_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x8x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-NOT: nvvm.minctasm
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x64x16x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x64x16xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x64x16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x64x16x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x64x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_gqa8_attend_5[
// PTX-DAG: .entry gqa8_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// Page size 1: a split covers 128 single-token units.

hsa.layer @token
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(256)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @token_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  %units = hsa.state @token "sel.units" : memref<?x8x256xi32, #hsa.tier<device>>
  %slots = hsa.state @token "sel.slots" : memref<?x8x256xi32, #hsa.tier<device>>
  %bk = hsa.state @token "buf.k" : memref<?x8x512x1x1x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @token "buf.v" : memref<?x8x512x1x1x128xbf16, #hsa.tier<device>>
  hsa.attend @token queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x8x256xi32, #hsa.tier<device>>, memref<?x8x256xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x8x512x1x1x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x1x128xbf16, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @token_step
// CHECK: hsa.state @token "scratch.attn_o" : memref<?x32x2x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @token "scratch.attn_lse" : memref<?x32x2xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x32x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@token_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c2{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x256xi32>, %{{.*}} : memref<?x8x256xi32>, %{{.*}} : memref<?x8x512x1x1x128xbf16>, %{{.*}} : memref<?x8x512x1x1x128xbf16>, %{{.*}} : memref<?x32x2x128xf32>, %{{.*}} : memref<?x32x2xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @token_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x4x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x1x128xbf16>, vector<8xbf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x1x128xbf16>, vector<8xbf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x2x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x32x2xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x32x2xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x2x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_token_attend_5[
// PTX-DAG: .entry token_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// Request scope: one selection group, a unit holds the 8 KV heads of a page.

hsa.layer @request
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 256, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @request_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  %units = hsa.state @request "sel.units" : memref<?x1x128xi32, #hsa.tier<device>>
  %slots = hsa.state @request "sel.slots" : memref<?x1x128xi32, #hsa.tier<device>>
  %bk = hsa.state @request "buf.k" : memref<?x1x256x8x16x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @request "buf.v" : memref<?x1x256x8x16x128xbf16, #hsa.tier<device>>
  hsa.attend @request queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1x128xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x1x256x8x16x128xbf16, #hsa.tier<device>>, memref<?x1x256x8x16x128xbf16, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @request_step
// CHECK: hsa.state @request "scratch.attn_o" : memref<?x32x16x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @request "scratch.attn_lse" : memref<?x32x16xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x32x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@request_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c16{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x128xi32>, %{{.*}} : memref<?x1x128xi32>, %{{.*}} : memref<?x1x256x8x16x128xbf16>, %{{.*}} : memref<?x1x256x8x16x128xbf16>, %{{.*}} : memref<?x32x16x128xf32>, %{{.*}} : memref<?x32x16xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @request_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x4x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x1x256x8x16x128xbf16>, vector<8xbf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x1x256x8x16x128xbf16>, vector<8xbf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x16x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x32x16xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x32x16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x16x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_request_attend_5[
// PTX-DAG: .entry request_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// MLA: one latent KV head, 128 query heads in 32 chunks of 4 (grid y), 32 lanes per 576-dim key row (3 vectors per lane, the last for lanes < 8), V from the first 512 elements of the key registers (no values operand).

hsa.layer @mla
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>)
  algorithm(#hsa.quest<combine = max>)
  budget(2048)
  buffer(#hsa.buffer<capacity = 4096, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>)
  format(#hsa.native) {softmax_scale = 0.1352338 : f32}

func.func @mla_step(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x128x512xbf16, #hsa.tier<device>>) {
  %units = hsa.state @mla "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %slots = hsa.state @mla "sel.slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %bk = hsa.state @mla "buf.k" : memref<?x1x4096x1x1x576xbf16, #hsa.tier<device>>
  hsa.attend @mla queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>)
      kv(%bk : memref<?x1x4096x1x1x576xbf16, #hsa.tier<device>>) into(%o : memref<?x128x512xbf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @mla_step
// CHECK: hsa.state @mla "scratch.attn_o" : memref<?x128x16x512xf32, #hsa.tier<device>>
// CHECK: hsa.state @mla "scratch.attn_lse" : memref<?x128x16xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x128x576xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@mla_attend blocks in (%[[B]], %c32{{(_[0-9]+)?}}, %c16{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x128x576xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1x2048xi32>, %{{.*}} : memref<?x1x4096x1x1x576xbf16>, %{{.*}} : memref<?x128x16x512xf32>, %{{.*}} : memref<?x128x16xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @mla_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<128xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x4x512xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x1x4096x1x1x576xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load %arg5
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c16_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x128x16x512xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x128x16xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x128x16xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x128x16x512xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x128x512xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_mla_attend_5[
// PTX-DAG: .entry mla_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

// One unit: K = C = 1, P 64, f16; a single split of 2 table entries.

hsa.layer @one
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = f16, page_size = 64, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(1)
  buffer(#hsa.buffer<capacity = 1, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>)
  format(#hsa.native)

func.func @one_step(%q: memref<?x32x128xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xf16, #hsa.tier<device>>) {
  %units = hsa.state @one "sel.units" : memref<?x8x1xi32, #hsa.tier<device>>
  %slots = hsa.state @one "sel.slots" : memref<?x8x1xi32, #hsa.tier<device>>
  %bk = hsa.state @one "buf.k" : memref<?x8x1x1x64x128xf16, #hsa.tier<device>>
  %bv = hsa.state @one "buf.v" : memref<?x8x1x1x64x128xf16, #hsa.tier<device>>
  hsa.attend @one queries(%q : memref<?x32x128xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x1xi32, #hsa.tier<device>>)
      kv(%bk, %bv : memref<?x8x1x1x64x128xf16, #hsa.tier<device>>, memref<?x8x1x1x64x128xf16, #hsa.tier<device>>) into(%o : memref<?x32x128xf16, #hsa.tier<device>>)
  return
}


// CHECK-LABEL: func.func @one_step
// CHECK: hsa.state @one "scratch.attn_o" : memref<?x32x1x128xf32, #hsa.tier<device>>
// CHECK: hsa.state @one "scratch.attn_lse" : memref<?x32x1xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x32x128xf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@one_attend blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x32x128xf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x1xi32>, %{{.*}} : memref<?x8x1xi32>, %{{.*}} : memref<?x8x1x1x64x128xf16>, %{{.*}} : memref<?x8x1x1x64x128xf16>, %{{.*}} : memref<?x32x1x128xf32>, %{{.*}} : memref<?x32x1xf32>, %{{.*}} : memref<?x{{[0-9]+}}xi32>, %{{.*}} : memref<?x{{[0-9]+}}x{{[0-9]+}}x{{bf16|f16}}>, %{{.*}} : memref<?x{{[0-9]+}}xf32>)
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @one_attend(
// CHECK-SAME: workgroup(%{{.*}} : memref<2xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}
// CHECK-SAME: memref<4x4x128xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x1x1x64x128xf16>, vector<8xf16>
// CHECK: vector.load %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x1x1x64x128xf16>, vector<8xf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle xor %{{.*}}, %c8_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x1x128xf32>, vector<4xf32>
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?x32x1xf32>
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.atomic_rmw addi
// CHECK: llvm.fence syncscope("device") acq_rel
// CHECK: memref.load %{{.*}}[%{{.*}}] : memref<?x32x1xf32>
// CHECK: vector.load %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x1x128xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] {alignment = 16 : i64} : memref<?x32x128xf16>, vector<8xf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .shared .align 16 .b8 __wg_one_attend_5[
// PTX-DAG: .entry one_attend(
// PTX-DAG: atom.global.add.u32
// PTX-DAG: fence.acq_rel.gpu
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: fma.rn.f32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: bar.sync
// PTX-DAG: st.shared.v4.b32
// PTX-DAG: ld.shared.v4.b32
// PTX-DAG: st.global.v4.b32
