// Shared helpers of the runtime tests: configs, test artifacts, random data
// and a direct dense attention written independently of the runtime.
#ifndef HSA_RUNTIME_TEST_SUPPORT_H
#define HSA_RUNTIME_TEST_SUPPORT_H

#include <optional>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "half.h"
#include "hsa/artifact_writer.h"
#include "test_artifact.h"

namespace hsa {
using artifact::SelectionScope;

namespace test {

struct ConfigSpec {
  uint32_t q_heads = 4, kv_heads = 2, head_dim = 16, value_dim = 16, page_size = 4;
  uint32_t budget = 4, capacity = 8, sinks = 1, window = 1;
  SelectionScope scope = SelectionScope::KvHead;
  std::string algorithm = "quest";  // a package name
  std::string combine = "max";      // Quest's combine
  artifact::KvDtype dtype = artifact::KvDtype::BF16;
  artifact::PageTableFormat format = artifact::PageTableFormat::Native;

  artifact::TestAlgorithm test_algorithm() const {
    if (algorithm == "quest") return artifact::TestAlgorithm::quest(combine);
    // ClusterKV: 5 prefill clusters, 3 rounds; every 6 tokens 2 more, up to 11.
    if (algorithm == "cluster_kv") return artifact::TestAlgorithm::cluster_kv(5, 3, 6, 2, 11, combine);
    return artifact::TestAlgorithm{algorithm, {}};
  }
};

inline artifact::LayerConfigRecord make_config(const ConfigSpec& s) {
  artifact::LayerConfigRecord c{};
  c.num_q_heads = s.q_heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.value_dim = s.value_dim;
  c.page_size = s.page_size;
  c.kv_dtype = uint32_t(s.dtype);
  c.scope = uint32_t(s.scope);
  c.softmax_scale = float(1.0 / std::sqrt(double(s.head_dim)));
  c.budget_units = s.budget;
  c.capacity_units = s.capacity;
  c.sink_units = s.sinks;
  c.window_units = s.window;
  c.page_table_format = uint32_t(s.format);
  return c;
}

// The algorithm package's buffers for a writer's layer (the algorithm named
// by its set_algorithm; Quest when the test did not set one).
inline std::vector<artifact::DocumentedBuffer> layer_algorithm_buffers(const artifact::ArtifactWriter& w) {
  return artifact::TestAlgorithm{w.algorithm_name(), w.algorithm_params()}.buffers(w.layer_config());
}

// The arguments of build_artifact's launches: io.q's memref descriptor
// (arguments 0..8: [B][Hq][D]), max_units as i32 (9), the immediate 7 (10).
inline std::vector<artifact::Arg> test_launch_args(const artifact::ArtifactWriter& w) {
  using namespace artifact;
  std::vector<Arg> args = w.memref_args(w.buffer_index("io.q"));
  args.push_back(Arg::symbol_i32(Symbol::MaxUnits));
  args.push_back(Arg::immediate_i64(7));
  return args;
}

// An artifact with the documented buffer table, one PTX kernel and the three
// standard plans (the kernel is a no-op: CPU tests never launch it).
// group_bound_rows: it also lists io.group_unselected_log_bound [B][rows]
// f32 (the compiler's top-k declares it [B][S] for Quest max; another
// symbol makes the wrong shape a load must refuse).
inline std::vector<uint8_t> build_artifact(const artifact::LayerConfigRecord& config, const char* chip = "sm_90a",
                                           const artifact::TestAlgorithm& algorithm = artifact::TestAlgorithm(),
                                           std::optional<artifact::Symbol> group_bound_rows = std::nullopt) {
  using namespace artifact;
  ArtifactWriter w;
  w.set_layer_config(config);
  w.set_algorithm(algorithm.name, algorithm.params);
  w.set_target(chip, 80);
  w.add_documented_buffers(algorithm.buffers(config));
  if (group_bound_rows)
    w.add_buffer("io.group_unselected_log_bound", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot,
                 {Expr::sym(Symbol::Batch), Expr::sym(*group_bound_rows)});
  const std::vector<Arg> args = test_launch_args(w);
  const uint32_t kernel = w.add_kernel("noop", "hsa_noop", {}, noop_kernel_ptx(chip, "hsa_noop", args), Expr::constant(0));
  for (const char* plan : {"prefill", "decode_step", "append"}) {
    LaunchSpec launch{kernel,
                      {Expr::sym(Symbol::Batch), Expr::sym(Symbol::Groups), Expr::constant(1)},
                      {Expr::constant(128), Expr::constant(1), Expr::constant(1)},
                      Expr::constant(0),
                      args};
    w.add_plan(plan, {launch});
  }
  return w.finish();
}

// Random values rounded to the KV dtype (never all zeros).
inline std::vector<uint16_t> random_kv(std::mt19937& rng, size_t count, artifact::KvDtype dtype, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<uint16_t> out(count);
  for (auto& x : out) x = float_to_kv(normal(rng), dtype);
  return out;
}

// Dense attention of one query head over the given tokens, in double:
// keys[t] and values[t] point at D and Dv values of the head's KV head.
inline std::vector<double> dense_attention(const std::vector<double>& q, const std::vector<const uint16_t*>& keys,
                                           const std::vector<const uint16_t*>& values, uint32_t dv, double scale,
                                           artifact::KvDtype dtype) {
  std::vector<double> logits(keys.size());
  double m = -INFINITY;
  for (size_t t = 0; t < keys.size(); ++t) {
    double dot = 0;
    for (size_t d = 0; d < q.size(); ++d) dot += q[d] * kv_to_float(keys[t][d], dtype);
    logits[t] = dot * scale;
    m = std::max(m, logits[t]);
  }
  std::vector<double> out(dv, 0.0);
  double z = 0;
  for (size_t t = 0; t < keys.size(); ++t) {
    const double p = std::exp(logits[t] - m);
    z += p;
    for (uint32_t d = 0; d < dv; ++d) out[d] += p * kv_to_float(values[t][d], dtype);
  }
  for (auto& x : out) x /= z;
  return out;
}

}  // namespace test
}  // namespace hsa

#endif  // HSA_RUNTIME_TEST_SUPPORT_H

#include <memory>

#include "cpu_backend.h"
#include "host_cache.h"
#include "layer_shape.h"

namespace hsa {
namespace test {

// One layer driven stage by stage through the reference functions, keeping
// every appended token's K/V for independent checks.
struct ReferenceLayer {
  LayerShape shape;
  AlignedHostAllocator allocator;
  std::unique_ptr<HostCache> cache;
  std::unique_ptr<DeviceBuffers> dev;
  std::vector<std::vector<uint16_t>> keys, values;  // per slot: [t][Hkv][D], [t][Hkv][Dv]

  explicit ReferenceLayer(const ConfigSpec& spec, uint32_t batch = 1, uint32_t max_context = 512) {
    const artifact::TestAlgorithm algorithm = spec.test_algorithm();
    EXPECT_TRUE(LayerShape::create(make_config(spec), find_algorithm(algorithm.name), algorithm.parsed(), batch,
                                   max_context, 0, &shape)
                    .is_ok());
    EXPECT_TRUE(HostCache::create(shape, &allocator, &cache).is_ok());
    dev.reset(new DeviceBuffers(shape));
    keys.resize(batch);
    values.resize(batch);
  }

  HostBuffers host() const { return host_buffers_of(*cache); }

  void append(uint32_t b, const uint16_t* k, const uint16_t* v) {
    const uint64_t rk = uint64_t(shape.kv_heads) * shape.head_dim, rv = uint64_t(shape.kv_heads) * shape.value_dim;
    ASSERT_TRUE(cache->append(b, 1, k, v).is_ok());
    std::copy(k, k + rk, dev->io_new_k.begin() + b * rk);
    std::copy(v, v + rv, dev->io_new_v.begin() + b * rv);
    reference::append_token(shape, host(), *dev, b);
    keys[b].insert(keys[b].end(), k, k + rk);
    values[b].insert(values[b].end(), v, v + rv);
  }

  void append_random(std::mt19937& rng, uint32_t b, uint32_t tokens) {
    const uint64_t rk = uint64_t(shape.kv_heads) * shape.head_dim, rv = uint64_t(shape.kv_heads) * shape.value_dim;
    for (uint32_t t = 0; t < tokens; ++t) {
      std::vector<uint16_t> k = random_kv(rng, rk, shape.dtype), v = random_kv(rng, rv, shape.dtype);
      append(b, k.data(), v.data());
    }
  }

  void set_query(std::mt19937& rng, uint32_t b) {
    const uint64_t rq = uint64_t(shape.q_heads) * shape.head_dim;
    std::vector<uint16_t> q = random_kv(rng, rq, shape.dtype);
    std::copy(q.begin(), q.end(), dev->io_q.begin() + b * rq);
  }

  // Dense attention of every query head of slot b over the tokens of the
  // units in `units_per_group` ([S] lists), from the kept K/V.
  std::vector<double> dense(uint32_t b, const std::vector<std::vector<int32_t>>& units_per_group) const {
    const LayerShape& s = shape;
    std::vector<double> out;
    const uint32_t L = uint32_t(dev->req_length[b]);
    for (uint32_t h = 0; h < s.q_heads; ++h) {
      const uint32_t kvh = h / s.group_size, g = kvh / s.heads_per_unit;
      std::vector<double> q(s.head_dim);
      for (uint32_t d = 0; d < s.head_dim; ++d)
        q[d] = kv_to_float(dev->io_q[(uint64_t(b) * s.q_heads + h) * s.head_dim + d], s.dtype);
      std::vector<const uint16_t*> ks, vs;
      for (int32_t u : units_per_group[g])
        for (uint32_t t = uint32_t(u) * s.page_size; t < std::min<uint32_t>(L, (u + 1) * s.page_size); ++t) {
          ks.push_back(&keys[b][(uint64_t(t) * s.kv_heads + kvh) * s.head_dim]);
          vs.push_back(&values[b][(uint64_t(t) * s.kv_heads + kvh) * s.value_dim]);
        }
      const std::vector<double> o = dense_attention(q, ks, vs, s.value_dim, s.scale, s.dtype);
      out.insert(out.end(), o.begin(), o.end());
    }
    return out;
  }

  std::vector<std::vector<int32_t>> selected(uint32_t b) const {
    std::vector<std::vector<int32_t>> out(shape.groups);
    for (uint32_t g = 0; g < shape.groups; ++g)
      for (uint32_t i = 0; i < shape.budget; ++i) {
        const int32_t u = dev->sel_units[(uint64_t(b) * shape.groups + g) * shape.budget + i];
        if (u >= 0) out[g].push_back(u);
      }
    return out;
  }
};

}  // namespace test
}  // namespace hsa
