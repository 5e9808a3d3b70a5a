// Every limit of the kernel generators (check*Limits, one per kernel family)
// refuses the layer at its declaration when HSAToGPU is registered, as in
// hsa-opt and hsa-compile; a layer whose algorithm has no kernels yet still
// verifies (lowering refuses it with that reason).
//
// RUN: hsa-opt %s -split-input-file -verify-diagnostics

// Kernels move 16-byte vectors: 8 bf16 elements.
// expected-error @below {{cannot be lowered: the key dim (100) must be a multiple of 8 (kernels move 16-byte vectors)}}
hsa.layer @dim config(<q_heads = 8, kv_heads = 8, head_dim = 100, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// expected-error @below {{cannot be lowered: the value dim (36) must be a multiple of 8}}
hsa.layer @latent config(<q_heads = 16, kv_heads = 1, latent_dim = 36, rope_dim = 68, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(64) buffer(<capacity = 128, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// mean_query stages each unit's mean query in f32: 16 KV heads x 576 x 4 B.
// expected-error @below {{cannot be lowered: mean_query needs 36864 bytes of staged queries (limit 32768)}}
hsa.layer @mean config(<q_heads = 16, kv_heads = 16, head_dim = 576, kv_dtype = bf16, page_size = 16, scope = request>) algorithm(#hsa.quest<combine = mean_query>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// ClusterKV rows of a key or centroid live in at most 32 lanes of 8 elements.
// expected-error @below {{cannot be lowered: cluster_kv kernels hold a key row in at most 32 lanes of 8 elements, so the head dim must be at most 256, got 512}}
hsa.layer @wide config(<q_heads = 8, kv_heads = 8, head_dim = 512, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// ClusterKV's `sum` over pages keeps one score-table row per query head of a
// KV head in the k-means scratch (Cmax x D floats): G <= D.
// expected-error @below {{cannot be lowered: cluster_kv's sum score keeps one table row per query head of a KV head in scratch.cluster_sums, so the GQA group (128) must be at most the head dim (64)}}
hsa.layer @group config(<q_heads = 128, kv_heads = 1, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, combine = sum>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// The same group with one token per unit needs one summed row: it lowers.
hsa.layer @group_tokens config(<q_heads = 128, kv_heads = 1, head_dim = 64, kv_dtype = bf16, page_size = 1, scope = kv_head>) algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, combine = sum>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// The top-k check comes before the diff's (whose capacity limit this breaks too).
// expected-error @below {{cannot be lowered: budget must be below 65536 units, got 65536}}
hsa.layer @budget config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(65536) buffer(<capacity = 65536, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)

// -----

// No kernels for DSA yet: the layer verifies; lowering says why it stops.
hsa.layer @dsa config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// -----

// DSA's quantiser: a warp covers a key row in runs of 128 (4 per lane).
// expected-error @below {{cannot be lowered: dsa's quantiser covers a key row in runs of 128 elements (4 per lane of a warp), so index_dim must be a multiple of 128, got 64}}
hsa.layer @dsa_dim config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 64, index_dim = 64, index_dtype = f8E4M3FN>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}

// -----

// DSA's score stages the indexer queries as f32: 128 heads x 128 x 4 B.
// expected-error @below {{cannot be lowered: dsa's score stages the indexer queries as f32, index_heads x index_dim x 4 = 65536 bytes (limit 32768)}}
hsa.layer @dsa_heads config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.dsa<index_heads = 128, index_dim = 128, index_dtype = f8E4M3FN>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}
