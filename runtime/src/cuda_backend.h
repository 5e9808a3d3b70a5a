// The CUDA backend: loads the artifact's kernels through the driver API,
// allocates the device buffers of its buffer table, binds the host pool
// (pinned, mapped) and executes the launch plans.
#ifndef HSA_RUNTIME_CUDA_BACKEND_H
#define HSA_RUNTIME_CUDA_BACKEND_H

#include <memory>

#include "backend.h"
#include "hsa/runtime.hpp"

namespace hsa {

class CudaDriver;

// Unavailable when there is no driver or device (the message says to use backend=cpu).
Status create_cuda_backend(const RuntimeOptions& options, std::unique_ptr<Backend>* out);
// The same over a given driver table (tests: a fake driver in host memory).
Status create_cuda_backend(const RuntimeOptions& options, std::unique_ptr<CudaDriver> driver,
                           std::unique_ptr<Backend>* out);

}  // namespace hsa

#endif  // HSA_RUNTIME_CUDA_BACKEND_H
