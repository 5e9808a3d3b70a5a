// The kernel record's max_dynamic_shared_bytes is the largest dynamic shared
// memory size of that kernel's launches over all plans: constants folded to
// their maximum, distinct expressions combined with Max (a repeated one
// once); a kernel launched without one has 0. Every launch keeps its own.
// RUN: hsa-translate --hsa-to-artifact %s -o %t.hsa
// RUN: %python %S/Inputs/dump-kernels.py %t.hsa | FileCheck %s

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k()\n{\nret;\n}\n.visible .entry j()\n{\nret;\n}\n.visible .entry c()\n{\nret;\n}\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() {
    %c1 = arith.constant 1 : index
    %small = arith.constant 1024 : i32
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %small
    %c4 = arith.constant 4096 : i32
    gpu.launch_func @kernels::@c blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %c4
    return
  }
  func.func @decode_step() {
    %len = hsa.state @l "req.length" : memref<?xi32, #hsa.tier<device>>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %b = memref.dim %len, %c0 : memref<?xi32, #hsa.tier<device>>
    %bytes = arith.muli %b, %c64 : index
    %dyn = arith.index_cast %bytes : index to i32
    %big = arith.constant 65536 : i32
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %big
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %dyn
    gpu.launch_func @kernels::@j blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    %c5 = arith.constant 5000 : i32
    gpu.launch_func @kernels::@c blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %c5
    return
  }
  func.func @append() {
    %len = hsa.state @l "req.length" : memref<?xi32, #hsa.tier<device>>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %b = memref.dim %len, %c0 : memref<?xi32, #hsa.tier<device>>
    %bytes = arith.muli %b, %c64 : index
    %dyn = arith.index_cast %bytes : index to i32
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %dyn
    return
  }
}

// CHECK: kernel k static_shared_bytes 0 max_dynamic_shared_bytes max(batch * 64, 65536)
// CHECK-NEXT: kernel c static_shared_bytes 0 max_dynamic_shared_bytes 5000
// CHECK-NEXT: kernel j static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-NEXT: launch prefill k dynamic_shared_bytes 1024
// CHECK-NEXT: launch prefill c dynamic_shared_bytes 4096
// CHECK-NEXT: launch decode_step k dynamic_shared_bytes 65536
// CHECK-NEXT: launch decode_step k dynamic_shared_bytes batch * 64
// CHECK-NEXT: launch decode_step j dynamic_shared_bytes 0
// CHECK-NEXT: launch decode_step c dynamic_shared_bytes 5000
// CHECK-NEXT: launch append k dynamic_shared_bytes batch * 64
