// The host KV cache: layout, appends, release/reuse and capacity errors.
#include <gtest/gtest.h>

#include "test_support.h"

namespace hsa {
namespace {

struct CacheFixture {
  LayerShape shape;
  AlignedHostAllocator allocator;
  std::unique_ptr<HostCache> cache;
  CacheFixture(uint32_t batch, uint32_t max_context, uint32_t pool_pages) {
    test::ConfigSpec spec;
    spec.kv_heads = 2;
    spec.head_dim = 3;
    spec.value_dim = 2;
    spec.q_heads = 2;
    EXPECT_TRUE(LayerShape::create(test::make_config(spec), find_algorithm("quest"), spec.test_algorithm().parsed(), batch, max_context, pool_pages, &shape).is_ok());
    EXPECT_TRUE(HostCache::create(shape, &allocator, &cache).is_ok());
  }
  // Token t of a request: K value (100 * request + t) * 10 + head, V the negative.
  std::vector<uint16_t> keys(uint32_t request, uint32_t first, uint32_t count) const {
    std::vector<uint16_t> k;
    for (uint32_t t = first; t < first + count; ++t)
      for (uint32_t h = 0; h < 2; ++h)
        for (uint32_t d = 0; d < 3; ++d) k.push_back(uint16_t(((100 * request + t) * 10 + h) * 4 + d));
    return k;
  }
  std::vector<uint16_t> values(uint32_t request, uint32_t first, uint32_t count) const {
    std::vector<uint16_t> v;
    for (uint32_t t = first; t < first + count; ++t)
      for (uint32_t h = 0; h < 2; ++h)
        for (uint32_t d = 0; d < 2; ++d) v.push_back(uint16_t(60000 - ((100 * request + t) * 10 + h) * 4 - d));
    return v;
  }
  void expect_request(uint32_t slot, uint32_t request, uint32_t length) const {
    ASSERT_EQ(cache->length(slot), length);
    for (uint32_t t = 0; t < length; ++t)
      for (uint32_t h = 0; h < 2; ++h) {
        for (uint32_t d = 0; d < 3; ++d) ASSERT_EQ(cache->key(slot, t, h)[d], uint16_t(((100 * request + t) * 10 + h) * 4 + d));
        for (uint32_t d = 0; d < 2; ++d)
          ASSERT_EQ(cache->value(slot, t, h)[d], uint16_t(60000 - ((100 * request + t) * 10 + h) * 4 - d));
      }
  }
};

TEST(HostCache, AppendOneAndManyUsesTheDocumentedLayout) {
  CacheFixture f(2, 64, 0);
  ASSERT_TRUE(f.cache->append(0, 1, f.keys(0, 0, 1).data(), f.values(0, 0, 1).data()).is_ok());
  ASSERT_TRUE(f.cache->append(0, 9, f.keys(0, 1, 9).data(), f.values(0, 1, 9).data()).is_ok());
  f.expect_request(0, 0, 10);
  EXPECT_EQ(f.cache->pages_held(0), 3u);  // P = 4
  // host.k [pages][Hkv][P][D]: token 5 of request 0 is page_of[0][1], head 1, row 1.
  const int32_t page = f.cache->host_page_of()[1];
  EXPECT_EQ(page, 1);
  EXPECT_EQ(f.cache->host_k()[((page * 2 + 1) * 4 + 1) * 3 + 2], uint16_t((5 * 10 + 1) * 4 + 2));
  EXPECT_EQ(f.cache->host_page_of()[3], -1);
}

TEST(HostCache, ReleaseReturnsPagesForReuse) {
  CacheFixture f(2, 16, 6);
  ASSERT_TRUE(f.cache->append(0, 16, f.keys(0, 0, 16).data(), f.values(0, 0, 16).data()).is_ok());
  EXPECT_EQ(f.cache->free_pages(), 2u);
  f.cache->release(0);
  EXPECT_EQ(f.cache->free_pages(), 6u);
  EXPECT_EQ(f.cache->length(0), 0u);
  for (uint32_t u = 0; u < f.shape.max_units; ++u) EXPECT_EQ(f.cache->host_page_of()[u], -1);
  ASSERT_TRUE(f.cache->append(1, 13, f.keys(1, 0, 13).data(), f.values(1, 0, 13).data()).is_ok());
  f.expect_request(1, 1, 13);
  EXPECT_EQ(f.cache->free_pages(), 2u);
}

TEST(HostCache, PoolFullFailsWithoutTouchingOtherRequests) {
  CacheFixture f(2, 32, 5);
  ASSERT_TRUE(f.cache->append(0, 12, f.keys(0, 0, 12).data(), f.values(0, 0, 12).data()).is_ok());
  ASSERT_TRUE(f.cache->append(1, 5, f.keys(1, 0, 5).data(), f.values(1, 0, 5).data()).is_ok());
  const Status full = f.cache->append(1, 8, f.keys(1, 5, 8).data(), f.values(1, 5, 8).data());
  EXPECT_EQ(full.code(), StatusCode::OutOfCapacity);
  EXPECT_NE(full.message().find("pool full"), std::string::npos) << full.message();
  f.expect_request(0, 0, 12);
  f.expect_request(1, 1, 5);
  EXPECT_EQ(f.cache->free_pages(), 0u);
  // Room inside the last page still works.
  ASSERT_TRUE(f.cache->append(1, 3, f.keys(1, 5, 3).data(), f.values(1, 5, 3).data()).is_ok());
  f.expect_request(1, 1, 8);
}

TEST(HostCache, LongerThanMaxContextIsAnError) {
  CacheFixture f(1, 8, 0);
  const Status status = f.cache->append(0, 9, f.keys(0, 0, 9).data(), f.values(0, 0, 9).data());
  EXPECT_EQ(status.code(), StatusCode::OutOfCapacity);
  EXPECT_NE(status.message().find("max context"), std::string::npos) << status.message();
  EXPECT_EQ(f.cache->length(0), 0u);
}

}  // namespace
}  // namespace hsa
