// RUN: hsa-opt %s | hsa-opt | FileCheck %s
// RUN: hsa-opt %s --mlir-print-op-generic | hsa-opt | FileCheck %s
// RUN: hsa-opt %s --canonicalize | FileCheck %s --check-prefix=CANON

// Every attribute and op of the dialect prints and parses back unchanged.

// CHECK-LABEL: hsa.layer @quest
// CHECK-SAME: config(<q_heads = 32, kv_heads = 8, head_dim = 128, kv_dtype = bf16, page_size = 16, scope = kv_head>)
// CHECK-SAME: algorithm(#hsa.quest<combine = max>) budget(128)
// CHECK-SAME: buffer(<capacity = 512, policy = lru>) forced(<sinks = 1, window = 2>) format(#hsa.native)
hsa.layer @quest
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @quest_sum_request
// CHECK-SAME: scope = request
// CHECK-SAME: algorithm(#hsa.quest<combine = sum>)
// CHECK-SAME: format(#hsa.flashinfer_csr)
// CHECK-SAME: softmax_scale = 1.250000e-01 : f32
hsa.layer @quest_sum_request
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = f16, page_size = 32, scope = request>)
  algorithm(#hsa.quest<combine = sum>) budget(4)
  buffer(#hsa.buffer<capacity = 4, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.flashinfer_csr)
  {softmax_scale = 0.125 : f32}

// CHECK-LABEL: hsa.layer @mean_query
// CHECK-SAME: algorithm(#hsa.quest<combine = mean_query>)
// CHECK-SAME: format(#hsa.flash_attn_block_table)
hsa.layer @mean_query
  config(#hsa.config<q_heads = 64, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 64, scope = request>)
  algorithm(#hsa.quest<combine = mean_query>) budget(32)
  buffer(#hsa.buffer<capacity = 96, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.flash_attn_block_table)

// CHECK-LABEL: hsa.layer @streaming
// CHECK-SAME: algorithm(#hsa.streaming_llm)
hsa.layer @streaming
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm) budget(8)
  buffer(#hsa.buffer<capacity = 16, policy = lru>)
  forced(#hsa.forced<sinks = 2, window = 6>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @dsa
// CHECK-SAME: latent_dim = 512, rope_dim = 64
// CHECK-SAME: algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
// CHECK-SAME: format(#hsa.token_indices)
hsa.layer @dsa
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices)
  {softmax_scale = 0.1352338 : f32}

// CHECK-LABEL: hsa.layer @cluster
// CHECK-SAME: algorithm(#hsa.cluster_kv<clusters = 400, iterations = 8>)
hsa.layer @cluster
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 400, iterations = 8>) budget(2048)
  buffer(#hsa.buffer<capacity = 4096, policy = lru>)
  forced(#hsa.forced<sinks = 16, window = 64>) format(#hsa.native)

// Every ClusterKV parameter given; defaults (recluster_every 256,
// new_clusters 4, max_clusters 0, combine max) are not printed.
// CHECK-LABEL: hsa.layer @cluster_full
// CHECK-SAME: algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, recluster_every = 512, new_clusters = 8, max_clusters = 256, combine = mean_query>)
hsa.layer @cluster_full
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, recluster_every = 512,
                            new_clusters = 8, max_clusters = 256,
                            combine = mean_query>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @cluster_defaults
// CHECK-SAME: algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, combine = sum>)
hsa.layer @cluster_defaults
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, recluster_every = 256,
                            max_clusters = 0, combine = sum>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

!q = memref<?x32x128xbf16, #hsa.tier<device>>
!len = memref<?xi32, #hsa.tier<device>>
!kv = memref<?x8x128xbf16, #hsa.tier<device>>
!repr = memref<?x8x?x128xbf16, #hsa.tier<device>>
!scores = memref<?x8x?xf32, #hsa.tier<device>>
!sel = memref<?x8x128xi32, #hsa.tier<device>>
!res = memref<?x8x512xi32, #hsa.tier<device>>
!rev = memref<?x8x?xi32, #hsa.tier<device>>
!count = memref<?x8xi32, #hsa.tier<device>>
!pages = memref<?x?xi32, #hsa.tier<host>>
!host = memref<?x8x16x128xbf16, #hsa.tier<host>>
!buf = memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>

// CHECK-LABEL: func.func @high_level
// CHECK: hsa.prefill @quest lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>)
// CHECK: hsa.decode_step @quest queries(%{{.*}} : memref<?x32x128xbf16, #hsa.tier<device>>) lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>) into(%{{.*}} : memref<?x32x128xbf16, #hsa.tier<device>>)
// CHECK: hsa.append @quest keys(%{{.*}} : memref<?x8x128xbf16, #hsa.tier<device>>) values(%{{.*}} : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>)
// prefill and append only read their operands but write the layer's state:
// canonicalization must keep them.
// CANON-LABEL: func.func @high_level
// CANON: hsa.prefill @quest
// CANON: hsa.decode_step @quest
// CANON: hsa.append @quest
func.func @high_level(%q: !q, %len: !len, %k: !kv, %v: !kv, %o: !q) {
  hsa.prefill @quest lengths(%len : !len)
  hsa.decode_step @quest queries(%q : !q) lengths(%len : !len) into(%o : !q)
  hsa.append @quest keys(%k : !kv) values(%v : !kv) lengths(%len : !len)
  return
}

// CHECK-LABEL: func.func @stages
// CHECK: %[[KMIN:.*]] = hsa.state @quest "repr.kmin" : memref<?x8x?x128xbf16, #hsa.tier<device>>
// CHECK: hsa.score @quest queries(%{{.*}}) lengths(%{{.*}}) reprs(%[[KMIN]], %{{.*}} : {{.*}}) into(%{{.*}})
// CHECK: hsa.topk @quest scores
// CHECK: hsa.diff @quest units
// CHECK: hsa.gather @quest copies
// CHECK: hsa.attend @quest queries
// CHECK: hsa.update_repr @quest keys(%{{.*}} : memref<?x8x128xbf16, #hsa.tier<device>>) lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>) reprs(%[[KMIN]], %{{.*}} : {{.*}})
// CHECK: hsa.rebuild_repr @quest lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>) pages(%{{.*}} : memref<?x?xi32, #hsa.tier<host>>) host(%{{.*}} : memref<?x8x16x128xbf16, #hsa.tier<host>>) reprs(%[[KMIN]], %{{.*}} : {{.*}})
// CHECK: hsa.store_kv @quest keys(%{{.*}} : memref<?x8x128xbf16, #hsa.tier<device>>) values(%{{.*}}) lengths(%{{.*}}) residency(%{{.*}} : memref<?x8x?xi32, #hsa.tier<device>>) device(%{{.*}}, %{{.*}} : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>, memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>)
func.func @stages(%q: !q, %len: !len, %k: !kv, %v: !kv, %o: !q) {
  %kmin = hsa.state @quest "repr.kmin" : !repr
  %kmax = hsa.state @quest "repr.kmax" : !repr
  %scores = hsa.state @quest "sel.scores" : !scores
  %units = hsa.state @quest "sel.units" : !sel
  %step = hsa.state @quest "req.step" : !len
  %slot_unit = hsa.state @quest "buf.slot_unit" : !res
  %last_used = hsa.state @quest "buf.last_used" : !res
  %unit_slot = hsa.state @quest "buf.unit_slot" : !rev
  %slots = hsa.state @quest "sel.slots" : !sel
  %cu = hsa.state @quest "sel.copy_units" : !sel
  %cs = hsa.state @quest "sel.copy_slots" : !sel
  %cc = hsa.state @quest "sel.copy_count" : !count
  %pages = hsa.state @quest "host.page_of" : !pages
  %hk = hsa.state @quest "host.k" : !host
  %hv = hsa.state @quest "host.v" : !host
  %bk = hsa.state @quest "buf.k" : !buf
  %bv = hsa.state @quest "buf.v" : !buf
  hsa.score @quest queries(%q : !q) lengths(%len : !len) reprs(%kmin, %kmax : !repr, !repr) into(%scores : !scores)
  hsa.topk @quest scores(%scores : !scores) lengths(%len : !len) into(%units : !sel)
  hsa.diff @quest units(%units : !sel) steps(%step : !len)
      residency(%slot_unit, %last_used, %unit_slot : !res, !res, !rev)
      into(%slots, %cu, %cs, %cc : !sel, !sel, !sel, !count)
  hsa.gather @quest copies(%cu, %cs, %cc : !sel, !sel, !count) pages(%pages : !pages)
      from(%hk, %hv : !host, !host) into(%bk, %bv : !buf, !buf)
  hsa.attend @quest queries(%q : !q) lengths(%len : !len) table(%units, %slots : !sel, !sel)
      kv(%bk, %bv : !buf, !buf) into(%o : !q)
  hsa.update_repr @quest keys(%k : !kv) lengths(%len : !len) reprs(%kmin, %kmax : !repr, !repr)
  hsa.rebuild_repr @quest lengths(%len : !len) pages(%pages : !pages) host(%hk : !host) reprs(%kmin, %kmax : !repr, !repr)
  hsa.store_kv @quest keys(%k : !kv) values(%v : !kv) lengths(%len : !len)
      residency(%unit_slot : !rev) device(%bk, %bv : !buf, !buf)
  return
}

// CHECK-LABEL: func.func @latent
// CHECK: hsa.gather @dsa copies({{.*}}) pages(%{{.*}} : memref<?x?xi32, #hsa.tier<host>>) from(%{{[^,]*}} : memref<?x1x1x576xbf16, #hsa.tier<host>>) into(%{{[^,]*}} : memref<?x1x8192x1x1x576xbf16, #hsa.tier<device>>)
// CHECK: hsa.append @dsa keys(%{{.*}} : memref<?x1x576xbf16, #hsa.tier<device>>) lengths({{.*}}) inputs(%{{.*}} : memref<?x128xbf16, #hsa.tier<device>>)
// CHECK: hsa.store_kv @dsa keys(%{{.*}} : memref<?x1x576xbf16, #hsa.tier<device>>) lengths({{.*}}) residency({{.*}}) device(%{{[^,]*}} : memref<?x1x8192x1x1x576xbf16, #hsa.tier<device>>)
func.func @latent(%nk: memref<?x1x576xbf16, #hsa.tier<device>>, %len: !len, %ik: memref<?x128xbf16, #hsa.tier<device>>) {
  %cu = hsa.state @dsa "sel.copy_units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %cs = hsa.state @dsa "sel.copy_slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %cc = hsa.state @dsa "sel.copy_count" : memref<?x1xi32, #hsa.tier<device>>
  %pages = hsa.state @dsa "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @dsa "host.k" : memref<?x1x1x576xbf16, #hsa.tier<host>>
  %bk = hsa.state @dsa "buf.k" : memref<?x1x8192x1x1x576xbf16, #hsa.tier<device>>
  %us = hsa.state @dsa "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  hsa.gather @dsa copies(%cu, %cs, %cc : memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>)
      pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
      from(%hk : memref<?x1x1x576xbf16, #hsa.tier<host>>)
      into(%bk : memref<?x1x8192x1x1x576xbf16, #hsa.tier<device>>)
  hsa.append @dsa keys(%nk : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : !len)
      inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
  hsa.store_kv @dsa keys(%nk : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : !len)
      residency(%us : memref<?x1x?xi32, #hsa.tier<device>>)
      device(%bk : memref<?x1x8192x1x1x576xbf16, #hsa.tier<device>>)
  return
}

// DSA's stage ops: the score and append take the step inputs, append and
// prefill the host representation host.index_k.
// CHECK-LABEL: func.func @dsa_stages
// CHECK: hsa.score @dsa queries({{.*}}) lengths({{.*}}) reprs(%[[KEYS:[a-z0-9]+]], %[[SCALES:[a-z0-9]+]] : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>) inputs(%{{.*}}, %{{.*}} : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>) into(%{{.*}} : memref<?x1x?xf32, #hsa.tier<device>>)
// CHECK: hsa.update_repr @dsa keys({{.*}}) lengths({{.*}}) reprs(%[[KEYS]], %[[SCALES]] : {{.*}}) inputs(%{{.*}} : memref<?x128xbf16, #hsa.tier<device>>) pages(%{{.*}} : memref<?x?xi32, #hsa.tier<host>>) host(%[[HIK:[a-z0-9]+]] : memref<?x1x128xbf16, #hsa.tier<host>>)
// CHECK: hsa.rebuild_repr @dsa lengths({{.*}}) pages({{.*}}) host(%{{.*}}, %[[HIK]] : memref<?x1x1x576xbf16, #hsa.tier<host>>, memref<?x1x128xbf16, #hsa.tier<host>>) reprs(%[[KEYS]], %[[SCALES]] : {{.*}})
func.func @dsa_stages(%q: memref<?x128x576xbf16, #hsa.tier<device>>, %len: !len,
                      %iq: memref<?x64x128xf8E4M3FN, #hsa.tier<device>>,
                      %iw: memref<?x64xf32, #hsa.tier<device>>,
                      %nk: memref<?x1x576xbf16, #hsa.tier<device>>,
                      %ik: memref<?x128xbf16, #hsa.tier<device>>) {
  %keys = hsa.state @dsa "repr.index_keys" : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
  %scales = hsa.state @dsa "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
  %hik = hsa.state @dsa "host.index_k" : memref<?x1x128xbf16, #hsa.tier<host>>
  %pages = hsa.state @dsa "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
  %hk = hsa.state @dsa "host.k" : memref<?x1x1x576xbf16, #hsa.tier<host>>
  %s = hsa.state @dsa "sel.scores" : memref<?x1x?xf32, #hsa.tier<device>>
  hsa.score @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>) lengths(%len : !len)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
      inputs(%iq, %iw : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
      into(%s : memref<?x1x?xf32, #hsa.tier<device>>)
  hsa.update_repr @dsa keys(%nk : memref<?x1x576xbf16, #hsa.tier<device>>) lengths(%len : !len)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
      inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
      pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
      host(%hik : memref<?x1x128xbf16, #hsa.tier<host>>)
  hsa.rebuild_repr @dsa lengths(%len : !len) pages(%pages : memref<?x?xi32, #hsa.tier<host>>)
      host(%hk, %hik : memref<?x1x1x576xbf16, #hsa.tier<host>>, memref<?x1x128xbf16, #hsa.tier<host>>)
      reprs(%keys, %scales : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
  return
}

// The exported page tables of a FlashAttention-format layer.
hsa.layer @fa
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(64)
  buffer(#hsa.buffer<capacity = 256, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flash_attn_block_table)

// CHECK-LABEL: func.func @page_table
// CHECK: hsa.page_table @fa units(%{{.*}} : memref<?x1x64xi32, #hsa.tier<device>>) slots(%{{.*}} : memref<?x1x64xi32, #hsa.tier<device>>) lengths(%{{.*}} : memref<?xi32, #hsa.tier<device>>) into(%{{.*}}, %{{.*}} : memref<?x64xi32, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>)
func.func @page_table(%len: memref<?xi32, #hsa.tier<device>>) {
  %units = hsa.state @fa "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
  %slots = hsa.state @fa "sel.slots" : memref<?x1x64xi32, #hsa.tier<device>>
  %table = hsa.state @fa "fa.block_table" : memref<?x64xi32, #hsa.tier<device>>
  %seqlens = hsa.state @fa "fa.seqlens" : memref<?xi32, #hsa.tier<device>>
  hsa.page_table @fa units(%units : memref<?x1x64xi32, #hsa.tier<device>>)
      slots(%slots : memref<?x1x64xi32, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%table, %seqlens : memref<?x64xi32, #hsa.tier<device>>, memref<?xi32, #hsa.tier<device>>)
  return
}
