/* hsa's C API next to ROCm's HSA runtime, from C (c99, -pedantic-errors
 * -Werror): ROCm's header first, then hsa's; the ROCm functions are defined
 * here, as ROCm's library would define them, and both are called. */
#include <hsa/hsa.h>

#include "hsa/hsattn.h"
#include "hsa/hsattn_export.h"

#include <stdio.h>
#include <string.h>

hsa_status_t hsa_init(void) { return HSA_STATUS_SUCCESS; }
hsa_status_t hsa_shut_down(void) { return HSA_STATUS_SUCCESS; }
hsa_status_t hsa_status_string(hsa_status_t status, const char** status_string) {
  *status_string = status == HSA_STATUS_SUCCESS ? "HSA_STATUS_SUCCESS" : "HSA_STATUS_ERROR";
  return HSA_STATUS_SUCCESS;
}

int coexist_cpp(void); /* coexist.cpp: the other include order, from C++ */

int main(void) {
  const char* rocm = NULL;
  hsattn_runtime_options options;
  hsattn_runtime* rt = NULL;
  hsattn_status_t status;
  if (hsa_init() != HSA_STATUS_SUCCESS || hsa_status_string(HSA_STATUS_SUCCESS, &rocm) != HSA_STATUS_SUCCESS ||
      strcmp(rocm, "HSA_STATUS_SUCCESS") != 0) {
    fprintf(stderr, "the ROCm stand-in failed\n");
    return 1;
  }
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  status = hsattn_runtime_create(&options, &rt);
  if (status != HSATTN_STATUS_OK) {
    fprintf(stderr, "hsattn_runtime_create: %s: %s\n", hsattn_status_message(status), hsattn_last_error_message());
    return 1;
  }
  /* Nothing loaded: the query is a status, named by hsa's prefix. */
  {
    hsattn_layer_config config;
    config.struct_size = sizeof config;
    if (hsattn_runtime_get_layer_config(rt, &config) != HSATTN_STATUS_INVALID_ARGUMENT) return 1;
  }
  printf("from C: ROCm %s, hsa %s backend\n", rocm, hsattn_runtime_backend_name(rt));
  hsattn_runtime_destroy(rt);
  hsa_shut_down();
  return coexist_cpp();
}
