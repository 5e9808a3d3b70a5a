// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm -verify-diagnostics

// A function is one launch plan: two high-level ops of different kinds in
// one function cannot be exported.
hsa.layer @two
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm) budget(2)
  buffer(#hsa.buffer<capacity = 4, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

func.func @both(%len: memref<?xi32, #hsa.tier<device>>,
                %q: memref<?x8x64xbf16, #hsa.tier<device>>,
                %o: memref<?x8x64xbf16, #hsa.tier<device>>) {
  hsa.prefill @two lengths(%len : memref<?xi32, #hsa.tier<device>>)
  // expected-error @below {{'hsa.decode_step' op shares its function with an hsa.prefill: each function is one launch plan}}
  hsa.decode_step @two queries(%q : memref<?x8x64xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x8x64xbf16, #hsa.tier<device>>)
  return
}

// -----

// One function argument cannot be two layer buffers.
hsa.layer @alias
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm) budget(2)
  buffer(#hsa.buffer<capacity = 4, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

func.func @inplace(%q: memref<?x8x64xbf16, #hsa.tier<device>>,
                   %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op uses function argument #0 as 'io.o', but it is already 'io.q'}}
  hsa.decode_step @alias queries(%q : memref<?x8x64xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%q : memref<?x8x64xbf16, #hsa.tier<device>>)
  return
}
