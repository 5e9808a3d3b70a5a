// Llama-3-8B-like attention layer (32 query heads, 8 KV heads, head dim 128,
// bf16) with Quest page selection per KV head: 16-token pages, a budget of
// 128 pages (2048 tokens) and a device LRU buffer of 512 pages (4x). The full
// KV cache lives in host memory; the GPU holds Quest's key bounds and the
// buffer.
//
//   hsa-opt examples/llama3-8b-quest.mlir                        # verify
//   hsa-opt --hsa-expand-algorithm examples/llama3-8b-quest.mlir # stages

hsa.layer @llama3_8b_attn
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

// Prompt: the runtime has written the prompts to the host pool and uploaded
// the new lengths; rebuild the key bounds of every unit from host memory.
func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @llama3_8b_attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// One decode step: score pages, keep the top 128 per KV head, copy only the
// misses from host to the buffer, attend.
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @llama3_8b_attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// The token the model just produced (token lengths[b] of request b, already
// in the host cache): resident slot, key bounds.
func.func @append(%keys: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @llama3_8b_attn keys(%keys : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
