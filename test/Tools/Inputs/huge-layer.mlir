// Valid, but one request holds a 32 GiB unit buffer (C = 4096 pages of 1024
// tokens x 16 KV heads x 128 x bf16, K and V) against a 1 GiB full cache.
hsa.layer @huge
  config(#hsa.config<q_heads = 512, kv_heads = 16, head_dim = 128,
                     kv_dtype = bf16, page_size = 1024, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(4096)
  buffer(#hsa.buffer<capacity = 4096, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @huge lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @decode_step(%q: memref<?x512x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x512x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @huge queries(%q : memref<?x512x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x512x128xbf16, #hsa.tier<device>>)
  return
}

func.func @append(%keys: memref<?x16x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x16x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @huge keys(%keys : memref<?x16x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x16x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
