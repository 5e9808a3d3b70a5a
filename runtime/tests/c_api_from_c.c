/* Calls into the C API the way a C program may: enum fields hold any int
 * (legal in C, and undefined behaviour if C++ code loaded them as the enum
 * type). Also proves hsa_runtime.h compiles as C. */
#include "hsa/hsa_runtime.h"

#include <stddef.h>

hsa_status_t hsa_test_create_with_backend(int backend, hsa_runtime** runtime) {
  hsa_runtime_options options;
  hsa_runtime_options_init(&options);
  options.backend = (hsa_backend_t)backend;
  return hsa_runtime_create(&options, runtime);
}

const char* hsa_test_status_message(int status) { return hsa_status_message((hsa_status_t)status); }
