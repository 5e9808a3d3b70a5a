// fp8 e4m3 (the OCP "FN" variant: no infinities, one NaN pattern per sign,
// largest finite 448) <-> f32, DeepSeek-V3.2's per-token quantisation of
// indexer keys with the lightning indexer's score over them (the golden model
// for the DSA package's kernels, issue 14, ../shared/DSA.md), and FlashMLA's
// fp8 latent KV row (KvDtype::Fp8Latent).
#ifndef HSA_RUNTIME_FP8_H
#define HSA_RUNTIME_FP8_H

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "hsa/artifact_format.h"

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

// e4m3_to_float through a table of all 256 codes: the reference decodes a
// latent row per selected token and query head.
inline float e4m3_value(uint8_t v) {
  struct Table {
    float value[256];
    Table() {
      for (int c = 0; c < 256; ++c) value[c] = e4m3_to_float(uint8_t(c));
    }
  };
  static const Table table;
  return table.value[v];
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

// FlashMLA's fp8 latent row (artifact_format.h KvDtype::Fp8Latent): `latent`
// e4m3 codes, one little-endian f32 scale per kFp8LatentTile latent elements,
// then `rope` bf16 values; fp8_latent_row_bytes(latent, rope) bytes. Each tile
// is quantised by quantize_row (V3.2's power-of-two scale, so the scale is
// exact and x = code * scale exactly when x / scale is an e4m3 value); the
// rope bits are copied. False, writing nothing, when a latent value is NaN or
// infinite (no scale represents it). latent: a multiple of the tile.
inline bool quantize_latent_row(const uint16_t* bf16_values, uint32_t latent, uint32_t rope, uint8_t* row) {
  constexpr uint32_t tile = artifact::kFp8LatentTile;
  float x[tile];
  for (uint32_t i = 0; i < latent; ++i)
    if (!std::isfinite(bf16_to_float(bf16_values[i]))) return false;
  for (uint32_t t = 0; t < latent / tile; ++t) {
    for (uint32_t i = 0; i < tile; ++i) x[i] = bf16_to_float(bf16_values[t * tile + i]);
    const float scale = quantize_row(x, tile, row + t * tile);
    std::memcpy(row + latent + t * 4, &scale, 4);
  }
  std::memcpy(row + latent + latent / tile * 4, bf16_values + latent, size_t(rope) * 2);
  return true;
}

// Tile `t`'s scale of a latent row.
inline float latent_row_scale(const uint8_t* row, uint32_t latent, uint32_t t) {
  float scale;
  std::memcpy(&scale, row + latent + t * 4, 4);
  return scale;
}

// The row's latent + rope values: code * scale (in float: a power-of-two
// scale makes that exact; any other scale the caller stored is applied as
// given), the rope bf16 widened.
inline void dequantize_latent_row(const uint8_t* row, uint32_t latent, uint32_t rope, float* out) {
  constexpr uint32_t tile = artifact::kFp8LatentTile;
  for (uint32_t t = 0; t < latent / tile; ++t) {
    const float scale = latent_row_scale(row, latent, t);
    for (uint32_t i = t * tile; i < (t + 1) * tile; ++i) out[i] = e4m3_value(row[i]) * scale;
  }
  const uint8_t* rope_bits = row + latent + latent / tile * 4;
  for (uint32_t i = 0; i < rope; ++i) {
    uint16_t bits;
    std::memcpy(&bits, rope_bits + 2 * i, 2);
    out[latent + i] = bf16_to_float(bits);
  }
}

// The first tile of the row whose scale is not finite and > 0, or -1: what
// the host API refuses (a zero, negative, NaN or infinite scale is no
// quantiser's output and would poison every logit of the token).
inline int64_t bad_latent_scale_tile(const uint8_t* row, uint32_t latent) {
  for (uint32_t t = 0; t < latent / artifact::kFp8LatentTile; ++t) {
    const float scale = latent_row_scale(row, latent, t);
    if (!(std::isfinite(scale) && scale > 0.0f)) return t;
  }
  return -1;
}

// The first latent element of the row whose e4m3 code is NaN (0x7f / 0xff),
// or -1: no quantiser writes one, and it would poison the token's logits.
inline int64_t nan_latent_code(const uint8_t* row, uint32_t latent) {
  for (uint32_t i = 0; i < latent; ++i)
    if ((row[i] & 0x7f) == kE4M3NaN) return i;
  return -1;
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
