// Above 4096 slots the LRU diff's slot keys (8 bytes per slot, padded to a
// power of two) live in dynamic shared memory: the kernel views
// gpu.dynamic_shared_memory as memref<Cp x i64>, its launch passes Cp * 8
// bytes as dynamic_shared_memory_size, and the gpu.module declares the
// external symbol the NVVM lowering reuses, so the PTX has CUDA's
// `.extern .shared` array (the lowering's own internal symbol would be
// demoted to a one-byte static variable). The fused diff_gather and the
// separate diff kernel alike; at 4096 slots the keys stay static (those
// kernels are unchanged).
//
// RUN: hsa-opt %s -split-input-file --hsa-lower-to-gpu="diff-gather-max-budget=16384" | FileCheck %s
// RUN: hsa-opt %s -split-input-file --hsa-lower-to-gpu="fuse=false" | FileCheck %s --check-prefix=UNFUSED
// RUN: hsa-opt %s -split-input-file --hsa-lower-to-nvvm="diff-gather-max-budget=16384" | FileCheck %s --check-prefix=PTX

// DSA-like: token-level units, top-2048 of a 16384-slot buffer (128 KiB of
// keys, 1024 threads: 16 keys per thread in each pass over the slots).
hsa.layer @c16k
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(2048)
  buffer(#hsa.buffer<capacity = 16384, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 64>) format(#hsa.native)
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @c16k queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @decode_step
// CHECK: %[[BYTES:.*]] = arith.constant 131072 : i32
// CHECK: gpu.launch_func @hsa_kernels::@c16k_diff_gather blocks in ({{[^)]*}}) threads in (%c1024{{[^,]*}}, %c1{{[^,]*}}, %c1{{[^)]*}}) dynamic_shared_memory_size %[[BYTES]] args(
// CHECK: gpu.launch_func @hsa_kernels::@c16k_attend
// CHECK-NOT: dynamic_shared_memory_size
// CHECK: gpu.module @hsa_kernels
// CHECK-NEXT: llvm.mlir.global external @__hsa_dynamic_shared() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK-LABEL: gpu.func @c16k_diff_gather(
// Static: the miss scan's warp totals (2 rounds of 32 warps), then the
// victim selection's 2048-bin histogram, the primary statistics' warp
// results, the bin scan (32 warps + 1), the threshold and the compaction's
// warp totals (4 rounds of 32 warps).
// CHECK-SAME: workgroup(%{{.*}} : memref<2x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[HIST:.*]] : memref<2048xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<3x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<33xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 1024, 1, 1>
// CHECK: %[[DYN:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[KEYS:.*]] = memref.view %[[DYN]][%c0{{[^]]*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<16384xi64, #gpu.address_space<workgroup>>
// CHECK: memref.store %{{.*}}, %[[KEYS]][%{{.*}}] : memref<16384xi64, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// No full-width sort: no loop over the 8192 compare-exchange pairs of 16384
// keys anywhere in the kernel.
// CHECK-NOT: to %c8192{{[^ ]*}} step %c1024
// Phase 2a: the primary statistics, one pass over the 16384 keys.
// CHECK: scf.for %{{.*}} = %{{.*}} to %c16384{{[^ ]*}} step %c1024{{[^ ]*}} iter_args(
// CHECK: gpu.shuffle  xor
// CHECK: gpu.barrier
// CHECK-NOT: to %c8192{{[^ ]*}} step %c1024
// Phase 2b: the radix select (width of the primaries' span, the histogram
// zeroed, then counted with one shared atomic per distinct bin of a warp).
// CHECK: llvm.intr.ctlz
// CHECK: scf.for %{{.*}} = %{{.*}} to %c2048{{[^ ]*}} step %c1024
// CHECK: memref.store %{{.*}}, %[[HIST]]
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %c16384{{[^ ]*}} step %c1024
// CHECK: nvvm.match.sync  any
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[HIST]]
// CHECK-NOT: to %c8192{{[^ ]*}} step %c1024
// Phase 2c: the compaction, 4 groups of 4 rounds of 1024 slots.
// CHECK: scf.for %{{.*}} = %{{.*}} to %c4{{[^ ]*}} step %c1{{[^ ]*}} iter_args(
// CHECK: memref.store %{{.*}}, %[[KEYS]]
// CHECK-NOT: to %c8192{{[^ ]*}} step %c1024
// Phase 2d: the victim sort's shared stages loop to a run-time bound (n / 2).
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %thread_id_x{{[^ ]*}} to %{{[0-9]+}} step %c1024
// CHECK-NOT: to %c8192{{[^ ]*}} step %c1024
// CHECK: gpu.return
// CHECK-NOT: gpu.dynamic_shared_memory

// UNFUSED-LABEL: func.func @decode_step
// UNFUSED: %[[BYTES:.*]] = arith.constant 131072 : i32
// UNFUSED: gpu.launch_func @hsa_kernels::@c16k_diff blocks in ({{[^)]*}}) threads in ({{[^)]*}}) dynamic_shared_memory_size %[[BYTES]] args(
// UNFUSED: gpu.launch_func @hsa_kernels::@c16k_gather blocks in ({{[^)]*}}) threads in ({{[^)]*}}) args(
// UNFUSED: llvm.mlir.global external @__hsa_dynamic_shared()
// UNFUSED-LABEL: gpu.func @c16k_diff(
// UNFUSED: gpu.dynamic_shared_memory
// UNFUSED: memref.view {{.*}} to memref<16384xi64, #gpu.address_space<workgroup>>

// PTX: .extern .shared .align 16 .b8 __hsa_dynamic_shared[];
// PTX: .entry c16k_diff_gather(
// PTX: mov.b64 {{.*}}__hsa_dynamic_shared;
// PTX-NOT: demoted variable\0A\09.shared .align 16 .b8 __hsa_dynamic_shared

// -----

// 4097 slots pad to 8192 keys: 64 KiB of dynamic shared memory per block.
hsa.layer @c4097
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 4097, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @c4097 queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @decode_step
// CHECK: %[[BYTES:.*]] = arith.constant 65536 : i32
// CHECK: gpu.launch_func @hsa_kernels::@c4097_diff_gather blocks in ({{[^)]*}}) threads in (%c1024{{[^,]*}}, {{[^)]*}}) dynamic_shared_memory_size %[[BYTES]] args(
// CHECK-LABEL: gpu.func @c4097_diff_gather(
// CHECK-SAME: workgroup(%{{.*}} : memref<1x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, {{.*}} : memref<4x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK: memref.view %{{.*}}[%c0{{[^]]*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<8192xi64, #gpu.address_space<workgroup>>

// UNFUSED-LABEL: func.func @decode_step
// UNFUSED: gpu.launch_func @hsa_kernels::@c4097_diff {{.*}} dynamic_shared_memory_size %c65536_i32 args(

// PTX: // -----
// PTX: .extern .shared .align 16 .b8 __hsa_dynamic_shared[];
// PTX: .entry c4097_diff_gather(

// -----

// 4096 slots: 32 KiB of static keys (41 KiB of static shared memory with
// the selection's buffers), no dynamic shared memory anywhere.
hsa.layer @c4096
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 4096, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @c4096 queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @decode_step
// CHECK-NOT: dynamic_shared_memory_size
// CHECK: gpu.module @hsa_kernels
// CHECK-NOT: llvm.mlir.global
// CHECK-LABEL: gpu.func @c4096_diff_gather(
// CHECK-SAME: workgroup(%{{.*}} : memref<4096xi64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<1x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, {{.*}} : memref<4x32xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-NOT: gpu.dynamic_shared_memory

// UNFUSED-LABEL: func.func @decode_step
// UNFUSED-NOT: dynamic_shared_memory

// PTX: // -----
// PTX-NOT: __hsa_dynamic_shared
// PTX: .entry c4096_diff_gather(
// PTX-NOT: __hsa_dynamic_shared
