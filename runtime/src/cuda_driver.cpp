#include "cuda_driver.h"

#include <dlfcn.h>

namespace hsa {

Status CudaDriver::load(const std::string& path, std::unique_ptr<CudaDriver>* out) {
  std::unique_ptr<CudaDriver> driver(new CudaDriver());
  driver->library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!driver->library_) {
    const char* why = dlerror();
    return Status(StatusCode::Unavailable, "no CUDA driver found (" + path + ": " + (why ? why : "dlopen failed") +
                                               "): use backend=cpu");
  }
#define HSA_CUDA_RESOLVE_ENTRY(name)                                                                      \
  driver->name = reinterpret_cast<decltype(driver->name)>(dlsym(driver->library_, HSA_CUDA_STRINGIFY_EXPANDED(name))); \
  if (!driver->name)                                                                                      \
    return Status(StatusCode::Unavailable, std::string("the CUDA driver in ") + path + " lacks " +        \
                                               HSA_CUDA_STRINGIFY_EXPANDED(name) + " (driver too old?): use backend=cpu");
  HSA_CUDA_DRIVER_FUNCTIONS(HSA_CUDA_RESOLVE_ENTRY)
#undef HSA_CUDA_RESOLVE_ENTRY
#define HSA_CUDA_RESOLVE_OPTIONAL_ENTRY(name) \
  driver->name = reinterpret_cast<decltype(driver->name)>(dlsym(driver->library_, HSA_CUDA_STRINGIFY_EXPANDED(name)));
  HSA_CUDA_OPTIONAL_DRIVER_FUNCTIONS(HSA_CUDA_RESOLVE_OPTIONAL_ENTRY)
#undef HSA_CUDA_RESOLVE_OPTIONAL_ENTRY
  *out = std::move(driver);
  return Status::ok();
}

CudaDriver::~CudaDriver() {
  if (library_) dlclose(library_);
}

Status CudaDriver::check(CUresult result, const std::string& what) const {
  if (result == CUDA_SUCCESS) return Status::ok();
  const char* name = nullptr;
  const char* text = nullptr;
  if (cuGetErrorName) cuGetErrorName(result, &name);
  if (cuGetErrorString) cuGetErrorString(result, &text);
  const StatusCode code = result == CUDA_ERROR_OUT_OF_MEMORY ? StatusCode::OutOfMemory : StatusCode::DeviceError;
  return Status(code, what + ": " + (name ? name : "CUDA error " + std::to_string(int(result))) + " (" +
                          (text ? text : "no description") + ")");
}

}  // namespace hsa
