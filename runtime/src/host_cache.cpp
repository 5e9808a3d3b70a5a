#include "host_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace hsa {

Status AlignedHostAllocator::allocate(size_t bytes, void** host) {
  constexpr size_t kAlignment = 4096;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  *host = std::aligned_alloc(kAlignment, rounded ? rounded : kAlignment);
  if (!*host) return Status(StatusCode::OutOfMemory, "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
  return Status::ok();
}

void AlignedHostAllocator::release(void* host) { std::free(host); }

Status HostCache::create(const LayerShape& shape, HostAllocator* allocator, std::unique_ptr<HostCache>* out) {
  std::unique_ptr<HostCache> cache(new HostCache(shape, allocator));
  const uint64_t token_k = uint64_t(shape.kv_heads) * shape.head_dim;
  const uint64_t token_v = uint64_t(shape.kv_heads) * shape.value_dim;
  const uint64_t pages_tokens = uint64_t(shape.pool_pages) * shape.page_size;
  void* memory = nullptr;
  HSA_RETURN_IF_ERROR(allocator->allocate(pages_tokens * token_k * 2, &memory));
  cache->k_ = static_cast<uint16_t*>(memory);
  if (shape.has_separate_v) {
    HSA_RETURN_IF_ERROR(allocator->allocate(pages_tokens * token_v * 2, &memory));
    cache->v_ = static_cast<uint16_t*>(memory);
  }
  const uint64_t rows = uint64_t(shape.batch) * shape.max_units;
  HSA_RETURN_IF_ERROR(allocator->allocate(rows * sizeof(int32_t), &memory));
  cache->page_of_ = static_cast<int32_t*>(memory);
  for (uint64_t i = 0; i < rows; ++i) cache->page_of_[i] = -1;
  cache->lengths_.assign(shape.batch, 0);
  cache->free_.reserve(shape.pool_pages);
  for (uint32_t p = 0; p < shape.pool_pages; ++p) cache->free_.push_back(p);  // ascending: already a min-heap
  *out = std::move(cache);
  return Status::ok();
}

HostCache::~HostCache() {
  if (k_) allocator_->release(k_);
  if (v_) allocator_->release(v_);
  if (page_of_) allocator_->release(page_of_);
}

uint32_t HostCache::pages_held(uint32_t slot) const {
  return uint32_t((uint64_t(lengths_[slot]) + shape_.page_size - 1) / shape_.page_size);
}

uint32_t HostCache::pages_needed(uint32_t slot, uint64_t tokens) const {
  const uint64_t after = (uint64_t(lengths_[slot]) + tokens + shape_.page_size - 1) / shape_.page_size;
  return uint32_t(after - pages_held(slot));
}

Status HostCache::pool_full(uint64_t pages_needed) const {
  return Status(StatusCode::OutOfCapacity, "host KV pool full: " + std::to_string(pages_needed) + " pages needed, " +
                                               std::to_string(free_.size()) + " of " +
                                               std::to_string(shape_.pool_pages) +
                                               " free (release requests, or create the runtime with more pool_pages)");
}

Status HostCache::check_room(uint32_t slot, uint64_t tokens) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return check_room_locked(slot, tokens);
}

Status HostCache::check_room_locked(uint32_t slot, uint64_t tokens) const {
  if (slot >= shape_.batch) return Status(StatusCode::Internal, "host cache: bad batch slot");
  // Compared without forming length + tokens, which a huge `tokens` would
  // wrap around to a small number that passes.
  const uint64_t length = lengths_[slot];
  if (tokens > shape_.max_tokens() - length)
    return Status(StatusCode::OutOfCapacity, "request holds " + std::to_string(length) + " tokens; " +
                                                 std::to_string(tokens) + " more exceed its max context " +
                                                 std::to_string(shape_.max_tokens()) +
                                                 " (max_context_tokens rounded up to whole units)");
  const uint32_t needed = pages_needed(slot, tokens);
  return needed > free_.size() ? pool_full(needed) : Status::ok();
}

Status HostCache::append(const uint32_t* slots, size_t count, uint64_t tokens, const uint16_t* k, const uint16_t* v) {
  if (tokens && (!k || (shape_.has_separate_v && !v)))
    return Status(StatusCode::InvalidArgument, "append: null K or V data");
  const uint32_t P = shape_.page_size, H = shape_.kv_heads, D = shape_.head_dim, Dv = shape_.value_dim;
  {
    // Room for every slot and the pages of all of them, then the pages taken,
    // in one critical section: a concurrent append or release cannot take the
    // pages between the check and the use.
    std::lock_guard<std::mutex> lock(pool_mutex_);
    uint64_t pages = 0;
    for (size_t i = 0; i < count; ++i) {
      HSA_RETURN_IF_ERROR(check_room_locked(slots[i], tokens));
      pages += pages_needed(slots[i], tokens);
    }
    if (pages > free_.size()) return pool_full(pages);
    for (size_t i = 0; i < count; ++i) {
      int32_t* row = page_of_ + uint64_t(slots[i]) * shape_.max_units;
      const uint32_t first = pages_held(slots[i]), end = first + pages_needed(slots[i], tokens);
      for (uint32_t u = first; u < end; ++u) {  // the lowest free pages
        std::pop_heap(free_.begin(), free_.end(), std::greater<uint32_t>());
        row[u] = int32_t(free_.back());
        free_.pop_back();
      }
    }
  }
  // The tokens go into pages this slot now owns: no lock needed.
  for (size_t i = 0; i < count; ++i) {
    const uint32_t slot = slots[i];
    const int32_t* row = page_of_ + uint64_t(slot) * shape_.max_units;
    const uint16_t* slot_k = k + i * tokens * H * D;
    const uint16_t* slot_v = v ? v + i * tokens * H * Dv : nullptr;
    const uint32_t length = lengths_[slot];
    for (uint64_t j = 0; j < tokens; ++j) {
      const uint64_t t = length + j, page = uint64_t(row[t / P]);
      for (uint32_t h = 0; h < H; ++h) {
        std::memcpy(k_ + ((page * H + h) * P + t % P) * D, slot_k + (j * H + h) * D, D * sizeof(uint16_t));
        if (v_) std::memcpy(v_ + ((page * H + h) * P + t % P) * Dv, slot_v + (j * H + h) * Dv, Dv * sizeof(uint16_t));
      }
    }
    lengths_[slot] = uint32_t(length + tokens);
  }
  return Status::ok();
}

void HostCache::truncate(uint32_t slot, uint32_t length) {
  if (length >= lengths_[slot]) return;
  int32_t* row = page_of_ + uint64_t(slot) * shape_.max_units;
  const uint32_t keep = uint32_t((uint64_t(length) + shape_.page_size - 1) / shape_.page_size);
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (uint32_t u = keep; u < shape_.max_units; ++u) {
    if (row[u] >= 0) {
      free_.push_back(uint32_t(row[u]));  // within the reserved capacity: no allocation
      std::push_heap(free_.begin(), free_.end(), std::greater<uint32_t>());
    }
    row[u] = -1;
  }
  lengths_[slot] = length;
}

uint64_t HostCache::page_bytes() const {
  const uint64_t widths = shape_.has_separate_v ? uint64_t(shape_.head_dim) + shape_.value_dim : shape_.head_dim;
  return uint64_t(shape_.kv_heads) * shape_.page_size * widths * 2;
}

uint64_t HostCache::host_bytes(uint32_t slot) const {
  return pages_held(slot) * page_bytes() + uint64_t(shape_.max_units) * sizeof(int32_t);
}

const uint16_t* HostCache::key(uint32_t slot, uint32_t token, uint32_t head) const {
  const uint64_t page = uint64_t(page_of_[uint64_t(slot) * shape_.max_units + token / shape_.page_size]);
  return k_ + ((page * shape_.kv_heads + head) * shape_.page_size + token % shape_.page_size) * shape_.head_dim;
}

const uint16_t* HostCache::value(uint32_t slot, uint32_t token, uint32_t head) const {
  if (!v_) return key(slot, token, head);  // V is the first Dv dims of K
  const uint64_t page = uint64_t(page_of_[uint64_t(slot) * shape_.max_units + token / shape_.page_size]);
  return v_ + ((page * shape_.kv_heads + head) * shape_.page_size + token % shape_.page_size) * shape_.value_dim;
}

}  // namespace hsa
