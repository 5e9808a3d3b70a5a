// Llama-3-8B-like attention layer (32 query heads, 8 KV heads, head dim 128,
// bf16) with ClusterKV selection per KV head (docs/algorithms/cluster_kv.md):
// at prefill every KV head's keys are clustered into 64 centroids by cosine
// k-means (4 rounds); every 256 appended tokens add 4 more, up to 128. A
// 16-token page scores as the best of its tokens' centroids for the query;
// the top 64 pages (1024 tokens) per KV head are attended, from a device LRU
// buffer of 128 pages. The full KV cache lives in host memory.
//
//   hsa-opt examples/llama3-8b-cluster-kv.mlir                        # verify
//   hsa-opt --hsa-expand-algorithm examples/llama3-8b-cluster-kv.mlir # stages

hsa.layer @llama3_8b_cluster
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, recluster_every = 256,
                            new_clusters = 4, max_clusters = 128, combine = max>)
  budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

// Prompt: the runtime has written the prompts to the host pool and uploaded
// the new lengths; cluster every prompt's keys, read from host memory.
func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @llama3_8b_cluster lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// One decode step: score pages by their tokens' centroids, keep the top 64
// per KV head, copy only the misses from host to the buffer, attend.
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @llama3_8b_cluster queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// The token the model just produced (token lengths[b] of request b, already
// in the host cache): resident slot, its nearest centroid, and a new round
// of clusters when 256 tokens have gathered since the last.
func.func @append(%keys: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @llama3_8b_cluster keys(%keys : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
