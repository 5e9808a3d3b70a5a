// ClusterKV with the paper's 400 clusters and 8 rounds (Cmax 464): the
// prefill passes loop over centroid tiles of 64.
hsa.layer @cluster_many
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 400, iterations = 8>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @cluster_many lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @cluster_many queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

func.func @append(%keys: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @cluster_many keys(%keys : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
