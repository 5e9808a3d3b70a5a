// The LRU diff kernel keeps one 8-byte sort key per slot in 32 KiB of shared
// memory: a larger buffer capacity gets a located error, not a kernel.
//
// RUN: hsa-opt %s --convert-hsa-to-gpu -verify-diagnostics

hsa.layer @big config(<q_heads = 128, kv_heads = 1, latent_dim = 512, rope_dim = 64, kv_dtype = bf16, page_size = 1, scope = request>) algorithm(#hsa.quest<combine = max>) budget(2048) buffer(<capacity = 8192, policy = lru>) forced(<sinks = 0, window = 1>) format(#hsa.native)
func.func @step() {
  %3 = hsa.state @big "sel.units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %4 = hsa.state @big "sel.slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %5 = hsa.state @big "sel.copy_units" : memref<?x1x2048xi32, #hsa.tier<device>>
  %6 = hsa.state @big "sel.copy_slots" : memref<?x1x2048xi32, #hsa.tier<device>>
  %7 = hsa.state @big "sel.copy_count" : memref<?x1xi32, #hsa.tier<device>>
  %8 = hsa.state @big "buf.unit_slot" : memref<?x1x?xi32, #hsa.tier<device>>
  %9 = hsa.state @big "buf.last_used" : memref<?x1x8192xi32, #hsa.tier<device>>
  %10 = hsa.state @big "buf.slot_unit" : memref<?x1x8192xi32, #hsa.tier<device>>
  %11 = hsa.state @big "req.step" : memref<?xi32, #hsa.tier<device>>
  // expected-error @below {{cannot be lowered: buffer capacity 8192 exceeds the LRU diff kernel's limit of 4096 slots}}
  hsa.diff @big units(%3 : memref<?x1x2048xi32, #hsa.tier<device>>) steps(%11 : memref<?xi32, #hsa.tier<device>>) residency(%10, %9, %8 : memref<?x1x8192xi32, #hsa.tier<device>>, memref<?x1x8192xi32, #hsa.tier<device>>, memref<?x1x?xi32, #hsa.tier<device>>) into(%4, %5, %6, %7 : memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1x2048xi32, #hsa.tier<device>>, memref<?x1xi32, #hsa.tier<device>>)
  return
}
