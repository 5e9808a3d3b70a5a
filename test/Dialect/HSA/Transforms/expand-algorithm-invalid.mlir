// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm -verify-diagnostics

// An algorithm whose IR builders do not exist yet is reported at the op,
// with a note at the layer, instead of producing a partial pipeline.

// expected-note @below {{layer declared here}}
hsa.layer @dsa
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices)

func.func @decode(%q: memref<?x128x576xbf16, #hsa.tier<device>>,
                  %len: memref<?xi32, #hsa.tier<device>>,
                  %o: memref<?x128x512xbf16, #hsa.tier<device>>,
                  %iq: memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, %iw: memref<?x64xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op cannot be expanded: algorithm 'dsa' has no implementation yet}}
  hsa.decode_step @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x128x512xbf16, #hsa.tier<device>>)
      inputs(%iq, %iw : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
  return
}

// -----

// expected-note @below {{layer declared here}}
hsa.layer @dsa
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices)

func.func @append(%k: memref<?x1x576xbf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>, %ik: memref<?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op cannot be expanded: algorithm 'dsa' has no implementation yet}}
  hsa.append @dsa keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>)
      lengths(%n : memref<?xi32, #hsa.tier<device>>) inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

// expected-note @below {{layer declared here}}
hsa.layer @dsa
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices)

func.func @prefill(%n: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.prefill' op cannot be expanded: algorithm 'dsa' has no implementation yet}}
  hsa.prefill @dsa lengths(%n : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

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
