// ModelRuntime: several layers, one request table and one host page pool.
// The layers' results equal independent single-layer runtimes fed the same
// data (sharing changes where pages live, never what a layer computes); a
// request holds its pages once for all layers; a full pool or max context
// refuses an append without changing any request; release gives the pages
// back; layers with another page size, or added after a request, are refused.
#include <gtest/gtest.h>

#include "hsa/model_runtime.hpp"
#include "runtime_internal.h"
#include "test_support.h"

namespace hsa {
namespace {

using test::ConfigSpec;

// Three layers of one page size: Quest (kv_head), ClusterKV, and Quest with
// other heads and dims (layers of one model may differ in them).
std::vector<ConfigSpec> model_layers() {
  ConfigSpec a;
  ConfigSpec b;
  b.algorithm = "cluster_kv";
  ConfigSpec c;
  c.q_heads = 6, c.kv_heads = 3, c.head_dim = 8, c.value_dim = 12, c.combine = "sum";
  c.scope = artifact::SelectionScope::Request;
  return {a, b, c};
}

std::vector<uint8_t> artifact_of(const ConfigSpec& spec) {
  return test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm());
}

RuntimeOptions cpu_options(uint32_t batch, uint32_t pool_pages = 0) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = batch;
  options.max_context_tokens = 128;
  options.pool_pages = pool_pages;
  return options;
}

// Random K/V/q for one layer shape.
struct LayerData {
  std::vector<uint16_t> k, v;
  LayerData(std::mt19937& rng, const LayerShape& s, size_t tokens)
      : k(test::random_kv(rng, tokens * s.kv_heads * s.head_dim, s.dtype)),
        v(test::random_kv(rng, tokens * s.kv_heads * s.value_dim, s.dtype)) {}
};

TEST(ModelRuntime, LayersMatchSeparateRuntimesAndSharePages) {
  const std::vector<ConfigSpec> specs = model_layers();
  std::unique_ptr<ModelRuntime> model;
  ASSERT_TRUE(ModelRuntime::create(cpu_options(2), &model).is_ok());
  std::vector<std::unique_ptr<Runtime>> alone(specs.size());
  for (size_t l = 0; l < specs.size(); ++l) {
    const std::vector<uint8_t> bytes = artifact_of(specs[l]);
    const Status added = model->add_layer(bytes.data(), bytes.size());
    ASSERT_TRUE(added.is_ok()) << added.message();
    ASSERT_TRUE(Runtime::create(cpu_options(2), &alone[l]).is_ok());
    ASSERT_TRUE(alone[l]->load_artifact(bytes.data(), bytes.size()).is_ok());
  }
  ASSERT_EQ(model->num_layers(), 3u);
  const uint32_t pool = model->pool_pages();  // 2 slots x 32 units of 4 tokens
  EXPECT_EQ(pool, 64u);
  RequestId ids[2], alone_ids[3][2];
  for (RequestId& id : ids) ASSERT_TRUE(model->create_request(&id).is_ok());
  for (size_t l = 0; l < 3; ++l)
    for (RequestId& id : alone_ids[l]) ASSERT_TRUE(alone[l]->create_request(&id).is_ok());

  std::mt19937 rng(3);
  const uint32_t prompts[2] = {37, 70};
  for (size_t l = 0; l < 3; ++l) {
    const LayerShape& s = RuntimeInternals::shape(*model->layer_runtime(uint32_t(l)));
    for (int r = 0; r < 2; ++r) {
      LayerData data(rng, s, prompts[r]);
      ASSERT_TRUE(model->prefill(uint32_t(l), ids[r], data.k.data(), data.v.data(), prompts[r]).is_ok());
      ASSERT_TRUE(alone[l]->prefill(alone_ids[l][r], data.k.data(), data.v.data(), prompts[r]).is_ok());
    }
  }
  // Pages once per request for all three layers: ceil(37/4) + ceil(70/4).
  EXPECT_EQ(model->free_pages(), pool - (10 + 18));
  ASSERT_TRUE(model->finish_prefill(ids[0]).is_ok());

  // Steps, layer after layer as a model runs: append, then decode.
  for (int step = 0; step < 12; ++step) {
    for (size_t l = 0; l < 3; ++l) {
      const LayerShape& s = RuntimeInternals::shape(*model->layer_runtime(uint32_t(l)));
      LayerData token(rng, s, 2);
      ASSERT_TRUE(model->append(uint32_t(l), ids, 2, token.k.data(), token.v.data()).is_ok());
      ASSERT_TRUE(alone[l]->append(alone_ids[l], 2, token.k.data(), token.v.data()).is_ok());
      const std::vector<uint16_t> q = test::random_kv(rng, 2 * size_t(s.q_heads) * s.head_dim, s.dtype);
      std::vector<uint16_t> o(2 * size_t(s.q_heads) * s.value_dim), o_alone(o.size());
      StepStats stats, stats_alone;
      ASSERT_TRUE(model->decode_step(uint32_t(l), ids, 2, q.data(), o.data(), &stats).is_ok());
      ASSERT_TRUE(alone[l]->decode_step(alone_ids[l], 2, q.data(), o_alone.data(), &stats_alone).is_ok());
      EXPECT_EQ(o, o_alone) << "layer " << l << " step " << step;
      EXPECT_EQ(stats.misses, stats_alone.misses);
    }
  }
  // 12 appended tokens: 49 and 82 tokens, still one page list per request.
  EXPECT_EQ(model->free_pages(), pool - (13 + 21));
  RequestAccounting acc;
  ASSERT_TRUE(model->request_accounting(2, ids[1], &acc).is_ok());
  EXPECT_EQ(acc.length_tokens, 82u);

  // Release: every layer, every page back.
  ASSERT_TRUE(model->release_request(ids[1]).is_ok());
  EXPECT_EQ(model->free_pages(), pool - 13);
  EXPECT_EQ(model->release_request(ids[1]).code(), StatusCode::NotFound);
  EXPECT_EQ(model->decode_step(0, &ids[1], 1, nullptr, nullptr, nullptr).code(), StatusCode::NotFound);
  ASSERT_TRUE(model->release_request(ids[0]).is_ok());
  EXPECT_EQ(model->free_pages(), pool);
}

TEST(ModelRuntime, LayersGrowOneAfterAnotherOnOnePage) {
  const std::vector<ConfigSpec> specs = model_layers();
  std::unique_ptr<ModelRuntime> model;
  ASSERT_TRUE(ModelRuntime::create(cpu_options(1), &model).is_ok());
  for (const ConfigSpec& spec : specs) {
    const std::vector<uint8_t> bytes = artifact_of(spec);
    ASSERT_TRUE(model->add_layer(bytes.data(), bytes.size()).is_ok());
  }
  RequestId id = 0;
  ASSERT_TRUE(model->create_request(&id).is_ok());
  std::mt19937 rng(4);
  for (uint32_t l = 0; l < 3; ++l) {
    LayerData data(rng, RuntimeInternals::shape(*model->layer_runtime(l)), 8);
    ASSERT_TRUE(model->prefill(l, id, data.k.data(), data.v.data(), 8).is_ok());  // two full pages
  }
  const uint32_t free_after_prompt = model->free_pages();
  // Token 8 opens page 3: the first layer's append takes it, the others reuse it.
  for (uint32_t l = 0; l < 3; ++l) {
    LayerData token(rng, RuntimeInternals::shape(*model->layer_runtime(l)), 1);
    ASSERT_TRUE(model->append(l, &id, 1, token.k.data(), token.v.data()).is_ok());
    EXPECT_EQ(model->free_pages(), free_after_prompt - 1) << "after layer " << l;
  }
  // Every layer reads the token at the same page.
  const int32_t* page_of = RuntimeInternals::cache(*model->layer_runtime(0)).host_page_of();
  for (uint32_t l = 1; l < 3; ++l) EXPECT_EQ(RuntimeInternals::cache(*model->layer_runtime(l)).host_page_of(), page_of);
  EXPECT_GE(page_of[2], 0);
}

TEST(ModelRuntime, FullPoolAndMaxContextChangeNothing) {
  const std::vector<ConfigSpec> specs = model_layers();
  std::unique_ptr<ModelRuntime> model;
  ASSERT_TRUE(ModelRuntime::create(cpu_options(2, /*pool_pages=*/12), &model).is_ok());
  for (const ConfigSpec& spec : specs) {
    const std::vector<uint8_t> bytes = artifact_of(spec);
    ASSERT_TRUE(model->add_layer(bytes.data(), bytes.size()).is_ok());
  }
  RequestId a = 0, b = 0;
  ASSERT_TRUE(model->create_request(&a).is_ok());
  ASSERT_TRUE(model->create_request(&b).is_ok());
  std::mt19937 rng(6);
  const LayerShape& s0 = RuntimeInternals::shape(*model->layer_runtime(0));
  LayerData big(rng, s0, 128);
  ASSERT_TRUE(model->prefill(0, a, big.k.data(), big.v.data(), 40).is_ok());  // 10 of 12 pages
  // b needs 3 pages: refused, with a message; nothing of a or b changed.
  const Status full = model->prefill(0, b, big.k.data(), big.v.data(), 12);
  EXPECT_EQ(full.code(), StatusCode::OutOfCapacity);
  EXPECT_NE(full.message().find("host KV pool full"), std::string::npos) << full.message();
  EXPECT_EQ(model->free_pages(), 2u);
  RequestAccounting acc;
  ASSERT_TRUE(model->request_accounting(0, b, &acc).is_ok());
  EXPECT_EQ(acc.length_tokens, 0u);
  // Another layer of a fits in a's pages already taken: no new pages.
  const LayerShape& s2 = RuntimeInternals::shape(*model->layer_runtime(2));
  LayerData other(rng, s2, 40);
  ASSERT_TRUE(model->prefill(2, a, other.k.data(), other.v.data(), 40).is_ok());
  EXPECT_EQ(model->free_pages(), 2u);
  // Beyond the max context (128 tokens): refused, a unchanged.
  const Status beyond = model->prefill(0, a, big.k.data(), big.v.data(), 89);
  EXPECT_EQ(beyond.code(), StatusCode::OutOfCapacity);
  ASSERT_TRUE(model->request_accounting(0, a, &acc).is_ok());
  EXPECT_EQ(acc.length_tokens, 40u);
  // The batch is full too.
  RequestId c = 0;
  EXPECT_EQ(model->create_request(&c).code(), StatusCode::OutOfCapacity);
}

TEST(ModelRuntime, RefusesMismatchedLayersAndLateLayers) {
  std::unique_ptr<ModelRuntime> model;
  ASSERT_TRUE(ModelRuntime::create(cpu_options(1), &model).is_ok());
  RequestId id = 0;
  EXPECT_EQ(model->create_request(&id).code(), StatusCode::InvalidArgument);  // no layers
  ConfigSpec a;
  const std::vector<uint8_t> first = artifact_of(a);
  ASSERT_TRUE(model->add_layer(first.data(), first.size()).is_ok());
  ConfigSpec other_page = a;
  other_page.page_size = 8;
  const std::vector<uint8_t> second = artifact_of(other_page);
  const Status refused = model->add_layer(second.data(), second.size());
  EXPECT_EQ(refused.code(), StatusCode::InvalidArgument);
  EXPECT_NE(refused.message().find("layer 1"), std::string::npos) << refused.message();
  EXPECT_EQ(model->num_layers(), 1u);
  EXPECT_EQ(model->decode_step(3, &id, 1, nullptr, nullptr, nullptr).code(), StatusCode::InvalidArgument);
  ASSERT_TRUE(model->create_request(&id).is_ok());
  const Status late = model->add_layer(first.data(), first.size());
  EXPECT_EQ(late.code(), StatusCode::InvalidArgument);
  EXPECT_NE(late.message().find("before create_request"), std::string::npos) << late.message();
  std::unique_ptr<ModelRuntime> none;
  RuntimeOptions zero = cpu_options(1);
  zero.max_batch = 0;
  EXPECT_EQ(ModelRuntime::create(zero, &none).code(), StatusCode::InvalidArgument);
}

TEST(ModelRuntime, HostMemoryLimitBoundsAllLayersTogether) {
  // Room for about two layers: the third is refused, naming the others' share.
  ConfigSpec a;
  const std::vector<uint8_t> bytes = artifact_of(a);
  std::unique_ptr<Runtime> one;
  ASSERT_TRUE(Runtime::create(cpu_options(1), &one).is_ok());
  ASSERT_TRUE(one->load_artifact(bytes.data(), bytes.size()).is_ok());
  const uint64_t per_layer = RuntimeInternals::memory_needs(*one).host_bytes;
  RuntimeOptions options = cpu_options(1);
  options.host_memory_limit_bytes = per_layer * 5 / 2;
  std::unique_ptr<ModelRuntime> model;
  ASSERT_TRUE(ModelRuntime::create(options, &model).is_ok());
  ASSERT_TRUE(model->add_layer(bytes.data(), bytes.size()).is_ok());
  ASSERT_TRUE(model->add_layer(bytes.data(), bytes.size()).is_ok());
  const Status third = model->add_layer(bytes.data(), bytes.size());
  EXPECT_EQ(third.code(), StatusCode::OutOfMemory) << third.message();
  EXPECT_NE(third.message().find("other layers"), std::string::npos) << third.message();
  EXPECT_EQ(model->num_layers(), 2u);
}

}  // namespace
}  // namespace hsa
