// Fault injection: every host allocation (through the HostAllocator) and,
// with a fake CUDA driver in host memory, every driver call fails once in
// turn. Each failure must come back as a clean status (no crash, no
// exception), leak nothing (the allocator's and the fake's counts; ASan's
// leak check in the sanitized suite) and leave a runtime that is usable (new
// requests work after the failed ones are released) or, when the load
// itself failed, cleanly destroyable.
#include <gtest/gtest.h>

#include <random>

#include "fault_injection.h"
#include "test_support.h"
#include "test_artifact.h"
#if HSA_RUNTIME_HAS_CUDA
#include "cuda_backend.h"
#include "fake_cuda_driver.h"
#endif

namespace hsa {
namespace {


RuntimeOptions small_options() {
  RuntimeOptions options;
  options.max_batch = 2;
  options.max_context_tokens = 256;
  return options;
}

// A workload over two requests: prefill, append, decode, accounting,
// selection, release and reuse. Returns the first failed status (the calls
// after a failure are not made) and which call it was.
struct Workload {
  const artifact::LayerConfigRecord config = artifact::small_selecting_config();
  std::mt19937 rng{5};
  std::vector<uint16_t> k = test::random_kv(rng, 100 * 2 * 32, artifact::KvDtype::BF16);
  std::vector<uint16_t> q = test::random_kv(rng, 2 * 8 * 32, artifact::KvDtype::BF16);
  std::vector<uint16_t> o = std::vector<uint16_t>(2 * 8 * 32);
  std::vector<RequestId> ids;

  Status run(Runtime& rt, std::string* where) {
    auto step = [&](const char* name, const Status& s) {
      if (!s.is_ok()) *where = name;
      return s;
    };
    for (int i = 0; i < 2; ++i) {
      RequestId id = 0;
      HSA_RETURN_IF_ERROR(step("create_request", rt.create_request(&id)));
      ids.push_back(id);
      HSA_RETURN_IF_ERROR(step("prefill", rt.prefill(id, k.data(), k.data(), 40 + 30 * i)));
    }
    StepStats stats;
    for (int t = 0; t < 2; ++t) {
      HSA_RETURN_IF_ERROR(step("append", rt.append(ids.data(), 2, k.data(), k.data())));
      HSA_RETURN_IF_ERROR(step("decode_step", rt.decode_step(ids.data(), 2, q.data(), o.data(), &stats)));
    }
    RequestAccounting accounting;
    HSA_RETURN_IF_ERROR(step("request_accounting", rt.request_accounting(ids[0], &accounting)));
    std::vector<int32_t> units(size_t(config.num_kv_heads) * config.budget_units);
    HSA_RETURN_IF_ERROR(step("selected_units", rt.selected_units(ids[1], units.data(), units.size())));
    HSA_RETURN_IF_ERROR(step("release_request", rt.release_request(ids[0])));
    ids.erase(ids.begin());
    RequestId again = 0;
    HSA_RETURN_IF_ERROR(step("create_request (reuse)", rt.create_request(&again)));
    ids.push_back(again);
    HSA_RETURN_IF_ERROR(step("prefill (reuse)", rt.prefill(again, k.data(), k.data(), 9)));
    HSA_RETURN_IF_ERROR(step("decode_step (reuse)", rt.decode_step(&again, 1, q.data(), o.data(), &stats)));
    return Status::ok();
  }

  // After a failure: drop every request, then a new one must work end to end.
  Status recover(Runtime& rt) {
    for (RequestId id : ids) (void)rt.release_request(id);  // NotFound for one already released: fine
    ids.clear();
    RequestId id = 0;
    HSA_RETURN_IF_ERROR(rt.create_request(&id));
    HSA_RETURN_IF_ERROR(rt.prefill(id, k.data(), k.data(), 20));
    HSA_RETURN_IF_ERROR(rt.append(&id, 1, k.data(), k.data()));
    StepStats stats;
    HSA_RETURN_IF_ERROR(rt.decode_step(&id, 1, q.data(), o.data(), &stats));
    return rt.release_request(id);
  }
};

bool is_allocation_or_device_failure(StatusCode code) {
  return code == StatusCode::OutOfMemory || code == StatusCode::DeviceError || code == StatusCode::Unavailable;
}

TEST(FaultInjection, EveryHostAllocationFailureIsACleanStatus) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  uint64_t allocations = 0;
  {
    test::FailingHostAllocator counting;
    std::unique_ptr<Runtime> rt;
    ASSERT_TRUE(test::create_cpu_runtime(small_options(), &counting, &rt).is_ok());
    ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
    Workload w;
    std::string where;
    const Status s = w.run(*rt, &where);
    ASSERT_TRUE(s.is_ok()) << where << ": " << s.message();
    allocations = counting.calls();
  }
  ASSERT_EQ(allocations, 3u);  // host.k, host.v, host.page_of
  for (uint64_t n = 1; n <= allocations; ++n) {
    test::FailingHostAllocator failing(n);
    {
      std::unique_ptr<Runtime> rt;
      ASSERT_TRUE(test::create_cpu_runtime(small_options(), &failing, &rt).is_ok());
      const Status s = rt->load_artifact(bytes.data(), bytes.size());
      EXPECT_EQ(s.code(), StatusCode::OutOfMemory) << "allocation " << n << ": " << s.message();
      EXPECT_NE(s.message().find("injected failure of host allocation " + std::to_string(n)), std::string::npos)
          << s.message();
      // Cleanly refused: not loaded; the host cache failed before the backend
      // was touched, so loading again (the allocation now succeeds) works.
      RequestId id;
      EXPECT_EQ(rt->create_request(&id).code(), StatusCode::InvalidArgument);
      ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
      Workload w;
      std::string where;
      const Status again = w.run(*rt, &where);
      EXPECT_TRUE(again.is_ok()) << where << ": " << again.message();
    }
    EXPECT_EQ(failing.outstanding(), 0) << "allocation " << n << " failed: host memory leaked";
  }
}

#if HSA_RUNTIME_HAS_CUDA

struct FakeRun {
  bool created = false, loaded = false, failed = false, recovered = false;
  Status failure;
  std::string where, leaks;
};

// The CUDA backend over a fresh fake driver whose `fail_call`-th counted call
// (of `only`, when given) fails; the whole lifecycle, then the leak count.
enum class Mode { Plain, Graph, Profiled };
const char* mode_name(Mode m) { return m == Mode::Graph ? "graph" : m == Mode::Profiled ? "profiled" : "plain"; }

FakeRun run_on_fake_driver(uint64_t fail_call, const std::string& only, Mode mode, const std::vector<uint8_t>& bytes,
                           uint64_t* counted_calls = nullptr) {
  FakeRun r;
  test::FakeCudaDriver fake;
  fake.fail_call = fail_call;
  fake.fail_only = only;
  {
    RuntimeOptions options = small_options();
    options.backend = BackendKind::Cuda;
    options.use_cuda_graph = mode == Mode::Graph;
    options.profile_kernels = mode == Mode::Profiled;
    std::unique_ptr<Backend> backend;
    Status s = create_cuda_backend(options, fake.table(), &backend);
    std::unique_ptr<Runtime> rt;
    if (s.is_ok()) s = RuntimeInternals::create(options, std::move(backend), &rt);
    if (!s.is_ok()) {
      r.failed = true;
      r.failure = s;
      r.where = "create";
    } else {
      r.created = true;
      s = rt->load_artifact(bytes.data(), bytes.size());
      if (!s.is_ok()) {
        r.failed = true;
        r.failure = s;
        r.where = "load_artifact";
      } else {
        r.loaded = true;
        Workload w;
        s = w.run(*rt, &r.where);
        if (!s.is_ok()) {
          r.failed = true;
          r.failure = s;
          const Status again = w.recover(*rt);
          r.recovered = again.is_ok();
          if (!again.is_ok()) r.where += " (recovery: " + again.message() + ")";
        }
      }
    }
  }  // runtime destroyed
  r.leaks = fake.leaks();
  if (counted_calls) *counted_calls = fake.counted_calls();
  return r;
}

TEST(FaultInjection, CudaBackendRunsOnTheFakeDriver) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  for (Mode mode : {Mode::Plain, Mode::Graph, Mode::Profiled}) {
    uint64_t calls = 0;
    const FakeRun r = run_on_fake_driver(0, "", mode, bytes, &calls);
    EXPECT_TRUE(r.loaded && !r.failed) << r.where << ": " << r.failure.message();
    EXPECT_EQ(r.leaks, "");
    EXPECT_GT(calls, 50u);
  }
}

// Above 48 KiB per block a kernel must opt in, and the driver counts static
// and dynamic bytes together: 8 KiB static + 44 KiB dynamic opts in although
// the dynamic part alone is below 48 KiB; beyond the device's opt-in ceiling
// (99 KiB on sm_86/89) the load is refused with the numbers.
TEST(FaultInjection, SharedMemoryOptInCountsStaticAndDynamicBytes) {
  const std::vector<uint8_t> bytes =
      artifact::make_test_artifact(artifact::small_selecting_config(), "sm_90a", artifact::TestAlgorithm(), 44 * 1024);
  // The artifact's load on a CUDA backend over `fake`.
  auto load = [&](test::FakeCudaDriver& fake) {
    std::unique_ptr<Backend> backend;
    RuntimeOptions options = small_options();
    options.backend = BackendKind::Cuda;
    EXPECT_TRUE(create_cuda_backend(options, fake.table(), &backend).is_ok());
    std::unique_ptr<Runtime> rt;
    EXPECT_TRUE(RuntimeInternals::create(options, std::move(backend), &rt).is_ok());
    return rt ? rt->load_artifact(bytes.data(), bytes.size()) : Status(StatusCode::Internal, "no runtime");
  };
  {
    test::FakeCudaDriver fake;
    fake.static_shared_bytes = 8 * 1024;
    const Status loaded = load(fake);
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
    EXPECT_EQ(fake.max_dynamic_shared_set, 44 * 1024);
  }
  {
    test::FakeCudaDriver fake;
    fake.static_shared_bytes = 8 * 1024;
    fake.max_shared_per_block_optin = 48 * 1024;  // 52 KiB cannot fit
    const Status loaded = load(fake);
    EXPECT_EQ(loaded.code(), StatusCode::Unsupported);
    EXPECT_NE(loaded.message().find("8192 B static + 45056 B dynamic"), std::string::npos) << loaded.message();
    EXPECT_NE(loaded.message().find("allows 49152 B"), std::string::npos) << loaded.message();
  }
}

// Every counted driver call of the lifecycle fails once, in turn: device and
// pinned allocations (OutOfMemory), copies, launches, syncs, graph capture...
TEST(FaultInjection, EveryCudaDriverCallFailureIsACleanStatus) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  for (Mode mode : {Mode::Plain, Mode::Graph, Mode::Profiled}) {
    uint64_t calls = 0;
    ASSERT_FALSE(run_on_fake_driver(0, "", mode, bytes, &calls).failed);
    for (uint64_t n = 1; n <= calls; ++n) {
      const FakeRun r = run_on_fake_driver(n, "", mode, bytes);
      const std::string what = std::string(mode_name(mode)) + ": driver call " + std::to_string(n) + " of " +
                               std::to_string(calls) + " failed in " + r.where + ": " + r.failure.message();
      EXPECT_EQ(r.leaks, "") << what;
      if (!r.failed) continue;  // a failure the backend tolerates (e.g. the step timer)
      EXPECT_TRUE(is_allocation_or_device_failure(r.failure.code())) << what;
      EXPECT_NE(r.failure.message().find("injected by the fake driver"), std::string::npos) << what;
      if (r.loaded) {
        EXPECT_TRUE(r.recovered) << what;
      }
    }
  }
}

TEST(FaultInjection, EveryDeviceAndPinnedAllocationFailureIsOutOfMemory) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  for (const char* entry : {"cuMemAlloc", "cuMemHostAlloc"}) {
    uint64_t allocations = 0;  // how many a clean load makes
    {
      test::FakeCudaDriver counting;
      RuntimeOptions options = small_options();
      options.backend = BackendKind::Cuda;
      std::unique_ptr<Backend> backend;
      ASSERT_TRUE(create_cuda_backend(options, counting.table(), &backend).is_ok());
      std::unique_ptr<Runtime> rt;
      ASSERT_TRUE(RuntimeInternals::create(options, std::move(backend), &rt).is_ok());
      ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
      allocations = counting.calls_of(entry);
    }
    EXPECT_GE(allocations, 3u) << entry;
    for (uint64_t n = 1; n <= allocations; ++n) {
      const FakeRun r = run_on_fake_driver(n, entry, Mode::Plain, bytes);
      ASSERT_TRUE(r.failed) << entry << " " << n;
      EXPECT_EQ(r.where, "load_artifact") << entry << " " << n;
      EXPECT_EQ(r.failure.code(), StatusCode::OutOfMemory) << entry << " " << n << ": " << r.failure.message();
      EXPECT_NE(r.failure.message().find(entry), std::string::npos) << r.failure.message();
      EXPECT_EQ(r.leaks, "") << entry << " " << n;
    }
  }
}

TEST(FaultInjection, CudaCreateWithAFailingDriverIsAStatus) {
  for (const char* entry : {"cuInit", "cuDeviceGetCount", "cuDevicePrimaryCtxRetain", "cuStreamCreate"}) {
    test::FakeCudaDriver fake;
    fake.fail_call = 1;
    fake.fail_only = entry;
    {
      RuntimeOptions options;
      options.backend = BackendKind::Cuda;
      std::unique_ptr<Backend> backend;
      const Status s = create_cuda_backend(options, fake.table(), &backend);
      EXPECT_FALSE(s.is_ok()) << entry;
      EXPECT_TRUE(s.code() == StatusCode::Unavailable || s.code() == StatusCode::DeviceError) << s.message();
      if (std::string(entry) == "cuInit") {
        EXPECT_NE(s.message().find("use backend=cpu"), std::string::npos) << s.message();
      }
    }
    EXPECT_EQ(fake.leaks(), "") << entry;
  }
}

// The device memory check: a layer larger than the device's free memory is
// refused before any device or pinned allocation.
TEST(FaultInjection, LayerLargerThanFreeDeviceMemoryIsRefusedBeforeAllocating) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  test::FakeCudaDriver fake;
  fake.free_bytes = 64 << 10;
  {
    RuntimeOptions options = small_options();
    options.backend = BackendKind::Cuda;
    std::unique_ptr<Backend> backend;
    ASSERT_TRUE(create_cuda_backend(options, fake.table(), &backend).is_ok());
    std::unique_ptr<Runtime> rt;
    ASSERT_TRUE(RuntimeInternals::create(options, std::move(backend), &rt).is_ok());
    const Status s = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_EQ(s.code(), StatusCode::OutOfMemory) << s.message();
    for (const char* needle : {"of device memory (", "but 60.80 KiB are available on fake device",
                               "(free memory minus 1/20)", "lower max_batch"})
      EXPECT_NE(s.message().find(needle), std::string::npos) << needle << "\n" << s.message();
  }
  EXPECT_EQ(fake.calls_of("cuMemAlloc"), 0u);
  EXPECT_EQ(fake.calls_of("cuMemHostAlloc"), 0u);
  EXPECT_EQ(fake.leaks(), "");
}

#endif  // HSA_RUNTIME_HAS_CUDA

}  // namespace
}  // namespace hsa
