// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages=max-context=32768 | FileCheck %s
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages | FileCheck %s --check-prefix=DEFAULT
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages="max-context=32768 score-topk-max-units=0" | FileCheck %s --check-prefix=NEVER
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages="max-context=32768 score-topk-max-units=32768" | FileCheck %s --check-prefix=MIN1
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages="max-context=32768 diff-gather-max-budget=127" | FileCheck %s --check-prefix=SPLIT
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages="max-context=32768 diff-gather-max-budget=128" | FileCheck %s --check-prefix=AT
// Idempotent: a second run changes nothing (7 fused ops in both).
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages=max-context=32768 > %t.once
// RUN: hsa-opt %s -split-input-file --hsa-expand-algorithm --hsa-fuse-stages=max-context=32768 --hsa-fuse-stages=max-context=32768 > %t.twice
// RUN: diff %t.once %t.twice
// RUN: grep -c 'hsa.fused "' %t.twice | FileCheck %s --check-prefix=COUNT
// RUN: not hsa-opt %s -split-input-file --hsa-fuse-stages=max-context=0 2>&1 | FileCheck %s --check-prefix=BADCTX
// BADCTX: error: hsa-fuse-stages: max-context must be at least 1 token (got 0)

// hsa-fuse-stages wraps diff + gather of its copy list into
// `hsa.fused "diff_gather"`, and score + top-k of its scores into
// `hsa.fused "score_topk"` when a row of the longest context holds at most
// score-topk-max-units units: ceil(max-context / page_size) <= 4096 by
// default (0 never fuses). Other ops stay put. Prefix CHECK runs at a 32K
// max context (2048 units of 16 tokens: fused), DEFAULT at 128K (8192
// units: not fused).

// COUNT: {{^}}7{{$}}

// The llama3 example (page_size 16): both fusions at 32K, in program order,
// with attend outside; prefill and append have nothing to fuse. At 128K only
// diff + gather fuse.
hsa.layer @llama3_8b_attn
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>)
  budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>)
  format(#hsa.native)

// CHECK-LABEL: func.func @prefill
// CHECK-NEXT: hsa.state
// CHECK-NEXT: hsa.state
// CHECK-NEXT: hsa.state
// CHECK-NEXT: hsa.state
// CHECK-NEXT: hsa.rebuild_repr @llama3_8b_attn
// CHECK-NEXT: return
func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @llama3_8b_attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @decode_step
// CHECK-DAG: %[[SCORES:.*]] = hsa.state @llama3_8b_attn "sel.scores"
// CHECK-DAG: %[[UNITS:.*]] = hsa.state @llama3_8b_attn "sel.units"
// CHECK-DAG: %[[CU:.*]] = hsa.state @llama3_8b_attn "sel.copy_units"
// CHECK-DAG: %[[CS:.*]] = hsa.state @llama3_8b_attn "sel.copy_slots"
// CHECK-DAG: %[[CC:.*]] = hsa.state @llama3_8b_attn "sel.copy_count"
// CHECK: hsa.fused "score_topk" {
// CHECK-NEXT: hsa.score @llama3_8b_attn queries({{.*}}) lengths(%[[LEN:[^ ]*]] : {{.*}}) reprs({{.*}}) into(%[[SCORES]] :
// CHECK-NEXT: hsa.topk @llama3_8b_attn scores(%[[SCORES]] : {{.*}}) lengths(%[[LEN]] : {{.*}}) into(%[[UNITS]] :
// CHECK-NEXT: }
// CHECK-NEXT: hsa.fused "diff_gather" {
// CHECK-NEXT: hsa.diff @llama3_8b_attn units(%[[UNITS]] : {{.*}}) into(%{{[^,]*}}, %[[CU]], %[[CS]], %[[CC]] :
// CHECK-NEXT: hsa.gather @llama3_8b_attn copies(%[[CU]], %[[CS]], %[[CC]] :
// CHECK-NEXT: }
// CHECK-NEXT: hsa.attend @llama3_8b_attn
// CHECK-NEXT: return

// DEFAULT-LABEL: func.func @decode_step
// DEFAULT-NOT: score_topk
// DEFAULT: hsa.score @llama3_8b_attn
// DEFAULT-NEXT: hsa.topk @llama3_8b_attn
// DEFAULT-NEXT: hsa.fused "diff_gather" {

// Threshold 0: score and top-k stay two ops; diff + gather still fuse.
// NEVER-LABEL: func.func @decode_step
// NEVER-NOT: score_topk
// NEVER: hsa.score @llama3_8b_attn
// NEVER-NEXT: hsa.topk @llama3_8b_attn
// NEVER-NEXT: hsa.fused "diff_gather" {
// NEVER-NEXT: hsa.diff
// NEVER-NEXT: hsa.gather
// NEVER-NEXT: }
// NEVER-NEXT: hsa.attend
// NEVER-NEXT: return

// MIN1-LABEL: func.func @decode_step
// MIN1: hsa.fused "score_topk" {
// MIN1: hsa.fused "diff_gather" {

// diff + gather fuse while the budget (128 units) is at most
// diff-gather-max-budget: a longer copy list goes to the gather kernel's grid.
// SPLIT-LABEL: func.func @decode_step
// SPLIT: hsa.fused "score_topk" {
// SPLIT-NOT: diff_gather
// SPLIT: hsa.diff @llama3_8b_attn
// SPLIT-NEXT: hsa.gather @llama3_8b_attn
// SPLIT-NEXT: hsa.attend
// AT-LABEL: func.func @decode_step
// AT: hsa.fused "diff_gather" {
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @llama3_8b_attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// CHECK-LABEL: func.func @append
// CHECK-NOT: hsa.fused
// CHECK: hsa.store_kv @llama3_8b_attn
// CHECK-NEXT: hsa.update_repr @llama3_8b_attn
// CHECK-NEXT: return
func.func @append(%keys: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %values: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @llama3_8b_attn keys(%keys : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%values : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// -----

// Page size 1 (a unit per token, 32768 per row at 32K): above the default
// threshold, score and top-k stay separate; diff + gather fuse regardless.
// A threshold of 32768 units fuses them.
hsa.layer @token
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: func.func @decode_token
// CHECK-NOT: score_topk
// CHECK: hsa.score @token
// CHECK-NEXT: hsa.topk @token
// CHECK-NEXT: hsa.fused "diff_gather" {
// CHECK-NEXT: hsa.diff @token
// CHECK-NEXT: hsa.gather @token
// CHECK-NEXT: }
// CHECK-NEXT: hsa.attend @token

// NEVER-LABEL: func.func @decode_token
// NEVER-NOT: score_topk
// NEVER: hsa.score @token
// NEVER-NEXT: hsa.topk @token
// NEVER-NEXT: hsa.fused "diff_gather" {

// MIN1-LABEL: func.func @decode_token
// MIN1: hsa.fused "score_topk" {
// MIN1-NEXT: hsa.score @token
// MIN1-NEXT: hsa.topk @token
// MIN1-NEXT: }
// MIN1-NEXT: hsa.fused "diff_gather" {
func.func @decode_token(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                        %len: memref<?xi32, #hsa.tier<device>>,
                        %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @token queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// -----

// StreamingLLM with 16-token pages: its score (no representations) fuses
// with the top-k like Quest's (at 32K; not at 128K).
hsa.layer @streaming
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = f16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm) budget(8)
  buffer(#hsa.buffer<capacity = 8, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 4>) format(#hsa.native)

// CHECK-LABEL: func.func @decode_streaming
// CHECK: hsa.fused "score_topk" {
// CHECK-NEXT: hsa.score @streaming queries({{[^)]*}}) lengths({{[^)]*}}) into(
// CHECK-NEXT: hsa.topk @streaming
// CHECK-NEXT: }
// CHECK-NEXT: hsa.fused "diff_gather" {

// DEFAULT-LABEL: func.func @decode_streaming
// DEFAULT-NOT: score_topk
// DEFAULT: hsa.score @streaming

// NEVER-LABEL: func.func @decode_streaming
// NEVER-NOT: score_topk
// NEVER: hsa.score @streaming
// NEVER-NEXT: hsa.topk @streaming

// MIN1-LABEL: func.func @decode_streaming
// MIN1: hsa.fused "score_topk" {
func.func @decode_streaming(%q: memref<?x8x64xf16, #hsa.tier<device>>,
                            %len: memref<?xi32, #hsa.tier<device>>,
                            %o: memref<?x8x64xf16, #hsa.tier<device>>) {
  hsa.decode_step @streaming queries(%q : memref<?x8x64xf16, #hsa.tier<device>>)
      lengths(%len : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x8x64xf16, #hsa.tier<device>>)
  return
}

// -----

// Hand-written stage ops on a page-16 layer: only a score directly followed
// by the top-k of the same scores and lengths fuses, only a diff directly
// followed by the gather of its copy list fuses, and an existing hsa.fused
// is not wrapped again.
!q = memref<?x8x64xf16, #hsa.tier<device>>
!len = memref<?xi32, #hsa.tier<device>>
!scores = memref<?x1x?xf32, #hsa.tier<device>>
!sel = memref<?x1x2xi32, #hsa.tier<device>>
!count = memref<?x1xi32, #hsa.tier<device>>
!slots = memref<?x1x4xi32, #hsa.tier<device>>
!map = memref<?x1x?xi32, #hsa.tier<device>>
!pages = memref<?x?xi32, #hsa.tier<host>>
!host = memref<?x2x16x64xf16, #hsa.tier<host>>
!buf = memref<?x1x4x2x16x64xf16, #hsa.tier<device>>

hsa.layer @hand
  config(#hsa.config<q_heads = 8, kv_heads = 2, head_dim = 64,
                     kv_dtype = f16, page_size = 16, scope = request>)
  algorithm(#hsa.streaming_llm) budget(2)
  buffer(#hsa.buffer<capacity = 4, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

// The top-k reads other scores than the score writes.
// CHECK-LABEL: func.func @other_scores
// CHECK-NOT: hsa.fused
// CHECK: hsa.score @hand {{.*}} into(%arg2 :
// CHECK-NEXT: hsa.topk @hand scores(%arg3 :
// CHECK-NEXT: return
func.func @other_scores(%q: !q, %len: !len, %a: !scores, %b: !scores, %units: !sel) {
  hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%a : !scores)
  hsa.topk @hand scores(%b : !scores) lengths(%len : !len) into(%units : !sel)
  return
}

// Same scores, other lengths.
// CHECK-LABEL: func.func @other_lengths
// CHECK-NOT: hsa.fused
// CHECK: hsa.score @hand {{.*}} lengths(%arg1 :
// CHECK-NEXT: hsa.topk @hand scores(%arg3 : {{.*}}) lengths(%arg2 :
// CHECK-NEXT: return
func.func @other_lengths(%q: !q, %len: !len, %len2: !len, %a: !scores, %units: !sel) {
  hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%a : !scores)
  hsa.topk @hand scores(%a : !scores) lengths(%len2 : !len) into(%units : !sel)
  return
}

// The first score's top-k is not its next op; the op after the second score
// reads the first one's scores.
// CHECK-LABEL: func.func @not_next
// CHECK-NOT: hsa.fused
// CHECK: hsa.score @hand {{.*}} into(%arg2 :
// CHECK-NEXT: hsa.score @hand {{.*}} into(%arg3 :
// CHECK-NEXT: hsa.topk @hand scores(%arg2 :
// CHECK-NEXT: return
func.func @not_next(%q: !q, %len: !len, %a: !scores, %b: !scores, %units: !sel) {
  hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%a : !scores)
  hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%b : !scores)
  hsa.topk @hand scores(%a : !scores) lengths(%len : !len) into(%units : !sel)
  return
}

// The gather copies another unit list than the diff's.
// CHECK-LABEL: func.func @other_copies
// CHECK-NOT: hsa.fused
// CHECK: hsa.diff @hand {{.*}} into(%arg5, %arg6, %arg7, %arg8 :
// CHECK-NEXT: hsa.gather @hand copies(%arg9, %arg7, %arg8 :
// CHECK-NEXT: return
func.func @other_copies(%units: !sel, %steps: !len, %su: !slots, %lu: !slots,
                        %us: !map, %sl: !sel, %cu: !sel, %cs: !sel, %cc: !count,
                        %cu2: !sel, %pages: !pages, %hk: !host, %hv: !host,
                        %bk: !buf, %bv: !buf) {
  hsa.diff @hand units(%units : !sel) steps(%steps : !len)
      residency(%su, %lu, %us : !slots, !slots, !map)
      into(%sl, %cu, %cs, %cc : !sel, !sel, !sel, !count)
  hsa.gather @hand copies(%cu2, %cs, %cc : !sel, !sel, !count)
      pages(%pages : !pages) from(%hk, %hv : !host, !host)
      into(%bk, %bv : !buf, !buf)
  return
}

// Already fused: left as it is, not nested in another hsa.fused.
// CHECK-LABEL: func.func @prefused
// CHECK-NEXT: hsa.fused "score_topk" {
// CHECK-NEXT: hsa.score @hand
// CHECK-NEXT: hsa.topk @hand
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @prefused(%q: !q, %len: !len, %a: !scores, %units: !sel) {
  hsa.fused "score_topk" {
    hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%a : !scores)
    hsa.topk @hand scores(%a : !scores) lengths(%len : !len) into(%units : !sel)
  }
  return
}

// The same ops unfused: they fuse.
// CHECK-LABEL: func.func @matched
// CHECK-NEXT: hsa.fused "score_topk" {
// CHECK-NEXT: hsa.score @hand {{.*}} into(%arg2 :
// CHECK-NEXT: hsa.topk @hand scores(%arg2 : {{.*}}) lengths(%arg1 :
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @matched(%q: !q, %len: !len, %a: !scores, %units: !sel) {
  hsa.score @hand queries(%q : !q) lengths(%len : !len) into(%a : !scores)
  hsa.topk @hand scores(%a : !scores) lengths(%len : !len) into(%units : !sel)
  return
}
