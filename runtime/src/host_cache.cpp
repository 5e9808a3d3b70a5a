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

Status PagePool::create(uint32_t batch, uint32_t max_units, uint32_t pool_pages, HostAllocator* allocator,
                        std::shared_ptr<PagePool>* out) {
  std::shared_ptr<PagePool> pool(new PagePool(batch, max_units, pool_pages, allocator));
  const uint64_t rows = uint64_t(batch) * max_units;
  void* memory = nullptr;
  HSA_RETURN_IF_ERROR(allocator->allocate(rows * sizeof(int32_t), &memory));
  pool->page_of_ = static_cast<int32_t*>(memory);
  for (uint64_t i = 0; i < rows; ++i) pool->page_of_[i] = -1;
  pool->free_.reserve(pool_pages);
  for (uint32_t p = 0; p < pool_pages; ++p) pool->free_.push_back(p);  // ascending: already a min-heap
  pool->held_.assign(batch, 0);
  *out = std::move(pool);
  return Status::ok();
}

PagePool::~PagePool() {
  if (page_of_) allocator_->release(page_of_);
}

uint32_t PagePool::add_layer() {
  std::lock_guard<std::mutex> lock(mutex_);
  used_.emplace_back(batch_, 0u);
  return uint32_t(used_.size() - 1);
}

void PagePool::grow_locked(uint32_t slot, uint32_t units) {
  int32_t* row = page_of_ + uint64_t(slot) * max_units_;
  for (uint32_t u = held_[slot]; u < units; ++u) {  // the lowest free pages
    std::pop_heap(free_.begin(), free_.end(), std::greater<uint32_t>());
    row[u] = int32_t(free_.back());
    free_.pop_back();
  }
  held_[slot] = std::max(held_[slot], units);
}

void PagePool::set_used_locked(uint32_t layer, uint32_t slot, uint32_t units) {
  used_[layer][slot] = units;
  uint32_t keep = 0;
  for (const std::vector<uint32_t>& per_slot : used_) keep = std::max(keep, per_slot[slot]);
  int32_t* row = page_of_ + uint64_t(slot) * max_units_;
  for (uint32_t u = keep; u < held_[slot]; ++u) {
    free_.push_back(uint32_t(row[u]));  // within the reserved capacity: no allocation
    std::push_heap(free_.begin(), free_.end(), std::greater<uint32_t>());
    row[u] = -1;
  }
  held_[slot] = std::min(held_[slot], keep);
}

Status HostCache::create(const LayerShape& shape, HostAllocator* allocator, std::unique_ptr<HostCache>* out,
                         std::shared_ptr<PagePool> pool) {
  std::unique_ptr<HostCache> cache(new HostCache(shape, allocator));
  if (!pool) {
    HSA_RETURN_IF_ERROR(PagePool::create(shape.batch, shape.max_units, shape.pool_pages, allocator, &pool));
  } else if (pool->batch() != shape.batch || pool->max_units() != shape.max_units ||
             pool->pool_pages() != shape.pool_pages) {
    return Status(StatusCode::InvalidArgument,
                  "a shared page pool of " + std::to_string(pool->batch()) + " slots x " +
                      std::to_string(pool->max_units()) + " units, " + std::to_string(pool->pool_pages()) +
                      " pages cannot hold a layer of " + std::to_string(shape.batch) + " x " +
                      std::to_string(shape.max_units) + ", " + std::to_string(shape.pool_pages) +
                      " pages (the layers of a model need one page size and max context)");
  }
  const uint64_t token_k = uint64_t(shape.kv_heads) * shape.key_row_bytes();
  const uint64_t token_v = uint64_t(shape.kv_heads) * shape.value_row_bytes();
  const uint64_t pages_tokens = uint64_t(shape.pool_pages) * shape.page_size;
  void* memory = nullptr;
  HSA_RETURN_IF_ERROR(allocator->allocate(pages_tokens * token_k, &memory));
  cache->k_ = static_cast<uint8_t*>(memory);
  if (shape.has_separate_v) {
    HSA_RETURN_IF_ERROR(allocator->allocate(pages_tokens * token_v, &memory));
    cache->v_ = static_cast<uint16_t*>(memory);
  }
  for (const LayerShape::StepInputRow& row : cache->shape_.step_inputs) {
    if (row.pool.empty()) continue;
    HSA_RETURN_IF_ERROR(allocator->allocate(pages_tokens * row.row_bytes, &memory));
    cache->pool_rows_.push_back(memory);
    cache->pooled_.push_back(&row);
  }
  cache->lengths_.assign(shape.batch, 0);
  cache->layer_ = pool->add_layer();
  cache->pool_ = std::move(pool);
  *out = std::move(cache);
  return Status::ok();
}

HostCache::~HostCache() {
  if (pool_)  // this layer's pages: the pool keeps those another layer still uses
    for (uint32_t slot = 0; slot < shape_.batch; ++slot) truncate(slot, 0);
  if (k_) allocator_->release(k_);
  if (v_) allocator_->release(v_);
  for (void* rows : pool_rows_) allocator_->release(rows);
}

void* HostCache::pool_rows(const std::string& name) const {
  for (size_t i = 0; i < pooled_.size(); ++i)
    if (pooled_[i]->pool == name) return pool_rows_[i];
  return nullptr;
}

uint32_t HostCache::pages_held(uint32_t slot) const {
  return uint32_t((uint64_t(lengths_[slot]) + shape_.page_size - 1) / shape_.page_size);
}

uint32_t HostCache::pages_needed(uint32_t slot, uint64_t tokens) const {
  std::lock_guard<std::mutex> lock(pool_->mutex_);
  return pages_needed_locked(slot, tokens);
}

uint32_t HostCache::pages_needed_locked(uint32_t slot, uint64_t tokens) const {
  const uint64_t after = (uint64_t(lengths_[slot]) + tokens + shape_.page_size - 1) / shape_.page_size;
  const uint64_t held = pool_->held_locked(slot);  // another layer may have taken them already
  return uint32_t(after > held ? after - held : 0);
}

Status HostCache::pool_full(uint64_t pages_needed) const {
  return Status(StatusCode::OutOfCapacity, "host KV pool full: " + std::to_string(pages_needed) + " pages needed, " +
                                               std::to_string(pool_->free_.size()) + " of " +
                                               std::to_string(shape_.pool_pages) +
                                               " free (release requests, or create the runtime with more pool_pages)");
}

Status HostCache::check_room(uint32_t slot, uint64_t tokens) const {
  std::lock_guard<std::mutex> lock(pool_->mutex_);
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
  const uint32_t needed = pages_needed_locked(slot, tokens);
  return needed > pool_->free_.size() ? pool_full(needed) : Status::ok();
}

Status HostCache::extend(const uint32_t* slots, size_t count, uint64_t tokens) {
  HSA_RETURN_IF_ERROR(take_pages(slots, count, tokens));
  for (size_t i = 0; i < count; ++i) lengths_[slots[i]] = uint32_t(lengths_[slots[i]] + tokens);
  return Status::ok();
}

Status HostCache::take_pages(const uint32_t* slots, size_t count, uint64_t tokens) {
  const uint32_t P = shape_.page_size;
  {
    // Room for every slot and the pages of all of them, then the pages taken,
    // in one critical section: a concurrent append or release cannot take the
    // pages between the check and the use.
    std::lock_guard<std::mutex> lock(pool_->mutex_);
    uint64_t pages = 0;
    for (size_t i = 0; i < count; ++i) {
      HSA_RETURN_IF_ERROR(check_room_locked(slots[i], tokens));
      pages += pages_needed_locked(slots[i], tokens);
    }
    if (pages > pool_->free_.size()) return pool_full(pages);
    for (size_t i = 0; i < count; ++i) {
      const uint32_t units = uint32_t((uint64_t(lengths_[slots[i]]) + tokens + P - 1) / P);
      pool_->grow_locked(slots[i], units);
      pool_->set_used_locked(layer_, slots[i], units);
    }
  }
  return Status::ok();
}

Status HostCache::append(const uint32_t* slots, size_t count, uint64_t tokens, const void* k, const void* v,
                         const std::vector<const void*>* rows) {
  if (tokens && (!k || (shape_.has_separate_v && !v)))
    return Status(StatusCode::InvalidArgument, "append: null K or V data");
  if (rows && rows->size() != pool_rows_.size())
    return Status(StatusCode::InvalidArgument, "append: " + std::to_string(rows->size()) + " pooled input rows for " +
                                                   std::to_string(pool_rows_.size()) + " pooled inputs");
  const uint32_t P = shape_.page_size, H = shape_.kv_heads;
  const uint64_t row_k = shape_.key_row_bytes(), row_v = shape_.value_row_bytes();
  const int32_t* page_of = pool_->page_of();
  HSA_RETURN_IF_ERROR(take_pages(slots, count, tokens));
  // The tokens go into pages this slot now owns: no lock needed.
  for (size_t i = 0; i < count; ++i) {
    const uint32_t slot = slots[i];
    const int32_t* row = page_of + uint64_t(slot) * shape_.max_units;
    const uint8_t* slot_k = static_cast<const uint8_t*>(k) + i * tokens * H * row_k;
    const uint8_t* slot_v = v ? static_cast<const uint8_t*>(v) + i * tokens * H * row_v : nullptr;
    const uint32_t length = lengths_[slot];
    for (uint64_t j = 0; j < tokens; ++j) {
      const uint64_t t = length + j, page = uint64_t(row[t / P]);
      for (uint32_t h = 0; h < H; ++h) {
        std::memcpy(k_ + ((page * H + h) * P + t % P) * row_k, slot_k + (j * H + h) * row_k, row_k);
        if (v_)
          std::memcpy(reinterpret_cast<uint8_t*>(v_) + ((page * H + h) * P + t % P) * row_v,
                      slot_v + (j * H + h) * row_v, row_v);
      }
      for (size_t r = 0; rows && r < pool_rows_.size(); ++r) {
        const uint64_t bytes = pooled_[r]->row_bytes;
        std::memcpy(static_cast<uint8_t*>(pool_rows_[r]) + (page * P + t % P) * bytes,
                    static_cast<const uint8_t*>((*rows)[r]) + (i * tokens + j) * bytes, bytes);
      }
    }
    lengths_[slot] = uint32_t(length + tokens);
  }
  return Status::ok();
}

void HostCache::truncate(uint32_t slot, uint32_t length) {
  if (length >= lengths_[slot]) return;
  const uint32_t keep = uint32_t((uint64_t(length) + shape_.page_size - 1) / shape_.page_size);
  std::lock_guard<std::mutex> lock(pool_->mutex_);
  pool_->set_used_locked(layer_, slot, keep);
  lengths_[slot] = length;
}

uint64_t HostCache::device_address(const void* host_buffer) const {
  if (host_buffer == pool_->page_of()) return pool_->allocator().device_address(host_buffer);
  return allocator_->device_address(host_buffer);
}

uint64_t HostCache::page_bytes() const {
  uint64_t bytes = uint64_t(shape_.page_size) * shape_.token_kv_bytes();
  for (const LayerShape::StepInputRow* row : pooled_) bytes += uint64_t(shape_.page_size) * row->row_bytes;
  return bytes;
}

uint64_t HostCache::host_bytes(uint32_t slot) const {
  return pages_held(slot) * page_bytes() + uint64_t(shape_.max_units) * sizeof(int32_t);
}

const uint8_t* HostCache::key_bytes(uint32_t slot, uint32_t token, uint32_t head) const {
  const uint64_t page = uint64_t(pool_->page_of()[uint64_t(slot) * shape_.max_units + token / shape_.page_size]);
  return k_ + ((page * shape_.kv_heads + head) * shape_.page_size + token % shape_.page_size) * shape_.key_row_bytes();
}

const uint16_t* HostCache::value(uint32_t slot, uint32_t token, uint32_t head) const {
  if (!v_) return key(slot, token, head);  // V is the first Dv dims of K
  const uint64_t page = uint64_t(pool_->page_of()[uint64_t(slot) * shape_.max_units + token / shape_.page_size]);
  return v_ + ((page * shape_.kv_heads + head) * shape_.page_size + token % shape_.page_size) * shape_.value_dim;
}

}  // namespace hsa
