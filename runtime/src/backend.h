// The interface between the runtime front end (requests, validation,
// accounting) and an execution backend (CPU reference or CUDA).
#ifndef HSA_RUNTIME_BACKEND_H
#define HSA_RUNTIME_BACKEND_H

#include <cstddef>
#include <cstdint>

#include <string>
#include <vector>

#include "artifact.h"
#include "hsa/runtime.hpp"
#include "host_cache.h"
#include "layer_shape.h"
#include "memory_limits.h"

namespace hsa {

// What one decode step did for one batch slot (summed over its groups).
struct SlotStepResult {
  uint64_t units_selected = 0;
  uint64_t misses = 0;
};

// The rows of a call's algorithm step inputs of one kind (LayerShape::
// step_inputs of that kind, in that order), as the runtime validated them:
// host calls [count][row] in call order, device calls slot-indexed [B][row]
// device memory, prefill [tokens][row].
using StepInputRows = std::vector<const void*>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual HostAllocator* host_allocator() = 0;
  // Adds to `needs` what prepare() would allocate for this instance, without
  // allocating: the backend's own host memory (beyond the host cache, which
  // the runtime counts) and its device memory with what the device has free.
  // The runtime refuses an instance that does not fit before creating anything.
  virtual Status memory_needs(const Artifact& artifact, const LayerShape& shape, MemoryNeeds* needs) = 0;
  // Called once, after the host cache exists; the backend sets up its buffers.
  virtual Status prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) = 0;
  // The slot was just given to a new request or released: back to the empty state.
  virtual Status reset_slot(uint32_t slot) = 0;
  // Tokens [old_length, cache length) of `slot` were just written to the host
  // cache: rebuild the representations of the units they touch and drop
  // resident copies of those units.
  virtual Status after_prefill(uint32_t slot, uint32_t old_length) = 0;
  // One token per slot was just written to the host cache; new_k is
  // [count][Hkv][key row], new_v [count][Hkv][Dv] (null when V is part of
  // K), in the stored format (LayerShape::key_row_bytes per head).
  // `inputs`: the append inputs' rows, which the pooled ones already in the host cache.
  virtual Status after_append(const uint32_t* slots, size_t count, const void* new_k, const void* new_v,
                              const StepInputRows& inputs) = 0;
  // One decode step for the listed slots; q is [count][Hq][D], o [count][Hq][Dv].
  virtual Status decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o,
                        SlotStepResult* results, const StepInputRows& inputs) = 0;
  // sel.units of the slot's last step: [S][K], -1 padded.
  virtual Status selected_units(uint32_t slot, int32_t* units) = 0;
  // The telemetry of slot's last step (RuntimeOptions::telemetry).
  virtual Status telemetry(uint32_t slot, RequestTelemetry* out) {
    return Status(StatusCode::Unsupported, std::string("the ") + name() + " backend computes no telemetry");
  }
  // --- Device API (Runtime::begin_step; the CUDA backend) ------------------
  // Stages this step's lengths and steps for `slots` (the host cache already
  // counts an appended token) and uploads them on `stream`; the launches of
  // enqueue_device_* read them from device memory.
  virtual Status begin_device_step(const uint32_t* slots, size_t count, bool append, void* stream) {
    return unsupported_device_api();
  }
  // The append / decode plans on `stream` over the caller's device tensors
  // (slot-indexed: new_k [B][Hkv][D], new_v [B][Hkv][Dv], q [B][Hq][D],
  // o [B][Hq][Dv], lse [B][Hq] f32 or null); kernels only, capturable.
  virtual Status enqueue_device_append(const void* new_k, const void* new_v, void* stream,
                                       const StepInputRows& inputs) {
    return unsupported_device_api();
  }
  virtual Status enqueue_device_decode(const void* q, void* o, float* lse, void* stream,
                                       const StepInputRows& inputs) {
    return unsupported_device_api();
  }
  // Tokens [first, first + tokens) of `slot`, whose pages the host cache
  // already holds, from device memory k [tokens][Hkv][D] and v
  // [tokens][Hkv][Dv] (null when V is part of K) into the host pool, on
  // `stream` by the copy engine: enqueued only, no host synchronisation.
  // `inputs`: the pooled append inputs' rows [tokens][row] in device
  // memory, into their host pools the same way.
  virtual Status enqueue_device_prefill(uint32_t slot, uint32_t first, uint32_t tokens, const void* k,
                                        const void* v, void* stream, const StepInputRows& inputs) {
    return unsupported_device_api();
  }
  // The step report (Runtime::enqueue_step_report): pinned copies of the
  // last step's counters and telemetry rows, enqueued on `stream`, read
  // without waiting once step_report_ready says the stream got there.
  virtual Status enqueue_step_report(void* stream) { return unsupported_device_api(); }
  virtual Status step_report_ready(bool* ready) { return unsupported_device_api(); }
  virtual Status step_report_results(const uint32_t* slots, size_t count, SlotStepResult* results) {
    return unsupported_device_api();
  }
  virtual Status step_report_telemetry(uint32_t slot, RequestTelemetry* out) { return unsupported_device_api(); }
  // What the slots' last device step did; waits for the device.
  virtual Status device_step_results(const uint32_t* slots, size_t count, SlotStepResult* results) {
    return unsupported_device_api();
  }
  // The device address and size of a device-tier buffer of the artifact, for
  // Runtime::external_attention (NotFound for names it does not hold).
  virtual Status device_buffer_address(const std::string& name, uint64_t* address, uint64_t* bytes) const {
    return unsupported_device_api();
  }
  // Waits for device-API work still in flight (before the host changes a
  // slot's pages or rows). Ok when there is none.
  virtual Status drain_device_work() { return Status::ok(); }

  // Per-launch times of the last decode step, when the backend measures them.
  virtual const std::vector<KernelTiming>* kernel_timings() const { return nullptr; }

  // --- Debug access (stage checker, GPU tests; not in the public API) -------
  // Copies a whole device-tier buffer of the artifact (docs/BUFFERS.md name or
  // a free-form one) to / from host memory, synchronously. `bytes` must be the
  // buffer's size. NotFound for names the backend does not hold (the CPU
  // backend holds only the documented buffers), InvalidArgument for host-tier
  // names and wrong sizes.
  virtual Status read_buffer(const std::string& name, void* dst, size_t bytes) = 0;
  virtual Status write_buffer(const std::string& name, const void* src, size_t bytes) = 0;
  // The req.step value the slot's next decode step uses (runtime-owned state:
  // the CUDA backend uploads it before every plan, so the device copy may lag).
  virtual int32_t request_step(uint32_t slot) const = 0;
  // For people: "host CPU (reference backend, fp64 math)",
  // "NVIDIA H200 (device 0, sm_90, 139.8 GiB)", ...
  virtual std::string device_description() const = 0;
  // Device time of the last decode step (uploads, plan, downloads) in ms,
  // measured with events; < 0 when the backend does not measure it.
  virtual double last_step_device_ms() const { return -1.0; }

 protected:
  Status unsupported_device_api() const {
    return Status(StatusCode::Unsupported, std::string("the ") + name() +
                                               " backend has no device API (device tensors, streams): use the CUDA "
                                               "backend, or the host-memory calls (append, decode_step)");
  }
};

}  // namespace hsa

#endif  // HSA_RUNTIME_BACKEND_H
