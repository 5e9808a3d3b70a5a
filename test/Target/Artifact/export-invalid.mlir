// What hsa-translate --hsa-to-artifact refuses, each with a located error:
// anything the runtime could not execute exactly.
// RUN: hsa-translate --hsa-to-artifact --split-input-file --verify-diagnostics %s -o /dev/null

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step(%n: index) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %half = arith.divui %n, %c2 : index
    // expected-note @-1 {{computed by 'arith.divui'}}
    // expected-error @+1 {{launch size is not an expression over buffer dimensions and constants}}
    gpu.launch_func @kernels::@k blocks in (%half, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step(%m: memref<?xi32>) {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{operand is not a layer buffer}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<?xi32>)
    return
  }
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n">

// expected-error @+1 {{no function for plan 'append'}}
module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @decode_step() { return }
}

// -----

// expected-error @+1 {{kernels are not serialized yet (gpu.module left)}}
module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.module @kernels {}
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step(%n: index) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{'scf.for' cannot be expressed in a launch plan}}
    scf.for %i = %c0 to %n step %c1 {
      gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    }
    return
  }
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n">

// Located at the second layer, not at the module (0:0).
module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  // expected-error @+1 {{an artifact holds one hsa.layer; the module has 2 (@l, @m, ...): compile each layer from a module of its own}}
  hsa.layer @m config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k()\n{\nret;\n}\n">

// A dynamic shared memory size the runtime cannot evaluate: neither the
// launch record nor the kernel's maximum could hold it.
module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step(%bytes: i32) {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{dynamic shared memory size is not an expression over buffer dimensions and constants}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %bytes
    return
  }
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k()\n{\nret;\n}\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step() {
    %c1 = arith.constant 1 : index
    %len = hsa.state @l "req.length" : memref<?xi32, #hsa.tier<device>>
    %c0 = arith.constant 0 : index
    %b = memref.dim %len, %c0 : memref<?xi32, #hsa.tier<device>>
    %c3 = arith.constant 3 : index
    %third = arith.divui %b, %c3 : index
    // expected-note @-1 {{computed by 'arith.divui'}}
    %bytes = arith.index_cast %third : index to i32
    // expected-error @+1 {{dynamic shared memory size is not an expression over buffer dimensions and constants}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %bytes
    return
  }
}

// -----

#ptx = #gpu.object<#nvvm.target<chip = "sm_90a">, assembly = ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k()\n{\nret;\n}\n">

module attributes {gpu.container_module} {
  hsa.layer @l config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = request>)
    algorithm(#hsa.streaming_llm) budget(2) buffer(#hsa.buffer<capacity = 4, policy = lru>)
    forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)
  gpu.binary @kernels [#ptx]
  func.func @prefill() { return }
  func.func @append() { return }
  func.func @decode_step() {
    %c1 = arith.constant 1 : index
    %bytes = arith.constant -16 : i32
    // expected-error @+1 {{dynamic shared memory size -16 is negative}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) dynamic_shared_memory_size %bytes
    return
  }
}
