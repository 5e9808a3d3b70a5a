// The host KV cache: a pool of pages in the layout of docs/BUFFERS.md
// (host.k [pages][Hkv][P][D], host.v [pages][Hkv][P][Dv], host.page_of [B][N]),
// per-request page lists (rows of host.page_of) and token appends.
#ifndef HSA_RUNTIME_HOST_CACHE_H
#define HSA_RUNTIME_HOST_CACHE_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "hsa/status.hpp"
#include "layer_shape.h"

namespace hsa {

// Where host-tier memory comes from. The CUDA backend supplies pinned memory
// mapped into the device address space; the CPU backend plain aligned memory.
class HostAllocator {
 public:
  virtual ~HostAllocator() = default;
  virtual Status allocate(size_t bytes, void** host) = 0;
  virtual void release(void* host) = 0;
  // The device address of `host` (0 when there is no device).
  virtual uint64_t device_address(const void* host) const = 0;
};

class AlignedHostAllocator : public HostAllocator {
 public:
  Status allocate(size_t bytes, void** host) override;
  void release(void* host) override;
  uint64_t device_address(const void*) const override { return 0; }
};

class HostCache {
 public:
  static Status create(const LayerShape& shape, HostAllocator* allocator, std::unique_ptr<HostCache>* out);
  ~HostCache();
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;

  // Threads: calls for different slots may run at the same time (the page
  // pool has a lock); calls for one slot must not (the runtime's contract:
  // the caller serialises calls on one request).
  uint32_t length(uint32_t slot) const { return lengths_[slot]; }
  uint32_t pages_held(uint32_t slot) const;
  uint32_t free_pages() const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return uint32_t(free_.size());
  }
  // Pages a request must newly take to grow by `tokens` (tokens within its max context: check_room first).
  uint32_t pages_needed(uint32_t slot, uint64_t tokens) const;
  // Fails (touching nothing) if the request would exceed max context or the pool.
  Status check_room(uint32_t slot, uint64_t tokens) const;

  // Appends `tokens` tokens to each of the `count` (distinct) slots; k is
  // [count][tokens][Hkv][D], v [count][tokens][Hkv][Dv] (null when V is part
  // of K). All-or-nothing: every slot's room and the pages of all of them are
  // checked first; on error nothing changed.
  Status append(const uint32_t* slots, size_t count, uint64_t tokens, const uint16_t* k, const uint16_t* v);
  Status append(uint32_t slot, uint64_t tokens, const uint16_t* k, const uint16_t* v) {
    return append(&slot, 1, tokens, k, v);
  }
  // Shrinks a request back to `length` (<= its length) tokens, returning the
  // pages it no longer needs: undoes an append whose backend step failed.
  void truncate(uint32_t slot, uint32_t length);
  // Returns the request's pages to the pool and empties its row.
  void release(uint32_t slot) { truncate(slot, 0); }

  // The documented host buffers.
  uint16_t* host_k() const { return k_; }
  uint16_t* host_v() const { return v_; }
  int32_t* host_page_of() const { return page_of_; }
  uint64_t page_bytes() const;  // K and V bytes of one pool page
  uint64_t host_bytes(uint32_t slot) const;  // pages held + its page_of row
  const HostAllocator& allocator() const { return *allocator_; }

  const uint16_t* key(uint32_t slot, uint32_t token, uint32_t head) const;
  const uint16_t* value(uint32_t slot, uint32_t token, uint32_t head) const;

 private:
  HostCache(const LayerShape& shape, HostAllocator* allocator) : shape_(shape), allocator_(allocator) {}
  Status pool_full(uint64_t pages_needed) const;  // with pool_mutex_ held
  Status check_room_locked(uint32_t slot, uint64_t tokens) const;

  LayerShape shape_;
  HostAllocator* allocator_;
  uint16_t* k_ = nullptr;
  uint16_t* v_ = nullptr;
  int32_t* page_of_ = nullptr;
  std::vector<uint32_t> lengths_;  // per slot: only calls on that slot touch its entry
  mutable std::mutex pool_mutex_;
  // Free pages, a min-heap (lowest page first: deterministic layouts) whose
  // capacity is the whole pool, reserved at create: giving pages back never
  // allocates, so release and the undo of a failed append cannot fail.
  // Guarded by pool_mutex_.
  std::vector<uint32_t> free_;
};

}  // namespace hsa

#endif  // HSA_RUNTIME_HOST_CACHE_H
