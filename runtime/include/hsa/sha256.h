// SHA-256 (FIPS 180-4), header-only and dependency-free: the digest that pins
// an artifact to the exact bytes the compiler wrote (docs/ARTIFACT.md, "Trust
// model"). Shared with the compiler, which is built with -fno-exceptions and
// -fno-rtti: plain C++17, no exceptions thrown, no allocation but the hex
// string.
//
//   std::array<uint8_t, 32> d = hsa::sha256(bytes, size);
//   std::string hex = hsa::sha256_hex(d);          // 64 lowercase hex digits
//   hsa::Sha256 h; h.update(a, n); h.update(b, m); d = h.finish();   // in pieces
//   bool ok = hsa::parse_sha256_hex("ba78...", &d);                  // 64 hex digits, any case
#ifndef HSA_SHA256_H
#define HSA_SHA256_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace hsa {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256() { reset(); }

  void reset() {
    static const uint32_t kInitial[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                         0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    for (int i = 0; i < 8; ++i) state_[i] = kInitial[i];
    bytes_ = 0;
    buffered_ = 0;
  }

  void update(const uint8_t* data, size_t size) {
    bytes_ += size;
    if (buffered_ > 0) {  // complete the partial block first
      while (size > 0 && buffered_ < 64) {
        block_[buffered_++] = *data++;
        --size;
      }
      if (buffered_ < 64) return;
      compress(block_);
      buffered_ = 0;
    }
    for (; size >= 64; size -= 64, data += 64) compress(data);
    for (size_t i = 0; i < size; ++i) block_[buffered_++] = data[i];
  }

  // The digest of everything passed to update(); the object is reset after.
  Sha256Digest finish() {
    const uint64_t bits = bytes_ * 8;
    const uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (buffered_ != 56) update(&zero, 1);
    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = uint8_t(bits >> (56 - 8 * i));
    update(length, 8);  // completes the last block
    Sha256Digest out;
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 4; ++j) out[size_t(4 * i + j)] = uint8_t(state_[i] >> (24 - 8 * j));
    reset();
    return out;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress(const uint8_t* block) {
    static const uint32_t kRound[64] = {
        0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
        0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
        0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
        0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
        0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
        0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
        0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
        0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(block[4 * i]) << 24 | uint32_t(block[4 * i + 1]) << 16 | uint32_t(block[4 * i + 2]) << 8 |
             uint32_t(block[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4], f = state_[5], g = state_[6],
             h = state_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
  }

  uint32_t state_[8];
  uint64_t bytes_;     // message length so far
  uint8_t block_[64];  // the partial block
  size_t buffered_;    // bytes in block_
};

inline Sha256Digest sha256(const uint8_t* data, size_t size) {
  Sha256 h;
  h.update(data, size);
  return h.finish();
}

// 64 lowercase hex digits.
inline std::string sha256_hex(const Sha256Digest& digest) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kDigits[digest[i] >> 4];
    out[2 * i + 1] = kDigits[digest[i] & 15];
  }
  return out;
}

inline std::string sha256_hex(const uint8_t* data, size_t size) { return sha256_hex(sha256(data, size)); }

// Parses exactly 64 hex digits (upper or lower case, nothing else); false
// (and `out` untouched) otherwise.
inline bool parse_sha256_hex(const char* text, Sha256Digest* out) {
  if (!text || !out) return false;
  Sha256Digest d;
  for (size_t i = 0; i < 64; ++i) {
    const char c = text[i];
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) return false;  // also stops at a NUL before 64 digits
    if (i % 2 == 0) d[i / 2] = uint8_t(v << 4);
    else d[i / 2] = uint8_t(d[i / 2] | v);
  }
  if (text[64] != '\0') return false;
  *out = d;
  return true;
}

}  // namespace hsa

#endif  // HSA_SHA256_H
