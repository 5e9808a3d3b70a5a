// Latent (MLA) attention on warpgroup MMA (AttentionMLA.cpp): a block of 2
// warpgroups attends 64 query heads of one request to 64-token tiles of its
// split; S = Q K^T is 36 wgmma m64n32k16 per warpgroup (K-major Q and K),
// O += P V 4 wgmma m64n256k16 (the same K tile read N-major: trans-b 1);
// the split count is min(tiles, max(1, floor(132 / (B x head blocks)))),
// computed at launch; with several splits attend_mla_merge combines them (its
// grid collapses to one block per head block with one split). 16 query heads
// use one block of 64 rows; `mla-tensor-cores=false` keeps the CUDA-core
// kernel (attention.mlir); the fp8 latent layer is in attention-fp8.test.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="mla-tensor-cores=false" | FileCheck %s --check-prefix=OFF
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu="print-plans" | FileCheck %s --check-prefix=PLAN
// RUN: hsa-opt %s -split-input-file --hsa-lower-to-nvvm="format=isa" | FileCheck %s --check-prefix=PTX

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
// CHECK: hsa.state @mla "scratch.mla_o" : memref<132x64x512xf32, #hsa.tier<device>>
// CHECK: hsa.state @mla "scratch.mla_lse" : memref<132x64xf32, #hsa.tier<device>>
// CHECK: %[[B:.*]] = memref.dim %arg0, %c0{{(_[0-9]+)?}} : memref<?x128x576xbf16, #hsa.tier<device>>
// CHECK: %[[BLOCKS:.*]] = arith.muli %[[B]], %c2
// Floor(132 / blocks) as ceil(max(133 - blocks, 1) / blocks).
// CHECK: %[[SPARE:.*]] = arith.subi %c133, %[[BLOCKS]]
// CHECK: %[[CLAMPED:.*]] = arith.maxsi %[[SPARE]], %c1
// CHECK: %[[WANT:.*]] = arith.ceildivui %[[CLAMPED]], %[[BLOCKS]]
// CHECK: %[[SPLITS:.*]] = arith.minsi %c32{{(_[0-9]+)?}}, %[[WANT]]
// CHECK: gpu.launch_func @hsa_kernels::@mla_attend_mla blocks in (%c2{{(_[0-9]+)?}}, %[[SPLITS]], %[[B]]) threads in (%c256, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) dynamic_shared_memory_size %c231936_i32
// CHECK: %[[SEVERAL:.*]] = arith.subi %[[SPLITS]], %c1
// CHECK: gpu.launch_func @hsa_kernels::@mla_attend_mla_merge blocks in
// CHECK-NOT: hsa.attend
// CHECK-LABEL: gpu.func @mla_attend_mla(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %{{.*}}
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// The next tile's 18 copies per thread, then S.
// CHECK: scf.if
// CHECK-COUNT-18: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %{{.*}}
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-COUNT-35: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 32, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: gpu.shuffle xor
// CHECK: gpu.barrier
// The lazy rescale: one warp vote per tile, O scaled only when it says so.
// CHECK: nvvm.vote.sync any
// CHECK: llvm.store %{{.*}}, %{{.*}} : vector<2xbf16>, !llvm.ptr<3>
// CHECK: nvvm.fence.proxy
// CHECK: gpu.barrier
// CHECK: scf.if %{{.*}} -> (!llvm.struct<(f32
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 256, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK: scf.yield
// CHECK: vector.store %{{.*}} : memref<?x128x512xbf16>, vector<2xbf16>
// CHECK: vector.store %{{.*}} : memref<132x64x512xf32>, vector<2xf32>
// CHECK-LABEL: gpu.func @mla_attend_mla_merge(
// CHECK: scf.for
// CHECK: vector.load %{{.*}} : memref<132x64x512xf32>, vector<4xf32>
// CHECK: vector.store %{{.*}} : memref<?x128x512xbf16>, vector<4xbf16>

// OFF-LABEL: func.func @mla_step
// OFF: gpu.launch_func @hsa_kernels::@mla_attend blocks
// OFF-NOT: wgmma

// PLAN: mla_attend_mla: grid (2 head blocks, min(32, max(1, floor(132 / (B x 2)))) splits, B) block 256 dynamic shared 231936; warpgroup MMA: S m64n32k16 x 36, O m64n256k16 x 4 per 64-token tile, 2 stages, bf16

// PTX-LABEL: gpu.binary @hsa_kernels
// PTX-DAG: .entry mla_attend_mla(
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, 1, 1, 0, 1;
// PTX-DAG: cp.async.cg.shared.global
// PTX-DAG: fence.proxy.async.shared::cta

// -----

// 16 query heads (f16): one block of 64 rows (48 of them zero and never
// written), splits over 8 tiles of a 512-token budget, 64 x 256 output
// columns per warpgroup; P 16 units (32 of 16 tokens).

hsa.layer @mla16
  config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = f16, page_size = 16, scope = request>)
  algorithm(#hsa.quest<combine = max>)
  budget(32)
  buffer(#hsa.buffer<capacity = 64, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>)
  format(#hsa.native) {softmax_scale = 0.1352338 : f32}

func.func @mla16_step(%q: memref<?x16x576xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x16x512xf16, #hsa.tier<device>>) {
  %units = hsa.state @mla16 "sel.units" : memref<?x1x32xi32, #hsa.tier<device>>
  %slots = hsa.state @mla16 "sel.slots" : memref<?x1x32xi32, #hsa.tier<device>>
  %bk = hsa.state @mla16 "buf.k" : memref<?x1x64x1x16x576xf16, #hsa.tier<device>>
  hsa.attend @mla16 queries(%q : memref<?x16x576xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      table(%units, %slots : memref<?x1x32xi32, #hsa.tier<device>>, memref<?x1x32xi32, #hsa.tier<device>>)
      kv(%bk : memref<?x1x64x1x16x576xf16, #hsa.tier<device>>) into(%o : memref<?x16x512xf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @mla16_step
// CHECK: gpu.launch_func @hsa_kernels::@mla16_attend_mla blocks in (%c1{{(_[0-9]+)?}}, %{{.*}}, %{{.*}})
// CHECK-LABEL: gpu.func @mla16_attend_mla(
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<f16>, <one>, <row>], B[<f16>, <one>, <col>]
// PLAN: mla16_attend_mla: grid (1 head blocks, min(8, max(1, floor(132 / (B x 1)))) splits, B) block 256 dynamic shared 231936; {{.*}}, f16
