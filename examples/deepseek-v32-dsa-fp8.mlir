// DeepSeek-V3.2-like layer with DSA over FlashMLA's fp8 latent cache: the
// layer of deepseek-v32-dsa.mlir with kv_dtype = f8E4M3FN, 656 bytes per
// token (512 e4m3 latent bytes, 4 f32 scales of 128 elements each, 64 bf16
// rope values) instead of 1152. Queries and outputs stay bf16; append and
// prefill take the rows already quantised (as an engine's FlashMLA cache
// writer produces them; hsattn_quantize_fp8_latent does it for bf16 rows);
// the attention kernel dequantises them in registers.
//
//   hsa-compile examples/deepseek-v32-dsa-fp8.mlir -o dsa-fp8.hsa

hsa.layer @dsv32_attn
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = f8E4M3FN, page_size = 1,
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

func.func @append(%latent: memref<?x1x656xi8, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>,
                  %index_k: memref<?x128xbf16, #hsa.tier<device>>) {
  hsa.append @dsv32_attn keys(%latent : memref<?x1x656xi8, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      inputs(%index_k : memref<?x128xbf16, #hsa.tier<device>>)
  return
}
