// FlashMLA's fp8 latent cache (KvDtype::Fp8Latent): the quantiser and its
// bounds, the loader's refusals, a DSA layer on the CPU backend against the
// same layer with a bf16 cache and against a float model over the
// dequantised rows, the host API's scale checks, the stage checker on byte
// rows, and the C API.
#include <gtest/gtest.h>

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

using artifact::fp8_latent_row_bytes;
using artifact::kFp8LatentTile;

constexpr uint32_t kIndexHeads = 4, kIndexDim = 32;

std::vector<uint16_t> normal_bf16(std::mt19937& rng, size_t n, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<uint16_t> out(n);
  for (uint16_t& x : out) x = float_to_bf16(normal(rng));
  return out;
}

std::vector<uint8_t> quantized(const std::vector<uint16_t>& bf16, uint32_t latent, uint32_t rope) {
  const uint64_t rows = bf16.size() / (latent + rope);
  std::vector<uint8_t> out(rows * fp8_latent_row_bytes(latent, rope));
  const Status s = Runtime::quantize_fp8_latent(bf16.data(), rows, latent, rope, out.data());
  EXPECT_TRUE(s.is_ok()) << s.message();
  return out;
}

// --- The quantiser ----------------------------------------------------------

TEST(Fp8Latent, TheRowLayoutIsFlashMlas) {
  EXPECT_EQ(fp8_latent_row_bytes(512, 64), 656u);  // DeepSeek-V3.2
  std::mt19937 rng(1);
  const std::vector<uint16_t> x = normal_bf16(rng, 576, 3.0f);
  const std::vector<uint8_t> row = quantized(x, 512, 64);
  ASSERT_EQ(row.size(), 656u);
  for (uint32_t t = 0; t < 4; ++t) {
    float amax = 0.0f;
    for (uint32_t i = 0; i < 128; ++i) amax = std::max(amax, std::fabs(bf16_to_float(x[t * 128 + i])));
    const uint32_t bits = uint32_t(row[512 + 4 * t]) | uint32_t(row[513 + 4 * t]) << 8 |
                          uint32_t(row[514 + 4 * t]) << 16 | uint32_t(row[515 + 4 * t]) << 24;  // little-endian f32
    const float scale = bits_to_float(bits);
    int e = 0;
    EXPECT_EQ(std::frexp(scale, &e), 0.5f) << "tile " << t << ": a power of two";
    EXPECT_LE(amax / scale, 448.0f);
    EXPECT_GT(amax / scale, 224.0f) << "the smallest power of two that fits";
  }
  EXPECT_EQ(std::memcmp(row.data() + 528, x.data() + 512, 128), 0) << "the rope's bf16 bits follow the scales";
}

TEST(Fp8Latent, RepresentableValuesComeBackExactly) {
  // Values code * 2^-3 with 448 * 2^-3 among them: amax / 448 = 2^-3 is the scale, every value a code of it.
  std::mt19937 rng(2);
  std::vector<uint16_t> x(2 * 128 + 6);
  std::vector<uint8_t> codes(256);
  for (uint32_t i = 0; i < 256; ++i) {
    uint8_t c;
    do c = uint8_t(rng()); while ((c & 0x7f) == 0x7f || (c & 0x7f) == 0x7e);
    codes[i] = i % 128 == 5 ? 0x7e : c;  // 448 once per tile
    x[i] = float_to_bf16(fp8::e4m3_to_float(codes[i]) * 0.125f);  // exact in bf16: 4 significant bits
  }
  const std::vector<uint16_t> rope = normal_bf16(rng, 6, 1.0f);
  std::copy(rope.begin(), rope.end(), x.begin() + 256);
  const std::vector<uint8_t> row = quantized(x, 256, 6);
  std::vector<float> back(262);
  ASSERT_TRUE(Runtime::dequantize_fp8_latent(row.data(), 1, 256, 6, back.data()).is_ok());
  for (uint32_t i = 0; i < 256; ++i) {
    EXPECT_EQ(row[i], codes[i]) << i;
    EXPECT_EQ(back[i], bf16_to_float(x[i])) << i;
  }
  EXPECT_EQ(fp8::latent_row_scale(row.data(), 256, 0), 0.125f);
  for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(back[256 + i], bf16_to_float(rope[i]));
}

// Round to nearest e4m3 of x / s with s = 2^k >= amax / 448: in a normal
// binade [2^e, 2^(e+1)) the codes are 2^(e-3) apart, so the error is at
// most 2^(e-4) <= |x / s| * 2^-4; below 2^-6 (subnormals, 2^-9 apart) at
// most 2^-10. Per element: |dequantised - x| <= max(|x| * 2^-4, s * 2^-10).
TEST(Fp8Latent, TheErrorIsHalfAnE4m3Step) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<uint16_t> x = normal_bf16(rng, 10 * 576, std::ldexp(1.0f, trial % 20 - 10));
    for (size_t i = 0; i < x.size(); i += 97) x[i] = float_to_bf16(bf16_to_float(x[i]) * 1e-4f);  // tiny ones too
    const std::vector<uint8_t> rows = quantized(x, 512, 64);
    std::vector<float> back(x.size());
    ASSERT_TRUE(Runtime::dequantize_fp8_latent(rows.data(), 10, 512, 64, back.data()).is_ok());
    for (uint32_t r = 0; r < 10; ++r)
      for (uint32_t i = 0; i < 576; ++i) {
        const float v = bf16_to_float(x[r * 576 + i]), d = back[r * 576 + i];
        if (i >= 512) {
          EXPECT_EQ(d, v);
          continue;
        }
        const float scale = fp8::latent_row_scale(&rows[r * 656], 512, i / 128);
        ASSERT_LE(std::fabs(d - v), std::max(std::fabs(v) * 0.0625f, scale * std::ldexp(1.0f, -10)))
            << "trial " << trial << " row " << r << " element " << i << ": " << v << " -> " << d;
      }
  }
}

TEST(Fp8Latent, AZeroTileTakesTheFloorScale) {
  std::vector<uint16_t> x(128 + 6, 0);
  const std::vector<uint8_t> row = quantized(x, 128, 6);
  // 2^ceil(log2(1e-4 / 448)) = 2^-22 (1e-4 / 448 = 2.23e-7, log2 = -22.1).
  EXPECT_EQ(fp8::latent_row_scale(row.data(), 128, 0), std::ldexp(1.0f, -22));
  for (uint32_t i = 0; i < 128; ++i) EXPECT_EQ(row[i], 0u);
}

TEST(Fp8Latent, RopeBitsAreCopiedWhateverTheyAre) {
  std::vector<uint16_t> x(128 + 6, 0x3f80);
  const uint16_t rope[6] = {0x7fc1, 0xffff, 0x0001, 0x8000, 0x7f80, 0x1234};  // NaN, NaN, subnormal, -0, inf
  std::copy(rope, rope + 6, x.begin() + 128);
  const std::vector<uint8_t> row = quantized(x, 128, 6);
  EXPECT_EQ(std::memcmp(row.data() + 132, rope, 12), 0);
}

TEST(Fp8Latent, BadInputIsRefusedAndWritesNothing) {
  std::vector<uint16_t> x(3 * 134, 0x3f80);
  x[134 + 7] = 0x7fc0;  // row 1, latent element 7: NaN
  std::vector<uint8_t> out(3 * 144, 0xab);
  Status s = Runtime::quantize_fp8_latent(x.data(), 3, 128, 6, out.data());
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("row 1 latent element 7 is NaN or infinite"), std::string::npos) << s.message();
  for (uint8_t b : out) ASSERT_EQ(b, 0xab) << "nothing written";
  x[134 + 7] = 0xff80;  // -inf
  EXPECT_EQ(Runtime::quantize_fp8_latent(x.data(), 3, 128, 6, out.data()).code(), StatusCode::InvalidArgument);
  x[134 + 7] = 0x3f80;
  for (uint32_t latent : {0u, 96u, 100u}) {
    s = Runtime::quantize_fp8_latent(x.data(), 1, latent, 6, out.data());
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << latent;
    EXPECT_NE(s.message().find("multiple of 128"), std::string::npos) << s.message();
  }
  EXPECT_EQ(Runtime::quantize_fp8_latent(nullptr, 1, 128, 6, out.data()).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(Runtime::dequantize_fp8_latent(out.data(), 1, 128, 6, nullptr).code(), StatusCode::InvalidArgument);
  // The C API says the same.
  EXPECT_EQ(hsattn_quantize_fp8_latent(x.data(), 1, 100, 6, out.data()), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("multiple of 128"), std::string::npos);
  ASSERT_EQ(hsattn_quantize_fp8_latent(x.data(), 3, 128, 6, out.data()), HSATTN_STATUS_OK);
  EXPECT_EQ(out, quantized(x, 128, 6));
  std::vector<float> back(3 * 134);
  ASSERT_EQ(hsattn_dequantize_fp8_latent(out.data(), 3, 128, 6, back.data()), HSATTN_STATUS_OK);
  for (float v : back) EXPECT_EQ(v, 1.0f);
}

// --- The loader's rules -----------------------------------------------------

Status load(const artifact::LayerConfigRecord& c, const artifact::TestAlgorithm& algorithm) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_context_tokens = 64;
  std::unique_ptr<Runtime> rt;
  EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(c, "sm_90a", algorithm);
  return rt->load_artifact(bytes.data(), bytes.size());
}

void expect_refused(const artifact::LayerConfigRecord& c, const artifact::TestAlgorithm& algorithm,
                    const std::string& needle) {
  const Status s = load(c, algorithm);
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(Fp8Latent, TheLoaderRefusesLayersThatCannotHoldTheRows) {
  const artifact::TestAlgorithm dsa = artifact::TestAlgorithm::dsa(kIndexHeads, kIndexDim);
  ASSERT_TRUE(load(artifact::small_fp8_dsa_config(), dsa).is_ok());
  artifact::LayerConfigRecord gqa = artifact::small_selecting_config();  // separate V, 2 KV heads
  gqa.kv_dtype = uint32_t(artifact::KvDtype::Fp8Latent);
  expect_refused(gqa, artifact::TestAlgorithm::quest(), "is for latent (MLA) layers only");
  artifact::LayerConfigRecord c = artifact::small_fp8_dsa_config();
  c.value_dim = 96, c.head_dim = 102;
  expect_refused(c, dsa, "a multiple of 128 (one scale per tile), got 96");
  c = artifact::small_fp8_dsa_config();
  c.head_dim = 136;  // 128 + 4 + 16 = 148 bytes
  expect_refused(c, dsa, "a row of a multiple of 16 bytes");
  c.head_dim = 128;
  expect_refused(c, dsa, "needs a rope part");
}

TEST(Fp8Latent, PackagesThatReadKeyRowsRefuseIt) {
  const artifact::LayerConfigRecord c = artifact::small_fp8_dsa_config();
  expect_refused(c, artifact::TestAlgorithm::quest(),
                 "algorithm 'quest' builds its representations from the cached keys and needs a bf16 or f16 cache, "
                 "not fp8 latent rows");
  expect_refused(c, artifact::TestAlgorithm::cluster_kv(4, 2, 16, 2, 8), "algorithm 'cluster_kv' builds");
  artifact::LayerConfigRecord streaming = c;
  streaming.budget_units = 3, streaming.sink_units = 1, streaming.window_units = 2;
  const Status s = load(streaming, artifact::TestAlgorithm::streaming_llm());
  EXPECT_TRUE(s.is_ok()) << s.message();
}

// --- A DSA layer with the fp8 cache on the CPU backend ----------------------

struct Layer {
  std::unique_ptr<Runtime> rt;
  artifact::LayerConfigRecord config;
  RequestId id = 0;

  explicit Layer(artifact::KvDtype dtype, uint32_t max_batch = 1) {
    config = artifact::small_fp8_dsa_config();
    config.kv_dtype = uint32_t(dtype);
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.max_batch = max_batch;
    options.max_context_tokens = 256;
    EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
    const std::vector<uint8_t> bytes =
        artifact::make_test_artifact(config, "sm_90a", artifact::TestAlgorithm::dsa(kIndexHeads, kIndexDim));
    const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
    EXPECT_TRUE(rt->create_request(&id).is_ok());
  }
  uint64_t length(RequestId request) const {
    RequestAccounting a;
    EXPECT_TRUE(rt->request_accounting(request, &a).is_ok());
    return a.length_tokens;
  }
};

constexpr uint32_t kD = 134, kDv = 128, kRope = 6, kRow = 144;

// Dense softmax attention of bf16 q over the selected tokens' rows (floats,
// [T][D]), V their first Dv: what io.o must be before rounding.
std::vector<double> model_attention(const std::vector<uint16_t>& q, const std::vector<float>& rows,
                                    const std::vector<int32_t>& selected, float scale, uint32_t heads) {
  std::vector<double> out(uint64_t(heads) * kDv, 0.0);
  for (uint32_t h = 0; h < heads; ++h) {
    std::vector<double> logits;
    for (int32_t t : selected) {
      if (t < 0) continue;
      double dot = 0.0;
      for (uint32_t d = 0; d < kD; ++d) dot += double(bf16_to_float(q[h * kD + d])) * rows[uint64_t(t) * kD + d];
      logits.push_back(double(scale) * dot);
    }
    double max = -INFINITY, sum = 0.0;
    for (double l : logits) max = std::max(max, l);
    size_t i = 0;
    for (int32_t t : selected) {
      if (t < 0) continue;
      const double p = std::exp(logits[i++] - max);
      sum += p;
      for (uint32_t d = 0; d < kDv; ++d) out[h * kDv + d] += p * rows[uint64_t(t) * kD + d];
    }
    for (uint32_t d = 0; d < kDv; ++d) out[h * kDv + d] /= sum;
  }
  return out;
}

TEST(Fp8Latent, DsaSelectsAsWithBf16AndAttendsOverTheDequantisedRows) {
  Layer fp8(artifact::KvDtype::Fp8Latent), bf16(artifact::KvDtype::BF16);
  LayerInfo info;
  ASSERT_TRUE(fp8.rt->layer_info(&info).is_ok());
  EXPECT_EQ(info.kv_dtype, artifact::KvDtype::Fp8Latent);
  EXPECT_EQ(info.activation_dtype, artifact::KvDtype::BF16);
  EXPECT_EQ(info.key_row_bytes, kRow);
  std::mt19937 rng(7);
  const uint32_t prompt = 60, steps = 12, Hq = fp8.config.num_q_heads;
  // Latent values of a realistic spread; the rope part bf16.
  std::vector<uint16_t> k = normal_bf16(rng, uint64_t(prompt) * kD, 2.0f);
  std::vector<uint16_t> index_k = normal_bf16(rng, uint64_t(prompt) * kIndexDim, 1.0f);
  const std::vector<uint8_t> k8 = quantized(k, kDv, kRope);
  const StepInput prompt_keys[] = {{"io.new_index_k", index_k.data()}};
  ASSERT_TRUE(fp8.rt->prefill(fp8.id, k8.data(), nullptr, prompt, prompt_keys, 1).is_ok());
  ASSERT_TRUE(bf16.rt->prefill(bf16.id, k.data(), nullptr, prompt, prompt_keys, 1).is_ok());
  std::vector<uint8_t> all_rows = k8;  // every token's stored row, for the model
  uint64_t misses = 0;
  std::unique_ptr<StepCapture> workspace;
  for (uint32_t step = 0; step < steps; ++step) {
    const std::vector<uint16_t> new_k = normal_bf16(rng, kD, 2.0f), new_index = normal_bf16(rng, kIndexDim, 1.0f);
    const std::vector<uint8_t> new_k8 = quantized(new_k, kDv, kRope);
    all_rows.insert(all_rows.end(), new_k8.begin(), new_k8.end());
    const StepInput append_in[] = {{"io.new_index_k", new_index.data()}};
    ASSERT_TRUE(fp8.rt->append(&fp8.id, 1, new_k8.data(), nullptr, append_in, 1).is_ok());
    ASSERT_TRUE(bf16.rt->append(&bf16.id, 1, new_k.data(), nullptr, append_in, 1).is_ok());
    // Indexer queries change every step: the selection moves and the 24 slots evict.
    std::vector<uint8_t> index_q(kIndexHeads * kIndexDim);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (uint8_t& c : index_q) c = fp8::float_to_e4m3(normal(rng));
    std::vector<float> w(kIndexHeads);
    for (float& x : w) x = normal(rng);
    const StepInput decode_in[] = {{"io.index_q", index_q.data()}, {"io.index_w", w.data()}};
    const std::vector<uint16_t> q = normal_bf16(rng, uint64_t(Hq) * kD, 0.3f);
    std::vector<uint16_t> o8(uint64_t(Hq) * kDv), o16(o8.size());
    StepStats stats;
    StageCheckOptions check;
    check.step = step;
    check.workspace = &workspace;
    StageCheckReport report;
    ASSERT_TRUE(checked_decode_step(*fp8.rt, &fp8.id, 1, q.data(), o8.data(), &stats, check, &report, decode_in, 2)
                    .is_ok());
    ASSERT_TRUE(report.passed) << report.message;
    misses += stats.misses;
    ASSERT_TRUE(bf16.rt->decode_step(&bf16.id, 1, q.data(), o16.data(), nullptr, decode_in, 2).is_ok());
    std::vector<int32_t> units8(fp8.config.budget_units), units16(units8.size());
    ASSERT_TRUE(fp8.rt->selected_units(fp8.id, units8.data(), units8.size()).is_ok());
    ASSERT_TRUE(bf16.rt->selected_units(bf16.id, units16.data(), units16.size()).is_ok());
    EXPECT_EQ(units8, units16) << "step " << step << ": DSA selects by its indexer keys, not the latent rows";
    // The output against attention over the dequantised rows.
    const uint64_t tokens = all_rows.size() / kRow;
    std::vector<float> rows(tokens * kD);
    ASSERT_TRUE(Runtime::dequantize_fp8_latent(all_rows.data(), tokens, kDv, kRope, rows.data()).is_ok());
    const std::vector<double> expected = model_attention(q, rows, units8, fp8.config.softmax_scale, Hq);
    double error2 = 0.0, norm2 = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double d = bf16_to_float(o8[i]) - expected[i];
      error2 += d * d;
      norm2 += expected[i] * expected[i];
    }
    EXPECT_LT(std::sqrt(error2 / norm2), 4e-3) << "step " << step << " (bf16 rounding alone: about 1.1e-3)";
  }
  EXPECT_GT(misses, uint64_t(fp8.config.capacity_units)) << "the run evicted";
  RequestAccounting a;
  ASSERT_TRUE(fp8.rt->request_accounting(fp8.id, &a).is_ok());
  EXPECT_EQ(a.full_device_cache_bytes, uint64_t(prompt + steps) * kRow) << "the stored rows' bytes";
}

TEST(Fp8Latent, RowsWithBadScalesAreRefusedAndChangeNothing) {
  Layer layer(artifact::KvDtype::Fp8Latent, 2);
  RequestId other = 0;
  ASSERT_TRUE(layer.rt->create_request(&other).is_ok());
  std::mt19937 rng(9);
  const std::vector<uint16_t> index_k = normal_bf16(rng, 8 * kIndexDim, 1.0f);
  const StepInput keys[] = {{"io.new_index_k", index_k.data()}};
  const std::vector<uint8_t> good = quantized(normal_bf16(rng, 8 * kD, 1.0f), kDv, kRope);
  ASSERT_TRUE(layer.rt->prefill(layer.id, good.data(), nullptr, 8, keys, 1).is_ok());
  ASSERT_TRUE(layer.rt->prefill(other, good.data(), nullptr, 8, keys, 1).is_ok());
  for (float scale : {0.0f, -0.5f, NAN, INFINITY}) {
    std::vector<uint8_t> bad = good;
    std::memcpy(&bad[3 * kRow + kDv], &scale, 4);  // token 3, tile 0
    Status s = layer.rt->prefill(layer.id, bad.data(), nullptr, 8, keys, 1);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << scale;
    EXPECT_NE(s.message().find("token 3 of the call (position 11), KV head 0: the scale of latent tile 0"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(layer.length(layer.id), 8u);
    // append: the second request's row is bad; neither request grows.
    std::vector<uint8_t> two(2 * kRow);
    std::memcpy(two.data(), good.data(), kRow);
    std::memcpy(two.data() + kRow, bad.data() + 3 * kRow, kRow);
    const RequestId ids[] = {layer.id, other};
    s = layer.rt->append(ids, 2, two.data(), nullptr, keys, 1);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
    EXPECT_NE(s.message().find("request " + std::to_string(other) + " (row 1 of new_k)"), std::string::npos)
        << s.message();
    EXPECT_EQ(layer.length(layer.id), 8u);
    EXPECT_EQ(layer.length(other), 8u);
  }
  // An e4m3 NaN code among the latent bytes (both signs), token 5 element 77.
  for (uint8_t code : {uint8_t(0x7f), uint8_t(0xff)}) {
    std::vector<uint8_t> bad = good;
    bad[5 * kRow + 77] = code;
    Status s = layer.rt->prefill(layer.id, bad.data(), nullptr, 8, keys, 1);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << int(code);
    EXPECT_NE(s.message().find("token 5 of the call (position 13), KV head 0: latent element 77"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(layer.length(layer.id), 8u);
  }
  // The requests still work.
  ASSERT_TRUE(layer.rt->append(&layer.id, 1, good.data(), nullptr, keys, 1).is_ok());
  EXPECT_EQ(layer.length(layer.id), 9u);
}

TEST(Fp8Latent, TheStageCheckerCatchesAFlippedByte) {
  std::mt19937 rng(5);
  for (uint32_t at : {7u, kDv + 1, kDv + 4 + 1}) {  // a code, a scale byte, a rope byte
    Layer layer(artifact::KvDtype::Fp8Latent);
    const std::vector<uint16_t> index_k = normal_bf16(rng, 40 * kIndexDim, 1.0f);
    const StepInput keys[] = {{"io.new_index_k", index_k.data()}};
    const std::vector<uint8_t> rows = quantized(normal_bf16(rng, 40 * kD, 1.0f), kDv, kRope);
    ASSERT_TRUE(layer.rt->prefill(layer.id, rows.data(), nullptr, 40, keys, 1).is_ok());
    std::vector<uint8_t> index_q(kIndexHeads * kIndexDim, 0x38);
    std::vector<float> w(kIndexHeads, 1.0f);
    const StepInput in[] = {{"io.index_q", index_q.data()}, {"io.index_w", w.data()}};
    const std::vector<uint16_t> q = normal_bf16(rng, uint64_t(layer.config.num_q_heads) * kD, 0.3f);
    std::vector<uint16_t> o(uint64_t(layer.config.num_q_heads) * kDv);
    StageCheckOptions options;
    options.perturb = [&](StepCapture& cap) {
      const uint32_t c = uint32_t(cap.after.sel_copy_slots[uint64_t(cap.slots[0]) * layer.config.budget_units]);
      cap.after.buf_k_bytes[(uint64_t(cap.slots[0]) * layer.config.capacity_units + c) * kRow + at] ^= 0x01;
    };
    StageCheckReport report;
    ASSERT_TRUE(checked_decode_step(*layer.rt, &layer.id, 1, q.data(), o.data(), nullptr, options, &report, in, 2)
                    .is_ok());
    EXPECT_FALSE(report.passed) << at;
    EXPECT_NE(report.message.find("stage gather: buf.k[0]"), std::string::npos) << report.message;
    EXPECT_NE(report.message.find(at < kDv ? "e4m3 code of latent dim 7" : at < kDv + 4 ? "scale of latent tile 0"
                                                                                     : "rope dim 0"),
              std::string::npos)
        << report.message;
  }
}

TEST(Fp8Latent, TheCApiDescribesTheLayer) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(
      artifact::small_fp8_dsa_config(), "sm_90a", artifact::TestAlgorithm::dsa(kIndexHeads, kIndexDim));
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  options.max_context_tokens = 64;
  hsattn_runtime* rt = nullptr;
  ASSERT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
  ASSERT_EQ(hsattn_runtime_load_artifact(rt, bytes.data(), bytes.size()), HSATTN_STATUS_OK);
  hsattn_layer_config c;
  c.struct_size = sizeof c;
  ASSERT_EQ(hsattn_runtime_get_layer_config(rt, &c), HSATTN_STATUS_OK);
  EXPECT_EQ(c.struct_size, sizeof c);
  EXPECT_EQ(c.kv_dtype, uint32_t(HSATTN_DTYPE_FP8_LATENT)) << "3, not the artifact's 2 (which is I32 in C)";
  EXPECT_EQ(c.activation_dtype, uint32_t(HSATTN_DTYPE_BF16));
  EXPECT_EQ(c.key_row_bytes, kRow);
  EXPECT_EQ(c.head_dim, kD);
  // A prefill of a row with a zero scale through C.
  hsattn_request_id id = 0;
  ASSERT_EQ(hsattn_request_create(rt, &id), HSATTN_STATUS_OK);
  std::vector<uint8_t> row(kRow, 0);
  std::vector<uint16_t> index_k(kIndexDim, 0x3f80);
  const hsattn_step_input keys[] = {{"io.new_index_k", index_k.data()}};
  EXPECT_EQ(hsattn_prefill_with_inputs(rt, id, row.data(), nullptr, 1, keys, 1), HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find("scales must be finite and > 0"), std::string::npos);
  std::vector<uint16_t> x(kD, 0x3f80);
  ASSERT_EQ(hsattn_quantize_fp8_latent(x.data(), 1, kDv, kRope, row.data()), HSATTN_STATUS_OK);
  EXPECT_EQ(hsattn_prefill_with_inputs(rt, id, row.data(), nullptr, 1, keys, 1), HSATTN_STATUS_OK);
  hsattn_runtime_destroy(rt);
}

}  // namespace
}  // namespace hsa
