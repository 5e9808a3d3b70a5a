// SHA-256 against the FIPS 180-4 / NIST example vectors, and the piecewise
// interface against the one-shot one across block boundaries.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "hsa/sha256.h"

namespace hsa {
namespace {

std::string hex_of(const std::string& message) {
  return sha256_hex(reinterpret_cast<const uint8_t*>(message.data()), message.size());
}

TEST(Sha256, Fips180Vectors) {
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),  // 448 bits
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 896 bits: the padding spills into a second block.
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, PiecesEqualOneShot) {
  std::vector<uint8_t> message(300);
  for (size_t i = 0; i < message.size(); ++i) message[i] = uint8_t(i * 31 + 7);
  for (size_t length : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u, 300u}) {
    const Sha256Digest whole = sha256(message.data(), length);
    for (size_t split : {size_t(0), size_t(1), length / 3, length / 2, length}) {
      if (split > length) continue;
      Sha256 h;
      h.update(message.data(), split);
      h.update(message.data() + split, length - split);
      EXPECT_EQ(h.finish(), whole) << "length " << length << " split " << split;
    }
    Sha256 bytewise;
    for (size_t i = 0; i < length; ++i) bytewise.update(&message[i], 1);
    EXPECT_EQ(bytewise.finish(), whole) << "length " << length;
  }
  Sha256 reused;  // finish() resets
  reused.update(message.data(), 10);
  (void)reused.finish();
  EXPECT_EQ(hex_of(""), sha256_hex(reused.finish()));
}

TEST(Sha256, ParsesHexDigests) {
  const std::string hex = "BA7816BF8F01CFEA414140DE5DAE2223b00361a396177a9cb410ff61f20015ad";
  Sha256Digest d{};
  ASSERT_TRUE(parse_sha256_hex(hex.c_str(), &d));
  EXPECT_EQ(sha256_hex(d), hex_of("abc"));
  Sha256Digest untouched{};
  for (const char* bad : {"", "ba78", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
                          "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          " a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}) {
    EXPECT_FALSE(parse_sha256_hex(bad, &untouched)) << bad;
    EXPECT_EQ(untouched, Sha256Digest{}) << bad;
  }
  EXPECT_FALSE(parse_sha256_hex(nullptr, &d));
}

}  // namespace
}  // namespace hsa
