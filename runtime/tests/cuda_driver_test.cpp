// The dlopen'ed driver table and the no-GPU paths of the CUDA backend. The
// toolkit's stub libcuda exports every entry point but cannot initialise.
#include <gtest/gtest.h>

#include <fstream>

#include "cuda_driver.h"
#include "hsa/runtime.hpp"

namespace hsa {
namespace {

const char* kStubDriver = "/usr/local/cuda/lib64/stubs/libcuda.so";

TEST(CudaDriver, EveryEntryPointResolvesInTheToolkitStub) {
  if (!std::ifstream(kStubDriver)) GTEST_SKIP() << "no CUDA toolkit stub at " << kStubDriver;
  std::unique_ptr<CudaDriver> driver;
  const Status status = CudaDriver::load(kStubDriver, &driver);
  ASSERT_TRUE(status.is_ok()) << status.message();
#define HSA_EXPECT_RESOLVED(name) EXPECT_NE(reinterpret_cast<void*>(driver->name), nullptr) << #name;
  HSA_CUDA_DRIVER_FUNCTIONS(HSA_EXPECT_RESOLVED)
  // Optional ones (cuFuncGetParamInfo: the kernel ABI check) exist in CUDA 12.4+ stubs.
  HSA_CUDA_OPTIONAL_DRIVER_FUNCTIONS(HSA_EXPECT_RESOLVED)
#undef HSA_EXPECT_RESOLVED
}

TEST(CudaDriver, MissingLibraryIsAClearStatus) {
  std::unique_ptr<CudaDriver> driver;
  const Status status = CudaDriver::load("/nonexistent/libcuda.so.1", &driver);
  EXPECT_EQ(status.code(), StatusCode::Unavailable);
  EXPECT_NE(status.message().find("no CUDA driver found"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("use backend=cpu"), std::string::npos);
}

TEST(CudaBackend, WithoutAUsableDriverCudaFailsAndAutoFallsBackToCpu) {
  RuntimeOptions options;
  options.cuda_driver_path = std::ifstream(kStubDriver) ? kStubDriver : "/nonexistent/libcuda.so.1";
  options.backend = BackendKind::Cuda;
  std::unique_ptr<Runtime> runtime;
  const Status status = Runtime::create(options, &runtime);
  EXPECT_EQ(status.code(), StatusCode::Unavailable) << status.message();
  EXPECT_NE(status.message().find("use backend=cpu"), std::string::npos) << status.message();
  options.backend = BackendKind::Auto;
  ASSERT_TRUE(Runtime::create(options, &runtime).is_ok());
  EXPECT_STREQ(runtime->backend_name(), "cpu");
}

}  // namespace
}  // namespace hsa
