// Limits refused up front: a runtime computes from the layer's buffer table
// what an instance allocates and refuses (OutOfMemory, with the numbers and
// what to change) one that does not fit, before allocating anything; a
// request that outgrows its reservation is OutOfCapacity, not a crash.
#include <gtest/gtest.h>

#include "fault_injection.h"
#include "hsa/hsattn.h"
#include "memory_limits.h"
#include "test_support.h"

namespace hsa {
namespace {

constexpr uint64_t kGiB = uint64_t(1) << 30;

TEST(HostMemoryLimit, AutomaticIsTheSmallestKnownBoundMinusAnEighth) {
  HostMemoryFacts facts;
  facts.physical_bytes = 64 * kGiB;
  HostMemoryLimit limit = automatic_host_memory_limit(facts);
  EXPECT_EQ(limit.bytes, 56 * kGiB);
  EXPECT_NE(limit.source.find("physical memory 64.00 GiB minus 1/8"), std::string::npos) << limit.source;
  facts.rlimit_as_bytes = 8 * kGiB;
  facts.rlimit_data_bytes = 16 * kGiB;
  limit = automatic_host_memory_limit(facts);
  EXPECT_EQ(limit.bytes, 7 * kGiB);
  EXPECT_NE(limit.source.find("RLIMIT_AS"), std::string::npos) << limit.source;
  facts.rlimit_data_bytes = 4 * kGiB;
  EXPECT_NE(automatic_host_memory_limit(facts).source.find("RLIMIT_DATA"), std::string::npos);
  facts.cgroup_bytes = 2 * kGiB;
  limit = automatic_host_memory_limit(facts);
  EXPECT_EQ(limit.bytes, 2 * kGiB - kGiB / 4);
  EXPECT_NE(limit.source.find("cgroup memory.max"), std::string::npos) << limit.source;
  EXPECT_EQ(automatic_host_memory_limit(HostMemoryFacts{}).bytes, 0u);  // nothing known: no limit

  const HostMemoryFacts here = current_host_memory_facts();
  EXPECT_GT(here.physical_bytes, 0u);
  EXPECT_LT(host_memory_limit(0).bytes, here.physical_bytes);
  EXPECT_EQ(host_memory_limit(12345).bytes, 12345u);
  EXPECT_EQ(host_memory_limit(12345).source, "host_memory_limit_bytes");
}

// Hq 512, Hkv 16, D 128, P 1024, K = C = 4096: at any context the unit buffer
// buf.k/buf.v is B x 16 x 4096 x 1024 x 128 x 2 bytes = 16 GiB each per batch
// slot. The CPU backend keeps it in host memory: this used to reserve and
// touch 32 GiB and be OOM-killed.
artifact::LayerConfigRecord huge_unit_buffer_layer() {
  test::ConfigSpec spec;
  spec.q_heads = 512;
  spec.kv_heads = 16;
  spec.head_dim = spec.value_dim = 128;
  spec.page_size = 1024;
  spec.budget = spec.capacity = 4096;
  spec.sinks = 1;
  spec.window = 1;
  return test::make_config(spec);
}

TEST(MemoryLimits, LayerLargerThanTheHostLimitIsRefusedBeforeAnyAllocation) {
  const std::vector<uint8_t> bytes = test::build_artifact(huge_unit_buffer_layer());
  RuntimeOptions options;
  options.max_context_tokens = 200;
  options.host_memory_limit_bytes = 8 * kGiB;
  test::FailingHostAllocator allocator;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(test::create_cpu_runtime(options, &allocator, &rt).is_ok());
  Status s = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_EQ(s.code(), StatusCode::OutOfMemory) << s.message();
  for (const char* needle : {"at max_batch 1, max_context_tokens 200, pool_pages 1 needs 32.01 GiB of host memory",
                             "buf.k (cpu backend) 16.00 GiB, buf.v (cpu backend) 16.00 GiB",
                             "but 8.00 GiB are available (host_memory_limit_bytes)", "lower max_batch",
                             "smaller capacity or page size"})
    EXPECT_NE(s.message().find(needle), std::string::npos) << needle << "\n" << s.message();
  EXPECT_EQ(allocator.calls(), 0u);  // refused before the host cache was created
  // Refused, not broken: the runtime is still unloaded and says so.
  RequestId id;
  EXPECT_EQ(rt->create_request(&id).code(), StatusCode::InvalidArgument);

  // The automatic limit, where this machine has less than the 32 GiB (a big
  // machine would allocate them: it only checks the explicit limit above).
  const HostMemoryLimit automatic = host_memory_limit(0);
  if (automatic.bytes < 32 * kGiB) {
    options.host_memory_limit_bytes = 0;
    test::FailingHostAllocator counted;
    ASSERT_TRUE(test::create_cpu_runtime(options, &counted, &rt).is_ok());
    s = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_EQ(s.code(), StatusCode::OutOfMemory) << s.message();
    EXPECT_NE(s.message().find(automatic.source), std::string::npos) << s.message();
    EXPECT_EQ(counted.calls(), 0u);
  }
}

TEST(MemoryLimits, NeedsAreExactlyWhatTheInstanceAllocates) {
  test::ConfigSpec spec;
  spec.q_heads = 8;
  spec.head_dim = spec.value_dim = 32;
  spec.page_size = 8;
  const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec));
  RuntimeOptions options;
  options.max_batch = 3;
  options.max_context_tokens = 1000;
  test::FailingHostAllocator allocator;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(test::create_cpu_runtime(options, &allocator, &rt).is_ok());
  ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  const MemoryNeeds& needs = RuntimeInternals::memory_needs(*rt);
  uint64_t cpu_buffers = 0;
  auto& cpu = static_cast<CpuBackend&>(RuntimeInternals::backend(*rt));
  for (const DeviceBuffers::Array& a : cpu.buffers().arrays()) cpu_buffers += a.bytes;
  EXPECT_EQ(needs.host_bytes, allocator.bytes() + cpu_buffers);
  EXPECT_EQ(needs.device_bytes, 0u);
  EXPECT_FALSE(needs.device_limited);

  // The limit is inclusive: exactly the need loads, one byte less does not.
  options.host_memory_limit_bytes = needs.host_bytes;
  const uint64_t exact = needs.host_bytes;
  ASSERT_TRUE(test::create_cpu_runtime(options, nullptr, &rt).is_ok());
  EXPECT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  options.host_memory_limit_bytes = exact - 1;
  ASSERT_TRUE(test::create_cpu_runtime(options, nullptr, &rt).is_ok());
  EXPECT_EQ(rt->load_artifact(bytes.data(), bytes.size()).code(), StatusCode::OutOfMemory);
}

TEST(MemoryLimits, CApiTakesTheHostLimit) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  EXPECT_EQ(options.host_memory_limit_bytes, 0u);
  options.backend = HSATTN_BACKEND_CPU;
  options.host_memory_limit_bytes = 4096;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(test::ConfigSpec{}));
  EXPECT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_OUT_OF_MEMORY);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("but 4.00 KiB are available (host_memory_limit_bytes)"),
            std::string::npos)
      << hsattn_last_error_message();
  hsattn_runtime_destroy(rt);
}

// A token count that wraps the length around 2^64 used to pass the room
// check (2 + (2^64 - 1) is 1) and copy 2^64 tokens out of the caller's array.
TEST(MemoryLimits, PrefillBeyondTheReservationIsOutOfCapacity) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_context_tokens = 64;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(test::ConfigSpec{}));
  ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  RequestId id = 0;
  ASSERT_TRUE(rt->create_request(&id).is_ok());
  std::vector<uint16_t> kv(64 * 2 * 16, 0x3f80);
  ASSERT_TRUE(rt->prefill(id, kv.data(), kv.data(), 2).is_ok());
  for (uint64_t tokens : {UINT64_MAX, UINT64_MAX - 1, uint64_t(1) << 63, (uint64_t(1) << 32) + 1, uint64_t(63)}) {
    const Status s = rt->prefill(id, kv.data(), kv.data(), tokens);
    EXPECT_EQ(s.code(), StatusCode::OutOfCapacity) << tokens << ": " << s.message();
    EXPECT_NE(s.message().find("exceed its max context 64"), std::string::npos) << s.message();
  }
  RequestAccounting a;
  ASSERT_TRUE(rt->request_accounting(id, &a).is_ok());
  EXPECT_EQ(a.length_tokens, 2u);  // nothing changed
  EXPECT_TRUE(rt->prefill(id, kv.data(), kv.data(), 62).is_ok());  // exactly the max
}

}  // namespace
}  // namespace hsa
