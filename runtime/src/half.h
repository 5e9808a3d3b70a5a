// bf16 / f16 <-> f32 conversions, round-to-nearest-even, exact where possible.
#ifndef HSA_RUNTIME_HALF_H
#define HSA_RUNTIME_HALF_H

#include <cstdint>
#include <cstring>

#include "hsa/artifact_format.h"

namespace hsa {

inline float bits_to_float(uint32_t bits) { float f; std::memcpy(&f, &bits, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

inline float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

inline uint16_t float_to_bf16(float f) {
  const uint32_t bits = float_to_bits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN, sign kept
  return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

inline float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_to_float(sign);
  int e = -1;  // subnormal: normalise
  do { ++e; mantissa <<= 1; } while ((mantissa & 0x400u) == 0);
  return bits_to_float(sign | uint32_t(112 - e) << 23 | ((mantissa & 0x3ffu) << 13));
}

inline uint16_t float_to_f16(float f) {
  const uint32_t bits = float_to_bits(f);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {  // normal f16
    const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return uint16_t(sign | ((rounded - (112u << 23)) >> 13));
  }
  if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
  // Subnormal: shift the implicit-1 mantissa right, round to nearest even.
  const uint32_t exponent = abs >> 23;
  const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exponent;  // 14..24
  const uint32_t half = 1u << (shift - 1);
  const uint32_t remainder = mantissa & ((1u << shift) - 1);
  uint32_t value = mantissa >> shift;
  if (remainder > half || (remainder == half && (value & 1u))) ++value;
  return uint16_t(sign | value);
}

inline float kv_to_float(uint16_t h, artifact::KvDtype dtype) {
  return dtype == artifact::KvDtype::F16 ? f16_to_float(h) : bf16_to_float(h);
}
inline uint16_t float_to_kv(float f, artifact::KvDtype dtype) {
  return dtype == artifact::KvDtype::F16 ? float_to_f16(f) : float_to_bf16(f);
}

}  // namespace hsa

#endif  // HSA_RUNTIME_HALF_H
