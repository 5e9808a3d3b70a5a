// The device API (Runtime::begin_step / enqueue_append / enqueue_decode) on
// the fake CUDA driver: what it refuses, that a step makes no host
// synchronisation, that it captures, and that a refused call changes no
// request. The numbers (outputs against the reference, graph replays over
// changing batches) are checked on the GPU by hsa-device-check.
#include <gtest/gtest.h>

#if HSA_RUNTIME_HAS_CUDA  // the fake driver needs cuda.h's types

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_backend.h"
#include "fake_cuda_driver.h"
#include "hsa/runtime.hpp"
#include "runtime_internal.h"
#include "test_artifact.h"
#include "test_support.h"

namespace hsa {
namespace {

constexpr uint32_t kBatch = 4;

struct DeviceRun {
  test::FakeCudaDriver fake;
  std::unique_ptr<CudaDriver> driver = fake.table();  // the test's own handle (capture, graphs)
  std::unique_ptr<Runtime> rt;
  const artifact::LayerConfigRecord config = artifact::small_selecting_config();
  std::vector<RequestId> ids;
  CUdeviceptr q = 0, o = 0, k = 0, v = 0;
  int stream_storage = 0;
  void* stream = &stream_storage;  // the fake accepts any handle as a stream of its context

  explicit DeviceRun(uint32_t pool_pages = 0, bool append_writes_host_pool = true) {
    RuntimeOptions options;
    options.backend = BackendKind::Cuda;
    options.max_batch = kBatch;
    options.max_context_tokens = 256;
    options.pool_pages = pool_pages;
    std::unique_ptr<Backend> backend;
    EXPECT_TRUE(create_cuda_backend(options, fake.table(), &backend).is_ok());
    EXPECT_TRUE(RuntimeInternals::create(options, std::move(backend), &rt).is_ok());
    const std::vector<uint8_t> bytes = artifact::make_test_artifact(config, "sm_90a", artifact::TestAlgorithm(), 0,
                                                                    false, append_writes_host_pool);
    const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
    const size_t H = config.num_q_heads, Hkv = config.num_kv_heads, D = config.head_dim;
    q = fake.device_tensor(kBatch * H * D * 2);
    o = fake.device_tensor(kBatch * H * D * 2);
    k = fake.device_tensor(kBatch * Hkv * D * 2);
    v = fake.device_tensor(kBatch * Hkv * D * 2);
  }
  void prefill(uint64_t tokens) {
    std::mt19937 rng(7);
    std::vector<uint16_t> kv = test::random_kv(rng, tokens * config.num_kv_heads * config.head_dim,
                                               artifact::KvDtype::BF16);
    RequestId id = 0;
    ASSERT_TRUE(rt->create_request(&id).is_ok());
    ASSERT_TRUE(rt->prefill(id, kv.data(), kv.data(), tokens).is_ok());
    ids.push_back(id);
  }
  uint64_t length(RequestId id) {
    RequestAccounting a;
    EXPECT_TRUE(rt->request_accounting(id, &a).is_ok());
    return a.length_tokens;
  }
  void* ptr(CUdeviceptr p) const { return reinterpret_cast<void*>(p); }
  uint64_t syncs() const {
    return fake.calls_of("cuStreamSynchronize") + fake.calls_of("cuEventSynchronize") +
           fake.calls_of("cuCtxSynchronize");
  }
};

TEST(DeviceApi, CpuBackendAnswersUnsupportedAndKeepsTheRequest) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = 2;
  options.max_context_tokens = 256;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(artifact::small_selecting_config());
  ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  std::mt19937 rng(3);
  std::vector<uint16_t> kv = test::random_kv(rng, 20 * 2 * 32, artifact::KvDtype::BF16);
  RequestId id = 0;
  ASSERT_TRUE(rt->create_request(&id).is_ok());
  ASSERT_TRUE(rt->prefill(id, kv.data(), kv.data(), 20).is_ok());
  const Status s = rt->begin_step(&id, 1, true, nullptr);
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("no device API"), std::string::npos) << s.message();
  RequestAccounting a;
  ASSERT_TRUE(rt->request_accounting(id, &a).is_ok());
  EXPECT_EQ(a.length_tokens, 20u);  // the reserved token was given back
  EXPECT_EQ(rt->enqueue_decode(kv.data(), kv.data(), nullptr, nullptr).code(), StatusCode::Unsupported);
}

TEST(DeviceApi, AStepLaunchesWithoutHostSynchronisation) {
  DeviceRun r;
  r.prefill(30);
  r.prefill(50);
  uint32_t slot0 = 99, slot1 = 99;
  ASSERT_TRUE(r.rt->request_slot(r.ids[0], &slot0).is_ok());
  ASSERT_TRUE(r.rt->request_slot(r.ids[1], &slot1).is_ok());
  EXPECT_NE(slot0, slot1);
  EXPECT_LT(slot0, kBatch);
  // A first step builds the prompts' representations (host work, may sync).
  ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 2, true, r.stream).is_ok());
  for (int step = 0; step < 3; ++step) {
    const uint64_t syncs = r.syncs(), launches = r.fake.calls_of("cuLaunchKernel");
    if (step > 0) {
      ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 2, true, r.stream).is_ok());
    }
    Status s = r.rt->enqueue_append(r.ptr(r.k), r.ptr(r.v), r.stream);
    ASSERT_TRUE(s.is_ok()) << s.message();
    s = r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(r.syncs(), syncs) << "step " << step << " synchronised the host";
    EXPECT_GT(r.fake.calls_of("cuLaunchKernel"), launches + 1);
  }
  EXPECT_EQ(r.length(r.ids[0]), 33u);
  EXPECT_EQ(r.length(r.ids[1]), 53u);
  StepStats stats;
  ASSERT_TRUE(r.rt->device_step_stats(r.ids.data(), 2, &stats).is_ok());
  // The host-memory calls still work after device steps (they wait for them first).
  const uint64_t ctx_syncs = r.fake.calls_of("cuCtxSynchronize");
  std::vector<uint16_t> q(2 * 8 * 32, 0x3f80), o(2 * 8 * 32);
  ASSERT_TRUE(r.rt->decode_step(r.ids.data(), 2, q.data(), o.data(), &stats).is_ok());
  EXPECT_GT(r.fake.calls_of("cuCtxSynchronize"), ctx_syncs);
}

TEST(DeviceApi, TheStepCapturesAndBeginStepRefusesACapturingStream) {
  DeviceRun r;
  r.prefill(30);
  ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 1, true, r.stream).is_ok());
  ASSERT_EQ(r.driver->cuStreamBeginCapture(static_cast<CUstream>(r.stream), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
            CUDA_SUCCESS);
  Status s = r.rt->begin_step(r.ids.data(), 1, true, r.stream);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("outside the capture"), std::string::npos) << s.message();
  EXPECT_TRUE(r.rt->enqueue_append(r.ptr(r.k), r.ptr(r.v), r.stream).is_ok());
  EXPECT_TRUE(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream).is_ok());
  CUgraph graph = nullptr;
  ASSERT_EQ(r.driver->cuStreamEndCapture(static_cast<CUstream>(r.stream), &graph), CUDA_SUCCESS);
  EXPECT_EQ(r.length(r.ids[0]), 31u);  // the refused begin_step reserved nothing
  r.driver->cuGraphDestroy(graph);
}

TEST(DeviceApi, BadInputIsAStatusAndChangesNoRequest) {
  DeviceRun r;
  r.prefill(30);
  r.prefill(40);
  ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 2, true, r.stream).is_ok());
  auto expect = [&](const Status& s, StatusCode code, const char* text) {
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
    EXPECT_EQ(r.length(r.ids[0]), 31u);
    EXPECT_EQ(r.length(r.ids[1]), 41u);
  };
  // A stream of another context.
  int other = 0;
  r.fake.foreign_streams.insert(reinterpret_cast<CUstream>(&other));
  expect(r.rt->begin_step(r.ids.data(), 2, true, &other), StatusCode::InvalidArgument, "another CUDA context");
  expect(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, &other), StatusCode::InvalidArgument, "another CUDA context");
  // Tensors: host memory, too small, on another device, null.
  std::vector<uint16_t> host(kBatch * 8 * 32);
  expect(r.rt->enqueue_decode(host.data(), r.ptr(r.o), nullptr, r.stream), StatusCode::InvalidArgument,
         "q is not CUDA device memory");
  const CUdeviceptr small = r.fake.device_tensor(64);
  expect(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(small), nullptr, r.stream), StatusCode::InvalidArgument, "o needs 2048 bytes");
  expect(r.rt->enqueue_append(r.ptr(r.k + 8), r.ptr(r.v), r.stream), StatusCode::InvalidArgument, "new_k needs");
  expect(r.rt->enqueue_append(r.ptr(r.k), nullptr, r.stream), StatusCode::InvalidArgument, "null new_v");
  expect(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), reinterpret_cast<float*>(small), r.stream),
         StatusCode::InvalidArgument, "lse needs 128 bytes");
  r.fake.pointer_device = 1;
  expect(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream), StatusCode::InvalidArgument, "on CUDA device 1");
  r.fake.pointer_device = 0;
  // Unknown and repeated requests, an empty batch.
  RequestId bad[2] = {r.ids[0], 12345};
  expect(r.rt->begin_step(bad, 2, true, r.stream), StatusCode::NotFound, "12345");
  RequestId twice[2] = {r.ids[0], r.ids[0]};
  expect(r.rt->begin_step(twice, 2, true, r.stream), StatusCode::InvalidArgument, "listed twice");
  expect(r.rt->begin_step(r.ids.data(), 0, true, r.stream), StatusCode::InvalidArgument, "empty request list");
}

TEST(DeviceApi, AnAppendPlanThatDoesNotWriteTheHostPoolIsRefused) {
  DeviceRun r(/*pool_pages=*/0, /*append_writes_host_pool=*/false);
  r.prefill(30);
  ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 1, true, r.stream).is_ok());
  const Status s = r.rt->enqueue_append(r.ptr(r.k), r.ptr(r.v), r.stream);
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("does not write the host pool"), std::string::npos) << s.message();
  EXPECT_TRUE(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream).is_ok());  // decoding still works
}

TEST(DeviceApi, AnExhaustedPoolIsAStatusAndTheBatchKeepsItsLengths) {
  // 8 pages of 8 tokens, two requests of 32 tokens: every page is taken and
  // each request's next token needs a new one.
  DeviceRun r(/*pool_pages=*/8);
  r.prefill(32);  // 4 full pages: the next token needs a fifth
  r.prefill(32);  // 4 more: the pool is empty
  const Status s = r.rt->begin_step(r.ids.data(), 2, true, r.stream);
  EXPECT_EQ(s.code(), StatusCode::OutOfCapacity) << s.message();
  EXPECT_NE(s.message().find("host KV pool full"), std::string::npos) << s.message();
  EXPECT_EQ(r.length(r.ids[0]), 32u);
  EXPECT_EQ(r.length(r.ids[1]), 32u);
  // Without the append the step goes on.
  EXPECT_TRUE(r.rt->begin_step(r.ids.data(), 2, false, r.stream).is_ok());
  EXPECT_TRUE(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream).is_ok());
}

}  // namespace
}  // namespace hsa

#endif  // HSA_RUNTIME_HAS_CUDA
