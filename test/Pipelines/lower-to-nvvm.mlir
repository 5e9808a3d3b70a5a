// hsa-lower-to-nvvm: a layer becomes serialized kernels (gpu.binary) and
// host functions that are straight launch sequences, annotated for export.
// RUN: hsa-opt --hsa-lower-to-nvvm %s | FileCheck %s
// RUN: hsa-opt --hsa-lower-to-nvvm="fuse=false" %s | FileCheck %s --check-prefix=UNFUSED
// Pages of 32 tokens: 4096 units per row at 128K, so score + top-k fuse
// (default threshold 4096 units) unless the threshold or context says not.
// RUN: hsa-opt --hsa-lower-to-nvvm="score-topk-max-units=2048" %s | FileCheck %s --check-prefix=SPLIT
// RUN: hsa-opt --hsa-lower-to-nvvm="max-context=262144" %s | FileCheck %s --check-prefix=SPLIT
// RUN: not hsa-opt --hsa-lower-to-nvvm="format=elf" %s 2>&1 | FileCheck %s --check-prefix=BADFORMAT
// The target is checked before anything is lowered (NVPTX would abort on an
// unknown chip or a PTX ISA below the chip's minimum); features default to
// the chip's minimum PTX ISA.
// RUN: not hsa-opt --hsa-lower-to-nvvm="chip=sm_999" %s 2>&1 | FileCheck %s --check-prefix=BADCHIP
// RUN: not hsa-opt --hsa-lower-to-nvvm="chip=sm_100a features=+ptx80" %s 2>&1 | FileCheck %s --check-prefix=LOWPTX
// RUN: not hsa-opt --hsa-lower-to-nvvm="features=+sm90" %s 2>&1 | FileCheck %s --check-prefix=BADFEATURE
// RUN: hsa-opt --hsa-lower-to-nvvm="chip=sm_100a" %s | FileCheck %s --check-prefix=SM100
// Format "both" keeps PTX and cubin (ptxas from the CUDA toolkit).
// RUN: %if ptxas %{ hsa-compile %s -o %t.hsa --emit-lowered %t.mlir --quiet && FileCheck %s --check-prefix=BOTH < %t.mlir %}

hsa.layer @attn
  config(#hsa.config<q_heads = 16, kv_heads = 4, head_dim = 64,
                     kv_dtype = f16, page_size = 32, scope = request>)
  algorithm(#hsa.quest<combine = sum>) budget(8)
  buffer(#hsa.buffer<capacity = 16, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @attn lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

func.func @step(%q: memref<?x16x64xf16, #hsa.tier<device>>,
                %lengths: memref<?xi32, #hsa.tier<device>>,
                %o: memref<?x16x64xf16, #hsa.tier<device>>) {
  hsa.decode_step @attn queries(%q : memref<?x16x64xf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x16x64xf16, #hsa.tier<device>>)
  return
}

func.func @append(%k: memref<?x4x64xf16, #hsa.tier<device>>,
                  %v: memref<?x4x64xf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @attn keys(%k : memref<?x4x64xf16, #hsa.tier<device>>)
      values(%v : memref<?x4x64xf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// CHECK: module attributes {gpu.container_module}
// CHECK: func.func @prefill(%{{.*}}: memref<?xi32, #hsa.tier<device>> {hsa.buffer = "req.length"}) attributes {hsa.entry = "prefill"}
// CHECK:   gpu.launch_func @hsa_kernels::@attn_rebuild_repr
// CHECK: func.func @step(%{{.*}}: memref<?x16x64xf16, #hsa.tier<device>> {hsa.buffer = "io.q"}, %{{.*}}: memref<?xi32, #hsa.tier<device>> {hsa.buffer = "req.length"}, %{{.*}}: memref<?x16x64xf16, #hsa.tier<device>> {hsa.buffer = "io.o"}) attributes {hsa.entry = "decode_step"}
// CHECK:   gpu.launch_func @hsa_kernels::@attn_score_topk
// CHECK:   gpu.launch_func @hsa_kernels::@attn_diff_gather
// CHECK:   gpu.launch_func @hsa_kernels::@attn_attend
// CHECK: func.func @append({{.*}}{hsa.buffer = "io.new_k"}{{.*}}{hsa.buffer = "io.new_v"}{{.*}}{hsa.buffer = "req.length"}) attributes {hsa.entry = "append"}
// CHECK:   gpu.launch_func @hsa_kernels::@attn_store_kv
// CHECK:   gpu.launch_func @hsa_kernels::@attn_update_repr
// CHECK: gpu.binary @hsa_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx84">, properties = {{.*}}, assembly = "
// CHECK-NOT: gpu.module

// UNFUSED: gpu.launch_func @hsa_kernels::@attn_score blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_topk blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_diff blocks
// UNFUSED: gpu.launch_func @hsa_kernels::@attn_gather blocks

// SPLIT: gpu.launch_func @hsa_kernels::@attn_score blocks
// SPLIT: gpu.launch_func @hsa_kernels::@attn_topk blocks
// SPLIT: gpu.launch_func @hsa_kernels::@attn_diff_gather blocks

// BADFORMAT: hsa-lower-to-nvvm: unknown kernel format 'elf': expected isa (PTX), bin (cubin), fatbin or both (PTX + cubin)
// BADFORMAT-NOT: see current operation

// BADCHIP: hsa-lower-to-nvvm: unsupported chip 'sm_999': hsa's kernels build for sm_75, sm_80,
// BADCHIP-NOT: LLVM ERROR
// LOWPTX: hsa-lower-to-nvvm: chip sm_100a needs PTX ISA 8.6 or later, but features are '+ptx80': pass features +ptx86
// BADFEATURE: hsa-lower-to-nvvm: unsupported feature '+sm90' in '+sm90': expected +ptxNN
// SM100: #nvvm.target<O = 3, chip = "sm_100a", features = "+ptx86">

// BOTH: gpu.binary @hsa_kernels [#gpu.object<{{.*}}assembly = "{{.*}}#gpu.object<{{.*}}bin = "
