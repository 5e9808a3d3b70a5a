/* An engine that embeds hsa's kernels: the artifact comes from the header
 * hsa-translate --hsa-to-cpp-header wrote (force-included by the test), is
 * loaded from memory through the C API and runs one prefill and one decode
 * step on the CPU backend. A corrupted copy must be refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsa/hsattn.h"

enum { kTokens = 300, kKvHeads = 8, kQHeads = 64, kDim = 128 };

static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void fill(uint16_t* data, size_t count) {
  for (size_t i = 0; i < count; ++i) data[i] = to_bf16((float)rand() / (float)RAND_MAX - 0.5f);
}

int main(void) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_batch = 2;
  options.max_context_tokens = 512;
  hsattn_runtime* rt = NULL;
  if (hsattn_runtime_create(&options, &rt) != HSATTN_STATUS_OK ||
      hsattn_runtime_load_artifact(rt, hsa_artifact_gqa8, hsa_artifact_gqa8_size) != HSATTN_STATUS_OK) {
    printf("load failed: %s\n", hsattn_last_error_message());
    return 1;
  }
  srand(7);
  uint16_t* k = malloc(sizeof(uint16_t) * kTokens * kKvHeads * kDim);
  uint16_t* v = malloc(sizeof(uint16_t) * kTokens * kKvHeads * kDim);
  uint16_t q[kQHeads * kDim], o[kQHeads * kDim];
  fill(k, (size_t)kTokens * kKvHeads * kDim);
  fill(v, (size_t)kTokens * kKvHeads * kDim);
  fill(q, kQHeads * kDim);
  hsattn_request_id id;
  hsattn_step_stats stats;
  if (hsattn_request_create(rt, &id) != HSATTN_STATUS_OK || hsattn_prefill(rt, id, k, v, kTokens) != HSATTN_STATUS_OK ||
      hsattn_decode_step(rt, &id, 1, q, o, &stats) != HSATTN_STATUS_OK) {
    printf("step failed: %s\n", hsattn_last_error_message());
    return 1;
  }
  double norm = 0;
  for (int i = 0; i < kQHeads * kDim; ++i) {
    float x = from_bf16(o[i]);
    if (!isfinite(x)) {
      printf("non-finite output at %d\n", i);
      return 1;
    }
    norm += (double)x * x;
  }
  printf("embedded artifact on %s: %llu units selected, %llu misses, output norm > 0: %s\n",
         hsattn_runtime_backend_name(rt), (unsigned long long)stats.units_selected,
         (unsigned long long)stats.misses, norm > 0 ? "yes" : "no");

  unsigned char* bad = malloc(hsa_artifact_gqa8_size);
  memcpy(bad, hsa_artifact_gqa8, hsa_artifact_gqa8_size);
  bad[hsa_artifact_gqa8_size / 2] ^= 0x40;
  hsattn_runtime* rt2 = NULL;
  hsattn_runtime_create(&options, &rt2);
  hsattn_status_t status = hsattn_runtime_load_artifact(rt2, bad, hsa_artifact_gqa8_size);
  printf("corrupted copy: %s\n", hsattn_status_message(status));
  hsattn_runtime_destroy(rt2);
  hsattn_runtime_destroy(rt);
  free(bad);
  free(k);
  free(v);
  return 0;
}
