// Allocators and hooks that fail on purpose: the runtime must turn every
// allocation failure into a clean status, leak nothing and stay usable or
// cleanly destroyable.
#ifndef HSA_RUNTIME_TESTS_FAULT_INJECTION_H
#define HSA_RUNTIME_TESTS_FAULT_INJECTION_H

#include <cstdint>
#include <memory>

#include "cpu_backend.h"
#include "host_cache.h"
#include "hsa/runtime.hpp"
#include "runtime_internal.h"

namespace hsa {
namespace test {

// Aligned host memory that fails the fail_at-th allocate() (1-based; 0:
// never) and counts what is allocated and still held.
class FailingHostAllocator : public HostAllocator {
 public:
  explicit FailingHostAllocator(uint64_t fail_at = 0) : fail_at_(fail_at) {}
  Status allocate(size_t bytes, void** host) override {
    if (++calls_ == fail_at_)
      return Status(StatusCode::OutOfMemory, "injected failure of host allocation " + std::to_string(calls_));
    HSA_RETURN_IF_ERROR(inner_.allocate(bytes, host));
    ++outstanding_;
    bytes_ += bytes;
    return Status::ok();
  }
  void release(void* host) override {
    --outstanding_;
    inner_.release(host);
  }
  uint64_t device_address(const void*) const override { return 0; }

  uint64_t calls() const { return calls_; }
  int64_t outstanding() const { return outstanding_; }  // allocations not released
  uint64_t bytes() const { return bytes_; }             // total allocated

 private:
  AlignedHostAllocator inner_;
  uint64_t fail_at_;
  uint64_t calls_ = 0;
  int64_t outstanding_ = 0;
  uint64_t bytes_ = 0;
};

// A CPU-backend runtime whose host cache allocates through `allocator`.
inline Status create_cpu_runtime(const RuntimeOptions& options, HostAllocator* allocator,
                                 std::unique_ptr<Runtime>* out) {
  RuntimeOptions o = options;
  o.backend = BackendKind::Cpu;
  return RuntimeInternals::create(o, std::unique_ptr<Backend>(new CpuBackend(o.profile_kernels, allocator)), out);
}

}  // namespace test
}  // namespace hsa

#endif  // HSA_RUNTIME_TESTS_FAULT_INJECTION_H
