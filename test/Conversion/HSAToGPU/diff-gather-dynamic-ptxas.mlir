// REQUIRES: ptxas
// Every kernel of a C = 16384 layer (DSA-like: token units, top-2048, 128 KiB
// of diff slot keys in dynamic shared memory), fused and unfused, assembles
// for sm_90a with no local-memory spills; the diff kernels' static shared
// memory is the miss scan's warp totals (2 x 32 i32) and the victim
// selection's buffers (the 2048-bin histogram and small scan scratch: 9504
// bytes in all), the keys being dynamic (ptxas does not count them).
// RUN: hsa-opt %s --hsa-lower-to-nvvm="diff-gather-max-budget=16384" > %t.mlir
// RUN: %python %hsa_src_root/scripts/extract-ptx.py %t.mlir %t.ptx
// RUN: %ptxas -arch=sm_90a -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s
// RUN: hsa-opt %s --hsa-lower-to-nvvm="fuse=false" > %t.unfused.mlir
// RUN: %python %hsa_src_root/scripts/extract-ptx.py %t.unfused.mlir %t.unfused.ptx
// RUN: %ptxas -arch=sm_90a -v %t.unfused.ptx -o %t.unfused.cubin 2>&1 | FileCheck %s --check-prefix=UNFUSED
// CHECK-NOT: {{[1-9][0-9]*}} bytes spill
// CHECK: Compiling entry function 'c16k_diff_gather'
// CHECK-NEXT: Function properties for c16k_diff_gather
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NEXT: Used {{[0-9]+}} registers, used 1 barriers, 9504 bytes smem
// CHECK-NOT: {{[1-9][0-9]*}} bytes spill
// UNFUSED-NOT: {{[1-9][0-9]*}} bytes spill
// UNFUSED: Compiling entry function 'c16k_diff'
// UNFUSED-NEXT: Function properties for c16k_diff
// UNFUSED-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// UNFUSED-NEXT: Used {{[0-9]+}} registers, used 1 barriers, 9504 bytes smem
// UNFUSED-NOT: {{[1-9][0-9]*}} bytes spill

hsa.layer @c16k
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(2048)
  buffer(#hsa.buffer<capacity = 16384, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 64>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @c16k lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @c16k queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %v: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @c16k keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
