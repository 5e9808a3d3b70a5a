// The CPU reference backend: the golden model of BRIEF.md and docs/BUFFERS.md.
// Every stage is a separate function over the documented buffers so that GPU
// kernels can be compared with it element by element. Math is fp64; inputs
// are converted exactly from bf16/f16 (fp8 latent rows dequantised exactly:
// power-of-two scales) and outputs rounded to nearest even.
#ifndef HSA_RUNTIME_CPU_BACKEND_H
#define HSA_RUNTIME_CPU_BACKEND_H

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"

namespace hsa {

// Host-tier buffers (owned by the HostCache). v is null when V is part of K.
// k is host.k's 16-bit view, for the packages that read bf16/f16 key values
// (AlgorithmPackage::reads_key_rows); key_bytes() its stored rows, every format.
struct HostBuffers {
  const uint16_t* k;
  const uint16_t* v;
  const int32_t* page_of;
  // The pooled step inputs' rows (HostCache::pool_rows), by buffer name.
  std::vector<std::pair<std::string, const void*>> pools;
  const uint8_t* key_bytes() const { return reinterpret_cast<const uint8_t*>(k); }
  const void* pool_rows(const std::string& name) const {
    for (const auto& p : pools)
      if (p.first == name) return p.second;
    return nullptr;
  }
};

class HostCache;
// The host cache's buffers, pooled step inputs included.
HostBuffers host_buffers_of(const HostCache& cache);

// A typed window on one array of DeviceBuffers (empty when the layer has no
// such buffer, e.g. buf.v for MLA).
template <typename T>
class BufferView {
 public:
  BufferView() = default;
  BufferView(T* data, size_t size) : data_(data), size_(size) {}
  T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) const { return data_[i]; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// The device-tier buffers of the layer contract (layer_contract.def) and of
// the algorithm package, same names and layouts as the artifact's (which the
// loader checked against the same tables), in host memory. The contract's
// arrays have typed members; a package reads its own by name (view<T>).
struct DeviceBuffers {
  struct Array {
    std::string name;
    artifact::ElementType type;
    uint8_t fill;  // the byte the array starts with and rows reset to (0x00 or 0xFF)
    bool per_slot;  // leads with B (reset_slot clears the slot's row); else global (fi.indptr [B + 1])
    size_t bytes;
    std::vector<uint64_t> storage;  // 8-byte aligned
    void* data() { return storage.data(); }
    const void* data() const { return storage.data(); }
  };

  // buf.k and io.new_k hold stored rows: their bytes in every format, and
  // their 16-bit elements on bf16/f16 layers (empty for Fp8Latent).
  BufferView<uint8_t> buf_k_bytes, io_new_k_bytes;     // [B][S][C][Hu][P][KeyRow], [B][Hkv][KeyRow]
  BufferView<uint16_t> buf_k, buf_v;                   // [B][S][C][Hu][P][D|Dv]
  BufferView<int32_t> buf_slot_unit, buf_last_used;    // [B][S][C]
  BufferView<int32_t> buf_unit_slot;                   // [B][S][N]
  BufferView<float> sel_scores;                        // [B][S][N]
  BufferView<int32_t> sel_units, sel_slots;            // [B][S][K]
  BufferView<int32_t> sel_copy_units, sel_copy_slots;  // [B][S][K]
  BufferView<int32_t> sel_copy_count;                  // [B][S]
  BufferView<int32_t> req_length, req_step;            // [B]
  BufferView<uint16_t> io_q, io_o;                     // [B][Hq][D], [B][Hq][Dv], activation dtype
  BufferView<float> io_lse;                            // [B][Hq]
  BufferView<float> io_group_bound;                    // [B][S], when the artifact carries it
  BufferView<uint16_t> io_new_k, io_new_v;             // [B][Hkv][D], [B][Hkv][Dv]

  // Every array at its documented initial contents (its fill). Throws
  // std::bad_alloc when the arrays do not fit.
  explicit DeviceBuffers(const LayerShape& shape);
  DeviceBuffers(const DeviceBuffers& other) : arrays_(other.arrays_) { bind(); }
  DeviceBuffers& operator=(const DeviceBuffers& other) {
    arrays_ = other.arrays_;
    bind();
    return *this;
  }

  // Empty state of a batch slot: every row of slot b back to its fill (no
  // slots resident, length and step 0, representations and I/O zeroed).
  void reset_slot(const LayerShape& shape, uint32_t b);
  // The named array, or null.
  Array* find(const std::string& name);
  const Array* find(const std::string& name) const;
  const std::vector<Array>& arrays() const { return arrays_; }
  // A typed view of the named array; empty if absent or of another element size.
  // The named array's bytes, whatever its element type; empty if absent.
  BufferView<uint8_t> bytes(const std::string& name) const {
    const Array* a = find(name);
    if (!a) return {};
    return BufferView<uint8_t>(static_cast<uint8_t*>(const_cast<void*>(a->data())), a->bytes);
  }
  template <typename T>
  BufferView<T> view(const std::string& name) const {
    const Array* a = find(name);
    if (!a || artifact::element_type_bytes(a->type) != sizeof(T)) return {};
    return BufferView<T>(static_cast<T*>(const_cast<void*>(a->data())), a->bytes / sizeof(T));
  }

 private:
  void bind();
  std::vector<Array> arrays_;
};

namespace reference {

// One stored key row (key_row_bytes() bytes) as its D values: bf16/f16
// widened, an fp8 latent row dequantised (code * tile scale, rope bf16). The
// value of a latent layer is the first Dv of them.
void decode_key_row(const LayerShape& shape, const uint8_t* row, double* out);
// One stored value row (Dv elements of bf16/f16) widened.
void decode_value_row(const LayerShape& shape, const uint8_t* row, double* out);

// Units of a request of `length` tokens: ceil(length / P) (0 for length <= 0).
uint32_t unit_count(const LayerShape& shape, int32_t length);
// Slot b's queries widened to double, [Hq][D], and each KV head's mean query,
// [Hkv][D]: what the packages' scores combine.
void group_queries(const LayerShape& shape, const DeviceBuffers& dev, uint32_t b, std::vector<double>* q,
                   std::vector<double>* mean);

// --- Per-group primitives -------------------------------------------------
// The min(k, candidates) highest scores, ties toward the lower unit id, output
// ascending by unit id and padded with -1. Units scoring -inf or NaN are never
// selected (StreamingLLM scores every non-forced unit -inf).
void top_k(const float* scores, uint32_t n, uint32_t k, int32_t* units);

// LRU diff of one (b, g): units[0, k) ascending with -1 padding. Updates
// slot_unit/last_used[0, capacity), writes slots[0, k) and the copy list;
// returns the number of misses.
uint32_t lru_diff(const int32_t* units, uint32_t k, int32_t step, uint32_t capacity, int32_t* slot_unit,
                  int32_t* last_used, int32_t* slots, int32_t* copy_units, int32_t* copy_slots);

// --- Stages over the documented buffers, for batch slot b ------------------
void score(const LayerShape& shape, DeviceBuffers& dev, uint32_t b);      // -> sel.scores
void select(const LayerShape& shape, DeviceBuffers& dev, uint32_t b);     // -> sel.units (+ the group bound)
void diff(const LayerShape& shape, DeviceBuffers& dev, uint32_t b);       // -> sel.slots, copies, buf.slot_unit/last_used
void gather(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev, uint32_t b);  // -> buf.k/v
// -> io.o and io.lse (each head's log softmax denominator over the selected
// tokens, f32); also the unrounded output [Hq][Dv] when o_f32 is not null,
// and the LSE in fp64 when selected_lse ([Hq]) is not null.
void attend(const LayerShape& shape, DeviceBuffers& dev, uint32_t b, float* o_f32 = nullptr,
            double* selected_lse = nullptr);
// The step's telemetry of slot b (after attend; docs/ACCURACY.md
// "Telemetry"): per query head, the log of the softmax denominator over the
// selected tokens (-inf: none) and, when the algorithm bounds its units'
// logits, an upper bound of the attention mass outside the selection,
// U / (Z_sel + U) with U = sum over the valid unselected units of
// n_u * exp(bound_u): the true missed mass Z_rest / (Z_sel + Z_rest) grows
// with Z_rest <= U.
// The bound is the tighter of those the layer has: the group bound (from
// io.group_unselected_log_bound, which select() writes) and the per-head
// one (computed here: when the artifact carries io.unselected_log_bound,
// and on artifacts with neither, which the CPU backend can afford).
struct Telemetry {
  std::vector<double> selected_lse;       // [Hq]
  std::vector<double> missed_mass_bound;  // [Hq]; empty without a bound
};
// selected_lse: [Hq], what attend() left for slot b.
void telemetry(const LayerShape& shape, const DeviceBuffers& dev, uint32_t b, const double* selected_lse,
               Telemetry* out);
// The group bound (telemetry_contract.h) of one selection group's scores
// [0, n) as the top-k kernel computes it from its first radix pass: the
// units of every score bin (the top 11 bits of the order-preserving key)
// below the bin of the k-th largest score (k = min(K, n)), and that bin's
// units beyond the selected ones, each P tokens at its bin's top score:
// log U_g = log sum of P * exp(scale * top) plus the contract's margin; -inf
// when every unit is selected (or only -inf scores are left out), +inf when a
// left-out bin tops at +inf or NaN.
double group_log_bound(const LayerShape& shape, const float* scores, uint32_t n);
// The layer format's exported page tables (hsa/page_table_contract.h), in
// the format's order, from a selection `units` and its `slots` ([B][S][K])
// and the lengths [B] the step ran with: what the page_table kernel writes.
// Empty for the native format.
std::vector<std::vector<int32_t>> page_tables(const LayerShape& shape, const int32_t* units, const int32_t* slots,
                                              const int32_t* lengths);
// score, select, diff, gather, attend, then req.step += 1.
void decode_step(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                 float* o_f32 = nullptr);
// Token t = req.length[b] (already in the host cache, and in io.new_k/io.new_v
// row b) goes into every resident slot of its unit; the algorithm's
// representations take it; req.length += 1.
void append_token(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev, uint32_t b);
// The algorithm's representations of units [first, end) from the host cache
// (req.length bounds the last).
void build_representations(const LayerShape& shape, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                           uint32_t first_unit, uint32_t end_unit);

}  // namespace reference

class CpuBackend : public Backend {
 public:
  // profile: time each reference stage of a decode step (kernel_timings()).
  // allocator: where the host cache's memory comes from (null: aligned_alloc;
  // tests pass one that fails, to see every allocation failure handled).
  explicit CpuBackend(bool profile = false, HostAllocator* allocator = nullptr, bool telemetry = false)
      : profile_(profile), telemetry_(telemetry), host_allocator_(allocator ? allocator : &allocator_) {}
  const char* name() const override { return "cpu"; }
  HostAllocator* host_allocator() override { return host_allocator_; }
  Status memory_needs(const Artifact& artifact, const LayerShape& shape, MemoryNeeds* needs) override;
  Status prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) override;
  Status reset_slot(uint32_t slot) override;
  Status after_prefill(uint32_t slot, uint32_t old_length) override;
  Status after_append(const uint32_t* slots, size_t count, const void* new_k, const void* new_v,
                      const StepInputRows& inputs) override;
  Status decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results,
                const StepInputRows& inputs) override;
  Status selected_units(uint32_t slot, int32_t* units) override;
  Status telemetry(uint32_t slot, RequestTelemetry* out) override;
  const std::vector<KernelTiming>* kernel_timings() const override { return profile_ ? &timings_ : nullptr; }
  Status read_buffer(const std::string& name, void* dst, size_t bytes) override;
  Status write_buffer(const std::string& name, const void* src, size_t bytes) override;
  int32_t request_step(uint32_t slot) const override { return dev_->req_step[slot]; }
  std::string device_description() const override { return "host CPU (reference backend, fp64 math)"; }

  // For tests that compare stages: the buffers as the last call left them.
  const DeviceBuffers& buffers() const { return *dev_; }

 private:
  HostBuffers host_buffers() const;
  void stage_inputs(StepKind kind, const uint32_t* slots, size_t count, const StepInputRows& inputs);
  Status named_array(const std::string& name, size_t bytes, DeviceBuffers::Array** array);

  bool profile_ = false;
  std::vector<KernelTiming> timings_;
  bool telemetry_ = false;
  std::vector<reference::Telemetry> telemetry_of_;  // [B]: each slot's last step (when telemetry_)
  std::vector<int64_t> telemetry_step_;             // [B]: req.step it describes, -1 none
  AlignedHostAllocator allocator_;
  HostAllocator* host_allocator_;
  LayerShape shape_;
  HostCache* cache_ = nullptr;
  std::unique_ptr<DeviceBuffers> dev_;
};

}  // namespace hsa

#endif  // HSA_RUNTIME_CPU_BACKEND_H
