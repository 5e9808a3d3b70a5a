// DSA (DeepSeek-V3.2's sparse attention, docs/algorithms/dsa.md): the
// lightning indexer scores every token of a request with learned indexer
// keys, and the top-k tokens are attended with MLA. Representations: each
// token's key quantised to e4m3 with a power-of-two scale by V3.2's rule
// (repr.index_keys [B][N][Di], repr.index_scales [B][N] f32; bf16 keys keep
// their values, scale 1). The caller's bf16 keys stay in the host pool
// (host.index_k [PoolPages][P][Di]), beside the latent rows, so a prompt's
// representations are rebuilt from there as Quest's are from host.k. The
// step's own inputs: the indexer queries io.index_q [B][Hi][Di] and head
// weights io.index_w [B][Hi] f32 (decode), the new token's key
// io.new_index_k [B][Di] bf16 (append, and prefill per token).
#include <cmath>
#include <cstring>
#include <limits>

#include "../cpu_backend.h"
#include "../fp8.h"
#include "../half.h"
#include "../text_format.h"
#include "algorithm.h"

namespace hsa {
using namespace artifact;

namespace {

constexpr const char* kIndexKeys = "repr.index_keys";
constexpr const char* kIndexScales = "repr.index_scales";
constexpr const char* kHostIndexKeys = "host.index_k";
constexpr const char* kIndexQueries = "io.index_q";
constexpr const char* kIndexWeights = "io.index_w";
constexpr const char* kNewIndexKey = "io.new_index_k";

bool is_fp8(const LayerShape& s) { return s.params.text("index_dtype") == "f8E4M3FN"; }

// The score bound of fp8 keys: Hopper's fp8 tensor cores (wgmma e4m3) add
// the products of a k-step with about 14 significant bits and truncate
// (DeepSeek-V3's report, 3.3.2: "around 14 bits"; the H200 scores of hsa's
// wgmma kernel sit 1.0-1.4e-4 of the row's largest below the fp64
// reference, always below), so 2^-11 of the row's largest. That still
// catches any layout, scale or head error, which are O(1). bf16 keys (CUDA
// cores, fp32 FMAs) keep the default.
constexpr double kFp8ScoreTolerance = 1.0 / 2048;

ElementType index_type(const AlgorithmParams& p) {
  return p.text("index_dtype") == "f8E4M3FN" ? ElementType::F8E4M3FN : ElementType::BF16;
}

// The stored key of one token from its bf16 row: codes and scale (fp8), or
// the row itself with scale 1 (bf16).
void quantize_key(const LayerShape& s, const uint16_t* bf16_row, uint8_t* key, float* scale) {
  const uint32_t Di = uint32_t(s.params.integer("index_dim"));
  if (!is_fp8(s)) {
    std::memcpy(key, bf16_row, Di * sizeof(uint16_t));
    *scale = 1.0f;
    return;
  }
  std::vector<float> x(Di);
  for (uint32_t d = 0; d < Di; ++d) x[d] = bf16_to_float(bf16_row[d]);
  *scale = fp8::quantize_row(x.data(), Di, key);
}

float index_value(const uint8_t* row, uint32_t d, bool fp8_values) {
  if (fp8_values) return fp8::e4m3_to_float(row[d]);
  uint16_t v;
  std::memcpy(&v, row + 2 * d, 2);
  return bf16_to_float(v);
}

class DSA final : public AlgorithmPackage {
 public:
  const char* name() const override { return "dsa"; }
  // Scores come from the indexer keys (host.index_k): the latent rows may be fp8.
  bool reads_key_rows() const override { return false; }
  std::vector<ParamSpec> parameters() const override {
    return {ParamSpec::integer("index_heads", 1, 1024), ParamSpec::integer("index_dim", 16, 4096),
            ParamSpec::choice("index_dtype", {"f8E4M3FN", "bf16"})};
  }
  Status check_layer(const LayerConfigRecord& c, const AlgorithmParams& p) const override {
    if (p.integer("index_dim") % 16 != 0)
      return Status(StatusCode::InvalidArtifact,
                    "index_dim must be a multiple of 16, got " + std::to_string(p.integer("index_dim")));
    if (c.page_size != 1)
      return Status(StatusCode::InvalidArtifact,
                    "selects single tokens: page_size must be 1, got " + std::to_string(c.page_size));
    if ((c.flags & kLayerFlagValueIsKeyPrefix) == 0 || c.num_kv_heads != 1)
      return Status(StatusCode::InvalidArtifact, "needs a latent (MLA) layer: one KV head whose V is a prefix of K");
    return Status::ok();
  }
  std::vector<DocumentedBuffer> buffers(const LayerConfigRecord&, const AlgorithmParams& p) const override {
    const Expr B = Expr::sym(Symbol::Batch), N = Expr::sym(Symbol::MaxUnits);
    const Expr Hi = Expr::constant(p.integer("index_heads")), Di = Expr::constant(p.integer("index_dim"));
    const ElementType index = index_type(p);
    return {{kIndexKeys, Tier::Device, index, BufferScope::PerBatchSlot, {B, N, Di}, 0},
            {kIndexScales, Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, N}, 0},
            {kHostIndexKeys, Tier::Host, ElementType::BF16, BufferScope::Global,
             {Expr::sym(Symbol::PoolPages), Expr::sym(Symbol::PageSize), Di}, 0},
            {kIndexQueries, Tier::Device, index, BufferScope::PerBatchSlot, {B, Hi, Di}, 0},
            {kIndexWeights, Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, Hi}, 0},
            {kNewIndexKey, Tier::Device, ElementType::BF16, BufferScope::PerBatchSlot, {B, Di}, 0}};
  }
  std::vector<StepInputSpec> step_inputs(const LayerConfigRecord&, const AlgorithmParams&) const override {
    return {{kIndexQueries, StepKind::Decode}, {kIndexWeights, StepKind::Decode},
            {kNewIndexKey, StepKind::Append, kHostIndexKeys}};
  }

  // A stand-in for the trained indexer: the keys are the first Di latent
  // dims of each token's key, index head j's query the first Di dims of
  // query head j * Hq / Hi (fp8: quantised by the keys' rule, its scale
  // folded into the weight), the weights 1 / Hi: the score then tracks the
  // attention logits' leading part, so a synthetic run's selection quality
  // means something.
  bool synthesize_step_inputs(const LayerShape& s, StepKind kind, const uint16_t* tensor, uint64_t count,
                              std::vector<std::vector<uint8_t>>* rows) const override {
    const uint32_t Hi = uint32_t(s.params.integer("index_heads")), Di = uint32_t(s.params.integer("index_dim"));
    if (Di > s.head_dim || s.dtype == KvDtype::F16) return false;  // bf16 rows (an Fp8Latent layer's before quantisation)
    rows->clear();
    if (kind == StepKind::Append) {  // io.new_index_k [count][Di] bf16
      rows->emplace_back(count * Di * 2);
      for (uint64_t t = 0; t < count; ++t)
        std::memcpy(rows->back().data() + t * Di * 2, tensor + t * s.kv_heads * s.head_dim, Di * 2);
      return true;
    }
    const bool fp8_values = is_fp8(s);
    rows->emplace_back(count * Hi * Di * (fp8_values ? 1 : 2));  // io.index_q
    rows->emplace_back(count * Hi * 4);                           // io.index_w
    std::vector<float> x(Di);
    for (uint64_t b = 0; b < count; ++b)
      for (uint32_t j = 0; j < Hi; ++j) {
        const uint16_t* q = tensor + (b * s.q_heads + uint64_t(j) * s.q_heads / Hi) * s.head_dim;
        float scale = 1.0f;
        if (fp8_values) {
          for (uint32_t d = 0; d < Di; ++d) x[d] = bf16_to_float(q[d]);
          scale = fp8::quantize_row(x.data(), Di, (*rows)[0].data() + (b * Hi + j) * Di);
        } else {
          std::memcpy((*rows)[0].data() + (b * Hi + j) * Di * 2, q, Di * 2);
        }
        const float w = scale / float(Hi);
        std::memcpy((*rows)[1].data() + (b * Hi + j) * 4, &w, 4);
      }
    return true;
  }

  // s[t] = k_scale[t] * sum_j max(0, qI[j] . kI[t]) * w[j], in double over
  // the exactly decoded values (fp8::index_score's arithmetic).
  void score(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, uint32_t, uint32_t first, uint32_t end,
             float* row) const override {
    const uint32_t Hi = uint32_t(s.params.integer("index_heads")), Di = uint32_t(s.params.integer("index_dim"));
    const bool fp8_values = is_fp8(s);
    const uint32_t value_bytes = fp8_values ? 1 : 2;
    const uint8_t* queries = static_cast<const uint8_t*>(dev.find(kIndexQueries)->data()) +
                             uint64_t(b) * Hi * Di * value_bytes;
    const float* w = static_cast<const float*>(dev.find(kIndexWeights)->data()) + uint64_t(b) * Hi;
    const uint8_t* keys = static_cast<const uint8_t*>(dev.find(kIndexKeys)->data());
    const float* scales = static_cast<const float*>(dev.find(kIndexScales)->data());
    std::vector<double> q(uint64_t(Hi) * Di);
    for (uint32_t j = 0; j < Hi; ++j)
      for (uint32_t d = 0; d < Di; ++d) q[uint64_t(j) * Di + d] = index_value(queries + uint64_t(j) * Di * value_bytes, d, fp8_values);
    std::vector<double> k(Di);
    for (uint32_t t = first; t < end; ++t) {
      const uint64_t token = uint64_t(b) * s.max_units + t;
      const uint8_t* key = keys + token * Di * value_bytes;
      for (uint32_t d = 0; d < Di; ++d) k[d] = index_value(key, d, fp8_values);
      double sum = 0.0;
      for (uint32_t j = 0; j < Hi; ++j) {
        double dot = 0.0;
        for (uint32_t d = 0; d < Di; ++d) dot += q[uint64_t(j) * Di + d] * k[d];
        if (dot > 0.0) sum += dot * double(w[j]);
      }
      row[t] = float(double(scales[token]) * sum);
    }
  }

  // Prefill: the tokens of units [first, end) from their bf16 rows in the host pool.
  void build_representations(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                             uint32_t first_unit, uint32_t end_unit) const override {
    const uint32_t Di = uint32_t(s.params.integer("index_dim")), P = s.page_size;
    const uint16_t* pool = static_cast<const uint16_t*>(host.pool_rows(kHostIndexKeys));
    const uint64_t length = uint64_t(std::max(dev.req_length[b], 0));
    for (uint64_t t = uint64_t(first_unit) * P; t < std::min<uint64_t>(uint64_t(end_unit) * P, length); ++t) {
      const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + t / P]);
      store(s, dev, b, uint32_t(t), pool + (page * P + t % P) * Di);
    }
  }

  void append(const LayerShape& s, const HostBuffers&, DeviceBuffers& dev, uint32_t b) const override {
    const uint32_t Di = uint32_t(s.params.integer("index_dim"));
    const uint16_t* row = static_cast<const uint16_t*>(dev.find(kNewIndexKey)->data()) + uint64_t(b) * Di;
    store(s, dev, b, uint32_t(dev.req_length[b]), row);
  }

  double score_tolerance(const LayerShape& s) const override {
    return is_fp8(s) ? kFp8ScoreTolerance : kDefaultScoreTolerance;
  }

  // Quantisation is exact arithmetic: codes and scales equal bit for bit.
  // Every token the first time, then the last two (what appends change).
  void check_representations(const LayerShape& s, const HostBuffers&, const DeviceBuffers& device,
                             const DeviceBuffers& model, uint32_t b, uint32_t, bool full,
                             ReprCheckResult* result) const override {
    const uint32_t Di = uint32_t(s.params.integer("index_dim"));
    const uint32_t value_bytes = is_fp8(s) ? 1 : 2;
    const uint32_t n = uint32_t(std::max(model.req_length[b], 0));
    const uint32_t first = full ? 0 : (n > 2 ? n - 2 : 0);
    const uint8_t* dev_keys = static_cast<const uint8_t*>(device.find(kIndexKeys)->data());
    const uint8_t* ref_keys = static_cast<const uint8_t*>(model.find(kIndexKeys)->data());
    const uint32_t* dev_scales = static_cast<const uint32_t*>(device.find(kIndexScales)->data());
    const uint32_t* ref_scales = static_cast<const uint32_t*>(model.find(kIndexScales)->data());
    for (uint32_t t = first; t < n; ++t) {
      const uint64_t token = uint64_t(b) * s.max_units + t;
      result->compared += Di + 1;
      if (dev_scales[token] != ref_scales[token]) {
        float d, r;
        std::memcpy(&d, &dev_scales[token], 4);
        std::memcpy(&r, &ref_scales[token], 4);
        result->mismatch(format_text("%s[%u][token %u]: expected %.9g (reference from host.index_k, %d tokens), "
                                     "actual %.9g (device, before the step)",
                                     kIndexScales, b, t, double(r), model.req_length[b], double(d)));
        continue;
      }
      const uint64_t at = token * Di * value_bytes;
      for (uint32_t d = 0; d < Di * value_bytes; ++d)
        if (dev_keys[at + d] != ref_keys[at + d]) {
          result->mismatch(format_text("%s[%u][token %u] byte %u: expected 0x%02x (reference), actual 0x%02x (device)",
                                       kIndexKeys, b, t, d, ref_keys[at + d], dev_keys[at + d]));
          break;
        }
    }
  }

 private:
  void store(const LayerShape& s, DeviceBuffers& dev, uint32_t b, uint32_t t, const uint16_t* bf16_row) const {
    const uint32_t Di = uint32_t(s.params.integer("index_dim"));
    const uint64_t token = uint64_t(b) * s.max_units + t;
    uint8_t* keys = static_cast<uint8_t*>(dev.find(kIndexKeys)->data());
    float* scales = static_cast<float*>(dev.find(kIndexScales)->data());
    quantize_key(s, bf16_row, keys + token * Di * (is_fp8(s) ? 1 : 2), &scales[token]);
  }
};

}  // namespace

const AlgorithmPackage& dsa_package() {
  static const DSA package;
  return package;
}

}  // namespace hsa
