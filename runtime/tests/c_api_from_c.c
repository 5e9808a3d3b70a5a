/* Calls into the C API the way a C program may: enum fields hold any int
 * (legal in C, and undefined behaviour if C++ code loaded them as the enum
 * type). Also proves hsattn.h compiles as C. */
#include "hsa/hsattn.h"

#include <stddef.h>

hsattn_status_t hsattn_test_create_with_backend(int backend, hsattn_runtime** runtime) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = (hsattn_backend_t)backend;
  return hsattn_runtime_create(&options, runtime);
}

const char* hsattn_test_status_message(int status) { return hsattn_status_message((hsattn_status_t)status); }

/* The layer-config query as C fills it in. */
unsigned hsattn_test_layer_page_size(const hsattn_runtime* runtime) {
  hsattn_layer_config config;
  config.struct_size = sizeof config;
  if (hsattn_runtime_get_layer_config(runtime, &config) != HSATTN_STATUS_OK) return 0;
  return config.page_size;
}
