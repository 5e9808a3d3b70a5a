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
// CHECK-SAME: (%[[Q:.*]]: memref<?x32x128xbf16, #hsa.tier<device>>, %[[LEN:.*]]: memref<?xi32, #hsa.tier<device>>, %[[O:.*]]: memref<?x32x128xbf16, #hsa.tier<device>>)
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

// Append: the token goes to host and to its resident slot (store_kv), then
// Quest folds it into the key bounds.
// CHECK-LABEL: func.func @append
// CHECK-DAG: %[[LENGTH:.*]] = hsa.state @quest "req.length"
// CHECK-DAG: %[[REV:.*]] = hsa.state @quest "buf.unit_slot"
// CHECK: hsa.store_kv @quest keys(%{{.*}}) values(%{{.*}}) counts(%{{.*}}) lengths(%[[LENGTH]] : {{.*}}) pages(%{{.*}}) residency(%[[REV]] : {{.*}})
// CHECK-NEXT: hsa.update_repr @quest {{.*}} lengths(%[[LENGTH]] : {{.*}}) reprs(
func.func @append(%k: memref<?x1x8x128xbf16, #hsa.tier<device>>,
                  %v: memref<?x1x8x128xbf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @quest keys(%k : memref<?x1x8x128xbf16, #hsa.tier<device>>)
      values(%v : memref<?x1x8x128xbf16, #hsa.tier<device>>)
      counts(%n : memref<?xi32, #hsa.tier<device>>)
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
// CHECK: hsa.store_kv
// CHECK-NOT: hsa.update_repr
// CHECK: return
func.func @append(%k: memref<?x1x8x64xf16, #hsa.tier<device>>,
                  %v: memref<?x1x8x64xf16, #hsa.tier<device>>,
                  %n: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @streaming keys(%k : memref<?x1x8x64xf16, #hsa.tier<device>>)
      values(%v : memref<?x1x8x64xf16, #hsa.tier<device>>)
      counts(%n : memref<?xi32, #hsa.tier<device>>)
  return
}
