// StreamingLLM (Xiao et al., 2023): attention sinks plus a recent window. No
// representations and no scores: every step selects exactly the forced units,
// so the budget must be sinks + window (the compiler's rule too).
#include "../cpu_backend.h"
#include "algorithm.h"

#include <limits>

namespace hsa {
using namespace artifact;

namespace {

class StreamingLLM final : public AlgorithmPackage {
 public:
  const char* name() const override { return "streaming_llm"; }
  std::vector<ParamSpec> parameters() const override { return {}; }
  bool reads_key_rows() const override { return false; }  // positions only: any cache format
  Status check_layer(const LayerConfigRecord& c, const AlgorithmParams&) const override {
    if (uint64_t(c.sink_units) + c.window_units != c.budget_units)
      return Status(StatusCode::InvalidArtifact,
                    "selects only the forced units: budget_units " + std::to_string(c.budget_units) +
                        " must equal sink_units + window_units = " +
                        std::to_string(uint64_t(c.sink_units) + c.window_units));
    return Status::ok();
  }
  // Non-forced units are never selected.
  void score(const LayerShape&, const DeviceBuffers&, uint32_t, uint32_t, uint32_t first, uint32_t end,
             float* row) const override {
    for (uint32_t u = first; u < end; ++u) row[u] = -std::numeric_limits<float>::infinity();
  }
};

}  // namespace

const AlgorithmPackage& streaming_llm_package() {
  static const StreamingLLM package;
  return package;
}

}  // namespace hsa
