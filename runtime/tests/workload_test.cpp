// The workload presets (runtime/tools/workload.h) have the property each is
// there for, are deterministic, and the accuracy measures (tools/accuracy.h)
// bound what the runtime's selections capture.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numeric>
#include <thread>

#include "accuracy.h"
#include "half.h"
#include "hsa/runtime.hpp"
#include "test_artifact.h"
#include "workload.h"

namespace hsa {
namespace {

using workload::Dims;

Dims small_dims(uint32_t head_dim = 32) {
  Dims d;
  d.q_heads = 8, d.kv_heads = 2, d.head_dim = d.value_dim = head_dim;
  return d;
}

struct Data {
  std::vector<uint16_t> k, v, q;  // prompt + steps tokens; steps queries
};

Data generate(const std::string& spec, const Dims& dims, uint64_t prompt, uint32_t steps, uint64_t seed = 1,
              float temperature = 0.0f) {
  std::unique_ptr<workload::Workload> w;
  workload::Overrides overrides;
  overrides.temperature = temperature;
  const Status s = workload::make_workload(spec, dims, seed, {prompt}, steps, overrides, &w);
  EXPECT_TRUE(s.is_ok()) << s.message();
  Data d;
  if (!w) return d;
  w->prompt(0, 0, prompt, &d.k, &d.v);
  const size_t rk = size_t(dims.kv_heads) * dims.head_dim, rv = size_t(dims.kv_heads) * dims.value_dim;
  const size_t rq = size_t(dims.q_heads) * dims.head_dim;
  d.k.resize((prompt + steps) * rk);
  d.v.resize((prompt + steps) * rv);
  d.q.resize(steps * rq);
  for (uint32_t t = 0; t < steps; ++t) {
    w->next_token(0, &d.k[(prompt + t) * rk], &d.v[(prompt + t) * rv]);
    w->next_query(0, &d.q[t * rq]);
  }
  return d;
}

uint64_t fnv1a(const std::vector<uint16_t>& a, uint64_t h = 1469598103934665603ull) {
  for (uint16_t x : a) {
    h = (h ^ (x & 0xff)) * 1099511628211ull;
    h = (h ^ (x >> 8)) * 1099511628211ull;
  }
  return h;
}

float key(const Data& d, const Dims& dims, uint64_t t, uint32_t h, uint32_t i) {
  return kv_to_float(d.k[(t * dims.kv_heads + h) * dims.head_dim + i], dims.dtype);
}

TEST(Workload, PresetsAreDeterministicAndDistinct) {
  const Dims dims = small_dims();
  const Data drift = generate("drift", dims, 5000, 3);
  for (const workload::PresetInfo& p : workload::presets()) {
    SCOPED_TRACE(p.name);
    const Data a = generate(p.name, dims, 5000, 3), b = generate(p.name, dims, 5000, 3);
    EXPECT_EQ(a.k, b.k);
    EXPECT_EQ(a.v, b.v);
    EXPECT_EQ(a.q, b.q);
    EXPECT_NE(generate(p.name, dims, 5000, 3, 2).k, a.k) << "another seed gives other keys";
    if (std::string(p.name) != "drift") {
      EXPECT_TRUE(a.k != drift.k || a.q != drift.q);
    }
  }
  EXPECT_NE(generate("drift", dims, 5000, 3, 1, 0.5f).q, drift.q) << "the temperature scales the queries";
  EXPECT_EQ(generate("drift", dims, 5000, 3, 1, 1.0f).q, drift.q);
}

// hsa-run's default workload is the bytes it always was (its outputs are in
// the docs and the tests): this digest was taken before the workload moved
// out of hsa-run.cpp, whose per-step results were compared with the old tool.
TEST(Workload, DriftIsUnchanged) {
  const Data d = generate("drift", small_dims(), 5000, 3, 7);
  EXPECT_EQ(fnv1a(d.q, fnv1a(d.v, fnv1a(d.k))), 0x1d77b5101f6fff4ull) << std::hex << fnv1a(d.q, fnv1a(d.v, fnv1a(d.k)));
}

// hsa-run generates the requests' prompts on worker threads when the workload
// says it may (concurrent_prompts): the bytes must be what one thread makes,
// chunk by chunk, request after request.
TEST(Workload, ConcurrentPromptsMatchOneThread) {
  const Dims dims = small_dims();
  const std::vector<uint64_t> prompts = {3000, 1, 9000, 4097, 700, 6000};
  const uint64_t chunk = 1024;
  auto make = [&](const std::string& name) {
    std::unique_ptr<workload::Workload> w;
    const Status s = workload::make_workload(name, dims, 11, prompts, 2, workload::Overrides{}, &w);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return w;
  };
  auto request = [&](workload::Workload& w, size_t b) {
    std::vector<uint16_t> all, k, v;
    for (uint64_t first = 0; first < prompts[b]; first += chunk) {
      w.prompt(b, first, std::min(chunk, prompts[b] - first), &k, &v);
      all.insert(all.end(), k.begin(), k.end());
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  for (const workload::PresetInfo& p : workload::presets()) {
    SCOPED_TRACE(p.name);
    std::unique_ptr<workload::Workload> serial = make(p.name), parallel = make(p.name);
    ASSERT_TRUE(serial && parallel);
    EXPECT_TRUE(parallel->concurrent_prompts()) << "every synthetic preset draws per request";
    std::vector<std::vector<uint16_t>> one(prompts.size()), many(prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) one[b] = request(*serial, b);
    std::vector<std::thread> threads;
    for (size_t b = prompts.size(); b-- > 0;)  // the other order too
      threads.emplace_back([&, b] { many[b] = request(*parallel, b); });
    for (std::thread& t : threads) t.join();
    for (size_t b = 0; b < prompts.size(); ++b) EXPECT_EQ(one[b], many[b]) << "request " << b;
  }
}

// Mean |k| per channel over the prompt, per KV head.
std::vector<double> channel_magnitudes(const Data& d, const Dims& dims, uint64_t tokens, uint32_t h) {
  std::vector<double> m(dims.head_dim, 0.0);
  for (uint64_t t = 16; t < tokens; ++t)
    for (uint32_t i = 0; i < dims.head_dim; ++i) m[i] += std::fabs(key(d, dims, t, h, i)) / double(tokens - 16);
  return m;
}

TEST(Workload, OutlierChannelsStandOut) {
  const Dims dims = small_dims(64);
  const Data outliers = generate("outliers", dims, 3000, 1), drift = generate("drift", dims, 3000, 1);
  for (uint32_t h = 0; h < dims.kv_heads; ++h) {
    std::vector<double> m = channel_magnitudes(outliers, dims, 3000, h);
    std::sort(m.begin(), m.end(), std::greater<double>());
    const double median_rest = m[4 + (m.size() - 4) / 2];
    EXPECT_GT(m[3], 5.0 * median_rest) << "the 4 outlier channels of KV head " << h;
    std::vector<double> plain = channel_magnitudes(drift, dims, 3000, h);
    std::sort(plain.begin(), plain.end(), std::greater<double>());
    EXPECT_LT(plain[0], 2.0 * plain[plain.size() / 2]) << "drift has no outlier channels";
  }
}

// Participation ratio (tr C)^2 / tr(C^2) of the keys' covariance: the
// effective rank (D for isotropic keys, r for r equal directions).
double effective_rank(const Data& d, const Dims& dims, uint64_t first, uint64_t end, uint32_t h) {
  const uint32_t D = dims.head_dim;
  std::vector<double> mean(D, 0.0), c(size_t(D) * D, 0.0);
  const double n = double(end - first);
  for (uint64_t t = first; t < end; ++t)
    for (uint32_t i = 0; i < D; ++i) mean[i] += key(d, dims, t, h, i) / n;
  for (uint64_t t = first; t < end; ++t)
    for (uint32_t i = 0; i < D; ++i)
      for (uint32_t j = 0; j < D; ++j)
        c[size_t(i) * D + j] += (key(d, dims, t, h, i) - mean[i]) * (key(d, dims, t, h, j) - mean[j]) / n;
  double trace = 0.0, frobenius = 0.0;
  for (uint32_t i = 0; i < D; ++i) trace += c[size_t(i) * D + i];
  for (double x : c) frobenius += x * x;
  return trace * trace / frobenius;
}

TEST(Workload, TopicKeysHaveLowEffectiveRank) {
  const Dims dims = small_dims(64);
  const Data topics = generate("topics", dims, 8192, 1), drift = generate("drift", dims, 8192, 1);
  for (uint32_t h = 0; h < dims.kv_heads; ++h) {
    const double low = effective_rank(topics, dims, 16, 6000, h), full = effective_rank(drift, dims, 16, 6000, h);
    EXPECT_LT(low, dims.head_dim / 4.0) << "topics, KV head " << h;
    EXPECT_GT(full, dims.head_dim / 2.0) << "drift, KV head " << h;
  }
}

TEST(Workload, RopePreservesNormsAndRelativePositions) {
  workload::Rng rng(3);
  const uint32_t D = 64;
  std::vector<float> q(D), k(D);
  for (uint32_t i = 0; i < D; ++i) q[i] = rng.normal(), k[i] = rng.normal();
  auto dot = [&](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0.0;
    for (uint32_t i = 0; i < D; ++i) s += double(a[i]) * b[i];
    return s;
  };
  for (double m : {0.0, 7.0, 1000.0, 131000.0})
    for (double n : {0.0, 3.0, 900.0}) {
      std::vector<float> qm = q, kn = k, qs = q, ks = k;
      workload::apply_rope(qm.data(), D, m, 500000.0);
      workload::apply_rope(kn.data(), D, n, 500000.0);
      workload::apply_rope(qs.data(), D, m + 4321.0, 500000.0);
      workload::apply_rope(ks.data(), D, n + 4321.0, 500000.0);
      EXPECT_NEAR(dot(qm, qm), dot(q, q), 1e-3 * dot(q, q));
      EXPECT_NEAR(dot(kn, kn), dot(k, k), 1e-3 * dot(k, k));
      EXPECT_NEAR(dot(qm, kn), dot(qs, ks), 1e-3 * std::sqrt(dot(q, q) * dot(k, k)))
          << "q at " << m << ", k at " << n << ": only the distance matters";
    }
  // The rope preset rotates its keys (and re-weights the matching directions): not drift's keys.
  const Dims dims = small_dims(64);
  const Data rope = generate("rope", dims, 600, 1), drift = generate("drift", dims, 600, 1);
  EXPECT_NE(rope.k, drift.k);
}

TEST(Workload, UnknownPresetsAndBadTracesSayWhy) {
  workload::Params p;
  Status s = workload::preset("bogus", &p);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  for (const char* name : {"drift", "rope", "outliers", "topics", "needles", "sinks-recency", "llm", "trace:PATH"})
    EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
  std::unique_ptr<workload::Workload> w;
  s = workload::make_workload("trace:/nonexistent/trace.bin", small_dims(), 1, {100}, 1, {}, &w);
  EXPECT_EQ(s.code(), StatusCode::NotFound) << s.message();
  workload::Overrides needles;
  needles.needle_distances = {100};
  s = workload::make_workload("drift", small_dims(), 1, {1000}, 1, needles, &w);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_TRUE(workload::make_workload("needles", small_dims(), 1, {1000}, 1, needles, &w).is_ok());
}

TEST(Workload, TraceRoundTrip) {
  const Dims dims = small_dims();
  const uint64_t prompt = 300;
  const uint32_t steps = 4;
  const Data d = generate("llm", dims, prompt, steps);
  auto widen = [&](const std::vector<uint16_t>& a) {
    std::vector<float> f(a.size());
    for (size_t i = 0; i < a.size(); ++i) f[i] = kv_to_float(a[i], dims.dtype);
    return f;
  };
  const std::string path = ::testing::TempDir() + "hsa_trace_test.bin";
  ASSERT_TRUE(workload::write_trace(path, dims, prompt, steps, widen(d.k), widen(d.v), widen(d.q)).is_ok());
  workload::TraceHeader h;
  ASSERT_TRUE(workload::read_trace_header(path, &h).is_ok());
  EXPECT_EQ(h.prompt_tokens, prompt);
  EXPECT_EQ(h.steps, steps);
  EXPECT_EQ(h.dtype, 2u);
  const Data back = generate("trace:" + path, dims, prompt, steps);
  EXPECT_EQ(back.k, d.k);  // bf16 -> f32 -> bf16 is exact
  EXPECT_EQ(back.v, d.v);
  EXPECT_EQ(back.q, d.q);
  std::unique_ptr<workload::Workload> w;
  Status s = workload::make_workload("trace:" + path, small_dims(64), 1, {prompt}, steps, {}, &w);
  EXPECT_NE(s.message().find("has Hq 8, Hkv 2, D 32"), std::string::npos) << s.message();
  s = workload::make_workload("trace:" + path, dims, 1, {prompt + 1}, steps, {}, &w);
  EXPECT_NE(s.message().find("give --context=300"), std::string::npos) << s.message();
  s = workload::make_workload("trace:" + path, dims, 1, {prompt}, steps + 1, {}, &w);
  EXPECT_NE(s.message().find("has 4 decode steps, 5 asked"), std::string::npos) << s.message();
  std::FILE* f = std::fopen(path.c_str(), "ab");
  std::fputc(0, f);
  std::fclose(f);
  s = workload::read_trace_header(path, &h);
  EXPECT_NE(s.message().find("its header describes"), std::string::npos) << s.message();
  std::remove(path.c_str());
}

// A CPU-reference runtime with one request holding the first `prompt` tokens
// of d, for `steps` more: the layer `c` under `algorithm`.
void prefilled_cpu_runtime(const artifact::LayerConfigRecord& c, const artifact::TestAlgorithm& algorithm,
                           const Data& d, uint64_t prompt, uint32_t steps, std::unique_ptr<Runtime>* rt,
                           RequestId* id) {
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(c, "sm_90a", algorithm);
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_context_tokens = prompt + steps;
  ASSERT_TRUE(Runtime::create(options, rt).is_ok());
  ASSERT_TRUE((*rt)->load_artifact(bytes.data(), bytes.size()).is_ok());
  ASSERT_TRUE((*rt)->create_request(id).is_ok());
  ASSERT_TRUE((*rt)->prefill(*id, d.k.data(), d.v.data(), prompt).is_ok());
}

TEST(Accuracy, BudgetChecks) {
  EXPECT_TRUE(accuracy::check_budget(2048, 32768, 16, 3).is_ok());
  Status s = accuracy::check_budget(4096, 2048, 16, 3);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("larger than the 2048-token context"), std::string::npos) << s.message();
  EXPECT_NE(accuracy::check_budget(100, 32768, 16, 3).message().find("multiple of the page size"), std::string::npos);
  EXPECT_NE(accuracy::check_budget(32, 32768, 16, 3).message().find("forced units"), std::string::npos);
}

TEST(Accuracy, LruReplayAndOverlap) {
  // K 2, one group, selections {0,1} {0,2} {1,2}. C 2: step 1 hits 0 (2 evicts 1), step 2 hits 2 (1 evicts 0).
  const std::vector<std::vector<int32_t>> steps = {{0, 1}, {0, 2}, {1, 2}};
  EXPECT_DOUBLE_EQ(accuracy::lru_hit_rate(1, 2, 2, steps), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(accuracy::lru_hit_rate(1, 2, 4, steps), 3.0 / 4.0);  // C 4 keeps unit 1
  EXPECT_DOUBLE_EQ(accuracy::overlap(1, 2, steps[1], steps[0]), 0.5);
  EXPECT_TRUE(std::isnan(accuracy::lru_hit_rate(1, 2, 2, {{0, 1}})));
}

// Every algorithm package, run by the CPU runtime on a small layer: the
// oracle's group mass is >= the selection's, the token oracle's per-head mass
// too, recall is in [0, 1], and the LRU replay at C = K is the runtime's hit rate.
TEST(Accuracy, OracleBoundsEveryAlgorithm) {
  const Dims dims = small_dims();
  accuracy::Layout layout;
  layout.q_heads = dims.q_heads, layout.kv_heads = dims.kv_heads, layout.head_dim = layout.value_dim = dims.head_dim;
  layout.groups = dims.kv_heads, layout.page_size = 8, layout.scale = float(1.0 / std::sqrt(32.0));
  const uint64_t prompt = 1500;
  const uint32_t steps = 5, K = 8;
  for (const char* spec : {"drift", "topics", "llm", "sinks-recency"}) {
    const Data d = generate(spec, dims, prompt, steps);
    std::vector<float> kf(d.k.size()), vf(d.v.size()), qf(d.q.size());
    for (size_t i = 0; i < kf.size(); ++i) kf[i] = kv_to_float(d.k[i], dims.dtype);
    for (size_t i = 0; i < vf.size(); ++i) vf[i] = kv_to_float(d.v[i], dims.dtype);
    for (size_t i = 0; i < qf.size(); ++i) qf[i] = kv_to_float(d.q[i], dims.dtype);
    const std::vector<std::pair<std::string, artifact::TestAlgorithm>> algorithms = {
        {"quest max", artifact::TestAlgorithm::quest("max")},
        {"quest sum", artifact::TestAlgorithm::quest("sum")},
        {"quest mean_query", artifact::TestAlgorithm::quest("mean_query")},
        {"streaming_llm", artifact::TestAlgorithm::streaming_llm()},
        {"cluster_kv", artifact::TestAlgorithm::cluster_kv(8, 4, 256, 4, 72, "max")}};
    for (const auto& [name, algorithm] : algorithms) {
      SCOPED_TRACE(std::string(spec) + ", " + name);
      artifact::LayerConfigRecord c = artifact::small_selecting_config();
      c.budget_units = c.capacity_units = K;
      c.sink_units = 1;
      c.window_units = name == "streaming_llm" ? K - 1 : 2;
      std::unique_ptr<Runtime> rt;
      RequestId id;
      ASSERT_NO_FATAL_FAILURE(prefilled_cpu_runtime(c, algorithm, d, prompt, steps, &rt, &id));
      std::vector<std::vector<int32_t>> selections;
      uint64_t selected = 0, hits = 0;
      const size_t rk = size_t(dims.kv_heads) * dims.head_dim, rq = size_t(dims.q_heads) * dims.head_dim;
      std::vector<uint16_t> o(size_t(dims.q_heads) * dims.value_dim);
      for (uint32_t t = 0; t < steps; ++t) {
        ASSERT_TRUE(rt->append(&id, 1, &d.k[(prompt + t) * rk], &d.v[(prompt + t) * rk]).is_ok());
        StepStats stats;
        ASSERT_TRUE(rt->decode_step(&id, 1, &d.q[t * rq], o.data(), &stats).is_ok());
        if (t > 0) selected += stats.units_selected, hits += stats.hits;
        std::vector<int32_t> units(size_t(layout.groups) * K);
        ASSERT_TRUE(rt->selected_units(id, units.data(), units.size()).is_ok());
        accuracy::Dense dense;
        accuracy::dense_attention(layout, kf.data(), vf.data(), prompt + t + 1, &qf[t * rq], &dense);
        std::vector<int32_t> oracle;
        accuracy::unit_oracle(layout, dense, K, 1, 2, &oracle);
        for (uint32_t g = 0; g < layout.groups; ++g) {
          double mass = 0.0, best = 0.0;
          for (uint32_t h = 0; h < layout.q_heads; ++h) {
            if (layout.group_of_head(h) != g) continue;
            const double m = accuracy::selection_mass(layout, dense, h, &units[size_t(g) * K], K);
            const double token = accuracy::token_oracle_mass(dense, h, uint64_t(K) * layout.page_size);
            EXPECT_LE(m, token + 1e-6) << "head " << h << " step " << t;
            EXPECT_GE(m, 0.0);
            mass += m;
            best += accuracy::selection_mass(layout, dense, h, &oracle[size_t(g) * K], K);
          }
          EXPECT_LE(mass, best + 1e-6) << "group " << g << " step " << t;
          EXPECT_GE(mass / best, 0.0);
          EXPECT_LE(mass / best, 1.0 + 1e-9);
        }
        selections.push_back(units);
      }
      EXPECT_DOUBLE_EQ(accuracy::lru_hit_rate(layout.groups, K, K, selections), double(hits) / double(selected));
      EXPECT_GE(accuracy::lru_hit_rate(layout.groups, K, 4 * K, selections),
                accuracy::lru_hit_rate(layout.groups, K, K, selections));
    }
  }
}

// hsa-accuracy's model of Quest (combine max) selects what the runtime
// selects, per step and group, in both scopes and on realistic keys; with
// 8-bit bounds every unit's score stays >= its exact one.
TEST(Accuracy, QuestModelIsTheRuntimesSelection) {
  const Dims dims = small_dims();
  const uint64_t prompt = 2000;
  const uint32_t steps = 4, K = 12;
  for (bool request_scope : {false, true})
    for (const char* spec : {"drift", "llm"}) {
      SCOPED_TRACE(std::string(spec) + (request_scope ? ", request scope" : ", kv_head scope"));
      accuracy::Layout layout;
      layout.q_heads = dims.q_heads, layout.kv_heads = dims.kv_heads;
      layout.head_dim = layout.value_dim = dims.head_dim;
      layout.groups = request_scope ? 1 : dims.kv_heads, layout.page_size = 8;
      const Data d = generate(spec, dims, prompt, steps);
      std::vector<float> kf(d.k.size()), qf(d.q.size());
      for (size_t i = 0; i < kf.size(); ++i) kf[i] = kv_to_float(d.k[i], dims.dtype);
      for (size_t i = 0; i < qf.size(); ++i) qf[i] = kv_to_float(d.q[i], dims.dtype);
      artifact::LayerConfigRecord c = artifact::small_selecting_config();
      ASSERT_EQ(c.page_size, layout.page_size);
      c.scope = uint32_t(request_scope ? artifact::SelectionScope::Request : artifact::SelectionScope::KvHead);
      c.budget_units = c.capacity_units = K;
      c.sink_units = 1, c.window_units = 2;
      std::unique_ptr<Runtime> rt;
      RequestId id;
      ASSERT_NO_FATAL_FAILURE(prefilled_cpu_runtime(c, artifact::TestAlgorithm::quest("max"), d, prompt, steps, &rt, &id));
      const size_t rk = size_t(dims.kv_heads) * dims.head_dim, rq = size_t(dims.q_heads) * dims.head_dim;
      std::vector<uint16_t> o(size_t(dims.q_heads) * dims.value_dim);
      uint32_t tighter = 0;
      for (uint32_t t = 0; t < steps; ++t) {
        ASSERT_TRUE(rt->append(&id, 1, &d.k[(prompt + t) * rk], &d.v[(prompt + t) * rk]).is_ok());
        StepStats stats;
        ASSERT_TRUE(rt->decode_step(&id, 1, &d.q[t * rq], o.data(), &stats).is_ok());
        std::vector<int32_t> units(size_t(layout.groups) * K), model, model8;
        ASSERT_TRUE(rt->selected_units(id, units.data(), units.size()).is_ok());
        std::vector<float> exact, coded;
        accuracy::quest_max_selection(layout, kf.data(), prompt + t + 1, &qf[t * rq], K, 1, 2, 0, &model, &exact);
        EXPECT_EQ(model, units) << "step " << t;
        accuracy::quest_max_selection(layout, kf.data(), prompt + t + 1, &qf[t * rq], K, 1, 2, 8, &model8, &coded);
        ASSERT_EQ(coded.size(), exact.size());
        for (size_t i = 0; i < exact.size(); ++i) {
          EXPECT_GE(coded[i], exact[i]) << "unit score " << i << " step " << t;
          tighter += coded[i] > exact[i];
        }
      }
      EXPECT_GT(tighter, 0u) << "8-bit codes widen some bounds";
    }
}

// 8-bit codes contain the row: qmin <= kmin, qmax >= kmax, each within two
// steps of the row's range / 255; a row of one value is exact.
TEST(Accuracy, QuantizedBoundsAreOutward) {
  workload::Rng rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const uint32_t D = 64;
    std::vector<float> kmin(D), kmax(D);
    const double spread = trial % 2 ? 1e-3 : 30.0;
    for (uint32_t d = 0; d < D; ++d) {
      const float a = float(spread * rng.normal()), b = float(spread * rng.normal());
      kmin[d] = std::min(a, b), kmax[d] = std::max(a, b);
    }
    float lo = kmin[0], hi = kmax[0];
    for (uint32_t d = 0; d < D; ++d) lo = std::min(lo, kmin[d]), hi = std::max(hi, kmax[d]);
    std::vector<double> qmin(D), qmax(D);
    accuracy::quantized_bounds(8, D, kmin.data(), kmax.data(), qmin.data(), qmax.data());
    const double step = (double(hi) - lo) / 255.0;
    for (uint32_t d = 0; d < D; ++d) {
      EXPECT_LE(qmin[d], kmin[d]);
      EXPECT_GE(qmax[d], kmax[d]);
      EXPECT_LE(kmin[d] - qmin[d], 2.0 * step);
      EXPECT_LE(qmax[d] - kmax[d], 2.0 * step);
    }
  }
  const std::vector<float> same(8, 1.5f);
  std::vector<double> qmin(8), qmax(8);
  accuracy::quantized_bounds(8, 8, same.data(), same.data(), qmin.data(), qmax.data());
  for (uint32_t d = 0; d < 8; ++d) {
    EXPECT_EQ(qmin[d], 1.5);
    EXPECT_EQ(qmax[d], 1.5);
  }
}

// The presets differ in what they are for, measured as accuracy: StreamingLLM
// captures far less than the oracle on topics, and nearly all of it on sinks-recency.
TEST(Accuracy, StreamingLLMLosesOnTopicsNotOnRecency) {
  const Dims dims = small_dims();
  accuracy::Layout layout;
  layout.q_heads = 8, layout.kv_heads = 2, layout.head_dim = layout.value_dim = 32, layout.groups = 2;
  layout.page_size = 8, layout.scale = float(1.0 / std::sqrt(32.0));
  const uint32_t K = 16;
  auto recall_of_recent = [&](const char* spec) {
    const Data d = generate(spec, dims, 4000, 1);
    std::vector<float> kf(d.k.size()), vf(d.v.size()), qf(d.q.size());
    for (size_t i = 0; i < kf.size(); ++i) kf[i] = kv_to_float(d.k[i], dims.dtype);
    for (size_t i = 0; i < vf.size(); ++i) vf[i] = kv_to_float(d.v[i], dims.dtype);
    for (size_t i = 0; i < qf.size(); ++i) qf[i] = kv_to_float(d.q[i], dims.dtype);
    accuracy::Dense dense;
    accuracy::dense_attention(layout, kf.data(), vf.data(), 4001, qf.data(), &dense);
    const uint32_t n = (4001 + 7) / 8;
    std::vector<int32_t> streaming(size_t(2) * K), oracle;
    for (uint32_t g = 0; g < 2; ++g) {
      streaming[g * K] = 0;
      for (uint32_t i = 1; i < K; ++i) streaming[g * K + i] = int32_t(n - K + i);
    }
    accuracy::unit_oracle(layout, dense, K, 1, 2, &oracle);
    double mass = 0.0, best = 0.0;
    for (uint32_t h = 0; h < 8; ++h) {
      mass += accuracy::selection_mass(layout, dense, h, &streaming[layout.group_of_head(h) * K], K);
      best += accuracy::selection_mass(layout, dense, h, &oracle[layout.group_of_head(h) * K], K);
    }
    return mass / best;
  };
  EXPECT_LT(recall_of_recent("topics"), 0.5);
  EXPECT_GT(recall_of_recent("sinks-recency"), 0.9);
}

}  // namespace
}  // namespace hsa
