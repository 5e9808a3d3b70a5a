// StreamingLLM on a Llama-3-8B-like layer: every step attends to the first 4
// pages (attention sinks) and the last 60 pages (the recent window), 64 pages
// of 16 tokens in all. No representations and no scoring; the LRU buffer
// keeps the window resident, so each step copies at most the new page.
//
//   hsa-opt --hsa-expand-algorithm examples/streaming.mlir

hsa.layer @streaming_attn
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm)
  budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 60>)
  format(#hsa.flash_attn_block_table)

// No representations: the prefill has nothing to rebuild (it expands to no
// stage), and append only writes the token into its resident slot.
func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @streaming_attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @streaming_attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

func.func @append(%keys: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @streaming_attn keys(%keys : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
