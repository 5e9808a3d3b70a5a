// RUN: hsa-opt %s -split-input-file -verify-diagnostics
//
// One case per verifier diagnostic of the hsa dialect (attributes, layer,
// state and stage ops). test/Dialect/HSA/diagnostics-covered.test checks
// that every diagnostic string in lib/Dialect/HSA/IR has a case here.

// expected-error @below {{q_heads (0) and kv_heads (8) must be positive}}
hsa.layer @l config(#hsa.config<q_heads = 0, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{q_heads (30) must be a multiple of kv_heads (8)}}
hsa.layer @l config(#hsa.config<q_heads = 30, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{give either head_dim, or latent_dim and rope_dim for a latent (MLA) layer}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{latent_dim and rope_dim go together}}
hsa.layer @l config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{head and latent dims must be positive, got -4}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = -4, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{a latent (MLA) layer has one KV head, got kv_heads = 8}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{kv_dtype must be bf16, f16 or (latent layers) f8E4M3FN, got 'f32'}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = f32, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{kv_dtype f8E4M3FN is FlashMLA's fp8 latent row and needs a latent (MLA) layer (latent_dim and rope_dim); use bf16 or f16 here}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = f8E4M3FN, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{an fp8 latent row has one scale per 128 latent elements: latent_dim must be a multiple of it, got 448}}
hsa.layer @l config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 448, rope_dim = 64, kv_dtype = f8E4M3FN, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{an fp8 latent row of 512 + 60 dims is 648 bytes, not a multiple of 16 (kernels copy rows in 16-byte vectors)}}
hsa.layer @l config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 60, kv_dtype = f8E4M3FN, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{'hsa.layer' op quest bounds the cached keys element by element and needs a bf16 or f16 cache, not fp8 latent rows (kv_dtype = f8E4M3FN)}}
hsa.layer @l config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = f8E4M3FN, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{page_size must be positive, got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 0, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{buffer capacity must be positive, got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(0) buffer(#hsa.buffer<capacity = 0, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{sinks must be non-negative, got -1}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = -1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{window must be at least 1 (it always holds the unit being written), got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 0>) format(#hsa.native)

// -----

// expected-error @below {{dsa index_heads must be positive, got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.dsa<index_heads = 0, index_dim = 128, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{dsa index_dim must be a positive multiple of 16, got 100}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 100, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{dsa index_dtype must be f8E4M3FN or bf16, got 'f32'}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f32>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv clusters must be in [1, 4096], got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 0, iterations = 8>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv clusters must be in [1, 4096], got 4097}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 4097, iterations = 8>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv iterations must be in [1, 64], got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 0>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv iterations must be in [1, 64], got 65}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 65>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv recluster_every must be in [1, 65536], got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 4, recluster_every = 0>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv recluster_every must be in [1, 65536], got 65537}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 4, recluster_every = 65537>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv new_clusters must be in [1, 4096], got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 4, new_clusters = 0>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv new_clusters (8) must not exceed recluster_every (4)}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 4, recluster_every = 4, new_clusters = 8>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv max_clusters must be 0 or in [clusters (64), 16384], got 32}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 32>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv max_clusters must be 0 or in [clusters (64), 16384], got 16385}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 16385>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cluster_kv max_clusters = 0 resolves to clusters + 16 * new_clusters = 20480, above 16384; give max_clusters}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 4096, iterations = 4, recluster_every = 4096, new_clusters = 1024>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op budget must be at least 1 unit, got 0}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(0) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op budget (600) must not exceed the buffer capacity (512)}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(600) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op forced units (sinks 100 + window 100) must fit in the budget (128)}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 100, window = 100>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op softmax_scale must be positive and finite}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = -1.0 : f32}

// -----

// expected-error @below {{'hsa.layer' op streaming_llm selects only the forced units: budget (128) must equal sinks + window (3)}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.streaming_llm) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op dsa selects single tokens: page_size must be 1, got 16}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op dsa needs a latent (MLA) layer: give latent_dim and rope_dim instead of head_dim}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = kv_head>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.layer' op cluster_kv clusters per-head keys: it needs head_dim, not a latent (MLA) layer}}
hsa.layer @l config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 16, iterations = 8>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// expected-error @below {{'hsa.layer' op page-table format 'flash_attn_block_table' indexes pages of all KV heads: it needs scope = request}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flash_attn_block_table)

// -----

// expected-error @below {{'hsa.layer' op page-table format 'flashinfer_csr' indexes pages of all KV heads: it needs scope = request}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flashinfer_csr)

// -----

// expected-error @below {{'hsa.layer' op flash_attn_block_table needs page_size to be a multiple of 16, got 8}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 8, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flash_attn_block_table)

// -----


func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op '@nope' does not reference an hsa.layer}}
  hsa.decode_step @nope queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f() {
  // expected-error @below {{'hsa.state' op layer '@l' has no state buffer named 'buf.nope'}}
  %0 = hsa.state @l "buf.nope" : memref<?xi32, #hsa.tier<device>>
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f() {
  // expected-error @below {{'hsa.state' op operand 'result' must be in the host tier (where the layer places this buffer), but it is in the device tier}}
  %0 = hsa.state @l "host.k" : memref<?x8x16x128xbf16, #hsa.tier<device>>
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op operand 'queries' must be in the device tier (layer inputs and outputs are device tensors), but its memory space is not an #hsa.tier}}
  hsa.decode_step @l queries(%q : memref<?x32x128xbf16>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op operand 'queries' must have element type 'bf16' (buffer 'io.q'), got 'f16'}}
  hsa.decode_step @l queries(%q : memref<?x32x128xf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x16x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op operand 'queries' must have shape [B, 32, 128] (buffer 'io.q'), got 'memref<?x16x128xbf16, #hsa.tier<device>>'}}
  hsa.decode_step @l queries(%q : memref<?x16x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<host>>, %len: memref<?xi32, #hsa.tier<device>>, %kmin: memref<?x8x?x128xbf16, #hsa.tier<device>>, %s: memref<?x8x?xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.score' op operand 'queries' must be in the device tier (score reads only device memory), but it is in the host tier}}
  hsa.score @l queries(%q : memref<?x32x128xbf16, #hsa.tier<host>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmin : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %kmin: memref<?x8x?x128xbf16, #hsa.tier<device>>, %s: memref<?x8x?xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.score' op expects 2 representation(s) for algorithm 'quest', got 1}}
  hsa.score @l queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin : memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%s: memref<?x8x?xf32, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<host>>, %u: memref<?x8x128xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.topk' op operand 'lengths' must be in the device tier (topk selects on the device), but it is in the host tier}}
  hsa.topk @l scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<host>>) into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  return
}

// -----

func.func @f() {
  // expected-error @below {{'hsa.fused' op 'score_topk' holds exactly one hsa.score followed by one hsa.topk}}
  hsa.fused "score_topk" {
  }
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %kmin: memref<?x8x?x128xbf16, #hsa.tier<device>>, %kmax: memref<?x8x?x128xbf16, #hsa.tier<device>>, %s: memref<?x8x?xf32, #hsa.tier<device>>, %other: memref<?x8x?xf32, #hsa.tier<device>>, %u: memref<?x8x128xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.fused' op 'score_topk' needs the top-k to select from the score's output, with the same lengths and layer}}
  hsa.fused "score_topk" {
    hsa.score @l queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
    hsa.topk @l scores(%other : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x8x128xi32, #hsa.tier<device>>)
  }
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %step: memref<?xi32, #hsa.tier<device>>, %r: memref<?x8x512xi32, #hsa.tier<host>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %c: memref<?x8xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.diff' op operand 'slot_unit' must be in the device tier (the buffer's residency lives on the device), but it is in the host tier}}
  hsa.diff @l units(%u : memref<?x8x128xi32, #hsa.tier<device>>) steps(%step : memref<?xi32, #hsa.tier<device>>) residency(%r, %r, %rev : memref<?x8x512xi32, #hsa.tier<host>>, memref<?x8x512xi32, #hsa.tier<host>>, memref<?x8x?xi32, #hsa.tier<device>>) into(%u, %u, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %c: memref<?x8xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.gather' op operand 'host_keys' must be in the host tier (gather copies host -> device), but it is in the device tier}}
  hsa.gather @l copies(%u, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) from(%h, %h : memref<?x8x16x128xbf16, #hsa.tier<device>>, memref<?x8x16x128xbf16, #hsa.tier<device>>) into(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %c: memref<?x8xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.gather' op needs 'host_values': the layer stores keys and values}}
  hsa.gather @l copies(%u, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) from(%h : memref<?x8x16x128xbf16, #hsa.tier<host>>) into(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @m config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(#hsa.buffer<capacity = 128, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @f(%q: memref<?x16x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %u: memref<?x1x64xi32, #hsa.tier<device>>, %b: memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>, %o: memref<?x16x512xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.attend' op takes no 'values': a latent (MLA) layer stores one tensor}}
  hsa.attend @m queries(%q : memref<?x16x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) table(%u, %u : memref<?x1x64xi32, #hsa.tier<device>>, memref<?x1x64xi32, #hsa.tier<device>>) kv(%b, %b : memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>, memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>) into(%o : memref<?x16x512xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %u: memref<?x8x128xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.attend' op operand 'keys' must be in the device tier (attend reads only device memory), but it is in the host tier}}
  hsa.attend @l queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) table(%u, %u : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>) kv(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>) into(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %r: memref<?x8x?x128xbf16, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.update_repr' op operand 'repr.kmin' must be in the device tier (representations live on the device), but it is in the host tier}}
  hsa.update_repr @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<host>>, memref<?x8x?x128xbf16, #hsa.tier<host>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.store_kv' op operand 'device_keys' must be in the device tier (store_kv writes the resident copy in device memory and the host pool through its mapped address), but it is in the host tier}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<device>>) device(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<host>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op needs 'values': the layer stores keys and values}}
  hsa.append @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x1x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op operand 'keys' must have shape [B, 8, 128] (buffer 'io.new_k'), got 'memref<?x1x8x128xbf16, #hsa.tier<device>>'}}
  hsa.append @l keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi64, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op operand 'lengths' must have element type 'i32' (buffer 'req.length'), got 'i64'}}
  hsa.append @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi64, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.prefill' op operand 'lengths' must be in the device tier (layer inputs and outputs are device tensors), but it is in the host tier}}
  hsa.prefill @l lengths(%len : memref<?xi32, #hsa.tier<host>>)
  return
}

// -----

func.func @f(%len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.prefill' op '@nope' does not reference an hsa.layer}}
  hsa.prefill @nope lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.store_kv' op needs 'device_values': the layer stores keys and values}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<device>>) device(%b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, %hk: memref<?x8x16x128xbf16, #hsa.tier<host>>, %pages: memref<?x?xi32, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.store_kv' op takes 'host' and 'pages' together: the token's host page comes from the page table}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<device>>) device(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) host(%hk, %hk : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, %hk: memref<?x8x16x128xbf16, #hsa.tier<host>>, %pages: memref<?x?xi32, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.store_kv' op needs 'host_values': the layer stores keys and values}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<device>>) device(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) host(%hk : memref<?x8x16x128xbf16, #hsa.tier<host>>) pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, %hk: memref<?x8x16x128xbf16, #hsa.tier<host>>, %pages: memref<?x?xi32, #hsa.tier<host>>, %len2: memref<?x?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.store_kv' op operand 'page_of' must be in the host tier (store_kv writes the resident copy in device memory and the host pool through its mapped address), but it is in the device tier}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<device>>) device(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) host(%hk, %hk : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) pages(%len2 : memref<?x?xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<host>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.store_kv' op operand 'unit_slot' must be in the device tier (store_kv writes the resident copy in device memory and the host pool through its mapped address), but it is in the host tier}}
  hsa.store_kv @l keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>) values(%k : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) residency(%rev : memref<?x8x?xi32, #hsa.tier<host>>) device(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x1x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.update_repr' op operand 'keys' must have shape [B, 8, 128] (buffer 'io.new_k'), got 'memref<?x1x8x128xbf16, #hsa.tier<device>>'}}
  hsa.update_repr @l keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<device>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.rebuild_repr' op operand 'page_of' must be in the host tier (rebuild_repr reads the host pool into device representations), but it is in the device tier}}
  hsa.rebuild_repr @l lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<device>>) host(%h : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<device>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.rebuild_repr' op operand 'host_keys' must be in the host tier (rebuild_repr reads the host pool into device representations), but it is in the device tier}}
  hsa.rebuild_repr @l lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) host(%h : memref<?x8x16x128xbf16, #hsa.tier<device>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi64, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.rebuild_repr' op operand 'page_of' must have element type 'i32' (buffer 'host.page_of'), got 'i64'}}
  hsa.rebuild_repr @l lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi64, #hsa.tier<host>>) host(%h : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.rebuild_repr' op expects 2 representation(s) for algorithm 'quest', got 1}}
  hsa.rebuild_repr @l lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) host(%h : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%r : memref<?x8x?x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %r: memref<?x8x?x128xbf16, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.rebuild_repr' op operand 'repr.kmin' must be in the device tier (rebuild_repr reads the host pool into device representations), but it is in the host tier}}
  hsa.rebuild_repr @l lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) host(%h : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%r, %r : memref<?x8x?x128xbf16, #hsa.tier<host>>, memref<?x8x?x128xbf16, #hsa.tier<host>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %c: memref<?x8xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<device>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.gather' op operand 'page_of' must be in the host tier (gather copies host -> device), but it is in the device tier}}
  hsa.gather @l copies(%u, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<device>>) from(%h, %h : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) into(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f() {
  // expected-error @below {{'hsa.state' op operand 'result' must be in the host tier (where the layer places this buffer), but it is in the device tier}}
  %0 = hsa.state @l "host.page_of" : memref<?x?xi32, #hsa.tier<device>>
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f() {
  // The runtime owns the page table: it is host.page_of now.
  // expected-error @below {{'hsa.state' op layer '@l' has no state buffer named 'req.page_of'}}
  %0 = hsa.state @l "req.page_of" : memref<?x?xi32, #hsa.tier<device>>
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f() {
  // expected-error @below {{'hsa.state' op layer '@l' has no state buffer named 'io.counts'}}
  %0 = hsa.state @l "io.counts" : memref<?xi32, #hsa.tier<device>>
  return
}

// -----

hsa.layer @m config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(#hsa.buffer<capacity = 128, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
func.func @f(%k: memref<?x1x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op takes no 'values': a latent (MLA) layer stores one tensor}}
  hsa.append @m keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>) values(%k : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

func.func @f() {
  // expected-error @below {{'hsa.fused' op unknown fusion 'topk_diff' (known: diff_gather, score_topk)}}
  hsa.fused "topk_diff" {
  }
  return
}

// -----

func.func @f() {
  // expected-error @below {{'hsa.fused' op 'diff_gather' holds exactly one hsa.diff followed by one hsa.gather}}
  hsa.fused "diff_gather" {
  }
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %step: memref<?xi32, #hsa.tier<device>>, %r: memref<?x8x512xi32, #hsa.tier<device>>, %rev: memref<?x8x?xi32, #hsa.tier<device>>, %c: memref<?x8xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %h: memref<?x8x16x128xbf16, #hsa.tier<host>>, %b: memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, %other: memref<?x8x128xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.fused' op 'diff_gather' needs the gather to copy the diff's copy list of the same layer}}
  hsa.fused "diff_gather" {
    hsa.diff @l units(%u : memref<?x8x128xi32, #hsa.tier<device>>) steps(%step : memref<?xi32, #hsa.tier<device>>) residency(%r, %r, %rev : memref<?x8x512xi32, #hsa.tier<device>>, memref<?x8x512xi32, #hsa.tier<device>>, memref<?x8x?xi32, #hsa.tier<device>>) into(%u, %u, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>)
    hsa.gather @l copies(%other, %u, %c : memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8x128xi32, #hsa.tier<device>>, memref<?x8xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) from(%h, %h : memref<?x8x16x128xbf16, #hsa.tier<host>>, memref<?x8x16x128xbf16, #hsa.tier<host>>) into(%b, %b : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
  }
  return
}

// -----

// Upper bounds keep every derived size within int64 (found by fuzzing:
// sinks + window overflowed with window = 2^63 - 1).
// expected-error @below {{q_heads (8192) and kv_heads (8) must be at most 4096}}
hsa.layer @l config(#hsa.config<q_heads = 8192, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{head and latent dims must be at most 65536, got 9223372036854775807}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 9223372036854775807, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{page_size must be at most 1048576 tokens, got 2097152}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 2097152, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{buffer capacity must be at most 16777216 units, got 16777217}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 16777217, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{sinks (1) and window (9223372036854775807) must be at most 16777216 units}}
hsa.layer @l config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 16, scope = request>) algorithm(#hsa.streaming_llm) budget(4) buffer(<capacity = 4, policy = lru>) forced(<sinks = 1, window = 9223372036854775807>) format(#hsa.native)

// -----

// expected-error @below {{'hsa.kernel_buffers' must be an array of buffer descriptions}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {hsa.kernel_buffers = "scratch"}

// -----

// expected-error @below {{'hsa.kernel_buffers' entry 1 is not a buffer description {name, tier, element, shape (integers or "B", "N", "pages", "B+1"), fill}}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {hsa.kernel_buffers = [{element = f32, fill = 0 : i64, name = "scratch.a", shape = ["B", 4], tier = #hsa.tier<device>}, {element = f32, fill = 0 : i64, name = "scratch.b", shape = ["T", 4], tier = #hsa.tier<device>}]}

// -----

// expected-error @below {{'hsa.kernel_buffers' declares 'scratch.a' twice}}
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native) {hsa.kernel_buffers = [{element = f32, fill = 0 : i64, name = "scratch.a", shape = ["B", 4], tier = #hsa.tier<device>}, {element = i32, fill = 0 : i64, name = "scratch.a", shape = ["B"], tier = #hsa.tier<device>}]}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%u: memref<?x8x128xi32, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.page_table' op has no tables to write: format 'native' exports none (hsa's own attention reads sel.slots)}}
  hsa.page_table @l units(%u : memref<?x8x128xi32, #hsa.tier<device>>) slots(%u : memref<?x8x128xi32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flashinfer_csr)
func.func @f(%u: memref<?x1x128xi32, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %t: memref<?x128xi32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.page_table' op expects 3 table(s) for format 'flashinfer_csr' (fi.indptr, fi.indices, fi.last_page_len), got 1}}
  hsa.page_table @l units(%u : memref<?x1x128xi32, #hsa.tier<device>>) slots(%u : memref<?x1x128xi32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%t : memref<?x128xi32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x128x512xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op expects 2 algorithm input(s) for algorithm 'dsa' (io.index_q, io.index_w), got 0}}
  hsa.decode_step @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x128x512xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x128x512xbf16, #hsa.tier<device>>, %iq: memref<?x64x128xbf16, #hsa.tier<device>>, %iw: memref<?x64xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op operand 'io.index_q' must have element type 'f8E4M3FN' (buffer 'io.index_q'), got 'bf16'}}
  hsa.decode_step @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x128x512xbf16, #hsa.tier<device>>) inputs(%iq, %iw : memref<?x64x128xbf16, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%k: memref<?x1x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %ik: memref<?x64xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.append' op operand 'io.new_index_k' must have shape [B, 128] (buffer 'io.new_index_k'), got 'memref<?x64xbf16, #hsa.tier<device>>'}}
  hsa.append @dsa keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) inputs(%ik : memref<?x64xbf16, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.decode_step' op expects 0 algorithm input(s) for algorithm 'quest', got 1}}
  hsa.decode_step @l queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%o : memref<?x32x128xbf16, #hsa.tier<device>>) inputs(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

// The stage ops take the high-level op's step inputs.
hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %keys: memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, %scales: memref<?x?xf32, #hsa.tier<device>>, %s: memref<?x1x?xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.score' op expects 2 algorithm input(s) for algorithm 'dsa' (io.index_q, io.index_w), got 0}}
  hsa.score @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  return
}

// -----

// DSA's host.index_k is a host representation: rebuild_repr reads it.
hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%len: memref<?xi32, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %hk: memref<?x1x1x576xbf16, #hsa.tier<host>>, %keys: memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, %scales: memref<?x?xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.rebuild_repr' op expects 1 host representation(s) for algorithm 'dsa' (host.index_k), got 0}}
  hsa.rebuild_repr @dsa lengths(%len : memref<?xi32, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) host(%hk : memref<?x1x1x576xbf16, #hsa.tier<host>>) reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
  return
}

// -----

hsa.layer @dsa config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
func.func @f(%k: memref<?x1x576xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %ik: memref<?x128xbf16, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>, %hik: memref<?x1x128xbf16, #hsa.tier<device>>, %keys: memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, %scales: memref<?x?xf32, #hsa.tier<device>>) {
  // expected-error @below {{'hsa.update_repr' op operand 'host.index_k' must be in the host tier (host representations live in the host pool, beside host.k), but it is in the device tier}}
  hsa.update_repr @dsa keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>) inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>) pages(%p : memref<?x?xi32, #hsa.tier<host>>) host(%hik : memref<?x1x128xbf16, #hsa.tier<device>>)
  return
}

// -----

// Quest has no host representations: its update_repr takes no page table.
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%k: memref<?x8x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>, %r: memref<?x8x?x128xbf16, #hsa.tier<device>>, %p: memref<?x?xi32, #hsa.tier<host>>) {
  // expected-error @below {{'hsa.update_repr' op takes 'pages' exactly when it writes host representations: their rows go to the token's page of the host pool}}
  "hsa.update_repr"(%k, %len, %r, %r, %p) <{layer = @l, operandSegmentSizes = array<i32: 1, 1, 2, 0, 1, 0>}> : (memref<?x8x128xbf16, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x?xi32, #hsa.tier<host>>) -> ()
  return
}

// -----

// expected-error @below {{'hsa.layer' op a latent (MLA) layer needs its model's softmax scale: add {softmax_scale = ... : f32} (DeepSeek-V3.2: 192^-0.5 * (0.1 * ln(40) + 1)^2 = 0.1353), 1/sqrt(latent_dim + rope_dim) is not it}}
hsa.layer @l config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>) forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices)
