// Debug access to a Runtime's internals for the runtime's own tools (the
// stage checker, hsa-run, tests). Not part of the public API.
#ifndef HSA_RUNTIME_INTERNAL_H
#define HSA_RUNTIME_INTERNAL_H

#include "artifact.h"
#include "backend.h"
#include "host_cache.h"
#include "hsa/runtime.hpp"
#include "layer_shape.h"
#include "memory_limits.h"

namespace hsa {

struct RuntimeInternals {
  // Runtime::create with a given backend instead of the one options.backend
  // names (tests: a CPU backend with a failing host allocator, a CUDA backend
  // over a fake driver table).
  static Status create(const RuntimeOptions& options, std::unique_ptr<Backend> backend, std::unique_ptr<Runtime>* out);
  // All but require_loaded need a loaded artifact (check require_loaded first).
  static Status require_loaded(const Runtime& rt);
  static Backend& backend(Runtime& rt);
  static const LayerShape& shape(const Runtime& rt);
  static const Artifact& artifact(const Runtime& rt);
  static const HostCache& cache(const Runtime& rt);
  // What the loaded instance allocated (host and device buffers), as checked at load.
  static const MemoryNeeds& memory_needs(const Runtime& rt);
  static Status slot_of(const Runtime& rt, RequestId id, uint32_t* slot);
  // The request length the slot's last prefill left (0 for none).
  static uint32_t prefill_length(const Runtime& rt, uint32_t slot);

  // For ModelRuntime: before load, the page pool the layers share and the
  // host bytes the other layers hold; after load, a request with a given id
  // in a given (free) slot, so that a request has one slot in every layer.
  static void share_pool(Runtime& rt, std::shared_ptr<PagePool> pool, uint64_t host_bytes_elsewhere);
  static Status create_request_as(Runtime& rt, RequestId id, uint32_t slot);
};

}  // namespace hsa

#endif  // HSA_RUNTIME_INTERNAL_H
