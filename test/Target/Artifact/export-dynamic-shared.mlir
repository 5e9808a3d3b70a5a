// A layer whose LRU diff sorts its keys in dynamic shared memory (C = 16384:
// 128 KiB): the exported kernel record of the diff (fused diff_gather, and
// the separate diff unfused) declares the largest dynamic size of its
// launches, the launch passes it, every other kernel has 0; the runtime's
// loader accepts the artifact (it refuses a launch above its kernel's
// maximum) and the CPU reference runs it, every decode step checked.
// RUN: hsa-opt --hsa-lower-to-nvvm="diff-gather-max-budget=16384" %s | hsa-translate --hsa-to-artifact -o %t.hsa
// RUN: %python %S/Inputs/dump-kernels.py %t.hsa | FileCheck %s
// RUN: hsa-opt --hsa-lower-to-nvvm="fuse=false" %s | hsa-translate --hsa-to-artifact -o %t.unfused.hsa
// RUN: %python %S/Inputs/dump-kernels.py %t.unfused.hsa | FileCheck %s --check-prefix=UNFUSED
// RUN: %if hsa-runtime %{ hsa-run %t.hsa --backend=cpu --batch=2 --context=1,3000 --steps=3 --query-jump=1 --check --quiet | FileCheck %s --check-prefix=CPU %}
// RUN: %if hsa-runtime %{ hsa-run %t.unfused.hsa --backend=cpu --batch=1 --context=700 --steps=2 --check --quiet | FileCheck %s --check-prefix=CPU %}

hsa.layer @c16k
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 1, scope = request>)
  algorithm(#hsa.quest<combine = max>) budget(2048)
  buffer(#hsa.buffer<capacity = 16384, policy = lru>)
  forced(#hsa.forced<sinks = 4, window = 64>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @c16k lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @c16k queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %v: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @c16k keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// CHECK-DAG: kernel c16k_diff_gather static_shared_bytes 0 max_dynamic_shared_bytes 131072
// CHECK-DAG: kernel c16k_score static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-DAG: kernel c16k_topk static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-DAG: kernel c16k_attend static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-DAG: kernel c16k_rebuild_repr static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-DAG: kernel c16k_store_kv static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK-DAG: kernel c16k_update_repr static_shared_bytes 0 max_dynamic_shared_bytes 0
// CHECK: launch decode_step c16k_diff_gather dynamic_shared_bytes 131072
// CHECK-NOT: dynamic_shared_bytes {{[1-9]}}

// UNFUSED: kernel c16k_diff static_shared_bytes 0 max_dynamic_shared_bytes 131072
// UNFUSED: kernel c16k_gather static_shared_bytes 0 max_dynamic_shared_bytes 0
// UNFUSED: launch decode_step c16k_diff dynamic_shared_bytes 131072
// UNFUSED-NEXT: launch decode_step c16k_gather dynamic_shared_bytes 0

// CPU: K 2048, C 16384
// CPU: check: {{[0-9]+}} steps, all stages match
