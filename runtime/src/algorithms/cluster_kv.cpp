// ClusterKV (Liu et al., 2024): cosine k-means of each request's keys per KV
// head; a token scores as its cluster's centroid. The contract, which this
// reference implements exactly (fp64 math), and how a device is checked
// against it: docs/algorithms/cluster_kv.md.
#include <algorithm>
#include <cmath>
#include <limits>

#include "../cpu_backend.h"
#include "../half.h"
#include "../parallel.h"
#include "../text_format.h"
#include "algorithm.h"

namespace hsa {
using namespace artifact;

namespace {

struct Params {
  uint32_t clusters, iterations, every, new_clusters, max_clusters;
  std::string combine;
  explicit Params(const AlgorithmParams& p)
      : clusters(uint32_t(p.integer("clusters"))),
        iterations(uint32_t(p.integer("iterations"))),
        every(uint32_t(p.integer("recluster_every"))),
        new_clusters(uint32_t(p.integer("new_clusters"))),
        max_clusters(uint32_t(p.integer("max_clusters"))),
        combine(p.text("combine")) {}
};

// Views of one slot's representations.
struct Repr {
  BufferView<float> centroids;     // [B][Hkv][Cmax][D]
  BufferView<int32_t> cluster_of;  // [B][Hkv][N*P]
  BufferView<int32_t> state;       // [B][2]: count, seg
  explicit Repr(const DeviceBuffers& dev)
      : centroids(dev.view<float>("repr.centroids")),
        cluster_of(dev.view<int32_t>("repr.cluster_of")),
        state(dev.view<int32_t>("repr.cluster_state")) {}
};

uint32_t sink_tokens(const LayerShape& s) { return uint32_t(std::min<uint64_t>(uint64_t(s.sinks) * s.page_size, UINT32_MAX)); }

uint64_t centroid_at(const LayerShape& s, uint32_t cmax, uint32_t b, uint32_t h, uint32_t c) {
  return ((uint64_t(b) * s.kv_heads + h) * cmax + c) * s.head_dim;
}
uint64_t token_at(const LayerShape& s, uint32_t b, uint32_t h, uint32_t t) {
  return (uint64_t(b) * s.kv_heads + h) * s.max_tokens() + t;
}

// Key t of KV head h of slot b, widened.
void load_key(const LayerShape& s, const HostBuffers& host, uint32_t b, uint32_t h, uint32_t t, double* out) {
  const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + t / s.page_size]);
  const uint16_t* key = host.k + ((page * s.kv_heads + h) * s.page_size + t % s.page_size) * s.head_dim;
  for (uint32_t d = 0; d < s.head_dim; ++d) out[d] = kv_to_float(key[d], s.dtype);
}

double dot(const double* a, const double* b, uint32_t n) {
  double sum = 0.0;
  for (uint32_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// sqrt(max(c_i . c_i, 1e-30)) of m centroids: the denominators of nearest().
std::vector<double> centroid_norms(const double* centroids, uint32_t m, uint32_t dim) {
  std::vector<double> norms(m);
  for (uint32_t i = 0; i < m; ++i) {
    const double* c = centroids + uint64_t(i) * dim;
    norms[i] = std::sqrt(std::max(dot(c, c, dim), 1e-30));
  }
  return norms;
}

// argmax_i (k . c_i) / norms[i] over m centroids; ties to the lower i.
uint32_t nearest(const double* key, const double* centroids, const double* norms, uint32_t m, uint32_t dim) {
  uint32_t best = 0;
  double best_sim = -std::numeric_limits<double>::infinity();
  for (uint32_t i = 0; i < m; ++i) {
    const double sim = dot(key, centroids + uint64_t(i) * dim, dim) / norms[i];
    if (sim > best_sim) best_sim = sim, best = i;
  }
  return best;
}

uint32_t nearest(const double* key, const double* centroids, uint32_t m, uint32_t dim) {
  return nearest(key, centroids, centroid_norms(centroids, m, dim).data(), m, dim);
}

// The contract's kmeans(b, h, [t0, t1), M, base); returns m.
uint32_t kmeans(const LayerShape& s, const Params& p, const HostBuffers& host, Repr& r, uint32_t b, uint32_t h,
                uint32_t t0, uint32_t t1, uint32_t M, uint32_t base) {
  const uint32_t n = t1 > t0 ? t1 - t0 : 0, m = std::min(M, n), D = s.head_dim;
  if (m == 0) return 0;
  std::vector<double> keys(uint64_t(n) * D), c(uint64_t(m) * D), sums(uint64_t(m) * D);
  std::vector<uint32_t> assign(n), sizes(m);
  for (uint32_t t = 0; t < n; ++t) load_key(s, host, b, h, t0 + t, &keys[uint64_t(t) * D]);
  for (uint32_t i = 0; i < m; ++i)
    std::copy_n(&keys[(uint64_t(i) * n / m) * D], D, &c[uint64_t(i) * D]);
  // Each token's nearest centroid is independent of the others': the split
  // over threads cannot change the result.
  auto assign_all = [&] {
    const std::vector<double> norms = centroid_norms(c.data(), m, D);
    parallel_for(n, uint64_t(m) * D, [&](uint64_t begin, uint64_t end) {
      for (uint64_t t = begin; t < end; ++t) assign[t] = nearest(&keys[t * D], c.data(), norms.data(), m, D);
    });
  };
  for (uint32_t it = 0; it < p.iterations; ++it) {
    assign_all();
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(sizes.begin(), sizes.end(), 0u);
    for (uint32_t t = 0; t < n; ++t) {
      sizes[assign[t]] += 1;
      for (uint32_t d = 0; d < D; ++d) sums[uint64_t(assign[t]) * D + d] += keys[uint64_t(t) * D + d];
    }
    for (uint32_t i = 0; i < m; ++i)
      if (sizes[i] > 0)
        for (uint32_t d = 0; d < D; ++d) c[uint64_t(i) * D + d] = sums[uint64_t(i) * D + d] / sizes[i];
  }
  assign_all();
  for (uint32_t i = 0; i < m; ++i)
    for (uint32_t d = 0; d < D; ++d)
      r.centroids[centroid_at(s, p.max_clusters, b, h, base + i) + d] = float(c[uint64_t(i) * D + d]);
  for (uint32_t t = 0; t < n; ++t) r.cluster_of[token_at(s, b, h, t0 + t)] = int32_t(base + assign[t]);
  return m;
}

// The stored centroids [lo, hi) of (b, h) in double.
std::vector<double> centroids_of(const LayerShape& s, const Params& p, const Repr& r, uint32_t b, uint32_t h,
                                 uint32_t lo, uint32_t hi) {
  std::vector<double> out(uint64_t(hi - lo) * s.head_dim);
  for (uint32_t i = lo; i < hi; ++i)
    for (uint32_t d = 0; d < s.head_dim; ++d)
      out[uint64_t(i - lo) * s.head_dim + d] = r.centroids[centroid_at(s, p.max_clusters, b, h, i) + d];
  return out;
}

// Which centroids token t chose from (the contract's history of one request):
// its k-means generation, or [0, count) for a token assigned as appended.
struct Range {
  uint32_t first_token, end_token, lo, hi;
};
std::vector<Range> history(const LayerShape& s, const Params& p, uint32_t prefill, uint32_t length) {
  std::vector<Range> out;
  const uint32_t T0 = sink_tokens(s), t0 = std::min(T0, prefill);
  uint32_t count = std::min(p.clusters, prefill - t0);
  if (count > 0) out.push_back({t0, prefill, 0, count});
  uint32_t s0 = std::max(prefill, T0);
  if (count == 0 && length > s0) count = 1;  // the first appended token seeds centroid 0
  for (; uint64_t(s0) + p.every <= length; s0 += p.every) {
    const uint32_t m1 = std::min({p.new_clusters, p.max_clusters - count, p.every});
    out.push_back({s0, s0 + p.every, m1 > 0 ? count : 0, m1 > 0 ? count + m1 : count});
    count += m1;
  }
  if (s0 < length) out.push_back({s0, length, 0, count});
  return out;
}

class ClusterKV final : public AlgorithmPackage {
 public:
  const char* name() const override { return "cluster_kv"; }
  std::vector<ParamSpec> parameters() const override {
    return {ParamSpec::integer("clusters", 1, 4096),        ParamSpec::integer("iterations", 1, 64),
            ParamSpec::integer("recluster_every", 1, 65536), ParamSpec::integer("new_clusters", 1, 4096),
            ParamSpec::integer("max_clusters", 1, 16384),    ParamSpec::choice("combine", {"max", "sum", "mean_query"})};
  }
  Status check_layer(const LayerConfigRecord& c, const AlgorithmParams& params) const override {
    const Params p(params);
    if (p.max_clusters < p.clusters)
      return Status(StatusCode::InvalidArtifact, "max_clusters " + std::to_string(p.max_clusters) +
                                                     " is below clusters " + std::to_string(p.clusters));
    if (p.new_clusters > p.every)
      return Status(StatusCode::InvalidArtifact, "new_clusters " + std::to_string(p.new_clusters) +
                                                     " exceeds recluster_every " + std::to_string(p.every));
    if (c.flags & kLayerFlagValueIsKeyPrefix)
      return Status(StatusCode::InvalidArtifact, "clusters per-head keys: a latent (MLA) layer is not supported");
    return Status::ok();
  }
  std::vector<DocumentedBuffer> buffers(const LayerConfigRecord&, const AlgorithmParams& params) const override {
    const Expr B = Expr::sym(Symbol::Batch), Hkv = Expr::sym(Symbol::KvHeads);
    const BufferScope slot = BufferScope::PerBatchSlot;
    return {{"repr.centroids", Tier::Device, ElementType::F32, slot,
             {B, Hkv, Expr::constant(Params(params).max_clusters), Expr::sym(Symbol::HeadDim)}, 0},
            {"repr.cluster_of", Tier::Device, ElementType::I32, slot,
             {B, Hkv, Expr::sym(Symbol::MaxUnits), Expr::sym(Symbol::PageSize)}, kBufferFlagFillMinusOne},
            {"repr.cluster_state", Tier::Device, ElementType::I32, slot, {B, Expr::constant(2)}, 0}};
  }

  void score(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, uint32_t g, uint32_t first, uint32_t end,
             float* row) const override {
    const Params p(s.params);
    const Repr r(dev);
    const bool max = p.combine == "max", mean_query = p.combine == "mean_query";
    const uint32_t D = s.head_dim, Gq = s.group_size, P = s.page_size, L = uint32_t(dev.req_length[b]);
    std::vector<double> q, mean;
    reference::group_queries(s, dev, b, &q, &mean);
    // q . c for each (KV head, query row, centroid), computed when first
    // needed: a token scores as its centroid, so a row of N tokens costs
    // N lookups, not N dot products.
    const uint32_t rows = mean_query ? 1 : Gq, C = p.max_clusters;
    std::vector<double> table(uint64_t(s.heads_per_unit) * rows * C);
    std::vector<uint8_t> known(uint64_t(s.heads_per_unit) * C, 0);
    std::vector<double> c(D);
    auto centroid_dots = [&](uint32_t j, uint32_t kvh, uint32_t cluster) -> const double* {
      double* out = &table[(uint64_t(j) * C + cluster) * rows];
      if (!known[uint64_t(j) * C + cluster]) {
        for (uint32_t d = 0; d < D; ++d) c[d] = r.centroids[centroid_at(s, C, b, kvh, cluster) + d];
        for (uint32_t i = 0; i < rows; ++i) {
          const double* query = mean_query ? &mean[uint64_t(kvh) * D] : &q[uint64_t(kvh * Gq + i) * D];
          out[i] = dot(query, c.data(), D);
        }
        known[uint64_t(j) * C + cluster] = 1;
      }
      return out;
    };
    std::vector<double> best(rows);
    for (uint32_t u = first; u < end; ++u) {
      double combined = max ? -std::numeric_limits<double>::infinity() : 0.0;
      bool any = false;
      for (uint32_t j = 0; j < s.heads_per_unit; ++j) {
        const uint32_t kvh = g * s.heads_per_unit + j;
        // Per query row (each query head, or the mean query), the max over the unit's tokens.
        std::fill(best.begin(), best.end(), -std::numeric_limits<double>::infinity());
        for (uint32_t t = u * P; t < std::min(u * P + P, L); ++t) {
          const int32_t cluster = r.cluster_of[token_at(s, b, kvh, t)];
          if (cluster < 0 || uint32_t(cluster) >= C) continue;
          any = true;
          const double* dots = centroid_dots(j, kvh, uint32_t(cluster));
          for (uint32_t i = 0; i < rows; ++i) best[i] = std::max(best[i], dots[i]);
        }
        for (double v : best) combined = max ? std::max(combined, v) : combined + v;
      }
      row[u] = any ? float(combined) : -std::numeric_limits<float>::infinity();
    }
  }

  void build_representations(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                             uint32_t, uint32_t) const override {
    const Params p(s.params);
    Repr r(dev);
    const uint32_t L = uint32_t(dev.req_length[b]), t0 = std::min(sink_tokens(s), L);
    uint32_t m = 0;
    for (uint32_t h = 0; h < s.kv_heads; ++h) {
      for (uint32_t t = 0; t < s.max_tokens(); ++t) r.cluster_of[token_at(s, b, h, t)] = -1;
      m = kmeans(s, p, host, r, b, h, t0, L, p.clusters, 0);
    }
    r.state[uint64_t(b) * 2] = int32_t(m);
    r.state[uint64_t(b) * 2 + 1] = int32_t(L);
  }

  void append(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b) const override {
    const Params p(s.params);
    Repr r(dev);
    const uint32_t t = uint32_t(dev.req_length[b]), T0 = sink_tokens(s), D = s.head_dim;
    int32_t& count = r.state[uint64_t(b) * 2];
    int32_t& seg = r.state[uint64_t(b) * 2 + 1];
    if (t < T0) {
      for (uint32_t h = 0; h < s.kv_heads; ++h) r.cluster_of[token_at(s, b, h, t)] = -1;
      return;
    }
    std::vector<double> key(D);
    const bool seed = count == 0;
    for (uint32_t h = 0; h < s.kv_heads; ++h) {
      for (uint32_t d = 0; d < D; ++d) key[d] = kv_to_float(dev.io_new_k[(uint64_t(b) * s.kv_heads + h) * D + d], s.dtype);
      if (seed)
        for (uint32_t d = 0; d < D; ++d) r.centroids[centroid_at(s, p.max_clusters, b, h, 0) + d] = float(key[d]);
      const uint32_t in_use = seed ? 1 : uint32_t(count);
      const std::vector<double> c = centroids_of(s, p, r, b, h, 0, in_use);
      r.cluster_of[token_at(s, b, h, t)] = int32_t(nearest(key.data(), c.data(), in_use, D));
    }
    if (seed) count = 1;
    const uint32_t start = std::max(uint32_t(seg), T0);
    if (t + 1 - start < p.every) return;
    const uint32_t m1 = std::min({p.new_clusters, p.max_clusters - uint32_t(count), t + 1 - start});
    if (m1 > 0)
      for (uint32_t h = 0; h < s.kv_heads; ++h) kmeans(s, p, host, r, b, h, start, t + 1, m1, uint32_t(count));
    count += int32_t(m1);
    seg = int32_t(t + 1);
  }

  void check_representations(const LayerShape& s, const HostBuffers& host, const DeviceBuffers& device,
                             const DeviceBuffers& model, uint32_t b, uint32_t prefill, bool full,
                             ReprCheckResult* result) const override {
    const Params p(s.params);
    const Repr dev(device), ref(model);
    const uint32_t L = uint32_t(model.req_length[b]), T0 = std::min(sink_tokens(s), L), D = s.head_dim;
    for (int i = 0; i < 2; ++i) {
      result->compared += 1;
      if (dev.state[uint64_t(b) * 2 + i] != ref.state[uint64_t(b) * 2 + i])
        result->mismatch(format_text("repr.cluster_state[%u][%d] (%s): expected %d (reference), actual %d (device)", b,
                                     i, i == 0 ? "centroids in use" : "open segment start",
                                     ref.state[uint64_t(b) * 2 + i], dev.state[uint64_t(b) * 2 + i]));
    }
    // Tokens a step can change: the open segment and the one that closed last.
    const uint32_t from = full ? 0 : (L > p.every + 2 ? L - p.every - 2 : 0);
    uint64_t checked = 0, disagree = 0;
    for (uint32_t h = 0; h < s.kv_heads; ++h) {
      for (uint32_t t = from; t < T0; ++t) {
        result->compared += 1;
        if (dev.cluster_of[token_at(s, b, h, t)] != -1)
          result->mismatch(format_text("repr.cluster_of[%u][kv head %u][token %u]: a sink token has centroid %d "
                                       "(expected -1)", b, h, t, dev.cluster_of[token_at(s, b, h, t)]));
      }
      for (const Range& range : history(s, p, prefill, L)) {
        if (range.end_token <= from || range.hi <= range.lo) continue;
        const std::vector<double> c = centroids_of(s, p, dev, b, h, range.lo, range.hi);
        const uint32_t m = range.hi - range.lo, first = std::max(range.first_token, from);
        const std::vector<double> norms = centroid_norms(c.data(), m, D);
        // Per token, in parallel (each token's verdict is its own); the
        // messages are then reported in token order.
        struct Verdict {
          uint32_t best = 0;
          double chosen_sim = 0, best_sim = 0;
          bool outside = false, not_nearest = false;
        };
        std::vector<Verdict> verdicts(range.end_token - first);
        parallel_for(verdicts.size(), uint64_t(m) * D, [&](uint64_t begin, uint64_t end) {
          std::vector<double> key(D);
          for (uint64_t i = begin; i < end; ++i) {
            const uint32_t t = first + uint32_t(i);
            const int32_t chosen = dev.cluster_of[token_at(s, b, h, t)];
            Verdict& v = verdicts[i];
            if (chosen < int32_t(range.lo) || chosen >= int32_t(range.hi)) {
              v.outside = true;
              continue;
            }
            load_key(s, host, b, h, t, key.data());
            v.best = nearest(key.data(), c.data(), norms.data(), m, D);
            auto sim = [&](uint32_t j) { return dot(key.data(), &c[uint64_t(j) * D], D) / norms[j]; };
            v.best_sim = sim(v.best);
            v.chosen_sim = sim(uint32_t(chosen) - range.lo);
            const double norm = std::sqrt(dot(key.data(), key.data(), D));
            v.not_nearest = v.chosen_sim < v.best_sim - kNearestTolerance * std::max(norm, 1e-30);
          }
        });
        for (uint32_t t = first; t < range.end_token; ++t) {
          const Verdict& v = verdicts[t - first];
          const int32_t chosen = dev.cluster_of[token_at(s, b, h, t)];
          result->compared += 1;
          ++checked;
          disagree += chosen != ref.cluster_of[token_at(s, b, h, t)];
          if (v.outside)
            result->mismatch(format_text("repr.cluster_of[%u][kv head %u][token %u] = %d: outside the centroids "
                                         "[%u, %u) it chooses from (reference %d)", b, h, t, chosen, range.lo,
                                         range.hi, ref.cluster_of[token_at(s, b, h, t)]));
          else if (v.not_nearest)
            result->mismatch(format_text("repr.cluster_of[%u][kv head %u][token %u] = %d is not the nearest of the "
                                         "device's centroids: %u is closer (%.9g vs %.9g, tolerance %.2g * |k|)",
                                         b, h, t, chosen, range.lo + v.best, v.best_sim, v.chosen_sim,
                                         kNearestTolerance));
        }
      }
    }
    // The k-means dynamics (init, update) against the reference's.
    if (checked > 0) {
      result->agreement = 1.0 - double(disagree) / double(checked);
      const uint64_t allowed = std::max<uint64_t>(2, uint64_t(kMinAgreementMiss * double(checked)));
      if (disagree > allowed)
        result->mismatch(format_text("repr.cluster_of[%u]: %llu of %llu tokens have another centroid than the "
                                     "reference's (agreement %.4f, bound %.2f)", b, (unsigned long long)disagree,
                                     (unsigned long long)checked, result->agreement, 1.0 - kMinAgreementMiss));
    }
  }

 private:
  // The chosen centroid's cosine (up to |k|) may trail the best by this much
  // times |k|: fp32 dot products of 128 terms in another order.
  static constexpr double kNearestTolerance = 1e-5;
  // At most this fraction of tokens (or 2) may take another centroid than the
  // reference's: near-ties flip and k-means carries a flip a little further.
  static constexpr double kMinAgreementMiss = 0.01;
};

}  // namespace

const AlgorithmPackage& cluster_kv_package() {
  static const ClusterKV package;
  return package;
}

}  // namespace hsa
