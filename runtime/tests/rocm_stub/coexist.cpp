// hsa's public headers, C and C++, next to ROCm's HSA runtime from C++
// (-Werror): hsa's headers first, then ROCm's, so neither defines a name, a
// macro or an include guard the other uses. Both libraries' functions are called.
#include "hsa/artifact_format.h"
#include "hsa/artifact_writer.h"
#include "hsa/hsattn.h"
#include "hsa/hsattn_export.h"
#include "hsa/layer_contract.h"
#include "hsa/model_runtime.hpp"
#include "hsa/runtime.hpp"
#include "hsa/sha256.h"
#include "hsa/status.hpp"

#include <hsa/hsa.h>

#include <cstdio>
#include <memory>

static_assert(HSA_STATUS_SUCCESS == 0 && HSATTN_STATUS_OK == 0, "both status enums are in scope");
static_assert(sizeof(hsa_agent_t) == 8 && sizeof(hsattn_request_id) == 8, "both handle types are in scope");

extern "C" int coexist_cpp(void) {
  if (hsa_init() != HSA_STATUS_SUCCESS) return 1;
  hsa::RuntimeOptions options;
  options.backend = hsa::BackendKind::Cpu;
  std::unique_ptr<hsa::Runtime> runtime;
  const hsa::Status status = hsa::Runtime::create(options, &runtime);
  if (!status.is_ok()) {
    std::fprintf(stderr, "hsa::Runtime::create: %s\n", status.message().c_str());
    return 1;
  }
  hsa::LayerInfo info;
  if (runtime->layer_info(&info).code() != hsa::StatusCode::InvalidArgument) return 1;
  std::printf("from C++: hsa %s backend, %s\n", runtime->backend_name(),
              hsattn_status_message(HSATTN_STATUS_NOT_FOUND));
  return hsa_shut_down() == HSA_STATUS_SUCCESS ? 0 : 1;
}
