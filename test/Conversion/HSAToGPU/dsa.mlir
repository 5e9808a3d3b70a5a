// The DSA package's kernels (Algorithms/DSA.cpp) on DeepSeek-V3.2's shape
// (Hi 64, Di 128, fp8 keys; MLA, page size 1): the indexer score on warpgroup
// MMA (prefix WG; wgmma m64n64k32 e4m3 over 128-byte-swizzled shared tiles of
// 64 tokens and of the queries), on mma.sync with `wgmma=false` (prefix MMA;
// m16n8k32 e4m3 over 16-token tiles, the fp8 queries held as fragments; relu
// before the weight in both) and
// on CUDA cores with `fp8-mma=false` (prefix CUDA; queries and weights staged as
// f32, 2 tokens x 32-head chunks per thread over 8 key slices of 16 fp8 codes
// decoded with cvt e4m3x2), the append quantiser (a warp per row: amax by xor
// shuffles, the power-of-two scale from the exponent bits, codes by
// cvt.rn.satfinite.e4m3x2.f32; the bf16 row also to host.index_k) and the
// prefill quantiser (rows read from host.index_k); then the score with bf16
// keys (no decode, scale 1 is the rebuild's).
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu | FileCheck %s --check-prefixes=CHECK,WG
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=wgmma=false | FileCheck %s --check-prefixes=CHECK,MMA
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=fp8-mma=false | FileCheck %s --check-prefixes=CHECK,CUDA
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a features=+ptx84 O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,convert-nvvm-to-llvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefixes=PTX,PTX-WG
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=wgmma=false \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90 features=+ptx84 O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefixes=PTX,PTX-MMA
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=fp8-mma=false \
// RUN:   | hsa-opt -split-input-file --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefixes=PTX,PTX-CUDA

hsa.layer @dsa config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @dsa_score(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %iq: memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, %iw: memref<?x64xf32, #hsa.tier<device>>) {
  %s = hsa.state @dsa "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %keys = hsa.state @dsa "repr.index_keys" : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
  %scales = hsa.state @dsa "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
  hsa.score @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
      inputs(%iq, %iw : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// wgmma: a warpgroup per 256 tokens (4 tiles of 64); mma.sync: a block of 8 warps per 1024 tokens (8 tiles of 16 per
// warp); CUDA cores: a block per 256 tokens (2 per thread) of one request.
// Arguments: lengths, keys, scales, io.index_q, io.index_w, scores.
// CHECK-LABEL: func.func @dsa_score
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c2 : memref<?x1x?xf32, #hsa.tier<device>>
// WG: %[[GX:.*]] = arith.ceildivui %[[N]], %c256 : index
// WG: gpu.launch_func  @hsa_kernels::@dsa_score blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c128, %{{.*}}, %{{.*}})  args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?x128xf8E4M3FN>, %{{.*}} : memref<?x?xf32>, %{{.*}} : memref<?x64x128xf8E4M3FN>, %{{.*}} : memref<?x64xf32>, %{{.*}} : memref<?x1x?xf32>)
// MMA: %[[GX:.*]] = arith.ceildivui %[[N]], %c1024 : index
// MMA: gpu.launch_func  @hsa_kernels::@dsa_score blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c256, %{{.*}}, %{{.*}})  args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?x128xf8E4M3FN>, %{{.*}} : memref<?x?xf32>, %{{.*}} : memref<?x64x128xf8E4M3FN>, %{{.*}} : memref<?x64xf32>, %{{.*}} : memref<?x1x?xf32>)
// CUDA: %[[GX:.*]] = arith.ceildivui %[[N]], %c256 : index
// CUDA: gpu.launch_func  @hsa_kernels::@dsa_score blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c128, %{{.*}}, %{{.*}})  args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?x128xf8E4M3FN>, %{{.*}} : memref<?x?xf32>, %{{.*}} : memref<?x64x128xf8E4M3FN>, %{{.*}} : memref<?x64xf32>, %{{.*}} : memref<?x1x?xf32>)

func.func @dsa_append(%nk: memref<?x1x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %ik: memref<?x128xbf16, #hsa.tier<device>>) {
  %keys = hsa.state @dsa "repr.index_keys" : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
  %scales = hsa.state @dsa "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
  %pages = hsa.state @dsa "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hik = hsa.state @dsa "host.index_k" : memref<?x1x128xbf16, #hsa.tier<host>>
  hsa.update_repr @dsa keys(%nk : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
      inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
      pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
      host(%hik : memref<?x1x128xbf16, #hsa.tier<host>>)
  return
}

// A warp per request row, 4 rows per block.
// CHECK-LABEL: func.func @dsa_append
// CHECK: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x128xbf16, #hsa.tier<device>>
// CHECK: %[[GX:.*]] = arith.ceildivui %[[B]], %c4 : index
// CHECK: gpu.launch_func  @hsa_kernels::@dsa_update_repr blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c128, %{{.*}}, %{{.*}})  args(%{{.*}} : memref<?x128xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?x128xf8E4M3FN>, %{{.*}} : memref<?x?xf32>, %{{.*}} : memref<?x?xi32>, %{{.*}} : memref<?x1x128xbf16>)

func.func @dsa_prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  %keys = hsa.state @dsa "repr.index_keys" : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
  %scales = hsa.state @dsa "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
  %pages = hsa.state @dsa "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @dsa "host.k" : memref<?x1x1x576xbf16, #hsa.tier<host>>
  %hik = hsa.state @dsa "host.index_k" : memref<?x1x128xbf16, #hsa.tier<host>>
  hsa.rebuild_repr @dsa lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
      host(%hk, %hik : memref<?x1x1x576xbf16, #hsa.tier<host>>, memref<?x1x128xbf16, #hsa.tier<host>>)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
  return
}

// A warp per token: grid (ceil(N / 4), B).
// CHECK-LABEL: func.func @dsa_prefill
// CHECK: %[[NK:.*]] = memref.dim %{{.*}}, %c1 : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
// CHECK: %[[GX:.*]] = arith.ceildivui %[[NK]], %c4 : index
// CHECK: gpu.launch_func  @hsa_kernels::@dsa_rebuild_repr blocks in (%[[GX]], %{{.*}}, %{{.*}}) threads in (%c128, %{{.*}}, %{{.*}})  args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?xi32>, %{{.*}} : memref<?x1x128xbf16>, %{{.*}} : memref<?x?x128xf8E4M3FN>, %{{.*}} : memref<?x?xf32>)

// On warpgroup MMA one warpgroup issues every 16-byte chunk of the queries
// and of its 4 key tiles by cp.async (.cg) into the 128-byte-swizzled,
// 1024-aligned shared tiles (chunk c of row r at c ^ (r % 8)), one commit
// group per tile; per tile it waits for the tile's group, fences the writes
// into the async proxy, syncs, runs 4 k-steps of wgmma (the first without
// the accumulator), commits and waits, then the epilogue.
// WG-LABEL: gpu.func @dsa_score
// WG-SAME: workgroup(%[[QS:[a-z0-9]+]] : memref<64x32xi32, #gpu.address_space<workgroup>> {llvm.align = 1024 : i64}, %[[KS:[a-z0-9]+]] : memref<256x32xi32, #gpu.address_space<workgroup>> {llvm.align = 1024 : i64}, %{{[a-z0-9]+}} : memref<64xf32, #gpu.address_space<workgroup>>
// WG: memref.extract_aligned_pointer_as_index %[[QS]]
// WG: memref.extract_aligned_pointer_as_index %[[KS]]
// WG: arith.xori
// WG: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// WG-COUNT-4: nvvm.cp.async.commit.group
// WG: nvvm.cp.async.wait.group 3
// WG: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WG: gpu.barrier
// WG: nvvm.wgmma.fence.aligned
// WG: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 32>, D[<f32>, <zero>], A[<e4m3>, <one>, <row>], B[<e4m3>, <one>, <col>]
// WG-COUNT-3: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 32>, D[<f32>, <one>], A[<e4m3>, <one>, <row>], B[<e4m3>, <one>, <col>]
// WG: nvvm.wgmma.commit.group.sync.aligned
// WG: nvvm.wgmma.wait.group.sync.aligned 0
// WG: arith.maximumf
// WG: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// WG: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32{{.*}} : f32
// WG: memref.store %{{.*}}, %{{.*}} : memref<?x1x?xf32>
// WG: nvvm.cp.async.wait.group 2
// WG: nvvm.cp.async.wait.group 1
// WG: nvvm.cp.async.wait.group 0
// WG: gpu.return

// mma.sync: the fp8 queries staged as words [64][32], each lane's 64
// query fragment words read once; the tile loop carries 2 tiles of key
// pieces (2 rows x 2 pieces, 16 bytes each) in flight; per tile 8 head
// tiles x 4 k-steps of mma.sync, relu and weight per accumulator, the quad
// sum by two xor shuffles, the token's scale.
// MMA-LABEL: gpu.func @dsa_score
// MMA-SAME: workgroup(%[[QW:[a-z0-9]+]] : memref<64x32xi32, #gpu.address_space<workgroup>> {{.*}}, %[[WW:[a-z0-9]+]] : memref<64xf32, #gpu.address_space<workgroup>>
// MMA: vector.load %{{.*}} : memref<?x64x128xf8E4M3FN>, vector<16xf8E4M3FN>
// MMA: vector.bitcast %{{.*}} : vector<16xf8E4M3FN> to vector<4xi32>
// MMA: vector.store %{{.*}}, %[[QW]]
// MMA: gpu.barrier
// MMA: vector.load %[[QW]][{{.*}}] {alignment = 16 : i64} : memref<64x32xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// MMA: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x?x128xf8E4M3FN>, vector<16xf8E4M3FN>
// MMA: scf.for %{{.*}} = %{{.*}} to %c8{{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>)
// MMA: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x?x128xf8E4M3FN>, vector<16xf8E4M3FN>
// MMA-COUNT-32: llvm.call_intrinsic "llvm.nvvm.mma.m16n8k32.row.col.f32.e4m3.e4m3.f32"
// MMA: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// MMA: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32{{.*}} : f32
// MMA: memref.load %{{.*}} : memref<?x?xf32>
// MMA: memref.store %{{.*}}, %{{.*}} : memref<?x1x?xf32>
// MMA: scf.yield

// The score kernel: q [64][128] and w [64] staged as f32, the q codes decoded
// pairwise; over 2 head chunks (2 token totals carried) and 8 key slices (64
// dot products carried), each token's 16 fp8 codes in one 16-byte load,
// decoded pairwise, against 16-byte broadcasts of the staged queries; then
// relu, weight (fma), the token's scale.
// CUDA-LABEL: gpu.func @dsa_score
// CUDA-SAME: workgroup(%[[Q:[a-z0-9]+]] : memref<64x128xf32, #gpu.address_space<workgroup>> {{.*}}, %[[W:[a-z0-9]+]] : memref<64xf32, #gpu.address_space<workgroup>>
// CUDA: vector.load %{{.*}} : memref<?x64x128xf8E4M3FN>, vector<4xf8E4M3FN>
// CUDA: nvvm.convert.f8x2.to.f16x2 %{{.*}} : vector<2xi8>(f8E4M3FN) -> vector<2xf16>
// CUDA: vector.store %{{.*}}, %[[Q]]
// CUDA: memref.store %{{.*}}, %[[W]]
// CUDA: gpu.barrier
// CUDA: scf.for %{{.*}} = %{{.*}} to %c2{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32)
// CUDA: scf.for %{{.*}} = %{{.*}} to %c8 step %{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CUDA: vector.load %{{.*}} {alignment = 16 : i64} : memref<?x?x128xf8E4M3FN>, vector<16xf8E4M3FN>
// CUDA: vector.bitcast %{{.*}} : vector<16xf8E4M3FN> to vector<8xi16>
// CUDA: nvvm.convert.f8x2.to.f16x2
// CUDA: vector.load %[[Q]][{{.*}}] {alignment = 16 : i64} : memref<64x128xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CUDA: arith.mulf %{{.*}}, %{{.*}} fastmath<contract> : f32
// CUDA: arith.addf %{{.*}}, %{{.*}} fastmath<contract> : f32
// CUDA: scf.yield
// CUDA: %[[WJ:.*]] = memref.load %[[W]]
// CUDA: %[[RELU:.*]] = arith.maximumf %{{.*}}, %{{.*}} : f32
// CUDA: llvm.intr.fma(%[[RELU]], %[[WJ]], %{{.*}}) : (f32, f32, f32) -> f32
// CUDA: %[[SCALE:.*]] = memref.load %{{.*}} : memref<?x?xf32>
// CUDA: arith.mulf %[[SCALE]], %{{.*}} : f32
// CUDA: memref.store %{{.*}}, %{{.*}} : memref<?x1x?xf32>

// The append quantiser: 4 bf16 per lane, amax over the warp, the exact
// scale from the exponent (2^(E - 8), one more above mantissa 0x600000) and
// its inverse (exponent 254 - E'), codes packed into a 4-byte store; lane 0
// writes the scale; the bf16 row to its host page.
// CHECK-LABEL: gpu.func @dsa_update_repr
// CHECK: %[[ROW:.*]] = vector.load %arg0[{{.*}}] {alignment = 8 : i64} : memref<?x128xbf16>, vector<4xbf16>
// CHECK: llvm.intr.maxnum
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32{{.*}} : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32{{.*}} : f32
// CHECK: %[[AMAX:.*]] = llvm.intr.maxnum
// CHECK: %[[BITS:.*]] = arith.bitcast %[[AMAX]] : f32 to i32
// CHECK: arith.shrui %[[BITS]], %c23_i32 : i32
// CHECK: arith.cmpi ugt, %{{.*}}, %c6291456_i32 : i32
// CHECK: %[[SEXP:.*]] = arith.addi
// CHECK: %[[S:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: arith.subi %c254_i32, %[[SEXP]] : i32
// CHECK: nvvm.convert.f32x2.to.f8x2 %{{.*}}, %{{.*}} {rnd = #nvvm.fp_rnd_mode<rn>, sat = #nvvm.sat_mode<satfinite>} : i16(f8E4M3FN)
// CHECK: nvvm.convert.f32x2.to.f8x2
// CHECK: vector.bitcast %{{.*}} : vector<1xi32> to vector<4xf8E4M3FN>
// CHECK: vector.store %{{.*}}, %arg2[{{.*}}] {alignment = 4 : i64} : memref<?x?x128xf8E4M3FN>, vector<4xf8E4M3FN>
// CHECK: memref.store %[[S]], %arg3
// CHECK: memref.load %arg4
// CHECK: vector.store %[[ROW]], %arg5[{{.*}}] {alignment = 8 : i64} : memref<?x1x128xbf16>, vector<4xbf16>

// The prefill quantiser: the same row quantisation from host.index_k.
// CHECK-LABEL: gpu.func @dsa_rebuild_repr
// CHECK: memref.load %arg1
// CHECK: vector.load %arg2[{{.*}}] {alignment = 8 : i64} : memref<?x1x128xbf16>, vector<4xbf16>
// CHECK: gpu.shuffle  xor
// CHECK: nvvm.convert.f32x2.to.f8x2
// CHECK: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 4 : i64} : memref<?x?x128xf8E4M3FN>, vector<4xf8E4M3FN>
// CHECK: memref.store %{{.*}}, %arg4

// The PTX has the tensor-core MMA (or the fp8 decode, the shared
// broadcasts and the FMAs), the relu, the quantisers' shuffles and encode.
// PTX-WG: cp.async.cg.shared.global
// PTX-WG: cp.async.wait_group
// PTX-WG: fence.proxy.async.shared::cta
// PTX-WG: wgmma.fence.sync.aligned
// PTX-WG: wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3
// PTX-WG: wgmma.commit_group.sync.aligned
// PTX-WG: wgmma.wait_group.sync.aligned
// PTX-MMA-NOT: wgmma
// PTX-MMA: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// PTX-CUDA-NOT: mma.sync
// PTX-CUDA: cvt.rn.f16x2.e4m3x2
// PTX-CUDA: ld.shared.v4
// PTX-CUDA: fma.rn.f32
// PTX: max.
// PTX: shfl.sync.bfly.b32
// PTX: cvt.rn.satfinite.e4m3x2.f32
// PTX: shfl.sync.bfly.b32
// PTX: cvt.rn.satfinite.e4m3x2.f32

// -----

// bf16 keys: two 16-byte loads per slice widened by extf; no fp8 decode.
hsa.layer @dsa_bf16 config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = bf16>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @dsa_bf16_score(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %iq: memref<?x64x128xbf16, #hsa.tier<device>>, %iw: memref<?x64xf32, #hsa.tier<device>>) {
  %s = hsa.state @dsa_bf16 "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %keys = hsa.state @dsa_bf16 "repr.index_keys" : memref<?x?x128xbf16, #hsa.tier<device>>
  %scales = hsa.state @dsa_bf16 "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
  hsa.score @dsa_bf16 queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
      reprs(%keys, %scales : memref<?x?x128xbf16, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
      inputs(%iq, %iw : memref<?x64x128xbf16, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}
// CHECK-LABEL: gpu.func @dsa_bf16_score
// CHECK-NOT: nvvm.convert
// CHECK: vector.load %{{.*}} : memref<?x?x128xbf16>, vector<8xbf16>
// CHECK: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: vector.load %{{.*}} : memref<?x?x128xbf16>, vector<8xbf16>
// CHECK-NOT: nvvm.convert
// CHECK: gpu.return
