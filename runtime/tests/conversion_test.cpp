// bf16/f16 <-> f32 conversions: exact widening, round-to-nearest-even narrowing.
#include <gtest/gtest.h>

#include <cmath>

#include "half.h"

namespace hsa {
namespace {

TEST(Conversion, EveryBf16RoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = bf16_to_float(uint16_t(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16(f), uint16_t(bits)) << bits;
  }
}

TEST(Conversion, EveryF16RoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = f16_to_float(uint16_t(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_f16(f), uint16_t(bits)) << bits;
  }
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_float(0x7bff), 65504.0f);
}

TEST(Conversion, RoundToNearestEven) {
  // bf16 has 8 significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), float_to_bf16(1.0f));
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(f16_to_float(float_to_f16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(f16_to_float(float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);  // rounds up to infinity
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to the smallest subnormal: even (0)
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
}

}  // namespace
}  // namespace hsa
