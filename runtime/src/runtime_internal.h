// Debug access to a Runtime's internals for the runtime's own tools (the
// stage checker, hsa-run, tests). Not part of the public API.
#ifndef HSA_RUNTIME_INTERNAL_H
#define HSA_RUNTIME_INTERNAL_H

#include "artifact.h"
#include "backend.h"
#include "host_cache.h"
#include "hsa/runtime.hpp"
#include "layer_shape.h"

namespace hsa {

struct RuntimeInternals {
  // All but require_loaded need a loaded artifact (check require_loaded first).
  static Status require_loaded(const Runtime& rt);
  static Backend& backend(Runtime& rt);
  static const LayerShape& shape(const Runtime& rt);
  static const Artifact& artifact(const Runtime& rt);
  static const HostCache& cache(const Runtime& rt);
  static Status slot_of(const Runtime& rt, RequestId id, uint32_t* slot);
};

}  // namespace hsa

#endif  // HSA_RUNTIME_INTERNAL_H
