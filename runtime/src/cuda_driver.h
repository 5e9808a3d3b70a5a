// The CUDA driver API, loaded at run time with dlopen so that the runtime
// builds and runs (CPU backend) on machines without a GPU. cuda.h is used for
// types and enums only; every entry point goes through this table.
#ifndef HSA_RUNTIME_CUDA_DRIVER_H
#define HSA_RUNTIME_CUDA_DRIVER_H

#include <cuda.h>

#include <memory>
#include <string>

#include "hsa/status.hpp"

// cuda.h maps several names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2);
// the table stringifies the mapped name, so dlsym finds what the header means.
#define HSA_CUDA_DRIVER_FUNCTIONS(X) \
  X(cuInit)                          \
  X(cuDriverGetVersion)              \
  X(cuGetErrorName)                  \
  X(cuGetErrorString)                \
  X(cuDeviceGetCount)                \
  X(cuDeviceGet)                     \
  X(cuDeviceGetAttribute)            \
  X(cuDeviceGetName)                 \
  X(cuDeviceTotalMem)                \
  X(cuMemGetInfo)                    \
  X(cuDevicePrimaryCtxRetain)        \
  X(cuDevicePrimaryCtxRelease)       \
  X(cuCtxSetCurrent)                 \
  X(cuModuleLoadDataEx)              \
  X(cuModuleGetFunction)             \
  X(cuModuleUnload)                  \
  X(cuFuncSetAttribute)              \
  X(cuFuncGetAttribute)              \
  X(cuLaunchKernel)                  \
  X(cuMemAlloc)                      \
  X(cuMemFree)                       \
  X(cuMemsetD8Async)                 \
  X(cuMemcpyHtoDAsync)               \
  X(cuMemcpyDtoHAsync)               \
  X(cuMemcpy3DAsync)                 \
  X(cuMemHostAlloc)                  \
  X(cuMemFreeHost)                   \
  X(cuMemHostGetDevicePointer)       \
  X(cuStreamCreate)                  \
  X(cuStreamDestroy)                 \
  X(cuStreamSynchronize)             \
  X(cuStreamBeginCapture)            \
  X(cuStreamEndCapture)              \
  X(cuGraphInstantiate)              \
  X(cuGraphLaunch)                   \
  X(cuGraphDestroy)                  \
  X(cuGraphExecDestroy)              \
  X(cuEventCreate)                   \
  X(cuEventDestroy)                  \
  X(cuEventRecord)                   \
  X(cuEventSynchronize)              \
  X(cuEventQuery)                    \
  X(cuEventElapsedTime)              \
  X(cuStreamGetCtx)                  \
  X(cuPointerGetAttribute)           \
  X(cuMemGetAddressRange)            \
  X(cuStreamIsCapturing)             \
  X(cuCtxSynchronize)

// Entry points the runtime uses when the driver has them (null otherwise):
// cuFuncGetParamInfo (CUDA 12.4+) checks the kernel ABI at load.
#define HSA_CUDA_OPTIONAL_DRIVER_FUNCTIONS(X) X(cuFuncGetParamInfo)

#define HSA_CUDA_STRINGIFY_EXPANDED(name) HSA_CUDA_STRINGIFY(name)
#define HSA_CUDA_STRINGIFY(name) #name

namespace hsa {

class CudaDriver {
 public:
  // dlopen(path) and resolve every entry point; Unavailable with the reason
  // (and "use backend=cpu") when the library or a symbol is missing.
  static Status load(const std::string& path, std::unique_ptr<CudaDriver>* out);
  // A table with no library behind it, every entry null: tests fill it with a
  // fake driver (tests/fake_cuda_driver.h) to run the CUDA backend, and to
  // fail any call, without a GPU.
  static std::unique_ptr<CudaDriver> without_library() { return std::unique_ptr<CudaDriver>(new CudaDriver()); }
  ~CudaDriver();
  CudaDriver(const CudaDriver&) = delete;
  CudaDriver& operator=(const CudaDriver&) = delete;

  // Ok, or DeviceError "what: CUDA_ERROR_X (description)" (OutOfMemory for
  // CUDA_ERROR_OUT_OF_MEMORY: a device or pinned allocation that failed).
  Status check(CUresult result, const std::string& what) const;

#define HSA_CUDA_DECLARE_ENTRY(name) decltype(&::name) name = nullptr;
  HSA_CUDA_DRIVER_FUNCTIONS(HSA_CUDA_DECLARE_ENTRY)
  HSA_CUDA_OPTIONAL_DRIVER_FUNCTIONS(HSA_CUDA_DECLARE_ENTRY)
#undef HSA_CUDA_DECLARE_ENTRY

 private:
  CudaDriver() = default;
  void* library_ = nullptr;
};

}  // namespace hsa

#endif  // HSA_RUNTIME_CUDA_DRIVER_H
