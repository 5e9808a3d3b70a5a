// DeepSeek-V3.2-like layer with DSA: multi-head latent attention (128 query
// heads over one latent KV head of 512 + 64 rope dims, bf16: 1152 B per
// token), token-level selection (page_size = 1) of the top 2048 tokens by the
// learned indexer (64 heads x 128 dims, fp8 keys with a per-token scale),
// and a device buffer of 8192 tokens (4x). Decode takes the indexer queries
// (fp8, the per-head scale folded into the head weights) and the head
// weights; append takes the new token's indexer key in bf16, which its
// kernel quantises by V3.2's rule into repr.index_keys / repr.index_scales
// and also writes to the host pool's host.index_k; prefill quantises every
// prompt token's key from host.index_k. The indexer kernels run on CUDA
// cores (docs/algorithms/dsa.md gives their plans).
//
//   hsa-compile examples/deepseek-v32-dsa.mlir -o dsa.hsa

hsa.layer @dsv32_attn
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048)
  buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>)
  format(#hsa.token_indices)
  {softmax_scale = 0.1352338 : f32}

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @dsv32_attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @decode_step(%q: memref<?x128x576xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x128x512xbf16, #hsa.tier<device>>,
                       %index_q: memref<?x64x128xf8E4M3FN, #hsa.tier<device>>,
                       %index_w: memref<?x64xf32, #hsa.tier<device>>) {
  hsa.decode_step @dsv32_attn queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x128x512xbf16, #hsa.tier<device>>)
      inputs(%index_q, %index_w : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>,
                                  memref<?x64xf32, #hsa.tier<device>>)
  return
}

func.func @append(%latent: memref<?x1x576xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>,
                  %index_k: memref<?x128xbf16, #hsa.tier<device>>) {
  hsa.append @dsv32_attn keys(%latent : memref<?x1x576xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      inputs(%index_k : memref<?x128xbf16, #hsa.tier<device>>)
  return
}
