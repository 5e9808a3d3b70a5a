// The C API of the model runtime (hsattn_model_*) and hsattn_finish_prefill
// on the CPU backend: a two-layer model's outputs equal two single-layer C
// runtimes fed the same data; pages are shared; configs per layer; errors.
#include <gtest/gtest.h>

#include <cmath>

#include "hsa/hsattn.h"
#include "test_support.h"

namespace hsa {
namespace {

hsattn_runtime_options cpu_options() {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_batch = 2;
  options.max_context_tokens = 128;
  return options;
}

std::vector<uint8_t> layer_artifact(uint32_t kv_heads, uint32_t head_dim) {
  test::ConfigSpec spec;
  spec.q_heads = 2 * kv_heads;
  spec.kv_heads = kv_heads;
  spec.head_dim = spec.value_dim = head_dim;
  return test::build_artifact(test::make_config(spec));
}

TEST(CApiModel, TwoLayersMatchSingleRuntimes) {
  const hsattn_runtime_options options = cpu_options();
  hsattn_model* model = nullptr;
  ASSERT_EQ(hsattn_model_create(&options, &model), HSATTN_STATUS_OK) << hsattn_last_error_message();
  const std::vector<uint8_t> layers[2] = {layer_artifact(2, 16), layer_artifact(1, 32)};
  hsattn_runtime* alone[2] = {nullptr, nullptr};
  for (int l = 0; l < 2; ++l) {
    ASSERT_EQ(hsattn_model_add_layer(model, layers[l].data(), layers[l].size()), HSATTN_STATUS_OK)
        << hsattn_last_error_message();
    ASSERT_EQ(hsattn_runtime_create(&options, &alone[l]), HSATTN_STATUS_OK);
    ASSERT_EQ(hsattn_runtime_load_artifact(alone[l], layers[l].data(), layers[l].size()), HSATTN_STATUS_OK);
  }
  EXPECT_EQ(hsattn_model_num_layers(model), 2u);
  hsattn_layer_config config;
  config.struct_size = sizeof(config);
  ASSERT_EQ(hsattn_model_get_layer_config(model, 1, &config), HSATTN_STATUS_OK);
  EXPECT_EQ(config.num_kv_heads, 1u);
  EXPECT_EQ(config.head_dim, 32u);
  EXPECT_STREQ(config.algorithm, "quest");
  EXPECT_EQ(hsattn_model_get_layer_config(model, 2, &config), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("out of range"), std::string::npos);

  hsattn_request_id id = 0, alone_id[2] = {0, 0};
  ASSERT_EQ(hsattn_model_request_create(model, &id), HSATTN_STATUS_OK);
  for (int l = 0; l < 2; ++l) ASSERT_EQ(hsattn_request_create(alone[l], &alone_id[l]), HSATTN_STATUS_OK);
  std::mt19937 rng(12);
  const uint32_t dims[2][2] = {{2, 16}, {1, 32}};  // Hkv, D
  for (int l = 0; l < 2; ++l) {
    const size_t n = size_t(50) * dims[l][0] * dims[l][1];
    const std::vector<uint16_t> k = test::random_kv(rng, n, artifact::KvDtype::BF16);
    const std::vector<uint16_t> v = test::random_kv(rng, n, artifact::KvDtype::BF16);
    ASSERT_EQ(hsattn_model_prefill(model, uint32_t(l), id, k.data(), v.data(), 50), HSATTN_STATUS_OK);
    ASSERT_EQ(hsattn_prefill(alone[l], alone_id[l], k.data(), v.data(), 50), HSATTN_STATUS_OK);
    ASSERT_EQ(hsattn_finish_prefill(alone[l], alone_id[l]), HSATTN_STATUS_OK);
  }
  ASSERT_EQ(hsattn_model_finish_prefill(model, id), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_model_free_pages(model), hsattn_model_pool_pages(model) - 13);  // ceil(50 / 4), once
  for (int step = 0; step < 4; ++step)
    for (int l = 0; l < 2; ++l) {
      const size_t row = size_t(dims[l][0]) * dims[l][1];
      const std::vector<uint16_t> nk = test::random_kv(rng, row, artifact::KvDtype::BF16);
      const std::vector<uint16_t> nv = test::random_kv(rng, row, artifact::KvDtype::BF16);
      ASSERT_EQ(hsattn_model_append(model, uint32_t(l), &id, 1, nk.data(), nv.data()), HSATTN_STATUS_OK);
      ASSERT_EQ(hsattn_append(alone[l], &alone_id[l], 1, nk.data(), nv.data()), HSATTN_STATUS_OK);
      const std::vector<uint16_t> q = test::random_kv(rng, 2 * row, artifact::KvDtype::BF16);
      std::vector<uint16_t> o(2 * row), o_alone(2 * row);
      hsattn_step_stats stats;
      ASSERT_EQ(hsattn_model_decode_step(model, uint32_t(l), &id, 1, q.data(), o.data(), &stats), HSATTN_STATUS_OK);
      ASSERT_EQ(hsattn_decode_step(alone[l], &alone_id[l], 1, q.data(), o_alone.data(), nullptr), HSATTN_STATUS_OK);
      EXPECT_EQ(o, o_alone) << "layer " << l << " step " << step;
      EXPECT_GT(stats.units_selected, 0u);
    }
  hsattn_request_accounting acc;
  ASSERT_EQ(hsattn_model_request_get_accounting(model, 1, id, &acc), HSATTN_STATUS_OK);
  EXPECT_EQ(acc.length_tokens, 54u);
  ASSERT_EQ(hsattn_model_request_release(model, id), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_model_free_pages(model), hsattn_model_pool_pages(model));
  EXPECT_EQ(hsattn_model_request_release(model, id), HSATTN_STATUS_NOT_FOUND);
  for (hsattn_runtime* rt : alone) hsattn_runtime_destroy(rt);
  hsattn_model_destroy(model);
}

TEST(CApiModel, ErrorsSayWhy) {
  hsattn_runtime_options options = cpu_options();
  EXPECT_EQ(hsattn_model_create(&options, nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_model_add_layer(nullptr, nullptr, 0), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("null model"), std::string::npos);
  EXPECT_EQ(hsattn_model_num_layers(nullptr), 0u);
  hsattn_model* model = nullptr;
  ASSERT_EQ(hsattn_model_create(&options, &model), HSATTN_STATUS_OK);
  hsattn_request_id id = 0;
  EXPECT_EQ(hsattn_model_request_create(model, &id), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("no layers"), std::string::npos);
  EXPECT_EQ(hsattn_model_add_layer_file(model, "/nonexistent/layer.hsa"), HSATTN_STATUS_NOT_FOUND);
  EXPECT_EQ(hsattn_model_num_layers(model), 0u);
  const std::vector<uint8_t> layer = layer_artifact(2, 16);
  ASSERT_EQ(hsattn_model_add_layer(model, layer.data(), layer.size()), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_model_request_create(model, &id), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_model_add_layer(model, layer.data(), layer.size()), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_model_prefill(model, 5, id, layer.data(), layer.data(), 1), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(hsattn_finish_prefill(nullptr, id), HSATTN_STATUS_INVALID_ARGUMENT);
  hsattn_model_destroy(model);
  options.backend = hsattn_backend_t(77);
  EXPECT_EQ(hsattn_model_create(&options, &model), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("hsattn_model_create: unknown backend 77"),
            std::string::npos);
}

TEST(CApiTelemetry, BoundAndLseThroughTheCApi) {
  hsattn_runtime_options options = cpu_options();
  options.telemetry = 1;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  const std::vector<uint8_t> layer = layer_artifact(2, 16);  // Hq 4, budget 4 units of 4 tokens
  ASSERT_EQ(hsattn_runtime_load_artifact(rt, layer.data(), layer.size()), HSATTN_STATUS_OK);
  hsattn_request_id id = 0;
  ASSERT_EQ(hsattn_request_create(rt, &id), HSATTN_STATUS_OK);
  float lse[4], bound[4] = {-1, -1, -1, -1};
  int has_bound = -1;
  EXPECT_EQ(hsattn_request_get_telemetry(rt, id, lse, bound, 4, &has_bound), HSATTN_STATUS_NOT_FOUND);
  std::mt19937 rng(8);
  const std::vector<uint16_t> k = test::random_kv(rng, 60 * 2 * 16, artifact::KvDtype::BF16);
  ASSERT_EQ(hsattn_prefill(rt, id, k.data(), k.data(), 60), HSATTN_STATUS_OK);
  const std::vector<uint16_t> q = test::random_kv(rng, 4 * 16, artifact::KvDtype::BF16);
  std::vector<uint16_t> o(4 * 16);
  ASSERT_EQ(hsattn_decode_step(rt, &id, 1, q.data(), o.data(), nullptr), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_request_get_telemetry(rt, id, lse, bound, 4, &has_bound), HSATTN_STATUS_OK);
  EXPECT_EQ(has_bound, 1);
  for (int h = 0; h < 4; ++h) {
    EXPECT_TRUE(std::isfinite(lse[h]));
    EXPECT_GT(bound[h], 0.0f);  // 4 of 15 units selected: something is missed
    EXPECT_LE(bound[h], 1.0f);
  }
  EXPECT_EQ(hsattn_request_get_telemetry(rt, id, lse, bound, 3, nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("4 query heads"), std::string::npos);
  hsattn_runtime_destroy(rt);
}

}  // namespace
}  // namespace hsa
