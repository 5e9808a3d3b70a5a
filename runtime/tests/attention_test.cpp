// Reference sparse attention against a direct dense computation over the
// selected tokens, and prefill against token-by-token appends.
#include <gtest/gtest.h>

#include "test_support.h"

namespace hsa {
namespace {
using test::ConfigSpec;
using test::ReferenceLayer;

// Runs `steps` decode steps (one new token before each) and compares the
// unrounded output with dense attention over the selected tokens: the only
// difference allowed is the final fp64 -> fp32 rounding.
void check_against_dense(const ConfigSpec& spec, uint32_t prefix_tokens, uint32_t steps, uint32_t seed) {
  ReferenceLayer layer(spec, 2, 1024);
  std::mt19937 rng(seed);
  const LayerShape& s = layer.shape;
  for (uint32_t b = 0; b < 2; ++b) layer.append_random(rng, b, prefix_tokens + b * 3);
  std::vector<float> o(uint64_t(s.q_heads) * s.value_dim);
  for (uint32_t step = 0; step < steps; ++step)
    for (uint32_t b = 0; b < 2; ++b) {
      layer.append_random(rng, b, 1);
      layer.set_query(rng, b);
      reference::decode_step(s, layer.host(), *layer.dev, b, o.data());
      const std::vector<double> expected = layer.dense(b, layer.selected(b));
      for (size_t i = 0; i < o.size(); ++i)
        ASSERT_NEAR(o[i], expected[i], 1e-6 * (1 + std::fabs(expected[i]))) << "step " << step << " slot " << b;
      for (size_t i = 0; i < o.size(); ++i)  // io.o is the same value rounded to the KV dtype
        ASSERT_EQ(layer.dev->io_o[b * o.size() + i], float_to_kv(o[i], s.dtype));
    }
}

TEST(ReferenceAttention, GqaGroupOfOneKvHeadScope) {
  ConfigSpec spec;
  spec.q_heads = spec.kv_heads = 4;
  check_against_dense(spec, 37, 12, 1);  // 37 tokens: partial last unit
}

TEST(ReferenceAttention, GqaGroupOfEightRequestScope) {
  ConfigSpec spec;
  spec.q_heads = 16;
  spec.kv_heads = 2;
  spec.scope = SelectionScope::Request;
  spec.page_size = 8;
  check_against_dense(spec, 61, 12, 2);
}

TEST(ReferenceAttention, PageSizeOne) {
  ConfigSpec spec;
  spec.page_size = 1;
  spec.budget = 16;
  spec.capacity = 24;
  spec.sinks = 2;
  spec.window = 4;
  check_against_dense(spec, 50, 10, 3);
}

TEST(ReferenceAttention, F16AndDistinctValueWidth) {
  ConfigSpec spec;
  spec.dtype = artifact::KvDtype::F16;
  spec.value_dim = 8;
  check_against_dense(spec, 29, 8, 4);
}

TEST(ReferenceAttention, BudgetCoveringAllUnitsEqualsDenseAttention) {
  ConfigSpec spec;
  spec.q_heads = 8;
  spec.kv_heads = 2;
  spec.page_size = 4;
  spec.budget = 32;  // >= units of 120 tokens
  spec.capacity = 32;
  ReferenceLayer layer(spec);
  std::mt19937 rng(9);
  layer.append_random(rng, 0, 118);
  layer.set_query(rng, 0);
  std::vector<float> o(uint64_t(spec.q_heads) * spec.value_dim);
  reference::decode_step(layer.shape, layer.host(), *layer.dev, 0, o.data());
  std::vector<std::vector<int32_t>> all(layer.shape.groups);
  for (auto& units : all)
    for (int32_t u = 0; u < 30; ++u) units.push_back(u);
  const std::vector<double> expected = layer.dense(0, all);
  for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(o[i], expected[i], 1e-6 * (1 + std::fabs(expected[i])));
}

TEST(ReferenceAttention, SecondIdenticalStepHitsEverything) {
  ConfigSpec spec;
  ReferenceLayer layer(spec);
  std::mt19937 rng(11);
  layer.append_random(rng, 0, 40);
  layer.set_query(rng, 0);
  reference::decode_step(layer.shape, layer.host(), *layer.dev, 0);
  for (uint32_t g = 0; g < layer.shape.groups; ++g) EXPECT_EQ(layer.dev->sel_copy_count[g], int32_t(spec.budget));
  reference::decode_step(layer.shape, layer.host(), *layer.dev, 0);
  for (uint32_t g = 0; g < layer.shape.groups; ++g) EXPECT_EQ(layer.dev->sel_copy_count[g], 0);
}

TEST(ReferencePrefill, RepresentationsEqualTokenByTokenAppends) {
  ConfigSpec spec;
  ReferenceLayer appended(spec), prefilled(spec);
  std::mt19937 rng(13);
  appended.append_random(rng, 0, 45);
  ASSERT_TRUE(prefilled.cache->append(0, 45, appended.keys[0].data(), appended.values[0].data()).is_ok());
  prefilled.dev->req_length[0] = 45;
  reference::build_representations(prefilled.shape, prefilled.host(), *prefilled.dev, 0, 0, 12);
  for (const char* name : {"repr.kmin", "repr.kmax"}) {
    const BufferView<uint16_t> a = appended.dev->view<uint16_t>(name), p = prefilled.dev->view<uint16_t>(name);
    ASSERT_EQ(a.size(), p.size());
    EXPECT_TRUE(std::equal(a.begin(), a.end(), p.begin())) << name;
  }
}

}  // namespace
}  // namespace hsa
