// C API smoke test on the CPU backend: an artifact built with
// artifact_writer.h, random bf16 K/V, decode steps checked against a direct
// dense computation over the selected tokens, stats and accounting; then the
// error paths of the API.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>

#include "hsa/hsattn.h"
#include "test_support.h"

namespace hsa {
namespace {

constexpr uint32_t kQHeads = 8, kKvHeads = 2, kDim = 32, kPage = 8, kBudget = 6, kCapacity = 12;

struct Engine {
  hsattn_runtime* rt = nullptr;
  explicit Engine(uint32_t batch = 2, uint64_t max_context = 256, uint32_t pool_pages = 0,
                  SelectionScope scope = SelectionScope::KvHead) {
    hsattn_runtime_options options;
    hsattn_runtime_options_init(&options);
    options.backend = HSATTN_BACKEND_CPU;
    options.max_batch = batch;
    options.max_context_tokens = max_context;
    options.pool_pages = pool_pages;
    EXPECT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK) << hsattn_last_error_message();
    test::ConfigSpec spec;
    spec.q_heads = kQHeads;
    spec.kv_heads = kKvHeads;
    spec.head_dim = spec.value_dim = kDim;
    spec.page_size = kPage;
    spec.budget = kBudget;
    spec.capacity = kCapacity;
    spec.sinks = 1;
    spec.window = 2;
    spec.scope = scope;
    const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec));
    EXPECT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_OK) << hsattn_last_error_message();
  }
  ~Engine() { hsattn_runtime_destroy(rt); }
};

double bf16(uint16_t x) { return bf16_to_float(x); }

TEST(CApi, DecodeMatchesDenseAttentionOverSelectedTokens) {
  Engine engine;
  EXPECT_STREQ(hsattn_runtime_backend_name(engine.rt), "cpu");
  std::mt19937 rng(2024);
  const uint32_t kTokens = 100;  // 13 units, the last one partial
  std::vector<uint16_t> k = test::random_kv(rng, kTokens * kKvHeads * kDim, artifact::KvDtype::BF16);
  std::vector<uint16_t> v = test::random_kv(rng, kTokens * kKvHeads * kDim, artifact::KvDtype::BF16);
  hsattn_request_id id = 0;
  ASSERT_EQ(hsattn_request_create(engine.rt, &id), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_prefill(engine.rt, id, k.data(), v.data(), kTokens), HSATTN_STATUS_OK) << hsattn_last_error_message();

  const size_t row = size_t(kQHeads) * kDim;
  std::vector<uint16_t> q = test::random_kv(rng, row, artifact::KvDtype::BF16), o(row);
  uint64_t previous_misses = 0;
  for (int step = 0; step < 6; ++step) {
    if (step > 0) {  // the model produced a new token: append it, then attend
      std::vector<uint16_t> nk = test::random_kv(rng, kKvHeads * kDim, artifact::KvDtype::BF16);
      std::vector<uint16_t> nv = test::random_kv(rng, kKvHeads * kDim, artifact::KvDtype::BF16);
      ASSERT_EQ(hsattn_append(engine.rt, &id, 1, nk.data(), nv.data()), HSATTN_STATUS_OK) << hsattn_last_error_message();
      k.insert(k.end(), nk.begin(), nk.end());
      v.insert(v.end(), nv.begin(), nv.end());
      // A slowly drifting query keeps most of the selection.
      std::normal_distribution<float> noise(0.0f, 0.05f);
      for (auto& x : q) x = float_to_bf16(bf16_to_float(x) + noise(rng));
    }
    hsattn_step_stats stats;
    ASSERT_EQ(hsattn_decode_step(engine.rt, &id, 1, q.data(), o.data(), &stats), HSATTN_STATUS_OK) << hsattn_last_error_message();
    const uint32_t length = uint32_t(k.size() / (kKvHeads * kDim));
    std::vector<int32_t> units(kKvHeads * kBudget);
    ASSERT_EQ(hsattn_request_selected_units(engine.rt, id, units.data(), units.size()), HSATTN_STATUS_OK);

    // Dense attention over the selected tokens, straight from the arrays we sent.
    double error = 0, norm = 0;
    for (uint32_t h = 0; h < kQHeads; ++h) {
      const uint32_t kvh = h / (kQHeads / kKvHeads);
      std::vector<double> logits, out(kDim, 0.0);
      std::vector<uint32_t> tokens;
      for (uint32_t i = 0; i < kBudget; ++i) {
        const int32_t u = units[kvh * kBudget + i];
        ASSERT_GE(u, 0);  // 13+ units >= budget: no padding
        for (uint32_t t = uint32_t(u) * kPage; t < std::min(length, uint32_t(u + 1) * kPage); ++t) tokens.push_back(t);
      }
      double m = -INFINITY, z = 0;
      for (uint32_t t : tokens) {
        double dot = 0;
        for (uint32_t d = 0; d < kDim; ++d) dot += bf16(q[h * kDim + d]) * bf16(k[(t * kKvHeads + kvh) * kDim + d]);
        logits.push_back(dot / std::sqrt(double(kDim)));
        m = std::max(m, logits.back());
      }
      for (size_t i = 0; i < tokens.size(); ++i) {
        const double p = std::exp(logits[i] - m);
        z += p;
        for (uint32_t d = 0; d < kDim; ++d) out[d] += p * bf16(v[(tokens[i] * kKvHeads + kvh) * kDim + d]);
      }
      for (uint32_t d = 0; d < kDim; ++d) {
        const double expected = out[d] / z;
        error += std::pow(bf16(o[h * kDim + d]) - expected, 2);
        norm += expected * expected;
      }
    }
    // The output is rounded to bf16 (relative error <= 2^-9 per element).
    EXPECT_LT(std::sqrt(error / norm), 4e-3) << "step " << step;

    EXPECT_EQ(stats.units_selected, uint64_t(kKvHeads) * kBudget);
    EXPECT_EQ(stats.hits + stats.misses, stats.units_selected);
    EXPECT_EQ(stats.bytes_copied_h2d, stats.misses * uint64_t(kPage) * (kDim + kDim) * 2);
    EXPECT_DOUBLE_EQ(stats.hit_rate, double(stats.hits) / double(stats.units_selected));
    if (step == 0) {
      EXPECT_EQ(stats.misses, stats.units_selected);  // cold buffer
    } else {
      EXPECT_LE(stats.misses, previous_misses + kKvHeads * 2);
    }
    previous_misses = stats.misses;
  }

  hsattn_request_accounting accounting;
  ASSERT_EQ(hsattn_request_get_accounting(engine.rt, id, &accounting), HSATTN_STATUS_OK);
  EXPECT_EQ(accounting.length_tokens, 105u);
  EXPECT_EQ(accounting.full_device_cache_bytes, 105u * kKvHeads * (kDim + kDim) * 2);
  // 14 pages of 8 tokens x 2 heads x (32 + 32) bf16, plus the page_of row (32 units).
  EXPECT_EQ(accounting.host_bytes, 14u * kPage * kKvHeads * 64 * 2 + 32 * 4);
  // buf.k + buf.v: S * C * Hu * P * (D + Dv) * 2 bytes dominate the device share.
  EXPECT_GT(accounting.device_bytes, uint64_t(kKvHeads) * kCapacity * kPage * 64 * 2);
  ASSERT_EQ(hsattn_request_release(engine.rt, id), HSATTN_STATUS_OK);
}

TEST(CApi, BatchOfTwoRequestsMatchesSeparateRuns) {
  Engine together, alone;
  std::mt19937 rng(77);
  const uint32_t tokens = 50;
  const size_t kv = size_t(tokens) * kKvHeads * kDim, row = size_t(kQHeads) * kDim;
  std::vector<uint16_t> k0 = test::random_kv(rng, kv, artifact::KvDtype::BF16), v0 = test::random_kv(rng, kv, artifact::KvDtype::BF16);
  std::vector<uint16_t> k1 = test::random_kv(rng, kv, artifact::KvDtype::BF16), v1 = test::random_kv(rng, kv, artifact::KvDtype::BF16);
  std::vector<uint16_t> q = test::random_kv(rng, 2 * row, artifact::KvDtype::BF16);
  hsattn_request_id ids[2], solo;
  for (auto& id : ids) ASSERT_EQ(hsattn_request_create(together.rt, &id), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_request_create(alone.rt, &solo), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_prefill(together.rt, ids[0], k0.data(), v0.data(), tokens), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_prefill(together.rt, ids[1], k1.data(), v1.data(), tokens), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_prefill(alone.rt, solo, k1.data(), v1.data(), tokens), HSATTN_STATUS_OK);
  std::vector<uint16_t> o(2 * row), o_solo(row);
  ASSERT_EQ(hsattn_decode_step(together.rt, ids, 2, q.data(), o.data(), nullptr), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_decode_step(alone.rt, &solo, 1, q.data() + row, o_solo.data(), nullptr), HSATTN_STATUS_OK);
  EXPECT_TRUE(std::equal(o_solo.begin(), o_solo.end(), o.begin() + row));
}

TEST(CApi, ErrorsAreStatusesWithMessages) {
  Engine engine(1, 64, 4);
  std::vector<uint16_t> kv(100 * kKvHeads * kDim, 0x3f80), q(kQHeads * kDim, 0x3f80), o(kQHeads * kDim);
  hsattn_request_id id = 0, other = 0;
  EXPECT_EQ(hsattn_request_create(nullptr, &id), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_request_create(engine.rt, nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(hsattn_request_create(engine.rt, &id), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_request_create(engine.rt, &other), HSATTN_STATUS_OUT_OF_CAPACITY);  // one batch slot
  EXPECT_NE(std::string(hsattn_last_error_message()).find("batch slots"), std::string::npos);
  EXPECT_EQ(hsattn_decode_step(engine.rt, &id, 1, q.data(), o.data(), nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("no tokens"), std::string::npos);
  EXPECT_EQ(hsattn_append(engine.rt, &id, 1, kv.data(), kv.data()), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("prefill at least one"), std::string::npos);
  EXPECT_EQ(hsattn_prefill(engine.rt, id, kv.data(), nullptr, 4), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_prefill(engine.rt, id + 100, kv.data(), kv.data(), 4), HSATTN_STATUS_NOT_FOUND);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("unknown request id"), std::string::npos);
  EXPECT_EQ(hsattn_prefill(engine.rt, id, kv.data(), kv.data(), 65), HSATTN_STATUS_OUT_OF_CAPACITY);  // > max context
  EXPECT_NE(std::string(hsattn_last_error_message()).find("max context"), std::string::npos);
  EXPECT_EQ(hsattn_prefill(engine.rt, id, kv.data(), kv.data(), 33), HSATTN_STATUS_OUT_OF_CAPACITY);  // 5 pages > pool of 4
  EXPECT_NE(std::string(hsattn_last_error_message()).find("pool full"), std::string::npos);
  ASSERT_EQ(hsattn_prefill(engine.rt, id, kv.data(), kv.data(), 32), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_append(engine.rt, &id, 1, kv.data(), kv.data()), HSATTN_STATUS_OUT_OF_CAPACITY);
  hsattn_request_id twice[2] = {id, id};
  EXPECT_EQ(hsattn_decode_step(engine.rt, twice, 2, q.data(), o.data(), nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_decode_step(engine.rt, &id, 1, nullptr, o.data(), nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_decode_step(engine.rt, nullptr, 1, q.data(), o.data(), nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_decode_step(engine.rt, &id, 1, q.data(), o.data(), nullptr), HSATTN_STATUS_OK);
  int32_t small[2];
  EXPECT_EQ(hsattn_request_selected_units(engine.rt, id, small, 2), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_runtime_load_artifact(engine.rt, q.data(), 10), HSATTN_STATUS_INVALID_ARTIFACT);
  EXPECT_EQ(hsattn_request_release(engine.rt, id), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_request_release(engine.rt, id), HSATTN_STATUS_NOT_FOUND);
  EXPECT_STREQ(hsattn_status_message(HSATTN_STATUS_OUT_OF_CAPACITY), "out of capacity");
}

TEST(CApi, CallsBeforeLoadAndBadFiles) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  hsattn_request_id id;
  EXPECT_EQ(hsattn_request_create(rt, &id), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("no artifact loaded"), std::string::npos);
  EXPECT_EQ(hsattn_runtime_load_artifact_file(rt, "/nonexistent/layer.hsa"), HSATTN_STATUS_NOT_FOUND);
  EXPECT_EQ(hsattn_runtime_load_artifact_file(rt, nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  // A directory is not an artifact file (it used to escape as an ios_base::failure: INTERNAL).
  const std::string dir = ::testing::TempDir();
  EXPECT_EQ(hsattn_runtime_load_artifact_file(rt, dir.c_str()), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("is a directory"), std::string::npos) << hsattn_last_error_message();
  EXPECT_EQ(hsattn_runtime_load_artifact_file(rt, "/dev/null"), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("not a regular file"), std::string::npos);
  hsattn_runtime_destroy(rt);
  options.max_batch = 0;
  EXPECT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(rt, nullptr);
  EXPECT_EQ(hsattn_runtime_create(nullptr, &rt), HSATTN_STATUS_INVALID_ARGUMENT);
}

// An algorithm this runtime has no package for is refused at load, naming
// the packages it has.
TEST(CApi, UnknownAlgorithmsSayWhy) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  const artifact::LayerConfigRecord config = test::make_config(test::ConfigSpec{});
  const std::vector<uint8_t> bytes = test::build_artifact(config, "sm_90a", artifact::TestAlgorithm{"nsa", {}});
  EXPECT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_INVALID_ARTIFACT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("unknown algorithm 'nsa'"), std::string::npos)
      << hsattn_last_error_message();
  hsattn_runtime_destroy(rt);
}

}  // namespace
}  // namespace hsa

extern "C" hsattn_status_t hsattn_test_create_with_backend(int backend, hsattn_runtime** runtime);
extern "C" const char* hsattn_test_status_message(int status);
extern "C" unsigned hsattn_test_layer_page_size(const hsattn_runtime* runtime);

namespace hsa {
namespace {

// Enum values a C caller may pass: unknown ones are refused, never loaded as
// the C++ enum type (UBSan: "load of value 77, which is not a valid value").
TEST(CApi, UnknownEnumValuesFromCAreRefused) {
  for (int backend : {77, -1, 3, 0x7fffffff}) {
    hsattn_runtime* rt = reinterpret_cast<hsattn_runtime*>(0x1);
    EXPECT_EQ(hsattn_test_create_with_backend(backend, &rt), HSATTN_STATUS_INVALID_ARGUMENT) << backend;
    EXPECT_EQ(rt, nullptr);
    EXPECT_NE(std::string(hsattn_last_error_message()).find("unknown backend " + std::to_string(backend)),
              std::string::npos)
        << hsattn_last_error_message();
  }
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_test_create_with_backend(HSATTN_BACKEND_CPU, &rt), HSATTN_STATUS_OK) << hsattn_last_error_message();
  EXPECT_STREQ(hsattn_runtime_backend_name(rt), "cpu");
  hsattn_runtime_destroy(rt);
  EXPECT_STREQ(hsattn_test_status_message(77), "unknown status");
  EXPECT_STREQ(hsattn_test_status_message(-3), "unknown status");
  EXPECT_STREQ(hsattn_test_status_message(HSATTN_STATUS_NOT_FOUND), "not found");
  // The C++ API takes BackendKind, whose underlying type is int: any int is a
  // value of it, and unknown ones are refused too.
  RuntimeOptions options;
  options.backend = BackendKind(77);
  std::unique_ptr<Runtime> runtime;
  const Status status = Runtime::create(options, &runtime);
  EXPECT_EQ(status.code(), StatusCode::InvalidArgument) << status.message();
  EXPECT_NE(status.message().find("unknown backend 77"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace hsa

#include "test_artifact.h"

namespace hsa {
namespace {

// The loaded layer's config through the C API: every field, the strings, the
// sizes the runtime chose, and struct_size for callers of other versions.
TEST(CApi, LayerConfigQuery) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_batch = 3;
  options.max_context_tokens = 1000;  // 63 pages of 16: 1008 tokens
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK) << hsattn_last_error_message();

  hsattn_layer_config config;
  std::memset(&config, 0, sizeof(config));
  config.struct_size = sizeof(config);
  EXPECT_EQ(hsattn_runtime_get_layer_config(rt, &config), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("no artifact loaded"), std::string::npos)
      << hsattn_last_error_message();

  artifact::LayerConfigRecord record = artifact::default_test_config();
  record.kv_dtype = uint32_t(artifact::KvDtype::F16);
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(record);
  ASSERT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_OK)
      << hsattn_last_error_message();

  ASSERT_EQ(hsattn_runtime_get_layer_config(rt, &config), HSATTN_STATUS_OK) << hsattn_last_error_message();
  EXPECT_EQ(config.struct_size, sizeof(hsattn_layer_config));
  EXPECT_STREQ(config.name, "test_layer");
  EXPECT_STREQ(config.algorithm, "quest");
  EXPECT_EQ(config.max_batch, 3u);
  EXPECT_EQ(config.pool_pages, 3u * 63);
  EXPECT_EQ(config.max_context_tokens, 1008u);
  EXPECT_EQ(config.num_q_heads, record.num_q_heads);
  EXPECT_EQ(config.num_kv_heads, record.num_kv_heads);
  EXPECT_EQ(config.head_dim, record.head_dim);
  EXPECT_EQ(config.value_dim, record.value_dim);
  EXPECT_EQ(config.page_size, record.page_size);
  EXPECT_EQ(config.budget_units, record.budget_units);
  EXPECT_EQ(config.capacity_units, record.capacity_units);
  EXPECT_EQ(config.sink_units, record.sink_units);
  EXPECT_EQ(config.window_units, record.window_units);
  EXPECT_EQ(config.kv_dtype, uint32_t(HSATTN_DTYPE_F16));
  EXPECT_EQ(config.scope, record.scope);
  EXPECT_EQ(config.page_table_format, uint32_t(HSATTN_PAGE_TABLE_NATIVE));
  EXPECT_EQ(config.softmax_scale, record.softmax_scale);
  EXPECT_EQ(config.flags, 0u);

  // The C++ API says the same.
  RuntimeOptions cpp_options;
  cpp_options.backend = BackendKind::Cpu;
  cpp_options.max_batch = 3;
  cpp_options.max_context_tokens = 1000;
  std::unique_ptr<Runtime> cpp;
  ASSERT_TRUE(Runtime::create(cpp_options, &cpp).is_ok());
  LayerInfo info;
  EXPECT_EQ(cpp->layer_info(&info).code(), StatusCode::InvalidArgument);
  ASSERT_TRUE(cpp->load_artifact(bytes.data(), bytes.size()).is_ok());
  ASSERT_TRUE(cpp->layer_info(&info).is_ok());
  EXPECT_EQ(info.name, "test_layer");
  EXPECT_EQ(info.algorithm, "quest");
  EXPECT_EQ(info.max_batch, 3u);
  EXPECT_EQ(info.max_context_tokens, 1008u);
  EXPECT_EQ(info.pool_pages, 3u * 63);
  EXPECT_EQ(info.budget_units, record.budget_units);
  EXPECT_EQ(info.kv_dtype, artifact::KvDtype::F16);
  EXPECT_FALSE(info.value_is_key_prefix);
  EXPECT_EQ(cpp->layer_info(nullptr).code(), StatusCode::InvalidArgument);

  // A caller compiled against a newer, longer struct: the known prefix is
  // filled, struct_size says how much, the tail is left alone.
  struct Newer {
    hsattn_layer_config v1;
    uint64_t later_field;
  } newer;
  std::memset(&newer, 0, sizeof(newer));
  newer.v1.struct_size = sizeof(newer);
  newer.later_field = 0x5a5a5a5a5a5a5a5aull;
  ASSERT_EQ(hsattn_runtime_get_layer_config(rt, &newer.v1), HSATTN_STATUS_OK);
  EXPECT_EQ(newer.v1.struct_size, sizeof(hsattn_layer_config));
  EXPECT_EQ(newer.v1.page_size, record.page_size);
  EXPECT_EQ(newer.later_field, 0x5a5a5a5a5a5a5a5aull);

  // A caller of the first version (up to `flags`): exactly its fields, the
  // later num_step_inputs left alone.
  const size_t v1 = offsetof(hsattn_layer_config, flags) + sizeof(uint32_t);
  hsattn_layer_config older;
  std::memset(&older, 0, sizeof(older));
  older.struct_size = v1;
  older.num_step_inputs = 77;
  ASSERT_EQ(hsattn_runtime_get_layer_config(rt, &older), HSATTN_STATUS_OK);
  EXPECT_EQ(older.struct_size, v1);
  EXPECT_EQ(older.page_size, record.page_size);
  EXPECT_EQ(older.num_step_inputs, 77u);
  EXPECT_EQ(config.num_step_inputs, 0u);  // Quest takes none

  // Sizes below the first version, a null output or handle: statuses.
  for (size_t size : {size_t(0), sizeof(size_t), v1 - 1}) {
    hsattn_layer_config small;
    std::memset(&small, 0, sizeof(small));
    small.struct_size = size;
    EXPECT_EQ(hsattn_runtime_get_layer_config(rt, &small), HSATTN_STATUS_INVALID_ARGUMENT) << size;
    EXPECT_NE(std::string(hsattn_last_error_message()).find("struct_size " + std::to_string(size)), std::string::npos)
        << hsattn_last_error_message();
    EXPECT_EQ(small.name, nullptr);
  }
  EXPECT_EQ(hsattn_runtime_get_layer_config(rt, nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_runtime_get_layer_config(nullptr, &config), HSATTN_STATUS_INVALID_ARGUMENT);
  hsattn_runtime_destroy(rt);
}

// An artifact without a layer name (older compilers) reports "".
TEST(CApi, UnnamedLayerHasAnEmptyName) {
  Engine engine;
  hsattn_layer_config config;
  config.struct_size = sizeof(config);
  ASSERT_EQ(hsattn_runtime_get_layer_config(engine.rt, &config), HSATTN_STATUS_OK) << hsattn_last_error_message();
  EXPECT_STREQ(config.name, "");
  EXPECT_STREQ(config.algorithm, "quest");
  EXPECT_EQ(config.max_batch, 2u);
  EXPECT_EQ(config.max_context_tokens, 256u);
  EXPECT_EQ(config.budget_units, kBudget);
  EXPECT_EQ(config.scope, uint32_t(HSATTN_SCOPE_KV_HEAD));
  EXPECT_EQ(hsattn_test_layer_page_size(engine.rt), kPage);  // the same call compiled as C
}

}  // namespace
}  // namespace hsa
