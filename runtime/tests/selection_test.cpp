// top-k, Quest scores and StreamingLLM selection of the reference backend.
#include <gtest/gtest.h>

#include "test_support.h"

namespace hsa {
namespace {
using test::ConfigSpec;
using test::ReferenceLayer;

std::vector<int32_t> top_k(const std::vector<float>& scores, uint32_t k) {
  std::vector<int32_t> out(k);
  reference::top_k(scores.data(), uint32_t(scores.size()), k, out.data());
  return out;
}

TEST(TopK, TiesBreakTowardLowerUnitIdAndOutputAscends) {
  EXPECT_EQ(top_k({1, 3, 3, 2, 3}, 2), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(top_k({5, 1, 5, 0, 9}, 3), (std::vector<int32_t>{0, 2, 4}));
}

TEST(TopK, KAtLeastNSelectsEverythingPadded) {
  EXPECT_EQ(top_k({0.5f, -2, 7}, 3), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(top_k({0.5f, -2, 7}, 5), (std::vector<int32_t>{0, 1, 2, -1, -1}));
}

TEST(TopK, KOne) { EXPECT_EQ(top_k({0.5f, -2, 7, 7}, 1), (std::vector<int32_t>{2})); }

TEST(TopK, AllEqualScoresTakeTheLowestIds) {
  EXPECT_EQ(top_k(std::vector<float>(10, 1.25f), 4), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(TopK, MinusInfinityAndNaNAreNeverSelected) {
  EXPECT_EQ(top_k({-INFINITY, NAN, 1, INFINITY}, 4), (std::vector<int32_t>{2, 3, -1, -1}));
}

// Builds a layer with random keys, scores it and checks that every Quest score
// bounds the logits of every token of its unit.
void check_quest_upper_bound(SelectionScope scope, const std::string& combine, uint32_t page_size) {
  ConfigSpec spec;
  spec.q_heads = 8;
  spec.kv_heads = 2;
  spec.page_size = page_size;
  spec.scope = scope;
  spec.combine = combine;
  spec.sinks = 0;
  spec.window = 1;
  ReferenceLayer layer(spec);
  std::mt19937 rng(7 + page_size);
  layer.append_random(rng, 0, 11 * page_size + page_size / 2);  // partial last unit
  layer.set_query(rng, 0);
  reference::score(layer.shape, *layer.dev, 0);
  const LayerShape& s = layer.shape;
  const uint32_t L = uint32_t(layer.dev->req_length[0]), n = (L + s.page_size - 1) / s.page_size;
  auto q_of = [&](uint32_t h, uint32_t d) { return double(kv_to_float(layer.dev->io_q[h * s.head_dim + d], s.dtype)); };
  auto k_of = [&](uint32_t t, uint32_t kvh, uint32_t d) {
    return double(kv_to_float(layer.keys[0][(uint64_t(t) * s.kv_heads + kvh) * s.head_dim + d], s.dtype));
  };
  for (uint32_t g = 0; g < s.groups; ++g)
    for (uint32_t u = 0; u < n; ++u) {
      const float score = layer.dev->sel_scores[g * s.max_units + u];
      if (u + s.window >= n) {
        EXPECT_EQ(score, INFINITY);
        continue;
      }
      for (uint32_t t = u * s.page_size; t < std::min(L, (u + 1) * s.page_size); ++t) {
        double bound_target = combine == "max" ? -INFINITY : 0.0;
        for (uint32_t j = 0; j < s.heads_per_unit; ++j) {
          const uint32_t kvh = g * s.heads_per_unit + j;
          if (combine == "mean_query") {
            double logit = 0;
            for (uint32_t d = 0; d < s.head_dim; ++d) {
              double mean = 0;
              for (uint32_t h = kvh * s.group_size; h < (kvh + 1) * s.group_size; ++h) mean += q_of(h, d) / s.group_size;
              logit += mean * k_of(t, kvh, d);
            }
            bound_target += logit;
            continue;
          }
          for (uint32_t h = kvh * s.group_size; h < (kvh + 1) * s.group_size; ++h) {
            double logit = 0;
            for (uint32_t d = 0; d < s.head_dim; ++d) logit += q_of(h, d) * k_of(t, kvh, d);
            bound_target = combine == "max" ? std::max(bound_target, logit) : bound_target + logit;
          }
        }
        EXPECT_GE(double(score) + 1e-4 * (1 + std::fabs(score)), bound_target) << "unit " << u << " token " << t;
      }
    }
  for (uint32_t u = n; u < s.max_units; ++u) EXPECT_EQ(layer.dev->sel_scores[u], -INFINITY);
}

TEST(QuestScore, UpperBoundsEveryTokenLogitPerKvHead) {
  for (uint32_t p : {1u, 4u, 16u}) check_quest_upper_bound(SelectionScope::KvHead, "max", p);
}
TEST(QuestScore, UpperBoundsEveryTokenLogitRequestScope) {
  check_quest_upper_bound(SelectionScope::Request, "max", 8);
}
TEST(QuestScore, SumCombineBoundsTheSumOfLogits) {
  check_quest_upper_bound(SelectionScope::Request, "sum", 4);
}
TEST(QuestScore, MeanQueryBoundsTheMeanQueryLogit) {
  check_quest_upper_bound(SelectionScope::KvHead, "mean_query", 4);
  check_quest_upper_bound(SelectionScope::Request, "mean_query", 4);
}

TEST(QuestSelection, ForcedUnitsAlwaysSelectedInvalidNever) {
  ConfigSpec spec;
  spec.budget = 5;
  spec.sinks = 2;
  spec.window = 2;
  ReferenceLayer layer(spec);
  std::mt19937 rng(3);
  for (uint32_t step = 0; step < 60; ++step) {
    layer.append_random(rng, 0, 1);
    layer.set_query(rng, 0);
    reference::decode_step(layer.shape, layer.host(), *layer.dev, 0);
    const uint32_t n = (uint32_t(layer.dev->req_length[0]) + 3) / 4;
    for (const auto& units : layer.selected(0)) {
      ASSERT_EQ(units.size(), std::min(n, 5u));
      for (uint32_t u = 0; u < n; ++u) {
        if (u < 2 || u + 2 >= n) {
          EXPECT_NE(std::find(units.begin(), units.end(), int32_t(u)), units.end());
        }
      }
      for (int32_t u : units) EXPECT_LT(uint32_t(u), n);
    }
  }
}

TEST(StreamingLLM, SelectsExactlySinksAndWindow) {
  ConfigSpec spec;
  spec.algorithm = "streaming_llm";
  spec.budget = 6;
  spec.capacity = 6;
  spec.sinks = 2;
  spec.window = 3;
  ReferenceLayer layer(spec);
  std::mt19937 rng(5);
  for (uint32_t step = 0; step < 80; ++step) {
    layer.append_random(rng, 0, 1);
    layer.set_query(rng, 0);
    reference::decode_step(layer.shape, layer.host(), *layer.dev, 0);
    const uint32_t n = (uint32_t(layer.dev->req_length[0]) + 3) / 4;
    std::vector<int32_t> expected;
    for (uint32_t u = 0; u < n; ++u)
      if (u < 2 || u + 3 >= n) expected.push_back(int32_t(u));
    for (const auto& units : layer.selected(0)) EXPECT_EQ(units, expected) << "n = " << n;
  }
}

}  // namespace
}  // namespace hsa
