// The host KV cache: a pool of pages in the layout of docs/BUFFERS.md
// (host.k [pages][Hkv][P][KeyRow], host.v [pages][Hkv][P][Dv], host.page_of
// [B][N]), per-request page lists (rows of host.page_of) and token appends.
// Rows are copied as bytes in the stored format (LayerShape::key_row_bytes:
// bf16/f16 elements, or FlashMLA's fp8 latent rows).
#ifndef HSA_RUNTIME_HOST_CACHE_H
#define HSA_RUNTIME_HOST_CACHE_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
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

// Page ids and the per-request page lists (host.page_of [B][N]) shared by
// the layers of a model: page p of a request holds the same token positions
// in every layer, each layer keeping its own K/V storage for the pool's
// pages. Layers grow one after another within a step (layer 0 appends its
// token before layer 1 does), so a request holds the pages its longest layer
// needs, and a page goes back to the pool when no layer uses it. A runtime
// of one layer makes its own pool of one layer.
class PagePool {
 public:
  static Status create(uint32_t batch, uint32_t max_units, uint32_t pool_pages, HostAllocator* allocator,
                       std::shared_ptr<PagePool>* out);
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  uint32_t batch() const { return batch_; }
  uint32_t max_units() const { return max_units_; }
  uint32_t pool_pages() const { return pool_pages_; }
  int32_t* page_of() const { return page_of_; }
  const HostAllocator& allocator() const { return *allocator_; }
  uint32_t free_pages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return uint32_t(free_.size());
  }
  // A new layer's index (its used-page counts start at 0).
  uint32_t add_layer();

 private:
  friend class HostCache;
  PagePool(uint32_t batch, uint32_t max_units, uint32_t pool_pages, HostAllocator* allocator)
      : batch_(batch), max_units_(max_units), pool_pages_(pool_pages), allocator_(allocator) {}
  // With mutex_ held: pages slot holds (page_of entries >= 0, a prefix of its row).
  uint32_t held_locked(uint32_t slot) const { return held_[slot]; }
  // With mutex_ held: makes the slot hold at least `units` pages, the lowest free first (the caller checked the room).
  void grow_locked(uint32_t slot, uint32_t units);
  // With mutex_ held: layer `layer` of `slot` uses `units` pages now; pages no layer uses go back.
  void set_used_locked(uint32_t layer, uint32_t slot, uint32_t units);

  const uint32_t batch_, max_units_, pool_pages_;
  HostAllocator* allocator_;
  int32_t* page_of_ = nullptr;
  mutable std::mutex mutex_;
  // Free pages, a min-heap (lowest page first: deterministic layouts) whose
  // capacity is the whole pool, reserved at create: giving pages back never
  // allocates, so release and the undo of a failed append cannot fail.
  std::vector<uint32_t> free_;
  std::vector<uint32_t> held_;               // [slot]
  std::vector<std::vector<uint32_t>> used_;  // [layer][slot]
};

class HostCache {
 public:
  // One layer's cache over `pool` (shape.batch, max_units and pool_pages
  // must match it), or over a pool of its own when `pool` is null.
  static Status create(const LayerShape& shape, HostAllocator* allocator, std::unique_ptr<HostCache>* out,
                       std::shared_ptr<PagePool> pool = nullptr);
  ~HostCache();
  HostCache(const HostCache&) = delete;
  HostCache& operator=(const HostCache&) = delete;

  // Threads: calls for different slots may run at the same time (the page
  // pool has a lock); calls for one slot must not (the runtime's contract:
  // the caller serialises calls on one request).
  uint32_t length(uint32_t slot) const { return lengths_[slot]; }
  uint32_t pages_held(uint32_t slot) const;
  uint32_t free_pages() const { return pool_->free_pages(); }
  const std::shared_ptr<PagePool>& pool() const { return pool_; }
  // Pages a request must newly take to grow by `tokens` (tokens within its max context: check_room first).
  uint32_t pages_needed(uint32_t slot, uint64_t tokens) const;
  // Fails (touching nothing) if the request would exceed max context or the pool.
  Status check_room(uint32_t slot, uint64_t tokens) const;

  // Appends `tokens` tokens to each of the `count` (distinct) slots; k is
  // [count][tokens][Hkv][key row], v [count][tokens][Hkv][Dv] (null when V
  // is part of K), in the stored format. All-or-nothing: every slot's room and the pages of all of them are
  // checked first; on error nothing changed.
  // `rows`, when not null: for each pooled step input of the shape
  // (LayerShape::step_inputs with a pool, in order), its rows
  // [count][tokens][row], stored beside the tokens' K and V.
  Status append(const uint32_t* slots, size_t count, uint64_t tokens, const void* k, const void* v,
                const std::vector<const void*>* rows = nullptr);
  // The same without the data: pages and lengths for `tokens` more tokens of
  // each slot, whose rows the device writes (the device API's append).
  Status extend(const uint32_t* slots, size_t count, uint64_t tokens);
  Status append(uint32_t slot, uint64_t tokens, const void* k, const void* v,
                const std::vector<const void*>* rows = nullptr) {
    return append(&slot, 1, tokens, k, v, rows);
  }
  // Shrinks a request back to `length` (<= its length) tokens, returning the
  // pages it no longer needs: undoes an append whose backend step failed.
  void truncate(uint32_t slot, uint32_t length);
  // Returns the request's pages to the pool and empties its row.
  void release(uint32_t slot) { truncate(slot, 0); }

  // The documented host buffers; host_k() is host.k's 16-bit view (bf16/f16
  // layers), host_k_bytes() its bytes (every format).
  uint16_t* host_k() const { return reinterpret_cast<uint16_t*>(k_); }
  uint8_t* host_k_bytes() const { return k_; }
  uint16_t* host_v() const { return v_; }
  int32_t* host_page_of() const { return pool_->page_of(); }
  // The pooled step inputs' host buffers ([PoolPages][P][row]), in the
  // order of LayerShape::step_inputs with a pool; by name, or null.
  const std::vector<void*>& pool_rows() const { return pool_rows_; }
  void* pool_rows(const std::string& name) const;
  // The device address of one of the host buffers above (0 without a device).
  uint64_t device_address(const void* host_buffer) const;
  uint64_t page_bytes() const;  // K and V bytes of one pool page
  uint64_t host_bytes(uint32_t slot) const;  // pages held + its page_of row
  const HostAllocator& allocator() const { return *allocator_; }
  const LayerShape& shape() const { return shape_; }

  // One stored key row: its bytes, or its 16-bit elements (bf16/f16 layers).
  const uint8_t* key_bytes(uint32_t slot, uint32_t token, uint32_t head) const;
  const uint16_t* key(uint32_t slot, uint32_t token, uint32_t head) const {
    return reinterpret_cast<const uint16_t*>(key_bytes(slot, token, head));
  }
  // One value row's 16-bit elements (bf16/f16 layers; MLA: the key row's first Dv).
  const uint16_t* value(uint32_t slot, uint32_t token, uint32_t head) const;

 private:
  HostCache(const LayerShape& shape, HostAllocator* allocator) : shape_(shape), allocator_(allocator) {}
  Status pool_full(uint64_t pages_needed) const;  // with the pool's mutex held
  // Room for every slot, then the pages of all of them, in one critical section.
  Status take_pages(const uint32_t* slots, size_t count, uint64_t tokens);
  Status check_room_locked(uint32_t slot, uint64_t tokens) const;
  uint32_t pages_needed_locked(uint32_t slot, uint64_t tokens) const;

  LayerShape shape_;
  HostAllocator* allocator_;
  uint8_t* k_ = nullptr;
  uint16_t* v_ = nullptr;
  std::vector<void*> pool_rows_;
  std::vector<const LayerShape::StepInputRow*> pooled_;  // into shape_.step_inputs, parallel to pool_rows_
  std::shared_ptr<PagePool> pool_;
  uint32_t layer_ = 0;             // this cache's index in the pool
  std::vector<uint32_t> lengths_;  // per slot: only calls on that slot touch its entry
};

}  // namespace hsa

#endif  // HSA_RUNTIME_HOST_CACHE_H
