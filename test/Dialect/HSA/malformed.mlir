// Malformed input gets a located diagnostic and a non-zero exit, never a crash.
// RUN: split-file --leading-lines %s %t
// RUN: not hsa-opt %t/syntax.mlir 2>&1 | FileCheck %s --check-prefix=SYNTAX
// RUN: not hsa-opt %t/enum.mlir 2>&1 | FileCheck %s --check-prefix=ENUM
// RUN: not hsa-opt %t/param.mlir 2>&1 | FileCheck %s --check-prefix=PARAM
// RUN: not hsa-opt %t/algorithm.mlir 2>&1 | FileCheck %s --check-prefix=ALGO
// RUN: not hsa-opt %t/shape.mlir 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not hsa-opt %t/format.mlir 2>&1 | FileCheck %s --check-prefix=FORMAT

//--- syntax.mlir
// SYNTAX: syntax.mlir:[[# @LINE + 1]]:14: error: custom op 'hsa.layer' expected 'config'
hsa.layer @l budget(4)

//--- enum.mlir
// ENUM: enum.mlir:[[# @LINE + 1]]:{{[0-9]+}}: error: expected ::mlir::hsa::SelectionScope to be one of: request, kv_head
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = per_token>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

//--- param.mlir
// PARAM: param.mlir:[[# @LINE + 1]]:{{[0-9]+}}: error: struct is missing required parameter: page_size
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

//--- algorithm.mlir
// ALGO: algorithm.mlir:[[# @LINE + 1]]:{{[0-9]+}}: error: custom op 'hsa.layer' expected a sparse-attention algorithm (#hsa.quest, #hsa.streaming_llm, #hsa.dsa, #hsa.cluster_kv), got #hsa.native
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.native) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

//--- shape.mlir
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)
func.func @f(%q: memref<?x32x64xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  // SHAPE: shape.mlir:[[# @LINE + 1]]:3: error: 'hsa.decode_step' op operand 'queries' must have shape [B, 32, 128]
  hsa.decode_step @l queries(%q : memref<?x32x64xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%q : memref<?x32x64xbf16, #hsa.tier<device>>)
  return
}

//--- format.mlir
// FORMAT: format.mlir:[[# @LINE + 1]]:{{[0-9]+}}: error: custom op 'hsa.layer' expected a page-table format (#hsa.native, #hsa.flash_attn_block_table, #hsa.flashinfer_csr, #hsa.token_indices), got #hsa.quest<combine = max>
hsa.layer @l config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(#hsa.buffer<capacity = 512, policy = lru>) forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.quest<combine = max>)
