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
  const artifact::LayerConfigRecord config;
  std::vector<RequestId> ids;
  CUdeviceptr q = 0, o = 0, k = 0, v = 0;
  int stream_storage = 0;
  void* stream = &stream_storage;  // the fake accepts any handle as a stream of its context

  explicit DeviceRun(uint32_t pool_pages = 0, bool append_writes_host_pool = true,
                     const artifact::LayerConfigRecord& layer = artifact::small_selecting_config(),
                     const artifact::TestAlgorithm& algorithm = artifact::TestAlgorithm())
      : config(layer) {
    RuntimeOptions options;
    options.backend = BackendKind::Cuda;
    options.max_batch = kBatch;
    options.max_context_tokens = 256;
    options.pool_pages = pool_pages;
    std::unique_ptr<Backend> backend;
    EXPECT_TRUE(create_cuda_backend(options, fake.table(), &backend).is_ok());
    EXPECT_TRUE(RuntimeInternals::create(options, std::move(backend), &rt).is_ok());
    const std::vector<uint8_t> bytes = artifact::make_test_artifact(config, "sm_90a", algorithm, 0, false,
                                                                    append_writes_host_pool);
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

// A CPU-backend runtime of `batch` slots and 256 tokens with the test
// artifact of `config` loaded (null, with a test failure, otherwise).
std::unique_ptr<Runtime> loaded_cpu_runtime(uint32_t batch,
                                            const artifact::LayerConfigRecord& config = artifact::small_selecting_config()) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = batch;
  options.max_context_tokens = 256;
  std::unique_ptr<Runtime> rt;
  EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(config);
  if (!rt || !rt->load_artifact(bytes.data(), bytes.size()).is_ok()) {
    ADD_FAILURE() << "the CPU runtime did not load the test artifact";
    return nullptr;
  }
  return rt;
}

TEST(DeviceApi, CpuBackendAnswersUnsupportedAndKeepsTheRequest) {
  std::unique_ptr<Runtime> rt = loaded_cpu_runtime(2);
  ASSERT_TRUE(rt);
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

// The tensors an external attention kernel reads: the resident buffer's
// blocks as FlashAttention's strided [blocks][P][Hu][D] view over the
// artifact's own buf.k / buf.v, and the format's tables at their buffers'
// addresses, in the contract's order and shapes.
TEST(DeviceApi, ExternalAttentionDescribesTheResidentBufferAndTheTables) {
  using artifact::PageTableFormat;
  struct Case {
    PageTableFormat format;
    artifact::SelectionScope scope;
    std::vector<std::pair<std::string, std::vector<int64_t>>> tables;
  };
  artifact::LayerConfigRecord c = artifact::small_selecting_config();
  const int64_t B = kBatch, K = c.budget_units, C = c.capacity_units, P = c.page_size, D = c.head_dim;
  const std::vector<Case> cases = {
      {PageTableFormat::FlashAttnBlockTable, artifact::SelectionScope::Request,
       {{"fa.block_table", {B, K}}, {"fa.seqlens", {B}}}},
      {PageTableFormat::FlashInferCsr, artifact::SelectionScope::Request,
       {{"fi.indptr", {B + 1}}, {"fi.indices", {B, K}}, {"fi.last_page_len", {B}}}},
      {PageTableFormat::TokenIndices, artifact::SelectionScope::KvHead, {{"tok.indices", {B, 2, K * P}}}},
      {PageTableFormat::Native, artifact::SelectionScope::Request, {}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(int(k.format));
    c.page_table_format = uint32_t(k.format);
    c.scope = uint32_t(k.scope);
    DeviceRun r(0, true, c);
    ExternalAttention e;
    const Status s = r.rt->external_attention(&e);
    ASSERT_TRUE(s.is_ok()) << s.message();
    const int64_t S = k.scope == artifact::SelectionScope::KvHead ? 2 : 1, Hu = 2 / S;
    EXPECT_EQ(e.format, k.format);
    EXPECT_EQ(e.block_size, uint32_t(P));
    EXPECT_EQ(e.num_blocks, uint64_t(B * S * C));
    EXPECT_EQ(e.k_cache.shape, (std::vector<int64_t>{B * S * C, P, Hu, D}));
    EXPECT_EQ(e.k_cache.strides, (std::vector<int64_t>{Hu * P * D, D, P * D, 1}));
    EXPECT_EQ(e.k_cache.dtype, TensorDtype::BF16);
    EXPECT_NE(e.v_cache.address, e.k_cache.address);
    // The addresses are the buffers': a pattern written to buf.k reads back there.
    const size_t k_bytes = size_t(B * S * C * Hu * P * D) * 2;
    std::vector<uint16_t> pattern(k_bytes / 2);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = uint16_t(i * 7 + 1);
    Backend& backend = RuntimeInternals::backend(*r.rt);
    ASSERT_TRUE(backend.write_buffer("buf.k", pattern.data(), k_bytes).is_ok());
    EXPECT_EQ(std::memcmp(reinterpret_cast<const void*>(e.k_cache.address), pattern.data(), k_bytes), 0);
    ASSERT_EQ(e.tables.size(), k.tables.size());
    for (size_t t = 0; t < k.tables.size(); ++t) {
      EXPECT_EQ(e.tables[t].name, k.tables[t].first);
      EXPECT_EQ(e.tables[t].shape, k.tables[t].second);
      EXPECT_EQ(e.tables[t].dtype, TensorDtype::I32);
      EXPECT_EQ(e.tables[t].strides.back(), 1);
      int64_t n = 1;
      for (int64_t d : e.tables[t].shape) n *= d;
      std::vector<int32_t> table(static_cast<size_t>(n));
      for (size_t i = 0; i < table.size(); ++i) table[i] = int32_t(i) - 3;
      ASSERT_TRUE(backend.write_buffer(e.tables[t].name, table.data(), table.size() * 4).is_ok());
      EXPECT_EQ(std::memcmp(reinterpret_cast<const void*>(e.tables[t].address), table.data(), table.size() * 4), 0);
    }
  }
}

TEST(DeviceApi, ExternalAttentionOfASharedLatentViewsTheKeys) {
  artifact::LayerConfigRecord c = artifact::small_selecting_config();
  c.flags |= artifact::kLayerFlagValueIsKeyPrefix;
  c.value_dim = 16;
  c.page_table_format = uint32_t(artifact::PageTableFormat::TokenIndices);
  DeviceRun r(0, true, c);
  ExternalAttention e;
  ASSERT_TRUE(r.rt->external_attention(&e).is_ok());
  EXPECT_EQ(e.v_cache.address, e.k_cache.address);
  EXPECT_EQ(e.v_cache.shape.back(), 16);
  EXPECT_EQ(e.v_cache.strides, e.k_cache.strides);  // the first Dv dims of each key row
}

TEST(DeviceApi, ExternalAttentionIsRefusedBeforeLoadAndOnTheCpuBackend) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  std::unique_ptr<Runtime> unloaded;
  ASSERT_TRUE(Runtime::create(options, &unloaded).is_ok());
  ExternalAttention e;
  EXPECT_EQ(unloaded->external_attention(&e).code(), StatusCode::InvalidArgument);  // nothing loaded
  std::unique_ptr<Runtime> rt = loaded_cpu_runtime(1);
  ASSERT_TRUE(rt);
  const Status s = rt->external_attention(&e);
  EXPECT_EQ(s.code(), StatusCode::Unsupported);
  EXPECT_NE(s.message().find("no device API"), std::string::npos) << s.message();
  EXPECT_EQ(rt->external_attention(nullptr).code(), StatusCode::InvalidArgument);
}

// prefill_device writes the host pool as prefill does, byte for byte: chunks
// that start and end inside pages, two requests whose pages interleave (runs
// of consecutive pool pages broken), whole-page runs; only enqueued copies,
// no host synchronisation.
TEST(DeviceApi, PrefillFromDeviceMemoryFillsThePoolAsHostPrefillDoes) {
  DeviceRun device;  // one fake driver per process: the host-prefill twin runs on the CPU backend
  std::unique_ptr<Runtime> host = loaded_cpu_runtime(kBatch, device.config);
  ASSERT_TRUE(host);
  const size_t Hkv = device.config.num_kv_heads, D = device.config.head_dim;
  std::mt19937 rng(11);
  RequestId h[2], d[2];
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(host->create_request(&h[r]).is_ok());
    ASSERT_TRUE(device.rt->create_request(&d[r]).is_ok());
  }
  const std::vector<std::pair<int, uint64_t>> chunks = {{0, 5}, {1, 13}, {0, 21}, {1, 3}, {0, 40}, {1, 64}, {0, 1}};
  for (const auto& [r, tokens] : chunks) {
    const std::vector<uint16_t> k = test::random_kv(rng, tokens * Hkv * D, artifact::KvDtype::BF16);
    const std::vector<uint16_t> v = test::random_kv(rng, tokens * Hkv * D, artifact::KvDtype::BF16);
    ASSERT_TRUE(host->prefill(h[r], k.data(), v.data(), tokens).is_ok());
    const CUdeviceptr dk = device.fake.device_tensor(k.size() * 2), dv = device.fake.device_tensor(v.size() * 2);
    std::memcpy(device.ptr(dk), k.data(), k.size() * 2);
    std::memcpy(device.ptr(dv), v.data(), v.size() * 2);
    const uint64_t syncs = device.syncs();
    const Status s = device.rt->prefill_device(d[r], device.ptr(dk), device.ptr(dv), tokens, device.stream);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(device.syncs(), syncs);
  }
  EXPECT_GT(device.fake.calls_of("cuMemcpy3DAsync"), 0u);
  for (int r = 0; r < 2; ++r) ASSERT_TRUE(device.rt->finish_prefill(d[r]).is_ok());  // drains the copies
  const HostCache& hc = RuntimeInternals::cache(*host);
  const HostCache& dc = RuntimeInternals::cache(*device.rt);
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(hc.length(uint32_t(r)), device.length(d[r]));
    for (uint32_t t = 0; t < hc.length(uint32_t(r)); ++t)
      for (uint32_t head = 0; head < Hkv; ++head) {
        ASSERT_EQ(std::memcmp(hc.key(uint32_t(r), t, head), dc.key(uint32_t(r), t, head), D * 2), 0)
            << "request " << r << " token " << t << " head " << head;
        ASSERT_EQ(std::memcmp(hc.value(uint32_t(r), t, head), dc.value(uint32_t(r), t, head), D * 2), 0);
      }
  }
}

// An algorithm's step inputs (DSA's) on the CUDA backend: prefill_device
// copies the keys into the host pool beside the latent rows, the host calls
// stage their rows into the slot rows of the device buffers, the device calls
// bind the caller's tensors (checked), and calls without them are refused.
TEST(DeviceApi, StepInputsReachTheDeviceBuffersAndTheHostPool) {
  const artifact::LayerConfigRecord layer = artifact::small_dsa_config();
  DeviceRun device(0, true, layer, artifact::TestAlgorithm::dsa(4, 32));
  const size_t D = layer.head_dim, Di = 32, Hi = 4;
  std::mt19937 rng(5);
  RequestId ids[2];
  for (RequestId& id : ids) ASSERT_TRUE(device.rt->create_request(&id).is_ok());
  // Prefill from device memory: 30 and 9 tokens in two chunks each.
  std::vector<std::vector<uint16_t>> keys(2);
  for (int chunk = 0; chunk < 2; ++chunk)
    for (int r = 0; r < 2; ++r) {
      const uint64_t tokens = r == 0 ? 15 : 4 + chunk;
      const std::vector<uint16_t> k = test::random_kv(rng, tokens * D, artifact::KvDtype::BF16);
      const std::vector<uint16_t> index = test::random_kv(rng, tokens * Di, artifact::KvDtype::BF16);
      keys[r].insert(keys[r].end(), index.begin(), index.end());
      const CUdeviceptr dk = device.fake.device_tensor(k.size() * 2), di = device.fake.device_tensor(index.size() * 2);
      std::memcpy(device.ptr(dk), k.data(), k.size() * 2);
      std::memcpy(device.ptr(di), index.data(), index.size() * 2);
      EXPECT_EQ(device.rt->prefill_device(ids[r], device.ptr(dk), nullptr, tokens, device.stream).code(),
                StatusCode::InvalidArgument);
      const StepInput inputs[] = {{"io.new_index_k", device.ptr(di)}};
      const Status s = device.rt->prefill_device(ids[r], device.ptr(dk), nullptr, tokens, device.stream, inputs, 1);
      ASSERT_TRUE(s.is_ok()) << s.message();
    }
  for (RequestId id : ids) ASSERT_TRUE(device.rt->finish_prefill(id).is_ok());
  const HostCache& cache = RuntimeInternals::cache(*device.rt);
  const uint16_t* pool = static_cast<const uint16_t*>(cache.pool_rows("host.index_k"));
  ASSERT_NE(pool, nullptr);
  for (uint32_t r = 0; r < 2; ++r)
    for (uint32_t t = 0; t < cache.length(r); ++t) {
      const int32_t page = cache.host_page_of()[r * 256 + t];
      ASSERT_EQ(std::memcmp(pool + size_t(page) * Di, &keys[r][t * Di], Di * 2), 0) << "request " << r << " token " << t;
    }

  // Host append and decode: the rows land in the slot rows of io.new_index_k, io.index_q, io.index_w.
  Backend& backend = RuntimeInternals::backend(*device.rt);
  const RequestId order[2] = {ids[1], ids[0]};  // call order differs from slot order
  const std::vector<uint16_t> new_k = test::random_kv(rng, 2 * D, artifact::KvDtype::BF16);
  const std::vector<uint16_t> new_index = test::random_kv(rng, 2 * Di, artifact::KvDtype::BF16);
  const StepInput append_inputs[] = {{"io.new_index_k", new_index.data()}};
  ASSERT_TRUE(device.rt->append(order, 2, new_k.data(), nullptr, append_inputs, 1).is_ok());
  std::vector<uint16_t> staged(kBatch * Di);
  ASSERT_TRUE(backend.read_buffer("io.new_index_k", staged.data(), staged.size() * 2).is_ok());
  EXPECT_EQ(std::memcmp(&staged[1 * Di], &new_index[0], Di * 2), 0);
  EXPECT_EQ(std::memcmp(&staged[0 * Di], &new_index[Di], Di * 2), 0);
  for (int r = 0; r < 2; ++r) {  // and the host pool has the appended keys
    const uint32_t slot = uint32_t(1 - r), t = cache.length(slot) - 1;
    EXPECT_EQ(std::memcmp(pool + size_t(cache.host_page_of()[slot * 256 + t]) * Di, &new_index[r * Di], Di * 2), 0);
  }
  std::vector<uint8_t> q_index(2 * Hi * Di);
  for (size_t i = 0; i < q_index.size(); ++i) q_index[i] = uint8_t(rng() % 0x7E);
  const std::vector<float> w = {1.5f, -2.0f, 0.25f, 3.0f, -1.0f, 0.5f, 2.0f, -0.75f};
  const std::vector<uint16_t> q = test::random_kv(rng, 2 * layer.num_q_heads * D, artifact::KvDtype::BF16);
  std::vector<uint16_t> o(2 * layer.num_q_heads * layer.value_dim);
  const StepInput decode_inputs[] = {{"io.index_q", q_index.data()}, {"io.index_w", w.data()}};
  StepStats stats;
  const Status decoded = device.rt->decode_step(order, 2, q.data(), o.data(), &stats, decode_inputs, 2);
  ASSERT_TRUE(decoded.is_ok()) << decoded.message();
  std::vector<uint8_t> staged_q(kBatch * Hi * Di);
  std::vector<float> staged_w(kBatch * Hi);
  ASSERT_TRUE(backend.read_buffer("io.index_q", staged_q.data(), staged_q.size()).is_ok());
  ASSERT_TRUE(backend.read_buffer("io.index_w", staged_w.data(), staged_w.size() * 4).is_ok());
  EXPECT_EQ(std::memcmp(&staged_q[1 * Hi * Di], &q_index[0], Hi * Di), 0);
  EXPECT_EQ(std::memcmp(&staged_q[0 * Hi * Di], &q_index[Hi * Di], Hi * Di), 0);
  EXPECT_EQ(std::memcmp(&staged_w[1 * Hi], &w[0], Hi * 4), 0);
  EXPECT_EQ(std::memcmp(&staged_w[0 * Hi], &w[Hi], Hi * 4), 0);

  // Device calls: the caller's slot-indexed tensors, size-checked; none: refused.
  ASSERT_TRUE(device.rt->begin_step(ids, 2, true, device.stream).is_ok());
  const CUdeviceptr d_index = device.fake.device_tensor(kBatch * Di * 2);
  const CUdeviceptr d_q = device.fake.device_tensor(kBatch * Hi * Di), d_w = device.fake.device_tensor(kBatch * Hi * 4);
  const CUdeviceptr d_small = device.fake.device_tensor(Hi * 4);
  EXPECT_EQ(device.rt->enqueue_append(device.ptr(device.k), nullptr, device.stream).code(), StatusCode::InvalidArgument);
  const StepInput dev_append[] = {{"io.new_index_k", device.ptr(d_index)}};
  Status s = device.rt->enqueue_append(device.ptr(device.k), nullptr, device.stream, dev_append, 1);
  ASSERT_TRUE(s.is_ok()) << s.message();
  const StepInput dev_decode_small[] = {{"io.index_q", device.ptr(d_q)}, {"io.index_w", device.ptr(d_small)}};
  s = device.rt->enqueue_decode(device.ptr(device.q), device.ptr(device.o), nullptr, device.stream, dev_decode_small, 2);
  EXPECT_NE(s.message().find("io.index_w"), std::string::npos) << s.message();
  const StepInput dev_decode[] = {{"io.index_q", device.ptr(d_q)}, {"io.index_w", device.ptr(d_w)}};
  s = device.rt->enqueue_decode(device.ptr(device.q), device.ptr(device.o), nullptr, device.stream, dev_decode, 2);
  ASSERT_TRUE(s.is_ok()) << s.message();
}

TEST(DeviceApi, PrefillFromDeviceMemoryRefusesBadInputAndChangesNothing) {
  DeviceRun r;
  r.prefill(30);
  const RequestId id = r.ids[0];
  const size_t row = r.config.num_kv_heads * r.config.head_dim * 2;
  const CUdeviceptr k = r.fake.device_tensor(300 * row), v = r.fake.device_tensor(300 * row);
  auto expect = [&](const Status& s, StatusCode code, const char* text) {
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
    EXPECT_EQ(r.length(id), 30u);
  };
  std::vector<uint16_t> host(16 * row / 2);
  expect(r.rt->prefill_device(id, host.data(), r.ptr(v), 16, r.stream), StatusCode::InvalidArgument,
         "k is not CUDA device memory");
  expect(r.rt->prefill_device(id, r.ptr(k), nullptr, 16, r.stream), StatusCode::InvalidArgument, "null K or V");
  const CUdeviceptr small = r.fake.device_tensor(row);
  expect(r.rt->prefill_device(id, r.ptr(k), r.ptr(small), 16, r.stream), StatusCode::InvalidArgument, "v needs");
  expect(r.rt->prefill_device(id, r.ptr(k), r.ptr(v), 0, r.stream), StatusCode::InvalidArgument, "0 tokens");
  expect(r.rt->prefill_device(id, r.ptr(k), r.ptr(v), 240, r.stream), StatusCode::OutOfCapacity, "");
  expect(r.rt->prefill_device(12345, r.ptr(k), r.ptr(v), 16, r.stream), StatusCode::NotFound, "12345");
  int other = 0;
  r.fake.foreign_streams.insert(reinterpret_cast<CUstream>(&other));
  expect(r.rt->prefill_device(id, r.ptr(k), r.ptr(v), 16, &other), StatusCode::InvalidArgument, "another CUDA context");
  // A copy the driver fails: the pages taken for it go back.
  const uint32_t free_before = RuntimeInternals::cache(*r.rt).free_pages();
  r.fake.fail_only = "cuMemcpy3DAsync";
  r.fake.fail_call = r.fake.counted_calls() + 3;  // two copies enqueued, the third fails
  expect(r.rt->prefill_device(id, r.ptr(k), r.ptr(v), 100, r.stream), StatusCode::DeviceError, "host pool");
  EXPECT_EQ(RuntimeInternals::cache(*r.rt).free_pages(), free_before);
}

// The step report: the counters a step left, copied on the caller's stream
// and read without any wait; a copy, so later kernels do not change it.
TEST(DeviceApi, TheStepReportIsReadWithoutWaiting) {
  DeviceRun r;
  r.prefill(30);
  r.prefill(40);
  StepStats stats;
  bool ready = true;
  EXPECT_EQ(r.rt->step_report(r.ids.data(), 2, &stats, &ready).code(), StatusCode::InvalidArgument);  // none yet
  ASSERT_TRUE(r.rt->begin_step(r.ids.data(), 2, true, r.stream).is_ok());
  ASSERT_TRUE(r.rt->enqueue_append(r.ptr(r.k), r.ptr(r.v), r.stream).is_ok());
  ASSERT_TRUE(r.rt->enqueue_decode(r.ptr(r.q), r.ptr(r.o), nullptr, r.stream).is_ok());
  // What the kernels would have left (the fake computes nothing): per slot
  // and group, K = 6 units and the misses.
  Backend& backend = RuntimeInternals::backend(*r.rt);
  const uint32_t S = RuntimeInternals::shape(*r.rt).groups, K = 6;
  std::vector<int32_t> units(kBatch * S * K, -1), copies(kBatch * S, 0);
  uint32_t s0 = 0, s1 = 0;
  ASSERT_TRUE(r.rt->request_slot(r.ids[0], &s0).is_ok());
  ASSERT_TRUE(r.rt->request_slot(r.ids[1], &s1).is_ok());
  for (uint32_t i = 0; i < 4; ++i) units[s0 * S * K + i] = int32_t(i);  // group 0 only
  for (uint32_t i = 0; i < 6; ++i) units[s1 * S * K + i] = int32_t(i);
  copies[s0 * S] = 3, copies[s1 * S] = 1;
  ASSERT_TRUE(backend.write_buffer("sel.units", units.data(), units.size() * 4).is_ok());
  ASSERT_TRUE(backend.write_buffer("sel.copy_count", copies.data(), copies.size() * 4).is_ok());
  uint64_t syncs = r.syncs();
  ASSERT_TRUE(r.rt->enqueue_step_report(r.stream).is_ok());
  EXPECT_EQ(r.syncs(), syncs);
  copies[s0 * S] = 100;  // the next step's counters do not reach the report
  ASSERT_TRUE(backend.write_buffer("sel.copy_count", copies.data(), copies.size() * 4).is_ok());
  syncs = r.syncs();
  r.fake.event_query = CUDA_ERROR_NOT_READY;
  stats.misses = 77;
  ASSERT_TRUE(r.rt->step_report(r.ids.data(), 2, &stats, &ready).is_ok());
  EXPECT_FALSE(ready);
  EXPECT_EQ(stats.misses, 77u);  // untouched until ready
  r.fake.event_query = CUDA_SUCCESS;
  ASSERT_TRUE(r.rt->step_report(r.ids.data(), 2, &stats, &ready).is_ok());
  ASSERT_TRUE(ready);
  EXPECT_EQ(r.syncs(), syncs);
  EXPECT_EQ(stats.units_selected, 10u);
  EXPECT_EQ(stats.misses, 4u);
  EXPECT_EQ(stats.hits, 6u);
  int other = 0;
  r.fake.foreign_streams.insert(reinterpret_cast<CUstream>(&other));
  EXPECT_EQ(r.rt->enqueue_step_report(&other).code(), StatusCode::InvalidArgument);
}

}  // namespace
}  // namespace hsa

#endif  // HSA_RUNTIME_HAS_CUDA
