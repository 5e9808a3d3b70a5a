// fp8 e4m3 conversions and DeepSeek-V3.2's indexer-key quantisation
// (src/fp8.h), the DSA package's golden model: exhaustive over the 256
// codes, nearest-rounding against brute force, the scale rule's properties.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "fp8.h"

namespace hsa {
namespace {

TEST(Fp8, EveryCodeDecodesAndEncodesBack) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const float v = fp8::e4m3_to_float(uint8_t(c));
    if (std::isnan(v)) {
      ++nans;
      EXPECT_TRUE((c & 0x7f) == 0x7f) << c;
      continue;
    }
    EXPECT_EQ(fp8::float_to_e4m3(v), uint8_t(c)) << c << " = " << v;
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(fp8::e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(fp8::e4m3_to_float(0x01), std::ldexp(1.0f, -9));  // the smallest subnormal
  EXPECT_EQ(fp8::e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // the smallest normal
}

TEST(Fp8, EncodingIsTheNearestCodeTiesToEven) {
  std::vector<float> codes;
  for (int c = 0; c < 127; ++c) codes.push_back(fp8::e4m3_to_float(uint8_t(c)));  // 0 .. 448, ascending
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> log_mag(-12.0f, 9.0f);
  for (int i = 0; i < 20000; ++i) {
    const float x = std::exp2(log_mag(rng)) * (i % 2 ? -1.0f : 1.0f);
    const float got = fp8::e4m3_to_float(fp8::float_to_e4m3(x));
    if (std::fabs(x) >= 448.0f) {
      EXPECT_EQ(got, std::copysign(448.0f, x));
      continue;
    }
    float best = codes[0];
    for (float c : codes)
      if (std::fabs(c - std::fabs(x)) < std::fabs(best - std::fabs(x))) best = c;
    // As near as the nearest code (a tie may pick either neighbour here; the midpoints are checked below).
    EXPECT_EQ(std::fabs(std::fabs(got) - std::fabs(x)), std::fabs(best - std::fabs(x)))
        << x << " -> " << got << ", nearest " << best;
    EXPECT_EQ(std::signbit(got), std::signbit(x));
  }
  // Midpoints go to the even code: between 1.0 (0x38) and 1.125 (0x39), and
  // between 1.125 and 1.25 (0x3a).
  EXPECT_EQ(fp8::float_to_e4m3(1.0625f), 0x38);
  EXPECT_EQ(fp8::float_to_e4m3(1.1875f), 0x3a);
  EXPECT_EQ(fp8::float_to_e4m3(std::ldexp(1.5f, -9)), 0x02);  // subnormal tie 1.5 -> 2
  EXPECT_EQ(fp8::float_to_e4m3(std::nanf("")), fp8::kE4M3NaN);
}

TEST(Fp8, TheScaleIsTheSmallestPowerOfTwoThatFits) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int row = 0; row < 500; ++row) {
    const float spread = std::exp2(float(row % 40) - 20.0f);
    std::vector<float> x(128);
    float amax = 0.0f;
    for (float& v : x) v = normal(rng) * spread, amax = std::max(amax, std::fabs(v));
    std::vector<uint8_t> q(x.size());
    const float s = fp8::quantize_row(x.data(), x.size(), q.data());
    int e = 0;
    EXPECT_EQ(std::frexp(s, &e), 0.5f) << "not a power of two: " << s;
    const float a = std::max(amax, 1e-4f);
    EXPECT_LE(a / s, 448.0f);
    EXPECT_GT(a / s, 224.0f);  // half the scale would not fit
    for (size_t i = 0; i < x.size(); ++i) {
      const float back = fp8::e4m3_to_float(q[i]) * s;
      EXPECT_LE(std::fabs(back - x[i]), std::max(std::fabs(x[i]) / 16.0f, s * std::ldexp(1.0f, -10)))
          << "row " << row << " element " << i;
    }
  }
  std::vector<float> zeros(16, 0.0f);
  std::vector<uint8_t> q(16, 0xff);
  EXPECT_EQ(fp8::quantize_row(zeros.data(), zeros.size(), q.data()), std::ldexp(1.0f, -22));  // amax floor 1e-4
  for (uint8_t c : q) EXPECT_EQ(c, 0);
  // amax exactly 448 * 2^k: the scale is 2^k (no extra factor of two).
  std::vector<float> exact = {448.0f * 4.0f, -1.0f};
  std::vector<uint8_t> qe(2);
  EXPECT_EQ(fp8::quantize_row(exact.data(), exact.size(), qe.data()), 4.0f);
}

TEST(Fp8, TheIndexScoreAppliesTheReluBeforeTheWeights) {
  // Two heads of dim 2; key codes 1.0 and 2.0 (0x38, 0x40), scale 0.5.
  const uint8_t k8[2] = {0x38, 0x40};
  const float q[4] = {1.0f, 1.0f,     // head 0: dot 3
                      -1.0f, -1.0f};  // head 1: dot -3, cut by the relu
  const float w[2] = {2.0f, -5.0f};
  EXPECT_DOUBLE_EQ(fp8::index_score(q, w, 2, 2, k8, 0.5f), 0.5 * 3.0 * 2.0);
  const float w_negative[2] = {-2.0f, 7.0f};  // a negative weight on a positive dot counts
  EXPECT_DOUBLE_EQ(fp8::index_score(q, w_negative, 2, 2, k8, 0.5f), 0.5 * 3.0 * -2.0);
}

}  // namespace
}  // namespace hsa
