// convert-hsa-to-gpu makes the module it runs on the gpu.container_module:
// stage ops in a nested module are refused, not lowered into launches that
// do not verify (found by hsa-fuzz-passes, fuzz/regressions/).
// RUN: hsa-opt %s --convert-hsa-to-gpu -verify-diagnostics -o /dev/null

module {
module {
hsa.layer @l config(<q_heads = 8, kv_heads = 8, head_dim = 64, kv_dtype = f16, page_size = 64, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(1) buffer(<capacity = 1, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @f(%len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @l "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %u = hsa.state @l "sel.units" : memref<?x8x1xi32, #hsa.tier<device>>
  // expected-error @below {{'hsa.topk' op is in a nested module: convert-hsa-to-gpu lowers stage ops of the module it runs on only}}
  hsa.topk @l scores(%s : memref<?x8x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x8x1xi32, #hsa.tier<device>>)
  return
}
}
}
