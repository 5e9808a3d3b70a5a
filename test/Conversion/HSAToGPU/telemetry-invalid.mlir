// What convert-hsa-to-gpu{telemetry} refuses (Algorithms/Quest.cpp): a score
// without the top-k its bound's tail runs after, and a layer whose per-head
// bound table does not fit beside the staged queries.
//
// RUN: hsa-opt %s -split-input-file --convert-hsa-to-gpu=telemetry -verify-diagnostics

hsa.layer @alone config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(128) buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
func.func @alone_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @alone "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @alone "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  %kmax = hsa.state @alone "repr.kmax" : memref<?x8x?x128xbf16, #hsa.tier<device>>
  // expected-error @below {{cannot be lowered with telemetry: no hsa.topk of these scores follows it (the bound's tail runs after the selection)}}
  hsa.score @alone queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x8x?x128xbf16, #hsa.tier<device>>, memref<?x8x?x128xbf16, #hsa.tier<device>>) into(%s : memref<?x8x?xf32, #hsa.tier<device>>)
  return
}

// -----

// 128 query heads on one 64-dim KV head: 32 KiB of staged queries and a
// table of 128 units x 128 heads (64 KiB).
hsa.layer @wide config(<q_heads = 128, kv_heads = 1, head_dim = 64, kv_dtype = bf16, page_size = 16, scope = kv_head>) algorithm(#hsa.quest<combine = max>) budget(16) buffer(<capacity = 64, policy = lru>) forced(<sinks = 1, window = 1>) format(#hsa.native)
func.func @wide_step(%q: memref<?x128x64xbf16, #hsa.tier<device>>, %len: memref<?xi32, #hsa.tier<device>>) {
  %s = hsa.state @wide "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  %kmin = hsa.state @wide "repr.kmin" : memref<?x1x?x64xbf16, #hsa.tier<device>>
  %kmax = hsa.state @wide "repr.kmax" : memref<?x1x?x64xbf16, #hsa.tier<device>>
  %u = hsa.state @wide "sel.units" : memref<?x1x16xi32, #hsa.tier<device>>
  // expected-error @below {{cannot be lowered with telemetry: the score kernel needs 98304 bytes of shared memory with its per-head bound table (limit 49152)}}
  hsa.score @wide queries(%q : memref<?x128x64xbf16, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) reprs(%kmin, %kmax : memref<?x1x?x64xbf16, #hsa.tier<device>>, memref<?x1x?x64xbf16, #hsa.tier<device>>) into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  hsa.topk @wide scores(%s : memref<?x1x?xf32, #hsa.tier<device>>) lengths(%len : memref<?xi32, #hsa.tier<device>>) into(%u : memref<?x1x16xi32, #hsa.tier<device>>)
  return
}
