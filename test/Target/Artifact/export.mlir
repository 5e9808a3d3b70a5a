// The artifact of a compiled layer is accepted by the runtime's verifying
// loader and runs on the CPU reference backend, every decode step checked
// stage by stage; the C/C++ header holds the same bytes.
// RUN: hsa-opt --hsa-lower-to-nvvm %s | hsa-translate --hsa-to-artifact -o %t.hsa
// RUN: %if hsa-runtime %{ hsa-run %t.hsa --backend=cpu --batch=3 --context=1,40,700 --steps=3 --check --quiet | FileCheck %s --check-prefix=CPU %}
// RUN: hsa-opt --hsa-lower-to-nvvm %s | hsa-translate --hsa-to-cpp-header | FileCheck %s --check-prefix=HEADER

hsa.layer @gqa8
  config(#hsa.config<q_heads = 64, kv_heads = 8, head_dim = 128,
                     kv_dtype = bf16, page_size = 16, scope = kv_head>)
  algorithm(#hsa.quest<combine = max>) budget(4)
  buffer(#hsa.buffer<capacity = 4, policy = lru>)
  forced(#hsa.forced<sinks = 1, window = 1>) format(#hsa.native)

func.func @prefill(%lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.prefill @gqa8 lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}
func.func @decode_step(%q: memref<?x64x128xbf16, #hsa.tier<device>>,
                       %lengths: memref<?xi32, #hsa.tier<device>>,
                       %o: memref<?x64x128xbf16, #hsa.tier<device>>) {
  hsa.decode_step @gqa8 queries(%q : memref<?x64x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
      into(%o : memref<?x64x128xbf16, #hsa.tier<device>>)
  return
}
func.func @append(%k: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %v: memref<?x8x128xbf16, #hsa.tier<device>>,
                  %lengths: memref<?xi32, #hsa.tier<device>>) {
  hsa.append @gqa8 keys(%k : memref<?x8x128xbf16, #hsa.tier<device>>)
      values(%v : memref<?x8x128xbf16, #hsa.tier<device>>)
      lengths(%lengths : memref<?xi32, #hsa.tier<device>>)
  return
}

// CPU: layer Hq 64, Hkv 8, D 128/128, bf16, P 16, quest (combine=max), scope kv_head (S 8), K 4, C 4
// CPU: check: 3 steps, all stages match

// HEADER: #pragma once
// HEADER: static HSA_ARTIFACT_ALIGN const uint8_t hsa_artifact_gqa8[[[SIZE:[0-9]+]]] = {
// HEADER-NEXT: 72, 83, 65, 65, 82, 84, 0, 1,
// HEADER: static const size_t hsa_artifact_gqa8_size = [[SIZE]];
