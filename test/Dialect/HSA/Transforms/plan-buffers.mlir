// RUN: hsa-opt %s -split-input-file --hsa-plan-buffers | FileCheck %s
// RUN: hsa-opt %s -split-input-file --hsa-plan-buffers=report=true -verify-diagnostics -o /dev/null
// RUN: hsa-opt %s -split-input-file --hsa-plan-buffers="report=true max-context=2048" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CTX
// RUN: not hsa-opt %s -split-input-file --hsa-plan-buffers="report=true max-context=-5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADCTX
// BADCTX: error: hsa-plan-buffers: max-context must be between 1 and 2^40 tokens (got -5)
// RUN: not hsa-opt %s -split-input-file --hsa-plan-buffers="max-context=9223372036854775807" -o /dev/null 2>&1 | FileCheck %s --check-prefix=HUGECTX
// HUGECTX: error: hsa-plan-buffers: max-context must be between 1 and 2^40 tokens (got 9223372036854775807)

// hsa-plan-buffers records each layer's buffer table as `hsa.plan` (name,
// tier, element type, shape over B/N/pages, fill), in table order; with
// `report` it remarks the device/host bytes of one request at `max-context`
// tokens against a full device-resident KV cache.

// The llama3 example (Hq 32, Hkv 8, D 128, bf16, P 16, kv_head: S 8, Hu 1;
// K 128, C 512): the whole table. Kernel-family scratch (scratch.attn_*,
// scratch.topk_done) is declared by the kernels that use it and planned
// after convert-hsa-to-gpu (test/Conversion/HSAToGPU/kernel-scratch.mlir):
// a layer alone has none.
// expected-remark @below {{per request at 131072 tokens: device 64.55 MiB (unit buffer 32.00 MiB, representations 32.00 MiB, maps/tables/scratch 560.0 KiB) vs full device cache 512.00 MiB (7.9x less); host 512.03 MiB}}
hsa.layer @llama3
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @llama3
// CHECK-SAME: {hsa.plan = [{element = bf16, fill = 0 : i64, name = "host.k", shape = ["pages", 8, 16, 128], tier = #hsa.tier<host>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "host.v", shape = ["pages", 8, 16, 128], tier = #hsa.tier<host>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "host.page_of", shape = ["B", "N"], tier = #hsa.tier<host>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "req.length", shape = ["B"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "req.step", shape = ["B"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "repr.kmin", shape = ["B", 8, "N", 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "repr.kmax", shape = ["B", 8, "N", 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 512, 1, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.v", shape = ["B", 8, 512, 1, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 8, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.last_used", shape = ["B", 8, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.unit_slot", shape = ["B", 8, "N"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f32, fill = 0 : i64, name = "sel.scores", shape = ["B", 8, "N"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.slots", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.copy_units", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.copy_slots", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "sel.copy_count", shape = ["B", 8], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.q", shape = ["B", 32, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.o", shape = ["B", 32, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.new_k", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.new_v", shape = ["B", 8, 128], tier = #hsa.tier<device>}]}

// At 2048 tokens the 512-page buffer alone is 4x the full cache: the report
// reads "more".
// CTX: remark: per request at 2048 tokens: device 32.55 MiB (unit buffer 32.00 MiB, representations 512.0 KiB, maps/tables/scratch 56.0 KiB) vs full device cache 8.00 MiB (4.1x more); host 8.00 MiB
// CTX-NEXT: hsa.layer @llama3

// -----

// Budget = capacity (K = C = 512): selections as wide as the buffer, and 4x
// the attention splits (512 / 8 = 64).
// expected-remark @below {{per request at 131072 tokens: device 64.59 MiB (unit buffer 32.00 MiB, representations 32.00 MiB, maps/tables/scratch 608.0 KiB) vs full device cache 512.00 MiB (7.9x less); host 512.03 MiB}}
hsa.layer @full
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(512)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @full
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 512, 1, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 8, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.copy_slots", shape = ["B", 8, 512], tier = #hsa.tier<device>},

// -----

// One unit: budget 1, capacity 1 (f16, Hkv 2, D 64). Every K and C dimension
// is 1, and one attention split.
// expected-remark @below {{per request at 131072 tokens: device 4.13 MiB (unit buffer 8.0 KiB, representations 4.00 MiB, maps/tables/scratch 128.1 KiB) vs full device cache 64.00 MiB (15.5x less); host 64.03 MiB}}
hsa.layer @one
  config(#hsa.config<q_heads = 8, kv_heads = 2, head_dim = 64,
                     kv_dtype = f16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(1)
  buffer(#hsa.buffer<capacity = 1, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @one
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "host.k", shape = ["pages", 2, 16, 64], tier = #hsa.tier<host>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "repr.kmin", shape = ["B", 2, "N", 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "repr.kmax", shape = ["B", 2, "N", 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "buf.k", shape = ["B", 2, 1, 1, 16, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "buf.v", shape = ["B", 2, 1, 1, 16, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 2, 1], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.last_used", shape = ["B", 2, 1], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 2, 1], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "sel.copy_count", shape = ["B", 2], tier = #hsa.tier<device>}

// -----

// Page size 1 (the llama3 layer with token units): P is 1 in the host pool
// and the buffer; 128 units per attention split, so one split. Quest bounds
// per token cost as much as the whole K+V cache.
// expected-remark @below {{per request at 131072 tokens: device 522.05 MiB (unit buffer 2.00 MiB, representations 512.00 MiB, maps/tables/scratch 8.05 MiB) vs full device cache 512.00 MiB (1.0x more); host 512.50 MiB}}
// expected-warning @below {{a request needs 522.05 MiB of device memory at 131072 tokens (unit buffer 2.00 MiB), more than a full device-resident cache of that context (512.00 MiB): offloading saves nothing}}
hsa.layer @token
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @token
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "host.k", shape = ["pages", 8, 1, 128], tier = #hsa.tier<host>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "host.v", shape = ["pages", 8, 1, 128], tier = #hsa.tier<host>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 512, 1, 1, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.v", shape = ["B", 8, 512, 1, 1, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 128], tier = #hsa.tier<device>},

// -----

// GQA group 1 (Hq = Hkv = 8): query-head buffers have as many heads as the
// KV ones. K 64 at P 16: 8 splits.
// expected-remark @below {{per request at 131072 tokens: device 20.52 MiB (unit buffer 4.00 MiB, representations 16.00 MiB, maps/tables/scratch 528.0 KiB) vs full device cache 256.00 MiB (12.5x less); host 256.03 MiB}}
hsa.layer @mha
  config(#hsa.config<q_heads = 8, kv_heads = 8, head_dim = 64,
                     kv_dtype = f16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = sum>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @mha
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 128, 1, 16, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "io.q", shape = ["B", 8, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "io.o", shape = ["B", 8, 64], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f16, fill = 0 : i64, name = "io.new_k", shape = ["B", 8, 64], tier = #hsa.tier<device>}

// -----

// GQA group 8 (Hq 64, Hkv 8): query-head buffers get 64 heads, the KV side
// and the per-group selection stay at 8.
// expected-remark @below {{per request at 131072 tokens: device 64.55 MiB (unit buffer 32.00 MiB, representations 32.00 MiB, maps/tables/scratch 560.0 KiB) vs full device cache 512.00 MiB (7.9x less); host 512.03 MiB}}
hsa.layer @gqa8
  config(#hsa.config<q_heads = 64, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @gqa8
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 512, 1, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.q", shape = ["B", 64, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.o", shape = ["B", 64, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.new_k", shape = ["B", 8, 128], tier = #hsa.tier<device>}

// -----

// Request scope: one selection group (S 1) whose units hold all 8 KV heads
// (Hu 8). Representations stay per KV head.
// expected-remark @below {{per request at 131072 tokens: device 64.07 MiB (unit buffer 32.00 MiB, representations 32.00 MiB, maps/tables/scratch 70.0 KiB) vs full device cache 512.00 MiB (8.0x less); host 512.03 MiB}}
hsa.layer @req
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @req
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "repr.kmin", shape = ["B", 8, "N", 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 1, 512, 8, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.v", shape = ["B", 1, 512, 8, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 1, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.unit_slot", shape = ["B", 1, "N"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f32, fill = 0 : i64, name = "sel.scores", shape = ["B", 1, "N"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 1, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "sel.copy_count", shape = ["B", 1], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.new_k", shape = ["B", 8, 128], tier = #hsa.tier<device>}

// -----

// StreamingLLM: no representations (nothing between req.step and buf.k).
// Budget = sinks + window = 68 pages: ceil(68 / 8) = 9 attention splits.
// expected-remark @below {{per request at 131072 tokens: device 4.76 MiB (unit buffer 4.25 MiB, representations 0.0 KiB, maps/tables/scratch 524.8 KiB) vs full device cache 512.00 MiB (107.5x less); host 512.03 MiB}}
hsa.layer @streaming
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.streaming_llm) budget(68)
  buffer(#hsa.buffer<capacity = 68, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 64>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @streaming
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "req.step", shape = ["B"], tier = #hsa.tier<device>},
// CHECK-NOT: repr.
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 68, 1, 16, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 8, 68], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "sel.units", shape = ["B", 8, 68], tier = #hsa.tier<device>}

// -----

// Latent (MLA): one 576-wide tensor, so no host.v, buf.v or io.new_v; the
// output is 512 wide. Per-token bounds over 576 dims outweigh the cache.
// expected-remark @below {{per request at 131072 tokens: device 289.14 MiB (unit buffer 144.0 KiB, representations 288.00 MiB, maps/tables/scratch 1.00 MiB) vs full device cache 144.00 MiB (2.0x more); host 144.50 MiB}}
// expected-warning @below {{a request needs 289.14 MiB of device memory at 131072 tokens (unit buffer 144.0 KiB), more than a full device-resident cache}}
hsa.layer @mla
  config(#hsa.config<q_heads = 16, kv_heads = 1, latent_dim = 512,
                     rope_dim = 64, kv_dtype = bf16, page_size = 1,
                     scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 0, window = 1>) format(#hsa.native) {softmax_scale = 0.1352338 : f32}

// CHECK-LABEL: hsa.layer @mla
// CHECK-SAME: {hsa.plan = [{element = bf16, fill = 0 : i64, name = "host.k", shape = ["pages", 1, 1, 576], tier = #hsa.tier<host>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "host.page_of", shape = ["B", "N"], tier = #hsa.tier<host>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 1, 128, 1, 1, 576], tier = #hsa.tier<device>},
// CHECK-NOT: buf.v
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "buf.slot_unit", shape = ["B", 1, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.o", shape = ["B", 16, 512], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "io.new_k", shape = ["B", 1, 576], tier = #hsa.tier<device>}], softmax_scale
// CHECK-NOT: io.new_v

// -----

// ClusterKV (Cmax 128): centroids and k-means scratch per KV head, a centroid
// per token (none: -1), count and open segment per request.
// expected-remark @below {{per request at 131072 tokens: device 13.52 MiB (unit buffer 8.00 MiB, representations 4.50 MiB, maps/tables/scratch 1.02 MiB) vs full device cache 512.00 MiB (37.9x less); host 512.03 MiB}}
hsa.layer @cluster
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.cluster_kv<clusters = 64, iterations = 4, max_clusters = 128>) budget(64)
  buffer(#hsa.buffer<capacity = 128, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

// CHECK-LABEL: hsa.layer @cluster
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "req.step", shape = ["B"], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f32, fill = 0 : i64, name = "repr.centroids", shape = ["B", 8, 128, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = -1 : i64, name = "repr.cluster_of", shape = ["B", 8, "N", 16], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "repr.cluster_state", shape = ["B", 2], tier = #hsa.tier<device>},
// CHECK-SAME: {element = f32, fill = 0 : i64, name = "scratch.cluster_sums", shape = ["B", 8, 128, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = i32, fill = 0 : i64, name = "scratch.cluster_sizes", shape = ["B", 8, 128], tier = #hsa.tier<device>},
// CHECK-SAME: {element = bf16, fill = 0 : i64, name = "buf.k", shape = ["B", 8, 128, 1, 16, 128], tier = #hsa.tier<device>},
