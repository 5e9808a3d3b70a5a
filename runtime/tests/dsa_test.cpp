// The DSA package on the CPU reference backend (docs/algorithms/dsa.md): its
// step inputs through the API (listed, required, validated), the selection
// against a brute-force model of the indexer written from the contract page
// with fp8.h's pieces, the representations replayed from the host pool by
// the stage checker, and the refusals that must leave the request as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "fp8.h"
#include "half.h"
#include "hsa/hsattn.h"
#include "hsa/runtime.hpp"
#include "runtime_internal.h"
#include "stage_check.h"
#include "test_artifact.h"

namespace hsa {
namespace {

constexpr uint32_t kIndexHeads = 4, kIndexDim = 32;

struct DsaLayer {
  std::unique_ptr<Runtime> rt;
  artifact::LayerConfigRecord config = artifact::small_dsa_config();
  std::mt19937 rng{20261202};
  std::string index_dtype;

  explicit DsaLayer(const std::string& dtype = "f8E4M3FN", uint32_t max_batch = 2, uint64_t max_context = 512)
      : index_dtype(dtype) {
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.max_batch = max_batch;
    options.max_context_tokens = max_context;
    EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
    const std::vector<uint8_t> bytes = artifact::make_test_artifact(
        config, "sm_90a", artifact::TestAlgorithm::dsa(kIndexHeads, kIndexDim, dtype));
    const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
  }
  bool fp8() const { return index_dtype == "f8E4M3FN"; }

  std::vector<uint16_t> bf16(size_t n, float sigma = 1.0f) {
    std::normal_distribution<float> normal(0.0f, sigma);
    std::vector<uint16_t> out(n);
    for (uint16_t& x : out) x = float_to_bf16(normal(rng));
    return out;
  }
  // Indexer queries: fp8 codes of normal values (never NaN), or bf16.
  std::vector<uint8_t> queries(size_t rows) {
    const size_t n = rows * kIndexHeads * kIndexDim;
    std::vector<uint8_t> out(n * (fp8() ? 1 : 2));
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (size_t i = 0; i < n; ++i) {
      if (fp8()) {
        out[i] = fp8::float_to_e4m3(normal(rng));
      } else {
        const uint16_t v = float_to_bf16(normal(rng));
        std::memcpy(&out[2 * i], &v, 2);
      }
    }
    return out;
  }
  std::vector<float> weights(size_t rows) {
    std::normal_distribution<float> normal(0.0f, 1.0f);  // negative weights too
    std::vector<float> out(rows * kIndexHeads);
    for (float& w : out) w = normal(rng);
    return out;
  }
};

// The model of the indexer from docs/algorithms/dsa.md, independent of the
// package: each token's key quantised by V3.2's rule (fp8::quantize_row), the
// score by fp8::index_score, the top-k by a full sort.
struct IndexerModel {
  bool fp8 = true;
  std::vector<std::vector<uint16_t>> keys;  // per token, bf16 [Di]

  double score(uint32_t t, const uint8_t* q_row, const float* w) const {
    std::vector<float> x(kIndexDim), q(kIndexHeads * kIndexDim);
    for (uint32_t d = 0; d < kIndexDim; ++d) x[d] = bf16_to_float(keys[t][d]);
    for (uint32_t i = 0; i < kIndexHeads * kIndexDim; ++i) {
      if (fp8) {
        q[i] = fp8::e4m3_to_float(q_row[i]);
      } else {
        uint16_t v;
        std::memcpy(&v, q_row + 2 * i, 2);
        q[i] = bf16_to_float(v);
      }
    }
    if (!fp8) {  // bf16 keys: no quantisation, scale 1
      double sum = 0.0;
      for (uint32_t j = 0; j < kIndexHeads; ++j) {
        double dot = 0.0;
        for (uint32_t d = 0; d < kIndexDim; ++d) dot += double(q[j * kIndexDim + d]) * x[d];
        sum += std::max(dot, 0.0) * w[j];
      }
      return sum;
    }
    std::vector<uint8_t> k8(kIndexDim);
    const float scale = fp8::quantize_row(x.data(), kIndexDim, k8.data());
    return fp8::index_score(q.data(), w, kIndexHeads, kIndexDim, k8.data(), scale);
  }

  // The last token (window 1) plus the best K - 1 others, ascending.
  std::vector<int32_t> select(const uint8_t* q_row, const float* w, uint32_t budget) const {
    const uint32_t n = uint32_t(keys.size());
    std::vector<std::pair<float, int32_t>> scored;
    for (uint32_t t = 0; t + 1 < n; ++t) scored.push_back({float(score(t, q_row, w)), int32_t(t)});
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<int32_t> out = {int32_t(n - 1)};
    for (size_t i = 0; i < scored.size() && out.size() < budget; ++i) out.push_back(scored[i].second);
    std::sort(out.begin(), out.end());
    while (out.size() < budget) out.push_back(-1);
    return out;
  }
};

TEST(Dsa, LayerInfoListsTheStepInputs) {
  DsaLayer layer;
  LayerInfo info;
  ASSERT_TRUE(layer.rt->layer_info(&info).is_ok());
  EXPECT_EQ(info.algorithm, "dsa");
  ASSERT_EQ(info.step_inputs.size(), 3u);
  EXPECT_EQ(info.step_inputs[0].name, "io.index_q");
  EXPECT_TRUE(info.step_inputs[0].decode);
  EXPECT_EQ(info.step_inputs[0].element_type, artifact::ElementType::F8E4M3FN);
  EXPECT_EQ(info.step_inputs[0].row_shape, (std::vector<int64_t>{kIndexHeads, kIndexDim}));
  EXPECT_EQ(info.step_inputs[0].row_bytes, uint64_t(kIndexHeads) * kIndexDim);
  EXPECT_EQ(info.step_inputs[1].name, "io.index_w");
  EXPECT_EQ(info.step_inputs[1].row_bytes, uint64_t(kIndexHeads) * 4);
  EXPECT_EQ(info.step_inputs[2].name, "io.new_index_k");
  EXPECT_FALSE(info.step_inputs[2].decode);
  EXPECT_EQ(info.step_inputs[2].row_bytes, uint64_t(kIndexDim) * 2);
  // The host pool keeps the indexer keys beside the latent rows.
  RequestId id = 0;
  ASSERT_TRUE(layer.rt->create_request(&id).is_ok());
  const std::vector<uint16_t> k = layer.bf16(3 * 48), keys = layer.bf16(3 * kIndexDim);
  const StepInput prefill_inputs[] = {{"io.new_index_k", keys.data()}};
  ASSERT_TRUE(layer.rt->prefill(id, k.data(), nullptr, 3, prefill_inputs, 1).is_ok());
  RequestAccounting accounting;
  ASSERT_TRUE(layer.rt->request_accounting(id, &accounting).is_ok());
  EXPECT_EQ(accounting.host_bytes, 3 * (48 * 2 + kIndexDim * 2) + 512 * 4);
}

TEST(Dsa, CallsWithoutTheirInputsAreRefusedAndChangeNothing) {
  DsaLayer layer;
  RequestId id = 0;
  ASSERT_TRUE(layer.rt->create_request(&id).is_ok());
  const std::vector<uint16_t> k = layer.bf16(8 * 48), keys = layer.bf16(8 * kIndexDim);
  Status s = layer.rt->prefill(id, k.data(), nullptr, 8);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("needs step input 'io.new_index_k' (rows [32] bf16"), std::string::npos) << s.message();
  RequestAccounting a;
  ASSERT_TRUE(layer.rt->request_accounting(id, &a).is_ok());
  EXPECT_EQ(a.length_tokens, 0u);

  const StepInput prefill_inputs[] = {{"io.new_index_k", keys.data()}};
  ASSERT_TRUE(layer.rt->prefill(id, k.data(), nullptr, 8, prefill_inputs, 1).is_ok());
  const std::vector<uint16_t> new_k = layer.bf16(48), new_key = layer.bf16(kIndexDim);
  s = layer.rt->append(&id, 1, new_k.data(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("append: the layer's algorithm 'dsa' needs step input 'io.new_index_k'"),
            std::string::npos)
      << s.message();

  const std::vector<uint8_t> q_index = layer.queries(1);
  const std::vector<float> w = layer.weights(1);
  const std::vector<uint16_t> q = layer.bf16(8 * 48);
  std::vector<uint16_t> o(8 * 32);
  StepStats stats;
  s = layer.rt->decode_step(&id, 1, q.data(), o.data(), &stats);
  EXPECT_NE(s.message().find("decode_step: the layer's algorithm 'dsa' needs step input 'io.index_q' (rows [4][32] "
                             "f8E4M3FN, one per request)"),
            std::string::npos)
      << s.message();
  // An unknown name, a name twice, an append input at decode, null data.
  const StepInput unknown[] = {{"io.index_q", q_index.data()}, {"io.index_w", w.data()}, {"io.index_v", w.data()}};
  s = layer.rt->decode_step(&id, 1, q.data(), o.data(), &stats, unknown, 3);
  EXPECT_NE(s.message().find("'io.index_v' is not one of its step inputs; algorithm 'dsa' takes 'io.index_q' at "
                             "decode_step, 'io.index_w' at decode_step, 'io.new_index_k' at append and prefill"),
            std::string::npos)
      << s.message();
  const StepInput twice[] = {{"io.index_q", q_index.data()}, {"io.index_q", q_index.data()}};
  EXPECT_NE(layer.rt->decode_step(&id, 1, q.data(), o.data(), &stats, twice, 2).message().find("listed twice"),
            std::string::npos);
  const StepInput wrong_call[] = {{"io.new_index_k", new_key.data()}};
  EXPECT_NE(layer.rt->decode_step(&id, 1, q.data(), o.data(), &stats, wrong_call, 1).message().find(
                "'io.new_index_k' is not one of its step inputs"),
            std::string::npos);
  const StepInput null_data[] = {{"io.index_q", nullptr}, {"io.index_w", w.data()}};
  EXPECT_NE(layer.rt->decode_step(&id, 1, q.data(), o.data(), &stats, null_data, 2).message().find("null data"),
            std::string::npos);
  ASSERT_TRUE(layer.rt->request_accounting(id, &a).is_ok());
  EXPECT_EQ(a.length_tokens, 8u);
}

TEST(Dsa, NonFiniteInputsAreRefusedBeforeAnythingChanges) {
  DsaLayer layer;
  RequestId id = 0;
  ASSERT_TRUE(layer.rt->create_request(&id).is_ok());
  const std::vector<uint16_t> k = layer.bf16(4 * 48);
  std::vector<uint16_t> keys = layer.bf16(4 * kIndexDim);
  keys[2 * kIndexDim + 5] = 0x7F80;  // +inf in token 2
  StepInput inputs[] = {{"io.new_index_k", keys.data()}};
  Status s = layer.rt->prefill(id, k.data(), nullptr, 4, inputs, 1);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("step input 'io.new_index_k' row 2 element 5 is NaN or infinite"), std::string::npos)
      << s.message();
  RequestAccounting a;
  ASSERT_TRUE(layer.rt->request_accounting(id, &a).is_ok());
  EXPECT_EQ(a.length_tokens, 0u);
  keys[2 * kIndexDim + 5] = 0;
  ASSERT_TRUE(layer.rt->prefill(id, k.data(), nullptr, 4, inputs, 1).is_ok());

  std::vector<uint8_t> q_index = layer.queries(1);
  std::vector<float> w = layer.weights(1);
  const std::vector<uint16_t> q = layer.bf16(8 * 48);
  std::vector<uint16_t> o(8 * 32);
  w[3] = std::nanf("");
  const StepInput decode_inputs[] = {{"io.index_q", q_index.data()}, {"io.index_w", w.data()}};
  s = layer.rt->decode_step(&id, 1, q.data(), o.data(), nullptr, decode_inputs, 2);
  EXPECT_NE(s.message().find("'io.index_w' row 0 element 3 is NaN"), std::string::npos) << s.message();
  w[3] = 1.0f;
  q_index[7] = 0xFF;  // e4m3's NaN (negative)
  s = layer.rt->decode_step(&id, 1, q.data(), o.data(), nullptr, decode_inputs, 2);
  EXPECT_NE(s.message().find("'io.index_q' row 0 element 7 is NaN (e4m3 code"), std::string::npos) << s.message();
  q_index[7] = 0x38;  // 1.0
  EXPECT_TRUE(layer.rt->decode_step(&id, 1, q.data(), o.data(), nullptr, decode_inputs, 2).is_ok());
}

// Prefill in two chunks, then steps with appends that run past the buffer's
// capacity: every step selects what the brute-force indexer selects, and the
// stage checker (representations replayed from host.index_k, scores, top-k,
// diff, gather, attention) passes.
void run_selection(const std::string& dtype) {
  DsaLayer layer(dtype);
  const uint32_t D = 48, Dv = 32, Hq = 8, K = layer.config.budget_units;
  std::vector<RequestId> ids(2);
  std::vector<IndexerModel> models(2);
  const uint32_t prompt[2] = {90, 7};  // a row longer than K and one shorter
  for (size_t r = 0; r < 2; ++r) {
    models[r].fp8 = layer.fp8();
    ASSERT_TRUE(layer.rt->create_request(&ids[r]).is_ok());
    for (uint32_t chunk = 0; chunk < 2; ++chunk) {
      const uint32_t tokens = prompt[r] / 2 + (chunk ? prompt[r] % 2 : 0);
      const std::vector<uint16_t> k = layer.bf16(size_t(tokens) * D);
      const std::vector<uint16_t> keys = layer.bf16(size_t(tokens) * kIndexDim, 3.0f);
      for (uint32_t t = 0; t < tokens; ++t)
        models[r].keys.emplace_back(keys.begin() + t * kIndexDim, keys.begin() + (t + 1) * kIndexDim);
      const StepInput inputs[] = {{"io.new_index_k", keys.data()}};
      ASSERT_TRUE(layer.rt->prefill(ids[r], k.data(), nullptr, tokens, inputs, 1).is_ok());
    }
  }
  std::unique_ptr<StepCapture> workspace;
  uint64_t misses = 0;
  for (int step = 0; step < 40; ++step) {
    const std::vector<uint16_t> new_k = layer.bf16(2 * D), new_keys = layer.bf16(2 * kIndexDim, 3.0f);
    const StepInput append_inputs[] = {{"io.new_index_k", new_keys.data()}};
    ASSERT_TRUE(layer.rt->append(ids.data(), 2, new_k.data(), nullptr, append_inputs, 1).is_ok());
    for (size_t r = 0; r < 2; ++r)
      models[r].keys.emplace_back(new_keys.begin() + r * kIndexDim, new_keys.begin() + (r + 1) * kIndexDim);
    const std::vector<uint8_t> q_index = layer.queries(2);
    const std::vector<float> w = layer.weights(2);
    const std::vector<uint16_t> q = layer.bf16(2 * Hq * D);
    std::vector<uint16_t> o(2 * Hq * Dv);
    const StepInput decode_inputs[] = {{"io.index_w", w.data()}, {"io.index_q", q_index.data()}};  // any order
    StageCheckOptions options;
    options.step = step;
    options.workspace = &workspace;
    StageCheckReport report;
    StepStats stats;
    const Status status =
        checked_decode_step(*layer.rt, ids.data(), 2, q.data(), o.data(), &stats, options, &report, decode_inputs, 2);
    ASSERT_TRUE(status.is_ok()) << status.message();
    ASSERT_TRUE(report.passed) << report.message;
    EXPECT_GT(report.stage(CheckStage::Repr).compared, 0u);
    misses += stats.misses;
    const size_t q_row = size_t(kIndexHeads) * kIndexDim * (layer.fp8() ? 1 : 2);
    for (size_t r = 0; r < 2; ++r) {
      std::vector<int32_t> units(K);
      ASSERT_TRUE(layer.rt->selected_units(ids[r], units.data(), K).is_ok());
      EXPECT_EQ(units, models[r].select(&q_index[r * q_row], &w[r * kIndexHeads], K)) << "step " << step << " row " << r;
    }
  }
  EXPECT_GT(misses, uint64_t(2 * layer.config.capacity_units));  // the buffer filled and evicted
}

TEST(Dsa, SelectsWhatTheIndexerModelSelectsFp8) { run_selection("f8E4M3FN"); }
TEST(Dsa, SelectsWhatTheIndexerModelSelectsBf16) { run_selection("bf16"); }

TEST(Dsa, StageCheckCatchesACorruptedIndexKey) {
  DsaLayer layer;
  RequestId id = 0;
  ASSERT_TRUE(layer.rt->create_request(&id).is_ok());
  const std::vector<uint16_t> k = layer.bf16(40 * 48), keys = layer.bf16(40 * kIndexDim);
  const StepInput inputs[] = {{"io.new_index_k", keys.data()}};
  ASSERT_TRUE(layer.rt->prefill(id, k.data(), nullptr, 40, inputs, 1).is_ok());
  const std::vector<uint8_t> q_index = layer.queries(1);
  const std::vector<float> w = layer.weights(1);
  const std::vector<uint16_t> q = layer.bf16(8 * 48);
  std::vector<uint16_t> o(8 * 32);
  const StepInput decode_inputs[] = {{"io.index_q", q_index.data()}, {"io.index_w", w.data()}};
  StageCheckOptions options;
  options.step = 3;
  options.perturb = [](StepCapture& cap) {
    static_cast<uint8_t*>(cap.before.find("repr.index_keys")->data())[17 * kIndexDim + 4] ^= 0x01;
  };
  StageCheckReport report;
  ASSERT_TRUE(
      checked_decode_step(*layer.rt, &id, 1, q.data(), o.data(), nullptr, options, &report, decode_inputs, 2).is_ok());
  EXPECT_FALSE(report.passed);
  EXPECT_NE(report.message.find("repr.index_keys[0][token 17] byte 4"), std::string::npos) << report.message;
  // A scale changed alone is caught too.
  options.perturb = [](StepCapture& cap) {
    static_cast<float*>(cap.before.find("repr.index_scales")->data())[9] *= 2.0f;
  };
  ASSERT_TRUE(
      checked_decode_step(*layer.rt, &id, 1, q.data(), o.data(), nullptr, options, &report, decode_inputs, 2).is_ok());
  EXPECT_NE(report.message.find("repr.index_scales[0][token 9]"), std::string::npos) << report.message;
}

// The C API: the inputs listed with their shapes, then a prefill, an append
// and a step with them; the forms without inputs are refused.
TEST(Dsa, TheCApiTakesTheStepInputs) {
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_context_tokens = 64;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(
      artifact::small_dsa_config(), "sm_90a", artifact::TestAlgorithm::dsa(kIndexHeads, kIndexDim));
  ASSERT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_OK) << hsattn_last_error_message();
  hsattn_layer_config config;
  config.struct_size = sizeof(config);
  ASSERT_EQ(hsattn_runtime_get_layer_config(rt, &config), HSATTN_STATUS_OK);
  EXPECT_STREQ(config.algorithm, "dsa");
  ASSERT_EQ(config.num_step_inputs, 3u);
  hsattn_step_input_info info;
  ASSERT_EQ(hsattn_runtime_get_step_input(rt, 0, &info), HSATTN_STATUS_OK);
  EXPECT_STREQ(info.name, "io.index_q");
  EXPECT_EQ(info.decode, 1);
  EXPECT_EQ(info.element_type, uint32_t(HSATTN_ELEMENT_F8E4M3FN));
  EXPECT_EQ(info.rank, 2u);
  EXPECT_EQ(info.row_shape[0], kIndexHeads);
  EXPECT_EQ(info.row_shape[1], kIndexDim);
  ASSERT_EQ(hsattn_runtime_get_step_input(rt, 2, &info), HSATTN_STATUS_OK);
  EXPECT_STREQ(info.name, "io.new_index_k");
  EXPECT_EQ(info.decode, 0);
  EXPECT_EQ(hsattn_runtime_get_step_input(rt, 3, &info), HSATTN_STATUS_INVALID_ARGUMENT);

  DsaLayer data;  // random data only
  hsattn_request_id id = 0;
  ASSERT_EQ(hsattn_request_create(rt, &id), HSATTN_STATUS_OK);
  const std::vector<uint16_t> k = data.bf16(20 * 48), keys = data.bf16(20 * kIndexDim);
  EXPECT_EQ(hsattn_prefill(rt, id, k.data(), nullptr, 20), HSATTN_STATUS_INVALID_ARGUMENT);
  const hsattn_step_input prefill_inputs[] = {{"io.new_index_k", keys.data()}};
  ASSERT_EQ(hsattn_prefill_with_inputs(rt, id, k.data(), nullptr, 20, prefill_inputs, 1), HSATTN_STATUS_OK)
      << hsattn_last_error_message();
  const std::vector<uint16_t> new_k = data.bf16(48), new_key = data.bf16(kIndexDim);
  const hsattn_step_input append_inputs[] = {{"io.new_index_k", new_key.data()}};
  ASSERT_EQ(hsattn_append_with_inputs(rt, &id, 1, new_k.data(), nullptr, append_inputs, 1), HSATTN_STATUS_OK);
  const std::vector<uint8_t> q_index = data.queries(1);
  const std::vector<float> w = data.weights(1);
  const std::vector<uint16_t> q = data.bf16(8 * 48);
  std::vector<uint16_t> o(8 * 32, 0);
  EXPECT_EQ(hsattn_decode_step(rt, &id, 1, q.data(), o.data(), nullptr), HSATTN_STATUS_INVALID_ARGUMENT);
  const hsattn_step_input decode_inputs[] = {{"io.index_q", q_index.data()}, {"io.index_w", w.data()}};
  hsattn_step_stats stats;
  ASSERT_EQ(hsattn_decode_step_with_inputs(rt, &id, 1, q.data(), o.data(), &stats, decode_inputs, 2), HSATTN_STATUS_OK)
      << hsattn_last_error_message();
  EXPECT_EQ(stats.units_selected, 12u);
  bool any = false;
  for (uint16_t x : o) any = any || x != 0;
  EXPECT_TRUE(any);
  // The device calls exist and the CPU backend says it has no device API.
  EXPECT_EQ(hsattn_enqueue_decode_with_inputs(rt, q.data(), o.data(), nullptr, nullptr, decode_inputs, 2),
            HSATTN_STATUS_UNSUPPORTED);
  hsattn_runtime_destroy(rt);
}

// The synthetic workload's inputs (hsa-run): keys = the first Di latent
// dims, index head j's query = query head j * Hq / Hi's first Di dims,
// quantised by the keys' rule with its scale in the weight (1 / Hi).
TEST(Dsa, SyntheticInputsFollowTheLatentKeysAndQueries) {
  DsaLayer layer;
  const LayerShape& s = RuntimeInternals::shape(*layer.rt);
  const std::vector<uint16_t> k = layer.bf16(3 * 48), q = layer.bf16(2 * 8 * 48);
  std::vector<std::vector<uint8_t>> rows;
  ASSERT_TRUE(s.algorithm->synthesize_step_inputs(s, StepKind::Append, k.data(), 3, &rows));
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].size(), 3u * kIndexDim * 2);
  for (uint32_t t = 0; t < 3; ++t) EXPECT_EQ(std::memcmp(&rows[0][t * kIndexDim * 2], &k[t * 48], kIndexDim * 2), 0);
  ASSERT_TRUE(s.algorithm->synthesize_step_inputs(s, StepKind::Decode, q.data(), 2, &rows));
  ASSERT_EQ(rows.size(), 2u);
  for (uint32_t b = 0; b < 2; ++b)
    for (uint32_t j = 0; j < kIndexHeads; ++j) {
      std::vector<float> x(kIndexDim);
      std::vector<uint8_t> codes(kIndexDim);
      for (uint32_t d = 0; d < kIndexDim; ++d) x[d] = bf16_to_float(q[(b * 8 + j * 2) * 48 + d]);  // head 2j
      const float scale = fp8::quantize_row(x.data(), kIndexDim, codes.data());
      EXPECT_EQ(std::memcmp(&rows[0][(b * kIndexHeads + j) * kIndexDim], codes.data(), kIndexDim), 0);
      float w;
      std::memcpy(&w, &rows[1][(b * kIndexHeads + j) * 4], 4);
      EXPECT_EQ(w, scale / float(kIndexHeads));
    }
}

TEST(Dsa, TheLayerRulesAreChecked) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  artifact::LayerConfigRecord c = artifact::small_dsa_config();
  c.page_size = 4;
  std::vector<uint8_t> bytes = artifact::make_test_artifact(c, "sm_90a", artifact::TestAlgorithm::dsa(4, 32));
  Status s = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_NE(s.message().find("page_size must be 1, got 4"), std::string::npos) << s.message();
  c = artifact::small_dsa_config();
  c.flags = 0;
  c.num_kv_heads = 2;
  bytes = artifact::make_test_artifact(c, "sm_90a", artifact::TestAlgorithm::dsa(4, 32));
  s = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_NE(s.message().find("needs a latent (MLA) layer"), std::string::npos) << s.message();
  bytes = artifact::make_test_artifact(artifact::small_dsa_config(), "sm_90a", artifact::TestAlgorithm::dsa(4, 40));
  s = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_NE(s.message().find("index_dim must be a multiple of 16, got 40"), std::string::npos) << s.message();
  bytes = artifact::make_test_artifact(artifact::small_dsa_config(), "sm_90a",
                                       artifact::TestAlgorithm::dsa(4, 32, "f16"));
  s = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_NE(s.message().find("index_dtype"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace hsa
