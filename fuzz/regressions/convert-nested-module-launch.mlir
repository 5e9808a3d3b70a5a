// hsa-fuzz-passes (fixed: convert-hsa-to-gpu refuses stage ops of a nested module): convert-hsa-to-gpu succeeds but leaves IR that does not verify when the layer and its stage ops sit in a nested builtin.module ('gpu.launch_func' op expected the closest surrounding module to have the 'gpu.container_module' attribute; with that attribute on the inner module: kernel container 'hsa_kernels' is undefined): stack top hsa::fuzz::finding <- VerifyAfterEachPass::runAfterPass after convert-hsa-to-gpu
module {
module {
hsa.layer @l config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 64, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(1) buffer(<capacity = 1, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @l "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @l "sel.units" : memref<?x8x1xi32, #hsa.tier<device>>
  hsa.topk @l scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x8x1xi32, #hsa.tier<device>>)
  return
}
}
}
