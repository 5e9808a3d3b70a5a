// Quest (Tang et al., 2024): per unit and KV head the element-wise min and max
// of its keys (repr.kmin, repr.kmax, [B][Hkv][N][D] of the KV dtype); a unit
// scores the upper bound sum_d max(q_d * kmin_d, q_d * kmax_d) of q . k over
// its tokens, combined over the group's query heads by `combine` (BRIEF.md:
// max of the per-head bounds, their sum, or the bound of each KV head's mean
// query summed over the group's KV heads).
#include <algorithm>
#include <cmath>
#include <limits>

#include "../cpu_backend.h"
#include "../half.h"
#include "../text_format.h"
#include "algorithm.h"

namespace hsa {
using namespace artifact;

namespace {

uint64_t repr_offset(const LayerShape& s, uint32_t b, uint32_t kv_head, uint32_t u) {
  return ((uint64_t(b) * s.kv_heads + kv_head) * s.max_units + u) * s.head_dim;
}

double bound(const double* q, const uint16_t* kmin, const uint16_t* kmax, uint32_t dim, KvDtype dtype) {
  double sum = 0.0;
  for (uint32_t d = 0; d < dim; ++d) {
    const double lo = q[d] * kv_to_float(kmin[d], dtype), hi = q[d] * kv_to_float(kmax[d], dtype);
    sum += lo > hi ? lo : hi;
  }
  return sum;
}

class Quest final : public AlgorithmPackage {
 public:
  const char* name() const override { return "quest"; }
  std::vector<ParamSpec> parameters() const override {
    return {ParamSpec::choice("combine", {"max", "sum", "mean_query"})};
  }
  std::vector<DocumentedBuffer> buffers(const LayerConfigRecord& cfg, const AlgorithmParams&) const override {
    const std::vector<Expr> dims = {Expr::sym(Symbol::Batch), Expr::sym(Symbol::KvHeads), Expr::sym(Symbol::MaxUnits),
                                    Expr::sym(Symbol::HeadDim)};
    const ElementType kv = kv_element_type(cfg);
    return {{"repr.kmin", Tier::Device, kv, BufferScope::PerBatchSlot, dims, 0},
            {"repr.kmax", Tier::Device, kv, BufferScope::PerBatchSlot, dims, 0}};
  }

  void score(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, uint32_t g, uint32_t first, uint32_t end,
             float* row) const override {
    const std::string& combine = s.params.text("combine");
    const bool max = combine == "max", mean_query = combine == "mean_query";
    const uint32_t D = s.head_dim, Gq = s.group_size;
    const BufferView<uint16_t> kmin = dev.view<uint16_t>("repr.kmin"), kmax = dev.view<uint16_t>("repr.kmax");
    // The group's queries in double, and each KV head's mean query.
    std::vector<double> q, mean;
    reference::group_queries(s, dev, b, &q, &mean);
    for (uint32_t u = first; u < end; ++u) {
      double combined = max ? -std::numeric_limits<double>::infinity() : 0.0;
      for (uint32_t j = 0; j < s.heads_per_unit; ++j) {
        const uint32_t kv_head = g * s.heads_per_unit + j;
        const uint16_t* lo = &kmin[repr_offset(s, b, kv_head, u)];
        const uint16_t* hi = &kmax[repr_offset(s, b, kv_head, u)];
        if (mean_query) {
          combined += bound(&mean[uint64_t(kv_head) * D], lo, hi, D, s.dtype);
          continue;
        }
        for (uint32_t h = kv_head * Gq; h < (kv_head + 1) * Gq; ++h) {
          const double head = bound(&q[uint64_t(h) * D], lo, hi, D, s.dtype);
          combined = max ? std::max(combined, head) : combined + head;
        }
      }
      row[u] = float(combined);
    }
  }

  // Each unit's score for one head is already a bound of its tokens' q . k
  // (min/max per dimension contain every key): the telemetry's bound.
  bool bounds_unselected_logits() const override { return true; }
  // `max` keeps the largest head bound, a bound of every head's logits.
  bool scores_bound_group_logits(const LayerShape& s) const override {
    return s.params.text("combine") == "max" && s.scale > 0.0f;
  }
  bool logit_upper_bounds(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, uint32_t h, uint32_t units,
                          double* out) const override {
    const uint32_t D = s.head_dim, kv_head = h / s.group_size;
    const BufferView<uint16_t> kmin = dev.view<uint16_t>("repr.kmin"), kmax = dev.view<uint16_t>("repr.kmax");
    std::vector<double> q(D);
    for (uint32_t d = 0; d < D; ++d) q[d] = kv_to_float(dev.io_q[(uint64_t(b) * s.q_heads + h) * D + d], s.dtype);
    for (uint32_t u = 0; u < units; ++u)
      out[u] = double(s.scale) * bound(q.data(), &kmin[repr_offset(s, b, kv_head, u)],
                                      &kmax[repr_offset(s, b, kv_head, u)], D, s.dtype);
    return true;
  }

  void build_representations(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                             uint32_t first_unit, uint32_t end_unit) const override {
    const uint32_t D = s.head_dim, P = s.page_size;
    const BufferView<uint16_t> kmin = dev.view<uint16_t>("repr.kmin"), kmax = dev.view<uint16_t>("repr.kmax");
    const uint64_t length = uint64_t(dev.req_length[b]);
    for (uint32_t u = first_unit; u < end_unit && uint64_t(u) * P < length; ++u) {
      const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + u]);
      const uint32_t tokens = uint32_t(std::min<uint64_t>(P, length - uint64_t(u) * P));
      for (uint32_t kv_head = 0; kv_head < s.kv_heads; ++kv_head) {
        uint16_t* lo = &kmin[repr_offset(s, b, kv_head, u)];
        uint16_t* hi = &kmax[repr_offset(s, b, kv_head, u)];
        const uint16_t* keys = host.k + (page * s.kv_heads + kv_head) * P * D;
        for (uint32_t d = 0; d < D; ++d) {
          lo[d] = hi[d] = keys[d];
          for (uint32_t p = 1; p < tokens; ++p) {
            const uint16_t key = keys[uint64_t(p) * D + d];
            const float x = kv_to_float(key, s.dtype);
            if (x < kv_to_float(lo[d], s.dtype)) lo[d] = key;
            if (x > kv_to_float(hi[d], s.dtype)) hi[d] = key;
          }
        }
      }
    }
  }

  void append(const LayerShape& s, const HostBuffers&, DeviceBuffers& dev, uint32_t b) const override {
    const uint32_t t = uint32_t(dev.req_length[b]), u = t / s.page_size, p = t % s.page_size, D = s.head_dim;
    const BufferView<uint16_t> kmin = dev.view<uint16_t>("repr.kmin"), kmax = dev.view<uint16_t>("repr.kmax");
    for (uint32_t kv_head = 0; kv_head < s.kv_heads; ++kv_head) {
      const uint16_t* key = &dev.io_new_k[(uint64_t(b) * s.kv_heads + kv_head) * D];
      uint16_t* lo = &kmin[repr_offset(s, b, kv_head, u)];
      uint16_t* hi = &kmax[repr_offset(s, b, kv_head, u)];
      for (uint32_t d = 0; d < D; ++d) {
        const float x = kv_to_float(key[d], s.dtype);
        if (p == 0 || x < kv_to_float(lo[d], s.dtype)) lo[d] = key[d];
        if (p == 0 || x > kv_to_float(hi[d], s.dtype)) hi[d] = key[d];
      }
    }
  }

  // Min and max of KV-dtype values are exact: equal values. All units the
  // first time, then the last two (the only ones appends change).
  void check_representations(const LayerShape& s, const HostBuffers&, const DeviceBuffers& device,
                             const DeviceBuffers& model, uint32_t b, uint32_t, bool full,
                             ReprCheckResult* result) const override {
    const uint32_t n = reference::unit_count(s, model.req_length[b]);
    const uint32_t first = full ? 0 : (n > 2 ? n - 2 : 0);
    for (const char* name : {"repr.kmin", "repr.kmax"}) {
      const BufferView<uint16_t> dev = device.view<uint16_t>(name), ref = model.view<uint16_t>(name);
      for (uint32_t kv_head = 0; kv_head < s.kv_heads; ++kv_head)
        for (uint32_t u = first; u < n; ++u) {
          const uint64_t at = repr_offset(s, b, kv_head, u);
          result->compared += s.head_dim;
          for (uint32_t d = 0; d < s.head_dim; ++d)
            if (!(kv_to_float(dev[at + d], s.dtype) == kv_to_float(ref[at + d], s.dtype))) {
              result->mismatch(format_text(
                  "%s[%u][kv head %u][unit %u][dim %u]: expected 0x%04x = %.9g (reference from the host pool, %d "
                  "tokens), actual 0x%04x = %.9g (device, before the step)",
                  name, b, kv_head, u, d, ref[at + d], kv_to_float(ref[at + d], s.dtype), model.req_length[b],
                  dev[at + d], kv_to_float(dev[at + d], s.dtype)));
              break;
            }
        }
    }
  }
};

}  // namespace

const AlgorithmPackage& quest_package() {
  static const Quest package;
  return package;
}

}  // namespace hsa
