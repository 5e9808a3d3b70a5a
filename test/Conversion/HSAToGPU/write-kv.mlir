// The append/prefill kernel generators (WriteKV.cpp). The runtime writes
// prompt tokens to the host pool itself; store_kv writes the appended token
// into its host page (through the mapped pool) and its resident slot, update_repr folds it into Quest's bounds,
// rebuild_repr recomputes the bounds of every valid unit from the mapped
// host pool with 16-byte loads. Layers: the example (Hkv 8, D 128, P 16,
// kv_head, bf16), request scope f16 with D 64 and P 64 (a unit spans two
// threads' blocks, eight load batches), and a latent MLA layer with page
// size 1 (no values, D 576, every token starts its unit).
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @llama3_8b_attn config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %v: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %us = hsa.state @llama3_8b_attn "buf.unit_slot" : memref<?x8x?xi32, #hsa.tier<device>>
  %bk = hsa.state @llama3_8b_attn "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %bv = hsa.state @llama3_8b_attn "buf.v" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %hk = hsa.state @llama3_8b_attn "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %hv = hsa.state @llama3_8b_attn "host.v" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %pages = hsa.state @llama3_8b_attn "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %kmin = hsa.state @llama3_8b_attn "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @llama3_8b_attn "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.store_kv @llama3_8b_attn keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%v : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%us : memref<?x8x?xi32, #hsa.tier<device>>) device(%bk, %bv : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) host(%hk, %hv : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
  hsa.update_repr @llama3_8b_attn keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %pages = hsa.state @llama3_8b_attn "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @llama3_8b_attn "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %kmin = hsa.state @llama3_8b_attn "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @llama3_8b_attn "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  hsa.rebuild_repr @llama3_8b_attn lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// store_kv: one block of 128 threads per request (B from the keys); the
// host pool's page table and pages come last. update_repr: grid (B, 1): 8 heads x 16 vectors = 128 items.
// CHECK-LABEL: func.func @append
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_store_kv blocks in (%[[B]], %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%{{.*}} : memref<?x8x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x8x?xi32>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x?xi32>, %{{.*}} : memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x16x128xbf16>)
// CHECK-NOT: hsa.store_kv
// CHECK: %[[B2:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8x128xbf16, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_update_repr blocks in (%[[B2]], %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128
// CHECK-NOT: hsa.update_repr

// rebuild_repr: N from repr.kmin's dim 2, ceil(N * 128 / 128) blocks in x,
// B (kmin's dim 0) in y.
// CHECK-LABEL: func.func @prefill
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2{{(_[0-9]+)?}} : memref<?x8x?x128xbf16, #hsa.tier<device>>
// CHECK: %[[ITEMS:.*]] = arith.muli %[[N]], %c128{{(_[0-9]+)?}} : index
// CHECK: %[[GX:.*]] = arith.ceildivui %[[ITEMS]], %c128{{(_[0-9]+)?}} : index
// CHECK: %[[BR:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8x?x128xbf16, #hsa.tier<device>>
// CHECK: %[[PAGES:.*]] = memref.memory_space_cast %{{.*}} : memref<?x?xi32, #hsa.tier<host>> to memref<?x?xi32>
// CHECK: %[[HK:.*]] = memref.memory_space_cast %{{.*}} : memref<?x8x16x128xbf16, #hsa.tier<host>> to memref<?x8x16x128xbf16>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_rebuild_repr blocks in (%[[GX]], %[[BR]], %c1{{(_[0-9]+)?}}) threads in (%c128
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %[[PAGES]] : memref<?x?xi32>, %[[HK]] : memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x?x128xbf16>, %{{.*}} : memref<?x8x?x128xbf16>)
// CHECK-NOT: hsa.rebuild_repr

// store_kv: a free slot (length 0) or a unit past N does nothing; row
// length%16 of the host page of unit length/16 (when allocated) and of its
// slot in the head's group (when resident) get the token.
// CHECK-LABEL: gpu.func @llama3_8b_attn_store_kv(
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: %[[LEN:.*]] = memref.load %arg1[%{{.*}}] : memref<?xi32>
// CHECK: %[[UNIT:.*]] = arith.divui %{{.*}}, %c16{{(_[0-9]+)?}} : index
// CHECK: memref.dim %arg2, %c2
// CHECK: arith.cmpi sgt, %[[LEN]], %c0_i32
// CHECK: scf.if
// CHECK: %[[PAGE:.*]] = memref.load %arg6[%{{.*}}, %[[UNIT]]] : memref<?x?xi32>
// CHECK: scf.for
// CHECK: %[[KEY:.*]] = vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x8x128xbf16>, vector<8xbf16>
// CHECK: arith.cmpi sge, %[[PAGE]], %c0_i32
// CHECK: scf.if
// CHECK: vector.store %[[KEY]], %arg7[{{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK: %[[SLOT:.*]] = memref.load %arg2[%{{.*}}, %{{.*}}, %[[UNIT]]] : memref<?x8x?xi32>
// CHECK: arith.cmpi slt, %[[SLOT]], %c512_i32
// CHECK: scf.if
// CHECK: vector.store %[[KEY]], %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: scf.for
// CHECK: vector.load %arg4[{{.*}}] {alignment = 16 : i64} : memref<?x8x128xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %arg8[{{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %arg5[{{.*}}] {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK: gpu.return

// update_repr: the first token of a unit (length % 16 == 0) starts the
// bounds, any other folds into them (f32 min/max, exact for bf16).
// CHECK-LABEL: gpu.func @llama3_8b_attn_update_repr(
// CHECK: %[[KEY:.*]] = vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x8x128xbf16>, vector<8xbf16>
// CHECK: %[[FRESH:.*]] = arith.cmpi eq, %{{.*}}, %c0
// CHECK: %[[BOUNDS:.*]]:2 = scf.if %[[FRESH]] -> (vector<8xbf16>, vector<8xbf16>)
// CHECK: scf.yield %[[KEY]], %[[KEY]]
// CHECK: } else {
// CHECK: vector.load %arg2
// CHECK: vector.load %arg3
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: vector.store %[[BOUNDS]]#0, %arg2[{{.*}}] {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>
// CHECK: vector.store %[[BOUNDS]]#1, %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>

// rebuild_repr: thread (unit, head, 8 dims); valid units (unit * 16 < length,
// unit < N) with a page read 16 rows in two batches of 8 loads, clamped to
// the last token, then write T bounds.
// CHECK-LABEL: gpu.func @llama3_8b_attn_rebuild_repr(
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: %[[UNIT:.*]] = arith.divui %{{.*}}, %c128{{(_[0-9]+)?}} : index
// CHECK: %[[NK:.*]] = memref.dim %arg3, %c2
// CHECK: %[[LENGTH:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[START:.*]] = arith.muli %[[UNIT]], %c16
// CHECK: arith.cmpi ult, %[[START]], %[[LENGTH]] : index
// CHECK: arith.cmpi ult, %[[UNIT]], %[[NK]] : index
// CHECK: scf.if
// CHECK: %[[PAGE:.*]] = memref.load %arg1[%{{.*}}, %[[UNIT]]] : memref<?x?xi32>
// CHECK: arith.cmpi sge, %[[PAGE]], %c0_i32
// CHECK: %[[PAGEIDX:.*]] = arith.index_cast %[[PAGE]] : i32 to index
// CHECK: %[[LAST:.*]] = arith.subi %{{.*}}, %c1 : index
// CHECK: scf.for %[[ROW0:.*]] = %c0{{(_[0-9]+)?}} to %c16{{(_[0-9]+)?}} step %c8{{(_[0-9]+)?}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>)
// CHECK: arith.minsi %{{.*}}, %[[LAST]] : index
// CHECK-COUNT-8: vector.load %arg2[%[[PAGEIDX]], {{.*}}] {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK-COUNT-8: arith.minimumf
// CHECK: scf.yield
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %arg3[%{{.*}}, %{{.*}}, %[[UNIT]], %{{.*}}] {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %arg4[%{{.*}}, %{{.*}}, %[[UNIT]], %{{.*}}] {alignment = 16 : i64} : memref<?x8x?x128xbf16>, vector<8xbf16>
// CHECK: gpu.return

// Key and host-page reads are 16-byte vector loads; nothing goes to local
// memory.
// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-NOT: .local
// PTX: .entry llama3_8b_attn_store_kv(
// PTX: ld.global{{(\.nc)?}}.v4.b32
// PTX: st.global.v4.b32
// PTX: .entry llama3_8b_attn_update_repr(
// PTX: ld.global{{(\.nc)?}}.v4.b32
// PTX: min.NaN.f32
// PTX: st.global.v4.b32
// PTX: .entry llama3_8b_attn_rebuild_repr(
// PTX-COUNT-8: ld.global{{(\.nc)?}}.v4.b32
// PTX: min.NaN.f32
// PTX: max.NaN.f32
// PTX: st.global.v4.b32
// PTX-NOT: .local

// -----

hsa.layer @req config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 64, scope = request>) algorithm(#hsa.quest<combine = max>) budget(16) buffer(<capacity = 32, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)
func.func @append(%k: memref<?x8x64xf16, #hsa.tier<device>>, %v: memref<?x8x64xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %us = hsa.state @req "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  %bk = hsa.state @req "buf.k" : memref<?x1x32x8x64x64xf16, #hsa.tier<device>>
  %bv = hsa.state @req "buf.v" : memref<?x1x32x8x64x64xf16, #hsa.tier<device>>
  %hk = hsa.state @req "host.k" : memref<?x8x64x64xf16, #hsa.tier<host>>
  %hv = hsa.state @req "host.v" : memref<?x8x64x64xf16, #hsa.tier<host>>
  %pages = hsa.state @req "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.store_kv @req keys(%k : memref<?x8x64xf16, #hsa.tier<device>>) values(%v : memref<?x8x64xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%us : memref<?x1x?xi32, #hsa.tier<device>>) device(%bk, %bv : memref<?x1x32x8x64x64xf16, #hsa.tier<device>>, memref<?x1x32x8x64x64xf16, #hsa.tier<device>>) host(%hk, %hv : memref<?x8x64x64xf16, #hsa.tier<host>>, memref<?x8x64x64xf16, #hsa.tier<host>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
  return
}
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %pages = hsa.state @req "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @req "host.k" : memref<?x8x64x64xf16, #hsa.tier<host>>
  %kmin = hsa.state @req "repr.kmin" : memref<?x8x?x64xf16, #hsa.tier<device>>
  %kmax = hsa.state @req "repr.kmax" : memref<?x8x?x64xf16, #hsa.tier<device>>
  hsa.rebuild_repr @req lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x8x64x64xf16, #hsa.tier<host>>) reprs(%kmin, %kmax : memref<?x8x?x64xf16, #hsa.tier<device>>, memref<?x8x?x64xf16, #hsa.tier<device>>)
  return
}

// Request scope: one group holds all 8 heads (the slot is [8][64][64]);
// 8 heads x 8 vectors = 64 items per unit, so a block covers two units.
// CHECK-LABEL: func.func @append
// CHECK: gpu.launch_func @hsa_kernels::@req_store_kv blocks in
// CHECK-LABEL: func.func @prefill
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2{{(_[0-9]+)?}} : memref<?x8x?x64xf16, #hsa.tier<device>>
// CHECK: %[[ITEMS:.*]] = arith.muli %[[N]], %c64{{(_[0-9]+)?}} : index
// CHECK: %[[GX:.*]] = arith.ceildivui %[[ITEMS]], %c128{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @hsa_kernels::@req_rebuild_repr blocks in (%[[GX]],
// CHECK-LABEL: gpu.func @req_store_kv(
// CHECK: %[[UNIT:.*]] = arith.divui %{{.*}}, %c64{{(_[0-9]+)?}} : index
// CHECK: scf.for %{{.*}} = %{{.*}} to %c64{{(_[0-9]+)?}} step %c128
// CHECK: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x8x64xf16>, vector<8xf16>
// CHECK: vector.store %{{.*}}, %arg7[{{.*}}] {alignment = 16 : i64} : memref<?x8x64x64xf16>, vector<8xf16>
// CHECK: memref.load %arg2[%{{.*}}, %{{.*}}, %[[UNIT]]] : memref<?x1x?xi32>
// CHECK: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x1x32x8x64x64xf16>, vector<8xf16>
// CHECK-LABEL: gpu.func @req_rebuild_repr(
// CHECK: arith.divui %{{.*}}, %c64{{(_[0-9]+)?}} : index
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c64{{(_[0-9]+)?}} step %c8{{(_[0-9]+)?}} iter_args
// CHECK-COUNT-8: vector.load %arg2[{{.*}}] {alignment = 16 : i64} : memref<?x8x64x64xf16>, vector<8xf16>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xf16>
// CHECK: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x8x?x64xf16>, vector<8xf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-NOT: .local
// PTX: .entry req_store_kv(
// PTX: ld.global{{(\.nc)?}}.v4.b32
// PTX: .entry req_rebuild_repr(
// PTX-COUNT-8: ld.global{{(\.nc)?}}.v4.b32
// PTX-NOT: .local

// -----

hsa.layer @mla config(<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @append(%k: memref<?x1x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %us = hsa.state @mla "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  %bk = hsa.state @mla "buf.k" : memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>
  %kmin = hsa.state @mla "repr.kmin" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  %kmax = hsa.state @mla "repr.kmax" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  hsa.store_kv @mla keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%us : memref<?x1x?xi32, #hsa.tier<device>>) device(%bk : memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>)
  hsa.update_repr @mla keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x1x?x576xbf16, #hsa.tier<device>>, memref<?x1x?x576xbf16, #hsa.tier<device>>)
  return
}
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %pages = hsa.state @mla "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @mla "host.k" : memref<?x1x1x576xbf16, #hsa.tier<host>>
  %kmin = hsa.state @mla "repr.kmin" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  %kmax = hsa.state @mla "repr.kmax" : memref<?x1x?x576xbf16, #hsa.tier<device>>
  hsa.rebuild_repr @mla lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x1x1x576xbf16, #hsa.tier<host>>) reprs(%kmin, %kmax : memref<?x1x?x576xbf16, #hsa.tier<device>>, memref<?x1x?x576xbf16, #hsa.tier<device>>)
  return
}

// Latent: store_kv has no values; with one token per unit update_repr
// stores the key as both bounds, and rebuild_repr reads one row per unit
// (72 vectors of 8 per 576-dim row).
// CHECK-LABEL: func.func @append
// CHECK: gpu.launch_func @hsa_kernels::@mla_store_kv blocks in ({{.*}}) threads in ({{.*}}) args(%{{.*}} : memref<?x1x576xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x1x?xi32>, %{{.*}} : memref<?x1x128x1x1x576xbf16>)
// CHECK: gpu.launch_func @hsa_kernels::@mla_update_repr blocks in
// CHECK-LABEL: func.func @prefill
// CHECK: arith.muli %{{.*}}, %c72{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @hsa_kernels::@mla_rebuild_repr blocks in
// CHECK-LABEL: gpu.func @mla_store_kv(
// CHECK: scf.for %{{.*}} = %{{.*}} to %c72{{(_[0-9]+)?}} step %c128
// CHECK: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x1x576xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 16 : i64} : memref<?x1x128x1x1x576xbf16>, vector<8xbf16>
// CHECK-NOT: vector.store
// CHECK: gpu.return
// CHECK-LABEL: gpu.func @mla_update_repr(
// CHECK-NOT: scf.if {{.*}} -> (vector
// CHECK: %[[KEY:.*]] = vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<?x1x576xbf16>, vector<8xbf16>
// CHECK-NEXT: vector.store %[[KEY]], %arg2
// CHECK-NEXT: vector.store %[[KEY]], %arg3
// CHECK-LABEL: gpu.func @mla_rebuild_repr(
// CHECK-NOT: scf.for
// CHECK: vector.load %arg2[{{.*}}] {alignment = 16 : i64} : memref<?x1x1x576xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load
// CHECK: vector.store %{{.*}}, %arg3
// CHECK: vector.store %{{.*}}, %arg4
// CHECK: gpu.return

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-NOT: .local
// PTX: .entry mla_store_kv(
// PTX: .entry mla_update_repr(
// PTX: .entry mla_rebuild_repr(
// PTX: ld.global{{(\.nc)?}}.v4.b32
// PTX-NOT: .local
