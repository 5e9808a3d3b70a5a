// The LRU diff and gather kernel generators (DiffGather.cpp): launch grids,
// block sizes, shared memory, warp scans/shuffles and 16-byte vector copies,
// for the example layer (kv_head scope, P16, D128, K128, C512), request scope
// (a unit is all 8 KV heads of a page), a latent MLA layer with page size 1
// (K2048, C4096: the largest static keys, 1024 threads), K = C with GQA group 8,
// and one unit (K = C = 1, GQA group 1, f16).
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

hsa.layer @llama3_8b_attn config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @step() {
  %3 = hsa.state @llama3_8b_attn "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
  %4 = hsa.state @llama3_8b_attn "sel.slots" : memref<?x8x128xi32, #hsa.tier<device>>
  %5 = hsa.state @llama3_8b_attn "sel.copy_units" : memref<?x8x128xi32, #hsa.tier<device>>
  %6 = hsa.state @llama3_8b_attn "sel.copy_slots" : memref<?x8x128xi32, #hsa.tier<device>>
  %7 = hsa.state @llama3_8b_attn "sel.copy_count" : memref<?x8xi32, #hsa.tier<device>>
  %8 = hsa.state @llama3_8b_attn "buf.unit_slot" : memref<?x8x?xi32, #hsa.tier<device>>
  %9 = hsa.state @llama3_8b_attn "buf.last_used" : memref<?x8x512xi32, #hsa.tier<device>>
  %10 = hsa.state @llama3_8b_attn "buf.slot_unit" : memref<?x8x512xi32, #hsa.tier<device>>
  %11 = hsa.state @llama3_8b_attn "req.step" : memref<?xi32, #hsa.tier<device>>
  %12 = hsa.state @llama3_8b_attn "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %13 = hsa.state @llama3_8b_attn "buf.v" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
  %14 = hsa.state @llama3_8b_attn "host.v" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %15 = hsa.state @llama3_8b_attn "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %16 = hsa.state @llama3_8b_attn "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.diff @llama3_8b_attn units(%3 : memref<?x8x128xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x8x512xi32, #hsa.tier<device>>, memref<?x8x512xi32, #hsa.tier<device>>, memref<?x8x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
  hsa.gather @llama3_8b_attn copies(%5, %6, %7 : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%16 : memref<?x?xi32, #hsa.tier<host>>) from(%15, %14 : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) into(%12, %13 : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @step
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8x128xi32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_diff blocks in (%[[B]], %c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-NOT: hsa.diff
// CHECK: %[[B2:.*]] = memref.dim %{{.*}}, %c0{{(_[0-9]+)?}} : memref<?x8xi32, #hsa.tier<device>>
// CHECK: gpu.launch_func @hsa_kernels::@llama3_8b_attn_gather blocks in (%c8{{(_[0-9]+)?}}, %c8{{(_[0-9]+)?}}, %[[B2]]) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>, %{{.*}} : memref<?x8x16x128xbf16>, %{{.*}} : memref<?x8x512x1x16x128xbf16>)
// CHECK-NOT: hsa.gather
// Slot keys, miss-scan warp totals, then the victim selection's buffers:
// 2048-bin histogram, primary statistics, bin scan (8 warps + 1), threshold,
// compaction warp totals (2 rounds).
// CHECK-LABEL: gpu.func @llama3_8b_attn_diff(
// CHECK-SAME: workgroup(%[[KEYS:.*]] : memref<512xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %[[TOT:.*]] : memref<1x32xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %[[HIST:.*]] : memref<2048xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<3x32xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<9xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<2xi32, #gpu.address_space<workgroup>>{{[^,]*}}, %[[CTOT:.*]] : memref<2x32xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// Phases 0 and 1: keys, hits, miss ranks.
// CHECK: memref.store %{{.*}}, %[[KEYS]]
// CHECK: gpu.barrier
// CHECK: gpu.shuffle  up
// CHECK: memref.store %{{.*}}, %[[TOT]]
// CHECK: gpu.barrier
// CHECK: gpu.shuffle  idx
// The full-width sort of 512 keys (loops over its 256 pairs) is gone.
// CHECK-NOT: to %c256{{(_[0-9]+)?}} step %c256
// Phase 2, when anything misses: primary statistics, then the shortcut or
// the radix select's histogram passes.
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %{{.*}} to %c512{{(_[0-9]+)?}} step %c256{{(_[0-9]+)?}} iter_args(
// CHECK: gpu.shuffle  xor
// CHECK: gpu.barrier
// CHECK: llvm.intr.ctlz
// CHECK: memref.store %{{.*}}, %[[HIST]]
// CHECK: nvvm.match.sync  any
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK-NOT: to %c256{{(_[0-9]+)?}} step %c256
// In-place compaction (warp totals per round), then the victim sort.
// CHECK: memref.store %{{.*}}, %[[CTOT]]
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[KEYS]]
// CHECK-NOT: to %c256{{(_[0-9]+)?}} step %c256
// CHECK: gpu.shuffle  xor
// CHECK-NOT: to %c256{{(_[0-9]+)?}} step %c256
// CHECK: gpu.barrier
// CHECK: gpu.return
// CHECK-LABEL: gpu.func @llama3_8b_attn_gather(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x8x512x1x16x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry llama3_8b_attn_diff(
// PTX-DAG: .entry llama3_8b_attn_gather(
// PTX-DAG: shfl.sync.up.b32
// PTX-DAG: shfl.sync.idx.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: match.any.sync.b32
// PTX-DAG: atom.shared.add.u32
// PTX-DAG: clz.b32
// PTX-DAG: bar.sync
// PTX-DAG: ld.shared.b64
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: st.global.v4.b32

// -----

hsa.layer @req config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @step() {
  %3 = hsa.state @req "sel.units" : memref<?x1x128xi32, #hsa.tier<device>>
  %4 = hsa.state @req "sel.slots" : memref<?x1x128xi32, #hsa.tier<device>>
  %5 = hsa.state @req "sel.copy_units" : memref<?x1x128xi32, #hsa.tier<device>>
  %6 = hsa.state @req "sel.copy_slots" : memref<?x1x128xi32, #hsa.tier<device>>
  %7 = hsa.state @req "sel.copy_count" : memref<?x1xi32, #hsa.tier<device>>
  %8 = hsa.state @req "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  %9 = hsa.state @req "buf.last_used" : memref<?x1x512xi32, #hsa.tier<device>>
  %10 = hsa.state @req "buf.slot_unit" : memref<?x1x512xi32, #hsa.tier<device>>
  %11 = hsa.state @req "req.step" : memref<?xi32, #hsa.tier<device>>
  %12 = hsa.state @req "buf.k" : memref<?x1x512x8x16x128xbf16, #hsa.tier<device>>
  %13 = hsa.state @req "buf.v" : memref<?x1x512x8x16x128xbf16, #hsa.tier<device>>
  %14 = hsa.state @req "host.v" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %15 = hsa.state @req "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
  %16 = hsa.state @req "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.diff @req units(%3 : memref<?x1x128xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x1x512xi32, #hsa.tier<device>>, memref<?x1x512xi32, #hsa.tier<device>>, memref<?x1x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>)
  hsa.gather @req copies(%5, %6, %7 : memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1x128xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>) pages(%16 : memref<?x?xi32, #hsa.tier<host>>) from(%15, %14 : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) into(%12, %13 : memref<?x1x512x8x16x128xbf16, #hsa.tier<device>>, memref<?x1x512x8x16x128xbf16, #hsa.tier<device>>)
  return
}

// Request scope: one group, a unit is 8 heads x 16 tokens x 128 dims (2048
// vectors: 64 per lane, in batches of 8 loads).
// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@req_diff blocks in (%{{.*}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c256
// CHECK: gpu.launch_func @hsa_kernels::@req_gather blocks in (%c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %{{.*}}) threads in (%c256
// CHECK-LABEL: gpu.func @req_diff(
// CHECK-SAME: workgroup(%{{.*}} : memref<512xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<1x32xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-LABEL: gpu.func @req_gather(
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c64{{(_[0-9]+)?}} step %c8
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x8x16x128xbf16>, vector<8xbf16>
// CHECK-COUNT-8: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x1x512x8x16x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry req_diff(
// PTX-DAG: .entry req_gather(
// PTX-DAG: ld.global.v4.b32

// -----

hsa.layer @mla config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @step() {
  %3 = hsa.state @mla "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %4 = hsa.state @mla "sel.slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %5 = hsa.state @mla "sel.copy_units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %6 = hsa.state @mla "sel.copy_slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %7 = hsa.state @mla "sel.copy_count" : memref<?x1xi32, #hsa.tier<device>>
  %8 = hsa.state @mla "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  %9 = hsa.state @mla "buf.last_used" : memref<?x1x4096xi32, #hsa.tier<device>>
  %10 = hsa.state @mla "buf.slot_unit" : memref<?x1x4096xi32, #hsa.tier<device>>
  %11 = hsa.state @mla "req.step" : memref<?xi32, #hsa.tier<device>>
  %12 = hsa.state @mla "buf.k" : memref<?x1x4096x1x1x576xbf16, #hsa.tier<device>>
  %13 = hsa.state @mla "host.k" : memref<?x1x1x576xbf16, #hsa.tier<host>>
  %14 = hsa.state @mla "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.diff @mla units(%3 : memref<?x1x2048xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x1x4096xi32, #hsa.tier<device>>, memref<?x1x4096xi32, #hsa.tier<device>>, memref<?x1x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>)
  hsa.gather @mla copies(%5, %6, %7 : memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>) pages(%14 : memref<?x?xi32, #hsa.tier<host>>) from(%13 : memref<?x1x1x576xbf16, #hsa.tier<host>>) into(%12 : memref<?x1x4096x1x1x576xbf16, #hsa.tier<device>>)
  return
}

// Latent MLA layer, page size 1: no values; a unit is one 576-dim row (72
// vectors: 3 per lane, the last guarded). K = 2048, C = 4096: 1024 threads,
// 2 entries per thread, 32 KiB of slot keys.
// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@mla_diff blocks in (%{{.*}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c1024
// CHECK: gpu.launch_func @hsa_kernels::@mla_gather blocks in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %{{.*}}) threads in (%c256
// CHECK-SAME: : memref<?x1x1x576xbf16>, %{{.*}} : memref<?x1x4096x1x1x576xbf16>)
// CHECK-LABEL: gpu.func @mla_diff(
// CHECK-SAME: workgroup(%{{.*}} : memref<4096xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<2x32xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK-LABEL: gpu.func @mla_gather(
// CHECK-COUNT-3: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x1x1x576xbf16>, vector<8xbf16>
// CHECK-COUNT-3: vector.store %{{.*}} {alignment = 16 : i64} : memref<?x1x4096x1x1x576xbf16>, vector<8xbf16>
// CHECK-NOT: vector.load
// CHECK: gpu.return

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry mla_diff(
// PTX-DAG: .entry mla_gather(
// PTX-DAG: ld.global.v4.b32

// -----

hsa.layer @kc config(<q_heads = 64, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 64, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(32) buffer(<capacity = 32, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)
func.func @step() {
  %3 = hsa.state @kc "sel.units" : memref<?x8x32xi32, #hsa.tier<device>>
  %4 = hsa.state @kc "sel.slots" : memref<?x8x32xi32, #hsa.tier<device>>
  %5 = hsa.state @kc "sel.copy_units" : memref<?x8x32xi32, #hsa.tier<device>>
  %6 = hsa.state @kc "sel.copy_slots" : memref<?x8x32xi32, #hsa.tier<device>>
  %7 = hsa.state @kc "sel.copy_count" : memref<?x8xi32, #hsa.tier<device>>
  %8 = hsa.state @kc "buf.unit_slot" : memref<?x8x?xi32, #hsa.tier<device>>
  %9 = hsa.state @kc "buf.last_used" : memref<?x8x32xi32, #hsa.tier<device>>
  %10 = hsa.state @kc "buf.slot_unit" : memref<?x8x32xi32, #hsa.tier<device>>
  %11 = hsa.state @kc "req.step" : memref<?xi32, #hsa.tier<device>>
  %12 = hsa.state @kc "buf.k" : memref<?x8x32x1x64x128xbf16, #hsa.tier<device>>
  %13 = hsa.state @kc "buf.v" : memref<?x8x32x1x64x128xbf16, #hsa.tier<device>>
  %14 = hsa.state @kc "host.v" : memref<?x8x64x128xbf16, #hsa.tier<host>>
  %15 = hsa.state @kc "host.k" : memref<?x8x64x128xbf16, #hsa.tier<host>>
  %16 = hsa.state @kc "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.diff @kc units(%3 : memref<?x8x32xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
  hsa.gather @kc copies(%5, %6, %7 : memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8x32xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%16 : memref<?x?xi32, #hsa.tier<host>>) from(%15, %14 : memref<?x8x64x128xbf16, #hsa.tier<host>>, memref<?x8x64x128xbf16, #hsa.tier<host>>) into(%12, %13 : memref<?x8x32x1x64x128xbf16, #hsa.tier<device>>, memref<?x8x32x1x64x128xbf16, #hsa.tier<device>>)
  return
}

// K = C = 32, GQA group 8, P64: every slot can be needed; the victim sort
// pads to 64 keys (one warp chunk), 64 threads.
// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@kc_diff blocks in (%{{.*}}, %c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c64
// CHECK: gpu.launch_func @hsa_kernels::@kc_gather blocks in (%c2{{(_[0-9]+)?}}, %c8{{(_[0-9]+)?}}, %{{.*}}) threads in (%c256
// CHECK-LABEL: gpu.func @kc_diff(
// CHECK-SAME: workgroup(%{{.*}} : memref<64xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<1x32xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-SAME: known_block_size = array<i32: 64, 1, 1>
// CHECK-LABEL: gpu.func @kc_gather(
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c32{{(_[0-9]+)?}} step %c8
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x8x64x128xbf16>, vector<8xbf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry kc_diff(
// PTX-DAG: .entry kc_gather(

// -----

hsa.layer @one config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 32, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(1) buffer(<capacity = 1, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @step() {
  %3 = hsa.state @one "sel.units" : memref<?x8x1xi32, #hsa.tier<device>>
  %4 = hsa.state @one "sel.slots" : memref<?x8x1xi32, #hsa.tier<device>>
  %5 = hsa.state @one "sel.copy_units" : memref<?x8x1xi32, #hsa.tier<device>>
  %6 = hsa.state @one "sel.copy_slots" : memref<?x8x1xi32, #hsa.tier<device>>
  %7 = hsa.state @one "sel.copy_count" : memref<?x8xi32, #hsa.tier<device>>
  %8 = hsa.state @one "buf.unit_slot" : memref<?x8x?xi32, #hsa.tier<device>>
  %9 = hsa.state @one "buf.last_used" : memref<?x8x1xi32, #hsa.tier<device>>
  %10 = hsa.state @one "buf.slot_unit" : memref<?x8x1xi32, #hsa.tier<device>>
  %11 = hsa.state @one "req.step" : memref<?xi32, #hsa.tier<device>>
  %12 = hsa.state @one "buf.k" : memref<?x8x1x1x32x64xf16, #hsa.tier<device>>
  %13 = hsa.state @one "buf.v" : memref<?x8x1x1x32x64xf16, #hsa.tier<device>>
  %14 = hsa.state @one "host.v" : memref<?x8x32x64xf16, #hsa.tier<host>>
  %15 = hsa.state @one "host.k" : memref<?x8x32x64xf16, #hsa.tier<host>>
  %16 = hsa.state @one "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  hsa.diff @one units(%3 : memref<?x8x1xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
  hsa.gather @one copies(%5, %6, %7 : memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8x1xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%16 : memref<?x?xi32, #hsa.tier<host>>) from(%15, %14 : memref<?x8x32x64xf16, #hsa.tier<host>>, memref<?x8x32x64xf16, #hsa.tier<host>>) into(%12, %13 : memref<?x8x1x1x32x64xf16, #hsa.tier<device>>, memref<?x8x1x1x32x64xf16, #hsa.tier<device>>)
  return
}

// One unit (K = C = 1), GQA group 1, f16.
// CHECK-LABEL: func.func @step
// CHECK: gpu.launch_func @hsa_kernels::@one_diff blocks in (%{{.*}}, %c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c64
// CHECK: gpu.launch_func @hsa_kernels::@one_gather blocks in (%c1{{(_[0-9]+)?}}, %c8{{(_[0-9]+)?}}, %{{.*}}) threads in (%c256
// CHECK-LABEL: gpu.func @one_diff(
// CHECK-SAME: workgroup(%{{.*}} : memref<64xi64, #gpu.address_space<workgroup>>{{[^,]*}}, %{{.*}} : memref<1x32xi32, #gpu.address_space<workgroup>>{{[^)]*}})
// CHECK-LABEL: gpu.func @one_gather(
// CHECK-COUNT-8: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x8x32x64xf16>, vector<8xf16>

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry one_diff(
// PTX-DAG: .entry one_gather(
