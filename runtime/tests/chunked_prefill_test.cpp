// Prefill defers the representations: chunks only fill the host pool, and
// one build over all of them runs at finish_prefill or before the request's
// next append or decode step. For every algorithm package, a prompt
// prefilled in chunks must leave exactly the state one call leaves, the
// build must not run before it is asked for, and the stage checker must see
// the built state.
#include <gtest/gtest.h>

#include <cstring>

#include "cpu_backend.h"
#include "runtime_internal.h"
#include "stage_check.h"
#include "test_support.h"

namespace hsa {
namespace {

constexpr uint32_t kPrompt = 150;

struct TwoRequests {
  test::ConfigSpec spec;
  std::unique_ptr<Runtime> rt;
  LayerShape shape;
  RequestId whole = 0, chunked = 0;
  std::vector<uint16_t> k, v;

  explicit TwoRequests(const std::string& algorithm) {
    spec.algorithm = algorithm;
    if (algorithm == "streaming_llm") spec.window = spec.budget - spec.sinks;  // its rule: K = sinks + window
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.max_batch = 2;
    options.max_context_tokens = 256;
    EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
    const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm());
    const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
    shape = RuntimeInternals::shape(*rt);
    std::mt19937 rng(5);
    k = test::random_kv(rng, size_t(kPrompt) * shape.kv_heads * shape.head_dim, shape.dtype);
    v = test::random_kv(rng, size_t(kPrompt) * shape.kv_heads * shape.value_dim, shape.dtype);
    EXPECT_TRUE(rt->create_request(&whole).is_ok());
    EXPECT_TRUE(rt->create_request(&chunked).is_ok());
  }

  Status prefill_chunk(RequestId id, uint32_t first, uint32_t count) {
    return rt->prefill(id, &k[size_t(first) * shape.kv_heads * shape.head_dim],
                       &v[size_t(first) * shape.kv_heads * shape.value_dim], count);
  }

  uint32_t slot(RequestId id) {
    uint32_t s = 0;
    EXPECT_TRUE(RuntimeInternals::slot_of(*rt, id, &s).is_ok());
    return s;
  }

  // Every device array of the backend, read back.
  DeviceBuffers snapshot() {
    DeviceBuffers dev(shape);
    std::vector<std::string> names;
    for (const DeviceBuffers::Array& a : dev.arrays()) names.push_back(a.name);
    for (const std::string& name : names) {
      DeviceBuffers::Array* a = dev.find(name);
      if (a->bytes > 0) {
        EXPECT_TRUE(RuntimeInternals::backend(*rt).read_buffer(name, a->data(), a->bytes).is_ok()) << name;
      }
    }
    return dev;
  }

  // Arrays with a row per batch slot whose rows of the two requests differ.
  std::vector<std::string> differing_rows(const DeviceBuffers& dev) {
    std::vector<std::string> names;
    const uint32_t a = slot(whole), b = slot(chunked);
    for (const DeviceBuffers::Array& array : dev.arrays()) {
      if (array.name.compare(0, 5, "repr.") != 0 && array.name.compare(0, 4, "buf.") != 0) continue;
      const size_t row = array.bytes / shape.batch;
      const char* base = static_cast<const char*>(array.data());
      if (std::memcmp(base + a * row, base + b * row, row) != 0) names.push_back(array.name);
    }
    return names;
  }
};

class ChunkedPrefill : public ::testing::TestWithParam<std::string> {};

TEST_P(ChunkedPrefill, ChunksBuildWhatOneCallBuilds) {
  TwoRequests f(GetParam());
  ASSERT_TRUE(f.prefill_chunk(f.whole, 0, kPrompt).is_ok());
  // Uneven chunks, one of a single token, ending inside a unit.
  uint32_t first = 0;
  for (uint32_t count : {1u, 40u, 61u, 48u}) {
    ASSERT_TRUE(f.prefill_chunk(f.chunked, first, count).is_ok());
    first += count;
  }
  ASSERT_EQ(first, kPrompt);
  // Nothing built yet: the device state still has no tokens of either.
  const DeviceBuffers before = f.snapshot();
  EXPECT_EQ(before.req_length[f.slot(f.whole)], 0);
  EXPECT_EQ(before.req_length[f.slot(f.chunked)], 0);

  ASSERT_TRUE(f.rt->finish_prefill(f.whole).is_ok());
  ASSERT_TRUE(f.rt->finish_prefill(f.chunked).is_ok());
  ASSERT_TRUE(f.rt->finish_prefill(f.chunked).is_ok());  // nothing pending: Ok
  const DeviceBuffers built = f.snapshot();
  EXPECT_EQ(built.req_length[f.slot(f.whole)], int32_t(kPrompt));
  EXPECT_EQ(built.req_length[f.slot(f.chunked)], int32_t(kPrompt));
  EXPECT_TRUE(f.differing_rows(built).empty()) << "first differing array: " << f.differing_rows(built)[0];
  // The build did write representations (a test that compares two unbuilt
  // states would pass on anything).
  bool changed = false;
  for (const DeviceBuffers::Array& a : built.arrays())
    if (a.name.compare(0, 5, "repr.") == 0 && a.bytes > 0)
      changed |= std::memcmp(a.data(), before.find(a.name)->data(), a.bytes) != 0;
  EXPECT_TRUE(changed || f.shape.algorithm->name() == std::string("streaming_llm"));
}

TEST_P(ChunkedPrefill, AppendAndDecodeBuildFirstAndTheCheckerSeesIt) {
  TwoRequests f(GetParam());
  ASSERT_TRUE(f.prefill_chunk(f.whole, 0, 100).is_ok());
  ASSERT_TRUE(f.prefill_chunk(f.chunked, 0, 60).is_ok());
  ASSERT_TRUE(f.prefill_chunk(f.chunked, 60, 40).is_ok());
  // No finish_prefill: the append builds first, then extends.
  const size_t row_k = size_t(f.shape.kv_heads) * f.shape.head_dim, row_v = size_t(f.shape.kv_heads) * f.shape.value_dim;
  std::vector<uint16_t> nk(2 * row_k), nv(2 * row_v);
  std::copy_n(&f.k[100 * row_k], row_k, nk.begin());
  std::copy_n(&f.k[100 * row_k], row_k, nk.begin() + row_k);
  std::copy_n(&f.v[100 * row_v], row_v, nv.begin());
  std::copy_n(&f.v[100 * row_v], row_v, nv.begin() + row_v);
  const RequestId ids[2] = {f.whole, f.chunked};
  ASSERT_TRUE(f.rt->append(ids, 2, nk.data(), nv.data()).is_ok());
  EXPECT_TRUE(f.differing_rows(f.snapshot()).empty());
  // A prefill after steps (a second turn), then a checked step with the
  // build still pending: the checker builds before its snapshot and passes.
  ASSERT_TRUE(f.prefill_chunk(f.chunked, 101, 30).is_ok());
  std::mt19937 rng(9);
  const std::vector<uint16_t> q = test::random_kv(rng, 2 * size_t(f.shape.q_heads) * f.shape.head_dim, f.shape.dtype);
  std::vector<uint16_t> o(2 * size_t(f.shape.q_heads) * f.shape.value_dim);
  StageCheckReport report;
  ASSERT_TRUE(checked_decode_step(*f.rt, ids, 2, q.data(), o.data(), nullptr, StageCheckOptions{}, &report).is_ok());
  EXPECT_TRUE(report.passed) << report.summary();
}

TEST(ChunkedPrefillErrors, UnknownRequest) {
  TwoRequests f("quest");
  EXPECT_EQ(f.rt->finish_prefill(f.chunked + 100).code(), StatusCode::NotFound);
  ASSERT_TRUE(f.rt->release_request(f.chunked).is_ok());
  EXPECT_EQ(f.rt->finish_prefill(f.chunked).code(), StatusCode::NotFound);
}

INSTANTIATE_TEST_SUITE_P(Packages, ChunkedPrefill, ::testing::Values("quest", "streaming_llm", "cluster_kv"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace hsa
