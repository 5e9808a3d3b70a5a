// The LRU diff kernel keeps one 8-byte sort key per slot in 32 KiB of shared
// memory: a larger buffer capacity is refused where the layer declares it
// (HSAToGPU's LoweringLimitsOpInterface model of hsa.layer), before any
// stage op is lowered.
//
// RUN: hsa-opt %s -split-input-file -verify-diagnostics
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu -verify-diagnostics

// expected-error @below {{cannot be lowered: buffer capacity 8192 exceeds the LRU diff kernel's limit of 4096 slots}}
hsa.layer @big config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)

// -----

// 4097 pads to 8192 sort keys.
// expected-error @below {{cannot be lowered: buffer capacity 4097 exceeds the LRU diff kernel's limit of 4096 slots}}
hsa.layer @over config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 4097, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)

// -----

// The limit itself lowers.
hsa.layer @edge config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 4096, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
