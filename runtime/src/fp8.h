// fp8 e4m3 (the OCP "FN" variant: no infinities, one NaN pattern per sign,
// largest finite 448) <-> f32, and DeepSeek-V3.2's per-token quantisation of
// indexer keys with the lightning indexer's score over them: the golden model
// for the DSA package's kernels (issue 14, ../shared/DSA.md).
#ifndef HSA_RUNTIME_FP8_H
#define HSA_RUNTIME_FP8_H

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace hsa {
namespace fp8 {

constexpr float kE4M3Max = 448.0f;
constexpr uint8_t kE4M3NaN = 0x7f;  // S.1111.111 (with the sign bit: 0xff)

inline float e4m3_to_float(uint8_t v) {
  const float sign = (v & 0x80) ? -1.0f : 1.0f;
  const int exponent = (v >> 3) & 0xf, mantissa = v & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::nanf("");
  if (exponent == 0) return sign * std::ldexp(float(mantissa), -9);  // subnormal: m / 8 * 2^-6
  return sign * std::ldexp(1.0f + float(mantissa) / 8.0f, exponent - 7);
}

// Round to nearest, ties to even; finite values beyond 448 saturate to
// +-448 (a quantiser that scales by amax never produces them); NaN stays NaN.
inline uint8_t float_to_e4m3(float f) {
  if (std::isnan(f)) return kE4M3NaN;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a >= kE4M3Max) return uint8_t(sign | 0x7e);
  // The candidates' spacing: 2^(e - 3) in binade [2^e, 2^(e+1)), 2^-9 below 2^-6.
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1): binade 2^(e-1)
  const int binade = std::max(e - 1, -6);
  const float step = std::ldexp(1.0f, binade - 3);
  float q = a / step;  // exact: a power-of-two division
  const float lower = std::floor(q);
  const float rest = q - lower;
  q = rest > 0.5f ? lower + 1.0f : rest < 0.5f ? lower : (std::fmod(lower, 2.0f) == 0.0f ? lower : lower + 1.0f);
  const float rounded = q * step;
  if (rounded >= kE4M3Max) return uint8_t(sign | 0x7e);
  if (rounded < std::ldexp(1.0f, -6)) return uint8_t(sign | uint8_t(q));  // subnormal (or 0): m = q
  int re = 0;
  const float m = std::frexp(rounded, &re);  // rounded = m * 2^re, m in [0.5, 1)
  const int exponent = re - 1 + 7;
  const int mantissa = int(std::lround((m * 2.0f - 1.0f) * 8.0f));
  return uint8_t(sign | uint8_t(exponent << 3) | uint8_t(mantissa));
}

// DeepSeek-V3.2's scale rule (scale_fmt ue8m0): amax = max(max |x|, 1e-4),
// s = 2^ceil(log2(amax / 448)), computed exactly (frexp, not a rounded
// log2); x8 = e4m3(x / s). Returns s; `out` gets `n` codes.
inline float quantize_row(const float* x, size_t n, uint8_t* out) {
  float amax = 1e-4f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  int e = 0;
  const float m = std::frexp(amax / kE4M3Max, &e);  // = m * 2^e, m in [0.5, 1)
  const float scale = std::ldexp(1.0f, m == 0.5f ? e - 1 : e);
  for (size_t i = 0; i < n; ++i) out[i] = float_to_e4m3(x[i] / scale);
  return scale;
}

// The lightning indexer's score of one token (DSA.md step 1):
// k_scale * sum_j max(0, q[j] . k8) * w[j], in double. q [heads][dim] as
// floats (fp8 queries decoded, their scale folded into w), k8 [dim] codes.
inline double index_score(const float* q, const float* w, size_t heads, size_t dim, const uint8_t* k8,
                          float k_scale) {
  double sum = 0.0;
  for (size_t j = 0; j < heads; ++j) {
    double dot = 0.0;
    for (size_t d = 0; d < dim; ++d) dot += double(q[j * dim + d]) * double(e4m3_to_float(k8[d]));
    sum += std::max(dot, 0.0) * double(w[j]);
  }
  return double(k_scale) * sum;
}

}  // namespace fp8
}  // namespace hsa

#endif  // HSA_RUNTIME_FP8_H
