// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm | FileCheck %s

// Quest decode step: the algorithm builds the score from its two
// representations, then the fixed top-k -> diff -> gather -> attend chain.
hsa.layer @quest
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[Q:[^:]*]]: memref<?x32x128xbf16, #hsa.tier<device>>{{[^,]*}}, %[[LEN:[^:]*]]: memref<?xi32, #hsa.tier<device>>{{[^,]*}}, %[[O:[^:]*]]: memref<?x32x128xbf16, #hsa.tier<device>>
// CHECK-DAG: %[[SCORES:.*]] = hsa.state @quest "sel.scores" : memref<?x8x?xf32, #hsa.tier<device>>
// CHECK-DAG: %[[KMIN:.*]] = hsa.state @quest "repr.kmin"
// CHECK-DAG: %[[KMAX:.*]] = hsa.state @quest "repr.kmax"
// CHECK-DAG: %[[UNITS:.*]] = hsa.state @quest "sel.units" : memref<?x8x128xi32, #hsa.tier<device>>
// CHECK-DAG: %[[SLOTS:.*]] = hsa.state @quest "sel.slots"
// CHECK-DAG: %[[HK:.*]] = hsa.state @quest "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
// CHECK-DAG: %[[BK:.*]] = hsa.state @quest "buf.k" : memref<?x8x512x1x16x128xbf16, #hsa.tier<device>>
// CHECK: hsa.score @quest queries(%[[Q]] : {{.*}}) lengths(%[[LEN]] : {{.*}}) reprs(%[[KMIN]], %[[KMAX]] : {{.*}}) into(%[[SCORES]] : {{.*}})
// CHECK-NEXT: hsa.topk @quest scores(%[[SCORES]] : {{.*}}) lengths(%[[LEN]] : {{.*}}) into(%[[UNITS]] : {{.*}})
// CHECK-NEXT: hsa.diff @quest units(%[[UNITS]] : {{.*}}) {{.*}} into(%[[SLOTS]],
// CHECK-NEXT: hsa.gather @quest {{.*}} from(%[[HK]], {{.*}} into(%[[BK]],
// CHECK-NEXT: hsa.attend @quest queries(%[[Q]] : {{.*}}) lengths(%[[LEN]] : {{.*}}) table(%[[UNITS]], %[[SLOTS]] : {{.*}}) kv(%[[BK]], {{.*}}) into(%[[O]] : {{.*}})
// CHECK-NOT: hsa.decode_step
func.func @decode(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                  %len: memref<?xi32, #hsa.tier<device>>,
                  %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @quest queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// Two decode steps in one function share one hsa.state per buffer.
// CHECK-LABEL: func.func @two_steps
// CHECK-COUNT-1: hsa.state @quest "sel.scores"
// CHECK-COUNT-2: hsa.attend
func.func @two_steps(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                     %len: memref<?xi32, #hsa.tier<device>>,
                     %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @quest queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  hsa.decode_step @quest queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// Append: the runtime has written the token to the host pool; store_kv
// writes it into its resident slot (device only), then Quest folds it into
// the key bounds. Both take the function's lengths (req.length: the index of
// the token being appended).
// CHECK-LABEL: func.func @append
// CHECK-SAME: (%[[K:[^:]*]]: memref<?x8x128xbf16, #hsa.tier<device>>{{[^,]*}}, %[[V:[^:]*]]: memref<?x8x128xbf16, #hsa.tier<device>>{{[^,]*}}, %[[N:[^:]*]]: memref<?xi32, #hsa.tier<device>>
// CHECK-DAG: %[[REV:.*]] = hsa.state @quest "buf.unit_slot" : memref<?x8x?xi32, #hsa.tier<device>>
// CHECK-DAG: %[[BK:.*]] = hsa.state @quest "buf.k"
// CHECK-DAG: %[[BV:.*]] = hsa.state @quest "buf.v"
// CHECK-DAG: %[[KMIN:.*]] = hsa.state @quest "repr.kmin"
// CHECK-DAG: %[[KMAX:.*]] = hsa.state @quest "repr.kmax"
// CHECK: hsa.store_kv @quest keys(%[[K]] : {{.*}}) values(%[[V]] : {{.*}}) lengths(%[[N]] : {{.*}}) residency(%[[REV]] : {{.*}}) device(%[[BK]], %[[BV]] : {{.*}})
// CHECK-NEXT: hsa.update_repr @quest keys(%[[K]] : {{.*}}) lengths(%[[N]] : {{.*}}) reprs(%[[KMIN]], %[[KMAX]] : {{.*}})
// CHECK-NEXT: return
// CHECK-NOT: hsa.state @quest "host.
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %v: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @quest keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%n : memref<?xi32, #hsa.tier<device>>)
  return
}

// Prefill: the runtime has written the prompts to the host pool; Quest
// rebuilds the bounds of every unit from host.k through host.page_of.
// CHECK-LABEL: func.func @prefill
// CHECK-SAME: (%[[LEN:[^:]*]]: memref<?xi32, #hsa.tier<device>>
// CHECK-DAG: %[[PAGES:.*]] = hsa.state @quest "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
// CHECK-DAG: %[[HK:.*]] = hsa.state @quest "host.k" : memref<?x8x16x128xbf16, #hsa.tier<host>>
// CHECK-DAG: %[[KMIN:.*]] = hsa.state @quest "repr.kmin"
// CHECK-DAG: %[[KMAX:.*]] = hsa.state @quest "repr.kmax"
// CHECK: hsa.rebuild_repr @quest lengths(%[[LEN]] : {{.*}}) pages(%[[PAGES]] : {{.*}}) host(%[[HK]] : {{.*}}) reprs(%[[KMIN]], %[[KMAX]] : {{.*}})
// CHECK-NEXT: return
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @quest lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

// StreamingLLM: no representations, the score stage only marks forced units;
// append writes KV and updates nothing else. Page size 1, GQA group 1.
hsa.layer @streaming
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = f16, page_size = 1, scope = request>)
  algorithm(#hsa.streaming_llm) budget(8)
  buffer(#hsa.buffer<capacity = 8, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 4>) format(#hsa.native)

// CHECK-LABEL: func.func @decode
// CHECK: hsa.score @streaming queries(%{{.*}}) lengths(%{{.*}}) into(
// CHECK-NOT: reprs
// CHECK: hsa.attend
func.func @decode(%q: memref<?x8x64xf16, #hsa.tier<device>>,
                  %len: memref<?xi32, #hsa.tier<device>>,
                  %o: memref<?x8x64xf16, #hsa.tier<device>>) {
  hsa.decode_step @streaming queries(%q : memref<?x8x64xf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x8x64xf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @append
// CHECK: hsa.store_kv @streaming keys({{.*}}) values({{.*}}) lengths({{.*}}) residency({{.*}}) device(
// CHECK-NOT: hsa.update_repr
// CHECK: return
func.func @append(%k: memref<?x8x64xf16, #hsa.tier<device>>,
                  %v: memref<?x8x64xf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @streaming keys(%k : memref<?x8x64xf16, #hsa.tier<device>>)
      values(%v : memref<?x8x64xf16, #hsa.tier<device>>)
      lengths(%n : memref<?xi32, #hsa.tier<device>>)
  return
}

// Nothing to rebuild: the prefill expands to no stage.
// CHECK-LABEL: func.func @prefill
// CHECK-NEXT: return
func.func @prefill(%len: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @streaming lengths(%len : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

// Latent (MLA) Quest layer: one tensor, no values anywhere.
hsa.layer @mla
  config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// CHECK-LABEL: func.func @append
// CHECK: hsa.store_kv @mla keys(%{{[^)]*}}) lengths(%{{[^)]*}}) residency(%{{[^)]*}}) device(%{{[^,]*}} : memref<?x1x128x1x1x576xbf16, #hsa.tier<device>>)
// CHECK-NEXT: hsa.update_repr @mla keys(
func.func @append(%k: memref<?x1x576xbf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @mla keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>)
      lengths(%n : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

// A format with exported tables: the decode step also writes them, after
// the gather (so that diff and gather still fuse), before attention.
hsa.layer @fi
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(64)
  buffer(#hsa.buffer<capacity = 256, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.flashinfer_csr)

// CHECK-LABEL: func.func @decode_tables
// CHECK-DAG: %[[UNITS:.*]] = hsa.state @fi "sel.units" : memref<?x1x64xi32, #hsa.tier<device>>
// CHECK-DAG: %[[SLOTS:.*]] = hsa.state @fi "sel.slots" : memref<?x1x64xi32, #hsa.tier<device>>
// CHECK-DAG: %[[PTR:.*]] = hsa.state @fi "fi.indptr" : memref<?xi32, #hsa.tier<device>>
// CHECK-DAG: %[[IDX:.*]] = hsa.state @fi "fi.indices" : memref<?x64xi32, #hsa.tier<device>>
// CHECK-DAG: %[[LAST:.*]] = hsa.state @fi "fi.last_page_len" : memref<?xi32, #hsa.tier<device>>
// CHECK: hsa.gather @fi
// CHECK-NEXT: hsa.page_table @fi units(%[[UNITS]] : {{.*}}) slots(%[[SLOTS]] : {{.*}}) lengths(%{{.*}} : {{.*}}) into(%[[PTR]], %[[IDX]], %[[LAST]] : {{.*}})
// CHECK-NEXT: hsa.attend @fi
func.func @decode_tables(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                         %len: memref<?xi32, #hsa.tier<device>>,
                         %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @fi queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

// DSA: the step inputs reach the stage ops and bind to their buffers; the
// host representation host.index_k goes to update_repr (with the page table)
// and to rebuild_repr's host pool group.
hsa.layer @dsa
  config(#hsa.config<q_heads = 128, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.dsa<index_heads = 64, index_dim = 128, index_dtype = f8E4M3FN>)
  budget(2048) buffer(#hsa.buffer<capacity = 8192, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.token_indices) {softmax_scale = 0.1352338 : f32}

// CHECK-LABEL: func.func @decode
// CHECK-SAME: %[[IQ:[a-z0-9]+]]: memref<?x64x128xf8E4M3FN, #hsa.tier<device>> {hsa.buffer = "io.index_q"}
// CHECK-SAME: %[[IW:[a-z0-9]+]]: memref<?x64xf32, #hsa.tier<device>> {hsa.buffer = "io.index_w"}
// CHECK-DAG: %[[KEYS:.*]] = hsa.state @dsa "repr.index_keys" : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>
// CHECK-DAG: %[[SCALES:.*]] = hsa.state @dsa "repr.index_scales" : memref<?x?xf32, #hsa.tier<device>>
// CHECK: hsa.score @dsa queries({{.*}}) lengths({{.*}}) reprs(%[[KEYS]], %[[SCALES]] : {{.*}}) inputs(%[[IQ]], %[[IW]] : {{.*}}) into(
// CHECK: hsa.topk @dsa
// CHECK: hsa.attend @dsa
func.func @decode(%q: memref<?x128x576xbf16, #hsa.tier<device>>,
                  %len: memref<?xi32, #hsa.tier<device>>,
                  %o: memref<?x128x512xbf16, #hsa.tier<device>>,
                  %iq: memref<?x64x128xf8E4M3FN, #hsa.tier<device>>,
                  %iw: memref<?x64xf32, #hsa.tier<device>>) {
  hsa.decode_step @dsa queries(%q : memref<?x128x576xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x128x512xbf16, #hsa.tier<device>>)
      inputs(%iq, %iw : memref<?x64x128xf8E4M3FN, #hsa.tier<device>>, memref<?x64xf32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @append
// CHECK-SAME: %[[IK:[a-z0-9]+]]: memref<?x128xbf16, #hsa.tier<device>> {hsa.buffer = "io.new_index_k"}
// CHECK-DAG: %[[PAGES:.*]] = hsa.state @dsa "host.page_of" : memref<?x?xi32, #hsa.tier<host>>
// CHECK-DAG: %[[HIK:.*]] = hsa.state @dsa "host.index_k" : memref<?x1x128xbf16, #hsa.tier<host>>
// CHECK: hsa.store_kv @dsa
// CHECK-NEXT: hsa.update_repr @dsa keys({{.*}}) lengths({{.*}}) reprs({{.*}}) inputs(%[[IK]] : memref<?x128xbf16, #hsa.tier<device>>) pages(%[[PAGES]] : {{.*}}) host(%[[HIK]] : memref<?x1x128xbf16, #hsa.tier<host>>)
func.func @append(%k: memref<?x1x576xbf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>,
                  %ik: memref<?x128xbf16, #hsa.tier<device>>) {
  hsa.append @dsa keys(%k : memref<?x1x576xbf16, #hsa.tier<device>>)
      lengths(%n : memref<?xi32, #hsa.tier<device>>)
      inputs(%ik : memref<?x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @prefill
// CHECK-DAG: %[[HK:.*]] = hsa.state @dsa "host.k"
// CHECK-DAG: %[[HIK:.*]] = hsa.state @dsa "host.index_k"
// CHECK: hsa.rebuild_repr @dsa lengths({{.*}}) pages({{.*}}) host(%[[HK]], %[[HIK]] : memref<?x1x1x576xbf16, #hsa.tier<host>>, memref<?x1x128xbf16, #hsa.tier<host>>) reprs({{.*}} : memref<?x?x128xf8E4M3FN, #hsa.tier<device>>, memref<?x?xf32, #hsa.tier<device>>)
func.func @prefill(%n: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @dsa lengths(%n : memref<?xi32, #hsa.tier<device>>)
  return
}
