/* An engine's use of an installed hsa runtime, through the C API: load an
 * artifact, read the layer's config, prefill a request, append a token and
 * run a decode step on the CPU backend, and check the output (each head's
 * output is a softmax-weighted mean of its KV head's values, so it lies
 * within their range).
 *   consumer ARTIFACT
 * Built by CMakeLists.txt (find_package(hsa)) and by hand with pkg-config:
 *   cc consumer.c $(pkg-config --cflags --libs hsa-runtime) -o consumer
 *   cc consumer.c $(pkg-config --cflags --libs hsa-runtime-static) -o consumer */
#include <hsa/hsattn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void fill(uint16_t* data, size_t count) {
  size_t i;
  for (i = 0; i < count; ++i) data[i] = to_bf16((float)rand() / (float)RAND_MAX - 0.5f);
}

#define CHECK(call)                                                                          \
  do {                                                                                       \
    hsattn_status_t status_ = (call);                                                        \
    if (status_ != HSATTN_STATUS_OK) {                                                       \
      fprintf(stderr, "%s: %s: %s\n", #call, hsattn_status_message(status_), hsattn_last_error_message()); \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

int main(int argc, char** argv) {
  hsattn_runtime_options options;
  hsattn_runtime* rt = NULL;
  hsattn_layer_config c;
  hsattn_request_id id;
  hsattn_step_stats stats;
  uint16_t *k, *v, *q, *o;
  size_t kv_row, v_row, tokens = 200, t, h, d;
  unsigned groups;
  if (argc != 2) {
    fprintf(stderr, "usage: consumer ARTIFACT\n");
    return 2;
  }
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_batch = 2;
  options.max_context_tokens = 1024;
  CHECK(hsattn_runtime_create(&options, &rt));
  CHECK(hsattn_runtime_load_artifact_file(rt, argv[1]));

  memset(&c, 0, sizeof c);
  c.struct_size = sizeof c;
  CHECK(hsattn_runtime_get_layer_config(rt, &c));
  printf("layer %s: %s, batch %u, heads %u/%u, dims %u/%u, page %u, budget %u, capacity %u, max context %llu, %s\n",
         c.name, c.algorithm, c.max_batch, c.num_q_heads, c.num_kv_heads, c.head_dim, c.value_dim, c.page_size,
         c.budget_units, c.capacity_units, (unsigned long long)c.max_context_tokens,
         c.kv_dtype == HSATTN_DTYPE_BF16 ? "bf16" : "f16");
  if (c.kv_dtype != HSATTN_DTYPE_BF16 || (c.flags & HSATTN_LAYER_VALUE_IS_KEY_PREFIX)) {
    fprintf(stderr, "this example feeds bf16 keys and separate values\n");
    return 1;
  }

  /* Every size from the config: K [tokens][Hkv][D], V [tokens][Hkv][Dv]. */
  kv_row = (size_t)c.num_kv_heads * c.head_dim;
  v_row = (size_t)c.num_kv_heads * c.value_dim;
  k = malloc(sizeof(uint16_t) * (tokens + 1) * kv_row);
  v = malloc(sizeof(uint16_t) * (tokens + 1) * v_row);
  q = malloc(sizeof(uint16_t) * c.num_q_heads * c.head_dim);
  o = malloc(sizeof(uint16_t) * c.num_q_heads * c.value_dim);
  if (!k || !v || !q || !o) return 1;
  srand(7);
  fill(k, (tokens + 1) * kv_row);
  fill(v, (tokens + 1) * v_row);
  fill(q, (size_t)c.num_q_heads * c.head_dim);

  CHECK(hsattn_request_create(rt, &id));
  CHECK(hsattn_prefill(rt, id, k, v, tokens));
  CHECK(hsattn_append(rt, &id, 1, k + tokens * kv_row, v + tokens * v_row));
  CHECK(hsattn_decode_step(rt, &id, 1, q, o, &stats));

  groups = c.scope == HSATTN_SCOPE_KV_HEAD ? c.num_kv_heads : 1;
  if (stats.units_selected == 0 || stats.units_selected > (uint64_t)groups * c.budget_units) {
    fprintf(stderr, "%llu units selected: expected 1..%u\n", (unsigned long long)stats.units_selected,
            groups * c.budget_units);
    return 1;
  }
  for (h = 0; h < c.num_q_heads; ++h) {
    const size_t kvh = h / (c.num_q_heads / c.num_kv_heads);
    for (d = 0; d < c.value_dim; ++d) {
      float lo = INFINITY, hi = -INFINITY, x = from_bf16(o[h * c.value_dim + d]);
      for (t = 0; t <= tokens; ++t) {
        const float y = from_bf16(v[t * v_row + kvh * c.value_dim + d]);
        lo = y < lo ? y : lo;
        hi = y > hi ? y : hi;
      }
      if (!(x >= lo - 1e-2f && x <= hi + 1e-2f)) {
        fprintf(stderr, "o[%zu][%zu] = %g outside its values' range [%g, %g]\n", h, d, x, lo, hi);
        return 1;
      }
    }
  }
  printf("decode step on %s: %llu units selected, %llu misses, %llu bytes copied; output in range\n",
         hsattn_runtime_backend_name(rt), (unsigned long long)stats.units_selected,
         (unsigned long long)stats.misses, (unsigned long long)stats.bytes_copied_h2d);
  CHECK(hsattn_request_release(rt, id));
  hsattn_runtime_destroy(rt);
  free(k);
  free(v);
  free(q);
  free(o);
  return 0;
}
