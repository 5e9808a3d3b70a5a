// Every C++ allocation of the C API's lifecycle fails in turn: the global
// operator new of this test binary throws std::bad_alloc at the N-th
// allocation (once, or from the N-th on: memory stays exhausted). Every call
// must still return a status (no exception may reach C: that would be
// std::terminate), never INTERNAL, and the runtime must stay destroyable;
// ASan's leak check (the sanitized suite) sees anything left behind.
// Its own binary: replacing operator new would disturb the other tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "hsa/hsattn.h"
#include "hsa/runtime.hpp"
#include "test_artifact.h"
#include "test_support.h"

namespace {

// 0: no injection. Otherwise allocations are counted and the fail_at-th
// (and, when `exhausted`, every later one) throws.
std::atomic<uint64_t> fail_at{0};
std::atomic<uint64_t> allocations{0};
std::atomic<bool> exhausted{false};
std::atomic<bool> counting{false};

void* allocate(size_t size) {
  if (counting.load(std::memory_order_relaxed)) {
    const uint64_t n = ++allocations;
    const uint64_t at = fail_at.load(std::memory_order_relaxed);
    if (at && (n == at || (exhausted.load(std::memory_order_relaxed) && n > at))) throw std::bad_alloc();
  }
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(size_t size) { return allocate(size); }
void* operator new[](size_t size) { return allocate(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace hsa {
namespace {

constexpr int kCalls = 12;

// The C API lifecycle with injection on; statuses go into a fixed array
// (nothing in here may allocate on the test's behalf).
struct Lifecycle {
  const std::vector<uint8_t>& artifact;
  std::vector<uint16_t>& k;
  std::vector<uint16_t>& q;
  std::vector<uint16_t>& o;
  std::vector<int32_t>& units;
  hsattn_status_t status[kCalls];
  int made = 0;

  void run() {
    hsattn_runtime_options options;
    hsattn_runtime_options_init(&options);
    options.backend = HSATTN_BACKEND_CPU;
    options.max_batch = 2;
    options.max_context_tokens = 128;
    hsattn_runtime* rt = nullptr;
    auto call = [&](hsattn_status_t s) {
      status[made++] = s;
      return s == HSATTN_STATUS_OK;
    };
    if (!call(hsattn_runtime_create(&options, &rt))) return;
    hsattn_request_id ids[2] = {0, 0};
    hsattn_step_stats stats;
    hsattn_request_accounting accounting;
    if (call(hsattn_runtime_load_artifact(rt, artifact.data(), artifact.size())) &&
        call(hsattn_request_create(rt, &ids[0])) && call(hsattn_request_create(rt, &ids[1])) &&
        call(hsattn_prefill(rt, ids[0], k.data(), k.data(), 30)) && call(hsattn_prefill(rt, ids[1], k.data(), k.data(), 17)) &&
        call(hsattn_append(rt, ids, 2, k.data(), k.data())) &&
        call(hsattn_decode_step(rt, ids, 2, q.data(), o.data(), &stats)) &&
        call(hsattn_request_get_accounting(rt, ids[1], &accounting)) &&
        call(hsattn_request_selected_units(rt, ids[0], units.data(), units.size())))
      call(hsattn_request_release(rt, ids[0]));
    hsattn_runtime_destroy(rt);
  }
};

// The same lifecycle through the C++ API, whose functions promise statuses too.
struct CppLifecycle {
  const std::vector<uint8_t>& artifact;
  std::vector<uint16_t>& k;
  std::vector<uint16_t>& q;
  std::vector<uint16_t>& o;
  std::vector<int32_t>& units;
  StatusCode status[kCalls];
  int made = 0;

  void run() {
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.max_batch = 2;
    options.max_context_tokens = 128;
    options.profile_kernels = true;
    std::unique_ptr<Runtime> rt;
    auto call = [&](const Status& s) {
      status[made++] = s.code();
      return s.is_ok();
    };
    if (!call(Runtime::create(options, &rt))) return;
    RequestId ids[2] = {0, 0};
    StepStats stats;
    RequestAccounting accounting;
    artifact::LayerConfigRecord config;
    const KernelTiming* timings = nullptr;
    size_t timing_count = 0;
    if (call(rt->load_artifact(artifact.data(), artifact.size())) && call(rt->create_request(&ids[0])) &&
        call(rt->create_request(&ids[1])) && call(rt->prefill(ids[0], k.data(), k.data(), 30)) &&
        call(rt->append(ids, 1, k.data(), k.data())) && call(rt->decode_step(ids, 1, q.data(), o.data(), &stats)) &&
        call(rt->request_accounting(ids[1], &accounting)) && call(rt->layer_config(&config)) &&
        call(rt->last_step_kernel_timings(&timings, &timing_count)) &&
        call(rt->selected_units(ids[0], units.data(), units.size())))
      call(rt->release_request(ids[1]));
  }
};

void check_every_allocation_failure(bool memory_stays_exhausted) {
  const artifact::LayerConfigRecord config = [] {
    artifact::LayerConfigRecord c = artifact::default_test_config();
    c.num_q_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = c.value_dim = 16;
    c.page_size = 4;
    c.budget_units = 4;
    c.capacity_units = 8;
    return c;
  }();
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(config);
  std::mt19937 rng(3);
  std::vector<uint16_t> k = test::random_kv(rng, 64 * 2 * 16, artifact::KvDtype::BF16);
  std::vector<uint16_t> q = test::random_kv(rng, 2 * 4 * 16, artifact::KvDtype::BF16), o(2 * 4 * 16);
  std::vector<int32_t> units(2 * 4);

  // A clean run: how many allocations the lifecycle makes.
  Lifecycle clean{bytes, k, q, o, units, {}, 0};
  allocations = 0;
  fail_at = 0;
  counting = true;
  clean.run();
  counting = false;
  const uint64_t total = allocations;
  ASSERT_EQ(clean.made, kCalls - 1);
  for (int i = 0; i < clean.made; ++i) ASSERT_EQ(clean.status[i], HSATTN_STATUS_OK) << i;
  ASSERT_GT(total, 20u);

  uint64_t out_of_memory = 0;
  for (uint64_t n = 1; n <= total; ++n) {
    Lifecycle run{bytes, k, q, o, units, {}, 0};
    allocations = 0;
    fail_at = n;
    exhausted = memory_stays_exhausted;
    bool escaped = false;
    counting = true;
    try {
      run.run();
    } catch (...) {
      escaped = true;
    }
    counting = false;
    EXPECT_FALSE(escaped) << "allocation " << n << ": an exception escaped the C API";
    for (int i = 0; i < run.made; ++i) {
      // A failed allocation is OUT_OF_MEMORY, or success where the runtime
      // can do without (e.g. reading the cgroup's memory limit).
      EXPECT_NE(run.status[i], HSATTN_STATUS_INTERNAL) << "allocation " << n << ", call " << i;
      if (run.status[i] == HSATTN_STATUS_OUT_OF_MEMORY) {
        ++out_of_memory;
        break;
      }
    }
  }
  EXPECT_GT(out_of_memory, total / 2) << "most allocations are needed: their failure must be reported";

  CppLifecycle cpp_clean{bytes, k, q, o, units, {}, 0};
  allocations = 0;
  fail_at = 0;
  counting = true;
  cpp_clean.run();
  counting = false;
  const uint64_t cpp_total = allocations;
  ASSERT_EQ(cpp_clean.made, kCalls);
  for (int i = 0; i < cpp_clean.made; ++i) ASSERT_EQ(cpp_clean.status[i], StatusCode::Ok) << i;
  for (uint64_t n = 1; n <= cpp_total; ++n) {
    CppLifecycle run{bytes, k, q, o, units, {}, 0};
    allocations = 0;
    fail_at = n;
    exhausted = memory_stays_exhausted;
    bool escaped = false;
    counting = true;
    try {
      run.run();
    } catch (...) {
      escaped = true;
    }
    counting = false;
    EXPECT_FALSE(escaped) << "allocation " << n << ": an exception escaped the C++ API";
    for (int i = 0; i < run.made; ++i)
      EXPECT_NE(run.status[i], StatusCode::Internal) << "allocation " << n << ", call " << i;
  }
}

TEST(AllocationFailure, EveryAllocationFailingOnceIsAStatus) { check_every_allocation_failure(false); }

TEST(AllocationFailure, MemoryExhaustedFromEveryAllocationOnIsAStatus) { check_every_allocation_failure(true); }

}  // namespace
}  // namespace hsa
