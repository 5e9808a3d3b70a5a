// Kernel-family scratch is declared by the kernels that use it, after
// fusion (LayerOp::declareKernelBuffer -> the layer's hsa.kernel_buffers),
// and the pipeline plans it after the conversion: the attention's
// scratch.attn_* always, scratch.topk_done only when score and top-k are one
// kernel. The split count is the conversion's attention-split-tokens option
// (128 tokens: 8 units of 16 per split, 128 / 8 = 16 splits; 256 tokens: 8).
// RUN: hsa-opt %s --hsa-lower-to-gpu | FileCheck %s --check-prefix=SPLIT
// RUN: hsa-opt %s --hsa-lower-to-gpu="max-context=32768" | FileCheck %s --check-prefix=FUSED
// RUN: hsa-opt %s --hsa-lower-to-gpu="attention-split-tokens=256" | FileCheck %s --check-prefix=SPLIT256
// RUN: hsa-opt %s --hsa-plan-buffers | FileCheck %s --check-prefix=NOKERNELS
// RUN: not hsa-opt %s --hsa-expand-algorithm --convert-hsa-to-gpu="attention-split-tokens=0" 2>&1 | FileCheck %s --check-prefix=BADSPLIT

hsa.layer @attn
  config(#hsa.config<q_heads = 32, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(128)
  buffer(#hsa.buffer<capacity = 512, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 2>) format(#hsa.native)

func.func @decode_step(%q: memref<?x32x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %out: memref<?x32x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @attn queries(%q : memref<?x32x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%out : memref<?x32x128xbf16, #hsa.tier<device>>)
  return
}

// SPLIT-LABEL: hsa.layer @attn
// SPLIT-SAME: hsa.kernel_buffers = [{element = f32, fill = 0 : i64, name = "io.group_unselected_log_bound", shape = ["B", 8], tier = #hsa.tier<device>},
// SPLIT-SAME: {element = f32, fill = 0 : i64, name = "scratch.attn_o", shape = ["B", 32, 16, 128], tier = #hsa.tier<device>},
// SPLIT-SAME: {element = f32, fill = 0 : i64, name = "scratch.attn_lse", shape = ["B", 32, 16], tier = #hsa.tier<device>},
// SPLIT-SAME: {element = i32, fill = 0 : i64, name = "scratch.attn_done", shape = ["B", 32], tier = #hsa.tier<device>}]
// SPLIT-SAME: name = "scratch.attn_done"
// SPLIT-NOT: scratch.topk_done
// SPLIT: gpu.launch_func  @hsa_kernels::@attn_attend blocks in ({{.*}}, %c8{{.*}}, %c16)

// FUSED-LABEL: hsa.layer @attn
// FUSED-SAME: hsa.kernel_buffers = [{element = i32, fill = 0 : i64, name = "scratch.topk_done", shape = ["B", 8], tier = #hsa.tier<device>},
// FUSED: hsa.state @attn "scratch.topk_done"

// SPLIT256: name = "scratch.attn_o", shape = ["B", 32, 8, 128]
// SPLIT256: gpu.launch_func  @hsa_kernels::@attn_attend blocks in ({{.*}}, %c8{{.*}}, %c8{{.*}})

// NOKERNELS-LABEL: hsa.layer @attn
// NOKERNELS-NOT: scratch.

// BADSPLIT: error: convert-hsa-to-gpu: attention-split-tokens must be at least 1 (got 0)
