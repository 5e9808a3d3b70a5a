// The LRU diff kernel keeps one 8-byte slot key per slot (padded to a power
// of two) in shared memory: static up to 4096 slots, dynamic up to 16384
// (128 KiB per block). A larger buffer capacity is refused where the layer
// declares it (HSAToGPU's LoweringLimitsOpInterface model of hsa.layer),
// before any stage op is lowered.
//
// RUN: hsa-opt %s -split-input-file -verify-diagnostics
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu -verify-diagnostics

// 16385 pads to 32768 slot keys (256 KiB).
// expected-error @below {{cannot be lowered: buffer capacity 16385 exceeds the LRU diff kernel's limit of 16384 slots (it keeps one 8-byte key per slot, padded to a power of two, in at most 128 KiB of shared memory per block: dynamic shared memory above 4096 slots, which the GPU must provide: sm_80 allows 163 KiB, sm_90 227 KiB, sm_86/sm_89 99 KiB)}}
hsa.layer @over config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 16385, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)

// -----

// expected-error @below {{cannot be lowered: buffer capacity 32768 exceeds the LRU diff kernel's limit of 16384 slots}}
hsa.layer @big config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 32768, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// The static limit and the first capacities past it (dynamic shared memory)
// lower: 4096 slots (32 KiB of static keys), 4097 (pads to 8192 keys, 64
// KiB dynamic), 8192 (DeepSeek DSA's top-2048 with a 4x buffer) and the limit
// itself, 16384 (128 KiB dynamic).
hsa.layer @static_edge config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
hsa.layer @dynamic_first config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 4097, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
hsa.layer @dsa_like config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}
hsa.layer @edge config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 16384, policy = lru>) forced(<sinks = 4, window = 64>) format(#hsa.native)
